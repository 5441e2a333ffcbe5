//! RADIO (Ranzinger et al., CVPR 2024, "AM-RADIO: Agglomerative Vision Foundation Model";
//! Heinrich et al. 2024, "RADIOv2.5"; NVlabs/RADIO, nvidia/C-RADIOv3-B/L/H/g): a timm
//! VisionTransformer distilled from several teachers, whose patch embedding and position
//! table are replaced by RADIO's `ViTPatchGenerator` (`enable_cpe`): the image cut into
//! patches (`b c (py yy) (px xx) -> b (py px) (c yy xx)`), a bias-free Linear `embedder`, a
//! position table over the largest grid (`cpe_max_size / patch`) resized to the input grid
//! as `_get_pos_embeddings` does in eval mode, then the class tokens and registers
//! (`cls_token.token`) in front, and a LayerNorm `patch_normalizer` where the model has one.
//! The blocks are timm's pre-norm blocks (`vit::Block`); the final norm exists only when the
//! checkpoint was trained with `model_norm` (create_model_from_args replaces it by Identity
//! otherwise). The tokens handed on are `RADIOModel._extract_final`'s features: the patch
//! tokens after the class tokens and registers, through the `FeatureNormalizer` when the
//! checkpoint has one.
//!
//! The input conditioner (`(x - norm_mean) / norm_std` on [0, 1] pixels) is the spec's
//! preprocessing; the checkpoint's values are checked against it when it loads
//! ([`Radio::check_conditioner`]).
//!
//! Two checkpoint layouts, both read as tensors: the Hugging Face release
//! (`model.safetensors`, keys under `radio_model.`) and the torch.hub `*.pth.tar` (a pickle
//! whose `state_dict_ema`, preferred as hubconf.py prefers it, or `state_dict` holds keys
//! under `base_model.`). Spectral reparametrization (`parametrizations.weight.original`,
//! in some non-EMA state dicts) is refused by name.

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use tracing::debug;

use super::preprocess::Preprocess;
use super::spec::{ArchitectureSpec, Selection, TransformerSizes, check_eps, check_size, limits, patch_grid};
use super::vit::{Block, BlockSizes, resolve_layer};
use super::{EncoderError, EncoderModel};
use crate::nn::mlp::Act;
use crate::nn::resample::{GridResample, resize_grid};
use crate::weights::WeightsError;
use crate::weights::checkpoint::{Checkpoint, pickle_top_level_keys};
use crate::weights::keymap::{KeyMap, Rule::*};
use crate::weights::load::load_strict;

/// RADIO's default input conditioner (`get_default_conditioner`): timm's OpenAI CLIP mean and std.
pub const OPENAI_CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
// Written as timm writes them (and as the presets' TOML does); the f32 values are the same.
#[allow(clippy::excessive_precision)]
pub const OPENAI_CLIP_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];

/// The `[architecture]` table of a spec with `kind = "radio"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RadioSpec {
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_size: usize,
    /// `args.cpe_max_size`: the largest input side, in pixels; the position table covers
    /// `round(cpe_max_size / patch_size)` patches a side.
    pub cpe_max_size: usize,
    /// Class tokens: one per unique teacher with `cls_token_per_teacher`, else 1.
    pub cls_tokens: usize,
    /// Register tokens after them (`cpe_num_registers`, or up to `register_multiple`).
    pub registers: usize,
    /// timm's `img_size` (default 224): the table is resized CPE-style whenever the table's
    /// side differs from it, as `ViTPatchGenerator.cpe_mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<usize>,
    /// The final LayerNorm (`args.model_norm`); absent: as the checkpoint has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_norm: Option<bool>,
    /// The `patch_normalizer` LayerNorm; absent: as the checkpoint has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_norm: Option<bool>,
    /// The `FeatureNormalizer` (mean, tx); absent: as the checkpoint has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_normalizer: Option<bool>,
    /// LayerNorm eps (timm's 1e-6 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_eps: Option<f64>,
}

/// The runtime configuration: every choice made (the optional parts decided by the spec or
/// by the checkpoint).
#[derive(Debug, Clone)]
pub struct RadioConfig {
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_size: usize,
    /// Side of the position table, in patches.
    pub table_grid: usize,
    /// Whether the table is resized CPE-style (to the longer side, then cropped).
    pub cpe_mode: bool,
    /// Class tokens and registers: the rows of `cls_token.token`, skipped in the output.
    pub prefix_tokens: usize,
    pub final_norm: bool,
    pub patch_norm: bool,
    pub feature_normalizer: bool,
    pub norm_eps: f64,
}

