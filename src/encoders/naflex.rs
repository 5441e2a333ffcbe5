//! SigLIP 2 NaFlex (Tschannen et al. 2025; google/siglip2-*-patch16-naflex): SigLIP's ViT
//! at native aspect ratio. transformers' `Siglip2VisionModel`: each image is resized to a
//! grid of at most `max_patches` patches keeping its aspect ratio (the `[preprocess]`
//! table's `max-patches` mode), cut into patches flattened in (row, column, channel) order,
//! embedded by a Linear, plus the learned square position table resized to the image's own
//! grid (bilinear, antialiased); then SigLIP's blocks and `post_layernorm`. The attention
//! pooling `head` is not part of the token output.
//!
//! transformers pads a batch to `max_patches` and masks the padded keys; here the images of
//! one grid share a forward and no padding is computed, which gives the same tokens.

use burn::module::{Module, Param};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::spec::{ArchitectureSpec, TransformerSizes, check_eps, check_size, patch_grid};
use super::vit::{Block, BlockSizes, run_blocks};
use super::{EncoderError, EncoderModel};
use crate::nn::mlp::Act;
use crate::nn::resample::{GridResample, resize_grid};
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::*};
use crate::weights::load::load_strict;

/// The `[architecture]` table of a spec with `kind = "naflex"`: `Siglip2VisionConfig`'s fields.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NaflexSpec {
    pub patch_size: usize,
    /// `num_patches`: rows of the position table, a square (256 = 16 × 16).
    pub positions: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_size: usize,
    /// `layer_norm_eps` (default 1e-6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_eps: Option<f64>,
}

/// The runtime configuration: every choice made.
#[derive(Debug, Clone)]
pub struct NaflexConfig {
    pub patch_size: usize,
    /// Side of the square position table, in patches.
    pub table_side: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_size: usize,
    pub norm_eps: f64,
}

impl ArchitectureSpec for NaflexSpec {
    fn describe(&self) -> String {
        "naflex (siglip2)".into()
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn grid(&self, resolution: usize) -> [usize; 2] {
        patch_grid(resolution, self.patch_size)
    }

    fn native_patch(&self) -> Option<usize> {
        Some(self.patch_size)
    }

    fn validate(&self) -> Result<(), EncoderError> {
        self.resolve().map(drop)
    }

    fn build(&self, checkpoint: Option<Checkpoint>, device: &Device) -> Result<EncoderModel, EncoderError> {
        let mut model = self.resolve()?.init(device);
        if let Some(checkpoint) = checkpoint {
            load_strict(&mut model, checkpoint, &KEYS)?;
        }
        Ok(EncoderModel::Naflex(model))
    }
}

impl NaflexSpec {
    pub fn resolve(&self) -> Result<NaflexConfig, EncoderError> {
        let NaflexSpec { patch_size, positions, hidden_size, depth, heads, mlp_size, .. } = *self;
        // The table side stands in for an image size: `positions` patches of the table.
        check_size("positions", positions, 1..=65_536)?;
        let table_side = positions.isqrt();
        if table_side * table_side != positions {
            return Err(EncoderError::Config(format!("positions = {positions} is not a square number of patches")));
        }
        let image_size = table_side * patch_size;
        TransformerSizes { image_size, patch_size, hidden_size, depth, heads, mlp_size }.check()?;
        let norm_eps = self.norm_eps.unwrap_or(1e-6);
        check_eps("norm_eps", norm_eps)?;
        Ok(NaflexConfig { patch_size, table_side, hidden_size, depth, heads, mlp_size, norm_eps })
    }
}

/// transformers `Siglip2VisionModel` (and `Siglip2Model`'s `vision_model.`): q, k and v fused.
static KEYS: KeyMap = KeyMap {
    layout: "transformers SigLIP 2 NaFlex",
    anchor: "embeddings.patch_embedding.weight",
    rules: &[
        Rename("embeddings.patch_embedding", "embedder"),
        Rename("embeddings.position_embedding.weight", "pos_embed"),
        Rename("encoder.layers.#.layer_norm1", "blocks.#.norm1"),
        Fuse(
            ["encoder.layers.#.self_attn.q_proj", "encoder.layers.#.self_attn.k_proj", "encoder.layers.#.self_attn.v_proj"],
            "blocks.#.attn.qkv",
        ),
        Rename("encoder.layers.#.self_attn.out_proj", "blocks.#.attn.proj"),
        Rename("encoder.layers.#.layer_norm2", "blocks.#.norm2"),
        Rename("encoder.layers.#.mlp.fc1", "blocks.#.mlp.fc1"),
        Rename("encoder.layers.#.mlp.fc2", "blocks.#.mlp.fc2"),
        Rename("post_layernorm", "norm"),
    ],
};

impl NaflexConfig {
    /// Builds the model with lazily initialised random parameters.
    pub fn init(&self, device: &Device) -> Naflex {
        let hidden = self.hidden_size;
        let sizes = BlockSizes { hidden, heads: self.heads, mlp_size: self.mlp_size, norm_eps: self.norm_eps };
        Naflex {
            embedder: LinearConfig::new(3 * self.patch_size.pow(2), hidden).init(device),
            pos_embed: Initializer::Normal { mean: 0.0, std: 0.02 }.init([self.table_side.pow(2), hidden], device),
            blocks: (0..self.depth).map(|_| Block::new(&sizes, Act::GeluTanh, true, false, device)).collect(),
            norm: LayerNormConfig::new(hidden).with_epsilon(self.norm_eps).init(device),
            config: self.clone(),
        }
    }
}

#[derive(Module, Debug)]
pub struct Naflex {
    /// [patch² · 3, hidden]
    pub embedder: Linear,
    /// [table side², hidden]
    pub pos_embed: Param<Tensor<2>>,
    pub blocks: Vec<Block>,
    /// `post_layernorm`
    pub norm: LayerNorm,
    #[module(skip)]
    pub config: NaflexConfig,
}

impl Naflex {
    /// The tokens at `layer` (transformers' `hidden_states` index: 0 = embeddings, negative
    /// from the end), or `last_hidden_state` (after `post_layernorm`) when `None`, for images
    /// of one size whose sides are multiples of the patch.
    /// [batch, 3, height, width] → ([batch, rows × cols, hidden], [rows, cols])
    pub fn forward(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        let patch = self.config.patch_size;
        let [batch, channels, height, width] = pixels.dims();
        if !height.is_multiple_of(patch) || !width.is_multiple_of(patch) || channels != 3 {
            return Err(EncoderError::Config(format!(
                "NaFlex takes 3-channel inputs whose sides are multiples of the patch size {patch}; got {channels} × {height} × {width}"
            )));
        }
        let (rows, cols) = (height / patch, width / patch);
        // [batch, 3, rows, patch, cols, patch] → [batch, rows × cols, patch · patch · 3]
        let patches = pixels.reshape([batch, channels, rows, patch, cols, patch]).permute([0, 2, 4, 3, 5, 1]).reshape([
            batch,
            rows * cols,
            patch * patch * channels,
        ]);
        let side = self.config.table_side;
        let positions = resize_grid(self.pos_embed.val(), (side, side), (rows, cols), GridResample::BilinearAntialias);
        let x = self.embedder.forward(patches) + positions.unsqueeze::<3>();
        Ok((run_blocks(&self.blocks, Some(&self.norm), x, layer)?, [rows, cols]))
    }
}