/// The two releases' key layouts. In both, the ViT is a timm VisionTransformer; timm keys
/// that change the token output but are not built here (`norm_pre`, LayerScale) are claimed
/// so that a checkpoint holding them is an error naming the key, not a silently different
/// model. Adaptor heads, summary indices and the intermediate-layer normalizer are not read.
macro_rules! radio_keys {
    ($layout:literal, $model:literal, $feature_normalizer:literal) => {
        KeyMap {
            layout: $layout,
            anchor: concat!($model, "patch_generator.embedder.weight"),
            rules: &[
                Rename(concat!($model, "patch_generator.embedder"), "embedder"),
                Squeeze(concat!($model, "patch_generator.pos_embed"), "pos_embed", 2),
                Rename(concat!($model, "patch_generator.cls_token.token"), "cls_token"),
                Rename(concat!($model, "patch_generator.patch_normalizer"), "patch_normalizer"),
                Rename(concat!($model, "norm_pre"), "norm_pre"),
                Rename(concat!($model, "blocks.#.norm1"), "blocks.#.norm1"),
                Rename(concat!($model, "blocks.#.attn.qkv"), "blocks.#.attn.qkv"),
                Rename(concat!($model, "blocks.#.attn.proj"), "blocks.#.attn.proj"),
                Rename(concat!($model, "blocks.#.ls1"), "blocks.#.ls1"),
                Rename(concat!($model, "blocks.#.norm2"), "blocks.#.norm2"),
                Rename(concat!($model, "blocks.#.mlp.fc1"), "blocks.#.mlp.fc1"),
                Rename(concat!($model, "blocks.#.mlp.fc2"), "blocks.#.mlp.fc2"),
                Rename(concat!($model, "blocks.#.ls2"), "blocks.#.ls2"),
                Rename(concat!($model, "norm"), "norm"),
                Rename("input_conditioner.norm_mean", "conditioner_mean"),
                Rename("input_conditioner.norm_std", "conditioner_std"),
                Rename(concat!($feature_normalizer, ".mean"), "feature_normalizer.mean"),
                Rename(concat!($feature_normalizer, ".tx"), "feature_normalizer.tx"),
            ],
        }
    };
}

/// The Hugging Face release (`hf_model.RADIOModel`): everything under `radio_model.`, the
/// ViT under `radio_model.model.`, the normalizer a submodule `feature_normalizer`.
static HF_KEYS: KeyMap = radio_keys!("RADIO (Hugging Face)", "model.", "feature_normalizer");
/// The torch.hub release's state dict: the ViT under `base_model.`, the conditioner and the
/// normalizer (`_feature_normalizer`) at the top.
static HUB_KEYS: KeyMap = radio_keys!("RADIO (torch.hub)", "base_model.", "_feature_normalizer");

/// Why a checkpoint is refused before loading.
fn refuse(checkpoint: &Checkpoint, key: &str, message: String) -> EncoderError {
    EncoderError::Weights(WeightsError::Tensor { origin: checkpoint.origin.clone(), key: key.to_string(), message })
}

impl ArchitectureSpec for RadioSpec {
    fn describe(&self) -> String {
        "radio".into()
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn grid(&self, resolution: usize) -> [usize; 2] {
        patch_grid(resolution, self.patch_size)
    }

    fn validate(&self) -> Result<(), EncoderError> {
        self.resolve(&Present::default()).map(drop)
    }

    fn build(&self, checkpoint: Option<Checkpoint>, device: &Device) -> Result<EncoderModel, EncoderError> {
        let Some(checkpoint) = checkpoint else {
            return Ok(EncoderModel::Radio(self.resolve(&Present::default())?.init(device)));
        };
        // `base_model.patch_generator…` also ends with the Hugging Face anchor `model.patch_generator…`.
        let keys = || checkpoint.tensors.keys();
        let map = if keys().any(|key| key.ends_with(HUB_KEYS.anchor)) { &HUB_KEYS } else { &HF_KEYS };
        if let Some(key) = checkpoint.tensors.keys().find(|key| key.contains(".parametrizations.")) {
            return Err(refuse(
                &checkpoint,
                key,
                "spectral reparametrization is not supported: load the checkpoint's `state_dict_ema` (the default when \
                 the file has one) or a state dict with the parametrizations removed"
                    .into(),
            ));
        }
        let model = map.anchor.strip_suffix("patch_generator.embedder.weight").unwrap_or_default();
        let has = |suffix: &str| keys().any(|key| key.ends_with(suffix));
        let present = Present {
            final_norm: has(&format!("{model}norm.weight")),
            patch_norm: has("patch_generator.patch_normalizer.weight"),
            feature_normalizer: has("feature_normalizer.tx"),
        };
        let config = self.resolve(&present)?;
        debug!(
            "{}: RADIO with final norm {}, patch normalizer {}, feature normalizer {}",
            checkpoint.origin, config.final_norm, config.patch_norm, config.feature_normalizer
        );
        let mut model = config.init(device);
        load_strict(&mut model, checkpoint, map)?;
        Ok(EncoderModel::Radio(model))
    }

    /// A pickle's `state_dict_ema` when it has one (hubconf.py's preference), else its
    /// `state_dict`; the spec's `weights_key` overrides both.
    fn load(&self, path: &Path, selection: &Selection, device: &Device) -> Result<EncoderModel, EncoderError> {
        let key = match selection.key {
            Some(key) => Some(key.to_string()),
            None if is_pickle(path) => Some(state_dict_key(path)?),
            None => None,
        };
        self.build(Some(Selection { key: key.as_deref(), prefix: selection.prefix }.open(path)?), device)
    }
}

/// The optional parts a checkpoint holds (all absent for a random model).
#[derive(Default)]
pub struct Present {
    pub final_norm: bool,
    pub patch_norm: bool,
    pub feature_normalizer: bool,
}

fn is_pickle(path: &Path) -> bool {
    let name = path.to_string_lossy();
    path.is_file() && !name.ends_with(".safetensors") && !name.ends_with(".json")
}

/// The entry of a torch.hub RADIO pickle that holds the weights: `state_dict_ema` if present
/// (hubconf.py's choice), else `state_dict`.
fn state_dict_key(path: &Path) -> Result<String, EncoderError> {
    let entries = pickle_top_level_keys(path)?;
    let key = ["state_dict_ema", "state_dict"].into_iter().find(|key| entries.iter().any(|entry| entry == key));
    let message = format!("neither `state_dict_ema` nor `state_dict` is in the pickle (it holds {entries:?})");
    let key = key.ok_or_else(|| EncoderError::Weights(WeightsError::Read { path: path.to_path_buf(), message }))?;
    debug!("{}: weights from `{key}`", path.display());
    Ok(key.to_string())
}

/// Python's `round(a / b)` for positive integers (half to even).
fn round_div(a: usize, b: usize) -> usize {
    let (quotient, remainder) = (a / b, a % b);
    match (2 * remainder).cmp(&b) {
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal => quotient + quotient % 2,
        std::cmp::Ordering::Less => quotient,
    }
}

impl RadioSpec {
    /// The runtime configuration; the optional parts the spec leaves open are as `present`
    /// (what the checkpoint holds).
    pub fn resolve(&self, present: &Present) -> Result<RadioConfig, EncoderError> {
        let RadioSpec { patch_size, hidden_size, depth, heads, mlp_size, cpe_max_size, .. } = *self;
        check_size("patch_size", patch_size, 1..=limits::PATCH)?;
        check_size("cpe_max_size", cpe_max_size, patch_size..=limits::PIXELS)?;
        TransformerSizes { image_size: cpe_max_size, patch_size, hidden_size, depth, heads, mlp_size }.check()?;
        check_size("cls_tokens", self.cls_tokens, 0..=limits::REGISTERS)?;
        check_size("registers", self.registers, 0..=limits::REGISTERS)?;
        let image_size = self.image_size.unwrap_or(224);
        check_size("image_size", image_size, 1..=limits::PIXELS)?;
        let norm_eps = self.norm_eps.unwrap_or(1e-6);
        check_eps("norm_eps", norm_eps)?;
        let table_grid = round_div(cpe_max_size, patch_size);
        Ok(RadioConfig {
            patch_size,
            hidden_size,
            depth,
            heads,
            mlp_size,
            table_grid,
            cpe_mode: table_grid * patch_size != image_size,
            prefix_tokens: self.cls_tokens + self.registers,
            final_norm: self.final_norm.unwrap_or(present.final_norm),
            patch_norm: self.patch_norm.unwrap_or(present.patch_norm),
            feature_normalizer: self.feature_normalizer.unwrap_or(present.feature_normalizer),
            norm_eps,
        })
    }
}

impl RadioConfig {
    /// Builds the model with lazily initialised random parameters.
    pub fn init(&self, device: &Device) -> Radio {
        let hidden = self.hidden_size;
        let norm = || LayerNormConfig::new(hidden).with_epsilon(self.norm_eps).init(device);
        let token_init = Initializer::Normal { mean: 0.0, std: (hidden as f64).powf(-0.5) };
        let sizes = BlockSizes { hidden, heads: self.heads, mlp_size: self.mlp_size, norm_eps: self.norm_eps };
        Radio {
            embedder: LinearConfig::new(3 * self.patch_size.pow(2), hidden).with_bias(false).init(device),
            pos_embed: token_init.init([self.table_grid.pow(2), hidden], device),
            cls_token: (self.prefix_tokens > 0).then(|| token_init.init([self.prefix_tokens, hidden], device)),
            patch_normalizer: self.patch_norm.then(norm),
            blocks: (0..self.depth).map(|_| Block::new(&sizes, Act::Gelu, true, false, device)).collect(),
            norm: self.final_norm.then(norm),
            feature_normalizer: self.feature_normalizer.then(|| FeatureNormalizer {
                mean: Initializer::Zeros.init([hidden], device),
                tx: Initializer::Normal { mean: 0.0, std: (hidden as f64).powf(-0.5) }.init([hidden, hidden], device),
            }),
            conditioner_mean: Initializer::Zeros.init([3, 1, 1], device),
            conditioner_std: Initializer::Ones.init([3, 1, 1], device),
            config: self.clone(),
        }
    }
}

/// RADIO's `FeatureNormalizer`: `(x - mean) @ tx.T` on the patch tokens.
#[derive(Module, Debug)]
pub struct FeatureNormalizer {
    /// [hidden]
    pub mean: Param<Tensor<1>>,
    /// [hidden, hidden]
    pub tx: Param<Tensor<2>>,
}

impl FeatureNormalizer {
    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, tokens, hidden] = x.dims();
        let x = (x - self.mean.val().unsqueeze::<3>()).reshape([batch * tokens, hidden]);
        x.matmul(self.tx.val().transpose()).reshape([batch, tokens, hidden])
    }
}

#[derive(Module, Debug)]
pub struct Radio {
    /// [3 · patch², hidden], no bias
    pub embedder: Linear,
    /// [table grid², hidden]
    pub pos_embed: Param<Tensor<2>>,
    /// [class tokens + registers, hidden]
    pub cls_token: Option<Param<Tensor<2>>>,
    pub patch_normalizer: Option<LayerNorm>,
    pub blocks: Vec<Block>,
    pub norm: Option<LayerNorm>,
    pub feature_normalizer: Option<FeatureNormalizer>,
    /// The checkpoint's input conditioner, [3, 1, 1] each: checked against the spec's
    /// preprocessing, which applies it.
    pub conditioner_mean: Param<Tensor<3>>,
    pub conditioner_std: Param<Tensor<3>>,
    #[module(skip)]
    pub config: RadioConfig,
}

impl Radio {
    /// The patch tokens at `layer` (transformers' `hidden_states` index: 0 = embeddings,
    /// negative from the end; the raw block output), or `_extract_final`'s features when
    /// `None` (final norm and feature normalizer included where the model has them).
    /// [batch, 3, height, width] (conditioned pixels) → ([batch, rows × cols, hidden], [rows, cols])
    pub fn forward(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        let blocks_to_run = match layer {
            None => self.config.depth,
            Some(layer) => resolve_layer(layer, self.config.depth)?,
        };
        let (mut x, grid) = self.embed(pixels)?;
        for block in &self.blocks[..blocks_to_run] {
            x = block.forward(x);
        }
        let [batch, tokens, hidden] = x.dims();
        let mut patches = x.slice([0..batch, self.config.prefix_tokens..tokens, 0..hidden]);
        if layer.is_none() {
            if let Some(norm) = &self.norm {
                patches = norm.forward(patches);
            }
            if let Some(normalizer) = &self.feature_normalizer {
                patches = normalizer.forward(patches);
            }
        }
        Ok((patches, grid))
    }

    /// `ViTPatchGenerator.forward`: patches, positions, prefix tokens, patch normalizer.
    /// [batch, 3, height, width] → ([batch, prefix + rows × cols, hidden], [rows, cols])
    fn embed(&self, pixels: Tensor<4>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        let patch = self.config.patch_size;
        let [batch, channels, height, width] = pixels.dims();
        if !height.is_multiple_of(patch) || !width.is_multiple_of(patch) || channels != 3 {
            return Err(EncoderError::Config(format!(
                "RADIO takes 3-channel inputs whose sides are multiples of the patch size {patch}; got {channels} × {height} × {width}"
            )));
        }
        let (rows, cols) = (height / patch, width / patch);
        // Im2Patches: b c (py yy) (px xx) -> b (py px) (c yy xx)
        let patches = pixels.reshape([batch, channels, rows, patch, cols, patch]).permute([0, 2, 4, 1, 3, 5]).reshape([
            batch,
            rows * cols,
            channels * patch * patch,
        ]);
        let hidden = self.config.hidden_size;
        let x = self.embedder.forward(patches) + self.positions(rows, cols).unsqueeze::<3>();
        let x = match &self.cls_token {
            Some(tokens) => {
                let tokens = tokens.val().unsqueeze::<3>().expand([batch, self.config.prefix_tokens, hidden]);
                Tensor::cat(vec![tokens, x], 1)
            }
            None => x,
        };
        let x = match &self.patch_normalizer {
            Some(norm) => norm.forward(x),
            None => x,
        };
        Ok((x, [rows, cols]))
    }

    /// `_get_pos_embeddings` in eval mode: the table as it is for its own grid; otherwise, in
    /// CPE mode, resized bilinearly (align_corners = false) to the longer side's square and
    /// cropped to the grid from the top left; else cropped, then resized if still short.
    /// → [rows × cols, hidden]
    fn positions(&self, rows: usize, cols: usize) -> Tensor<2> {
        let table = self.pos_embed.val();
        let side = self.config.table_grid;
        if (rows, cols) == (side, side) {
            return table;
        }
        let hidden = self.config.hidden_size;
        let (mut grid, mut at) = (table, (side, side));
        if self.config.cpe_mode {
            let longer = rows.max(cols);
            grid = resize_grid(grid, at, (longer, longer), GridResample::Bilinear);
            at = (longer, longer);
        }
        let cropped = (rows.min(at.0), cols.min(at.1));
        if cropped != at {
            grid = grid
                .reshape([at.0, at.1, hidden])
                .slice([0..cropped.0, 0..cropped.1, 0..hidden])
                .reshape([cropped.0 * cropped.1, hidden]);
        }
        if cropped != (rows, cols) {
            grid = resize_grid(grid, cropped, (rows, cols), GridResample::Bilinear);
        }
        grid
    }

    /// The checkpoint's input conditioner must be the spec's normalisation (mean and std of
    /// the `[preprocess]` table), which is where the pixels are conditioned.
    pub fn check_conditioner(&self, preprocess: &Preprocess) -> Result<(), EncoderError> {
        for (key, param, spec) in [
            ("input_conditioner.norm_mean", &self.conditioner_mean, preprocess.mean),
            ("input_conditioner.norm_std", &self.conditioner_std, preprocess.std),
        ] {
            let values: Vec<f32> = param.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
            if values.len() != 3 || values.iter().zip(spec).any(|(a, b)| (a - b).abs() > 1e-6) {
                return Err(EncoderError::Config(format!(
                    "the checkpoint's `{key}` is {values:?}, the spec's preprocessing normalises with {spec:?}: \
                     set the [preprocess] mean and std to the checkpoint's"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_side_rounds_half_to_even_like_python() {
        assert_eq!(round_div(2048, 16), 128);
        assert_eq!(round_div(1792, 14), 128);
        assert_eq!(round_div(24, 16), 2); // 1.5 → 2
        assert_eq!(round_div(40, 16), 2); // 2.5 → 2
        assert_eq!(round_div(41, 16), 3);
    }
}
