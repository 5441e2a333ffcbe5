//! Encoder specs: the TOML files in `encoders/` (the presets) and any a user writes.
//!
//! A spec names an architecture with its sizes, the preprocessing its checkpoint was trained
//! with, its family in the Cambrian-1 taxonomy, where its weights live, and the layer whose
//! tokens the connector receives. The schema is documented in the README.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use burn::tensor::Device;

use super::aimv2::Aimv2Spec;
use super::beit::BeitSpec;
use super::convnext::ConvNextSpec;
use super::diffusion::StableDiffusionSpec;
use super::eva::EvaSpec;
use super::naflex::NaflexSpec;
use super::preprocess::{Preprocess, ResizeMode};
use super::radio::RadioSpec;
use super::sam::SamSpec;
use super::vit::VitSpec;
use super::{EncoderError, EncoderModel};
use crate::weights::checkpoint::Checkpoint;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderSpec {
    /// Registry name, e.g. `clip-vit-l-14-336`.
    pub name: String,
    /// Human-readable name as the paper writes it.
    pub title: String,
    pub family: Family,
    /// Hugging Face repository holding the weights.
    #[serde(default)]
    pub hub: Option<String>,
    /// Weights file inside the repository (or beside the spec); `.index.json` for shards.
    #[serde(default)]
    pub weights_file: Option<String>,
    /// Direct download address for checkpoints that are not on the hub (MoCo v3, I-JEPA);
    /// the file is kept in torch.hub's checkpoint cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Entry of a PyTorch pickle that holds the state dict (`state_dict` for MoCo v3,
    /// `encoder` for I-JEPA); absent: the pickle is the state dict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_key: Option<String>,
    /// Only checkpoint keys under this prefix belong to the encoder (MoCo v3 keeps the
    /// momentum encoder beside it); the prefix is stripped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_prefix: Option<String>,
    /// Layer whose tokens are handed on, counted like transformers' `hidden_states`
    /// (0 = embeddings, -1 = last block). Absent: the final output, final norm included.
    #[serde(default)]
    pub feature_layer: Option<i64>,
    /// Cambrian's `interp`: resize the output grid bilinearly (align_corners = false) to a
    /// square of this many tokens, e.g. 576 for DINOv2@518, ConvNeXt and SAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_tokens: Option<usize>,
    pub architecture: Architecture,
    pub preprocess: Preprocess,
}

/// The Cambrian-1 taxonomy of vision backbones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    LanguageSupervised,
    SelfSupervised,
    ClassSupervised,
    Depth,
    Segmentation,
    Diffusion,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Family::LanguageSupervised => "language-supervised",
            Family::SelfSupervised => "self-supervised",
            Family::ClassSupervised => "class-supervised",
            Family::Depth => "depth",
            Family::Segmentation => "segmentation",
            Family::Diffusion => "diffusion",
        };
        f.write_str(name)
    }
}

/// The `[architecture]` table: one variant per architecture family, tagged by `kind`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Architecture {
    Vit(VitSpec),
    Beit(BeitSpec),
    Eva(EvaSpec),
    #[serde(rename = "convnext")]
    ConvNext(ConvNextSpec),
    StableDiffusion(Box<StableDiffusionSpec>),
    Sam(SamSpec),
    Aimv2(Aimv2Spec),
    Radio(RadioSpec),
    Naflex(NaflexSpec),
}

impl Architecture {
    pub fn spec(&self) -> &dyn ArchitectureSpec {
        match self {
            Architecture::Vit(vit) => vit,
            Architecture::Beit(beit) => beit,
            Architecture::Eva(eva) => eva,
            Architecture::ConvNext(convnext) => convnext,
            Architecture::StableDiffusion(sd) => sd.as_ref(),
            Architecture::Sam(sam) => sam,
            Architecture::Aimv2(aimv2) => aimv2,
            Architecture::Radio(radio) => radio,
            Architecture::Naflex(naflex) => naflex,
        }
    }
}

/// The token grid of a patch size at a square input side; [0, 0] for a zero patch size, which
/// `EncoderSpec::validate` refuses.
pub fn patch_grid(resolution: usize, patch_size: usize) -> [usize; 2] {
    [resolution.checked_div(patch_size).unwrap_or(0); 2]
}

/// Upper bounds of the size fields, a few times the largest real model's value (ViT-bigG/14:
/// width 1664, 48 blocks, MLP 8192; ConvNeXt-XXL: 3072 channels; SAM and ConvNeXt inputs:
/// 1024 px; DINOv2: 4 registers), so that a typo is an error that names the field instead of
/// an allocation that aborts.
pub mod limits {
    /// Input and position-table sides, in pixels (`image_size`, `crop_size`, `resize_size`).
    pub const PIXELS: usize = 4096;
    pub const PATCH: usize = 64;
    /// Patches of a native-resolution image (`max_patches`): 256 × 256.
    pub const PATCHES: usize = 65_536;
    /// Channels of a token or a feature map.
    pub const WIDTH: usize = 8192;
    /// Blocks of a tower or of a stage.
    pub const DEPTH: usize = 256;
    pub const HEADS: usize = 256;
    /// Inner width of a feed-forward layer.
    pub const MLP: usize = 32768;
    /// Prefix tokens besides the class token.
    pub const REGISTERS: usize = 64;
}

/// A size field within `range` (a few times the largest real model's value, see [`limits`]).
pub fn check_size(field: &str, value: usize, range: std::ops::RangeInclusive<usize>) -> Result<(), EncoderError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(EncoderError::Config(format!("{field} = {value} is out of range: it must be {}..={}", range.start(), range.end())))
}

/// A normalisation epsilon: finite and positive (a NaN or negative one makes NaN features).
pub fn check_eps(field: &str, value: f64) -> Result<(), EncoderError> {
    if value.is_finite() && value > 0.0 {
        return Ok(());
    }
    Err(EncoderError::Config(format!("{field} = {value} must be finite and positive")))
}

/// The sizes every ViT-like `[architecture]` table has (vit, eva, beit, sam).
pub struct TransformerSizes {
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_size: usize,
}

impl TransformerSizes {
    /// Each field in range, at least one patch in the image, the width split evenly into heads.
    pub fn check(&self) -> Result<(), EncoderError> {
        check_size("image_size", self.image_size, 1..=limits::PIXELS)?;
        check_size("patch_size", self.patch_size, 1..=limits::PATCH)?;
        check_size("hidden_size", self.hidden_size, 1..=limits::WIDTH)?;
        // Depth 0 is a patch embedding alone (position embeddings, final norm): a probe's
        // minimal encoder (tests/fixtures/mllm/patch-vit-*.toml).
        check_size("depth", self.depth, 0..=limits::DEPTH)?;
        check_size("heads", self.heads, 1..=limits::HEADS)?;
        check_size("mlp_size", self.mlp_size, 1..=limits::MLP)?;
        if self.image_size < self.patch_size {
            return Err(EncoderError::Config(format!(
                "image_size {} is smaller than patch_size {}",
                self.image_size, self.patch_size
            )));
        }
        if !self.hidden_size.is_multiple_of(self.heads) {
            return Err(EncoderError::Config(format!(
                "hidden_size {} is not divisible by heads {}",
                self.hidden_size, self.heads
            )));
        }
        Ok(())
    }
}

/// What each architecture's `[architecture]` table tells the rest of the crate.
pub trait ArchitectureSpec {
    /// Short description for listings, e.g. `vit (hf-clip)`.
    fn describe(&self) -> String;
    /// Channels of each output token.
    fn hidden_size(&self) -> usize;
    /// The output token grid [rows, cols] for a square input of side `resolution`.
    fn grid(&self, resolution: usize) -> [usize; 2];
    /// The patch size of an architecture that takes each image at its own aspect ratio and
    /// a grid of its own (NaFlex); `None` for the fixed-grid ones.
    fn native_patch(&self) -> Option<usize> {
        None
    }
    /// Every size in range and every combination buildable: checked where a spec is read,
    /// before anything is allocated.
    fn validate(&self) -> Result<(), EncoderError>;
    /// Builds the model with random parameters, then loads `checkpoint` strictly if given.
    fn build(&self, checkpoint: Option<Checkpoint>, device: &Device) -> Result<EncoderModel, EncoderError>;
    /// Files of the hub repository the weights need besides the spec's `weights_file`.
    fn hub_files(&self) -> &'static [&'static str] {
        &[]
    }
    /// Builds the model from the weights at `path` (a file, or a folder holding one);
    /// architectures whose weights span several files (a diffusers folder) read them here.
    fn load(&self, path: &Path, selection: &Selection, device: &Device) -> Result<EncoderModel, EncoderError> {
        self.build(Some(selection.open(path)?), device)
    }
}

/// Which tensors of a checkpoint file are the encoder's: the spec's `weights_key` and
/// `weights_prefix`.
pub struct Selection<'a> {
    pub key: Option<&'a str>,
    pub prefix: Option<&'a str>,
}

impl Selection<'_> {
    pub fn open(&self, path: &Path) -> Result<Checkpoint, EncoderError> {
        let checkpoint = Checkpoint::open(path, self.key)?;
        Ok(match self.prefix {
            Some(prefix) => checkpoint.under_prefix(prefix)?,
            None => checkpoint,
        })
    }
}

impl EncoderSpec {
    /// Parses and validates a spec; an error names `origin` and the field.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, EncoderError> {
        let spec_error = |message: String| EncoderError::Spec { origin: origin.to_string(), message };
        let spec: Self = toml::from_str(text).map_err(|err| spec_error(err.message().to_string()))?;
        spec.validate().map_err(|err| spec_error(err.config_message()))?;
        Ok(spec)
    }

    /// The architecture's sizes, the preprocessing, at least one token at the input
    /// resolution, and a square `feature_tokens`.
    pub fn validate(&self) -> Result<(), EncoderError> {
        self.architecture.spec().validate()?;
        self.preprocess.validate()?;
        if self.native_grid().contains(&0) {
            return Err(EncoderError::Config(format!("crop_size {} is smaller than one token", self.resolution())));
        }
        self.validate_native()?;
        if let Some(tokens) = self.feature_tokens {
            // 256 × 256: far beyond the 576 of Cambrian's `interp`.
            check_size("feature_tokens", tokens, 1..=65_536)?;
        }
        self.output_grid().map(drop)
    }

    /// A native-resolution architecture takes `max-patches` preprocessing at its own patch,
    /// and only it does.
    fn validate_native(&self) -> Result<(), EncoderError> {
        let native = self.is_native();
        match (self.architecture.spec().native_patch(), self.preprocess.patch_size) {
            (Some(patch), Some(preprocess_patch)) if native && patch == preprocess_patch => Ok(()),
            (Some(patch), _) => Err(EncoderError::Config(format!(
                "{} takes each image at its own aspect ratio: set resize = \"max-patches\" (or \"none\") and patch_size = {patch} in [preprocess]",
                self.architecture_name()
            ))),
            (None, _) if native => Err(EncoderError::Config(format!(
                "resize = \"max-patches\" and \"none\" are for native-resolution encoders (naflex, aimv2 with is_native); {} takes a fixed square",
                self.architecture_name()
            ))),
            (None, _) => Ok(()),
        }
    }

    /// Whether each image keeps its aspect ratio and a grid of its own (`max-patches`).
    pub fn is_native(&self) -> bool {
        matches!(self.preprocess.resize, ResizeMode::MaxPatches | ResizeMode::Keep)
    }

    pub fn from_file(path: &Path) -> Result<Self, EncoderError> {
        let text = std::fs::read_to_string(path).map_err(|source| EncoderError::Io { path: path.to_path_buf(), source })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    pub fn architecture_name(&self) -> String {
        self.architecture.spec().describe()
    }

    /// Side of the square input in pixels.
    pub fn resolution(&self) -> usize {
        self.preprocess.crop_size
    }

    pub fn hidden_size(&self) -> usize {
        self.architecture.spec().hidden_size()
    }

    /// The token grid [rows, cols] the encoder hands on at its own resolution.
    pub fn native_grid(&self) -> [usize; 2] {
        self.architecture.spec().grid(self.resolution())
    }

    pub fn native_tokens(&self) -> usize {
        let [rows, cols] = self.native_grid();
        rows * cols
    }

    /// The grid a native-resolution encoder gives an image of `width × height` at its own
    /// aspect ratio (the encoder's input within the token budget, in patches); the output
    /// grid for every other encoder.
    pub fn own_grid(&self, width: usize, height: usize) -> Result<[usize; 2], EncoderError> {
        match (self.is_native(), self.preprocess.patch_size) {
            (true, Some(patch)) => Ok(self.preprocess.input_size(width, height).map(|side| side / patch)),
            _ => self.output_grid(),
        }
    }

    /// The grid handed on: the native one, or the square of `feature_tokens`.
    pub fn output_grid(&self) -> Result<[usize; 2], EncoderError> {
        let Some(tokens) = self.feature_tokens else { return Ok(self.native_grid()) };
        let side = (tokens as f64).sqrt().round() as usize;
        if side == 0 || side * side != tokens {
            return Err(EncoderError::Config(format!("feature_tokens {tokens} is not a square number of tokens")));
        }
        Ok([side, side])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders::registry::PRESET_FILES;

    /// A preset's TOML with one value replaced (`path` of table keys), parsed.
    fn edited(preset: &str, path: &[&str], value: toml::Value) -> Result<EncoderSpec, EncoderError> {
        let text = PRESET_FILES.iter().find(|(name, _)| *name == preset).expect("a preset").1;
        let mut table: toml::Table = toml::from_str(text).unwrap();
        let (last, tables) = path.split_last().unwrap();
        let mut at = &mut table;
        for key in tables {
            at = at.get_mut(*key).and_then(toml::Value::as_table_mut).expect("a table");
        }
        at.insert(last.to_string(), value);
        EncoderSpec::from_toml(&toml::to_string(&table).unwrap(), preset)
    }

    #[test]
    fn every_kind_refuses_out_of_range_sizes_naming_the_field() {
        use toml::Value::{Array, Float, Integer};
        let huge = Integer(1_000_000_000);
        let cases = [
            ("mae-vit-l-16", vec!["architecture", "hidden_size"], Integer(0), "hidden_size = 0 is out of range"),
            ("mae-vit-l-16", vec!["architecture", "registers"], huge.clone(), "registers = 1000000000 is out of range"),
            ("mae-vit-l-16", vec!["preprocess", "crop_size"], Integer(0), "crop_size = 0 is out of range"),
            ("eva02-clip-vit-l-14-336", vec!["architecture", "depth"], huge.clone(), "depth = 1000000000 is out of range"),
            ("eva02-clip-vit-l-14-336", vec!["architecture", "norm_eps"], Float(f64::NAN), "norm_eps = NaN must be finite"),
            ("midas-beit-large-512", vec!["architecture", "mlp_size"], huge.clone(), "mlp_size = 1000000000 is out of range"),
            ("midas-beit-large-512", vec!["architecture", "norm_eps"], Float(-1e-6), "must be finite and positive"),
            ("sam-vit-l-1024", vec!["architecture", "window_size"], huge.clone(), "window_size = 1000000000 is out of range"),
            ("sam-vit-l-1024", vec!["architecture", "patch_size"], Integer(0), "patch_size = 0 is out of range"),
            (
                "convnext-l-512",
                vec!["architecture", "dims"],
                Array(vec![Integer(192), Integer(384), Integer(768), huge.clone()]),
                "dims[3] = 1000000000 is out of range",
            ),
            ("convnext-l-512", vec!["architecture", "norm_eps"], Float(f64::INFINITY), "norm_eps = inf must be finite"),
            (
                "sd-2.1",
                vec!["architecture", "unet", "block_out_channels"],
                Array(vec![Integer(320), Integer(640), Integer(1280), huge.clone()]),
                "unet.block_out_channels[3] = 1000000000 is out of range",
            ),
            ("sd-2.1", vec!["architecture", "text_encoder", "layer_norm_eps"], Float(0.0), "layer_norm_eps = 0 must be finite"),
            ("sd-2.1", vec!["preprocess", "resize_size"], Integer(0), "resize_size = 0 is out of range"),
            ("siglip2-b-16-naflex", vec!["preprocess", "max_patches"], Integer(0), "max_patches = 0 is out of range"),
            ("siglip2-b-16-naflex", vec!["architecture", "positions"], Integer(200), "positions = 200 is not a square"),
            ("siglip2-b-16-naflex", vec!["preprocess", "max_patches"], huge.clone(), "max_patches = 1000000000 is out of range"),
        ];
        for (preset, path, value, message) in cases {
            let err = edited(preset, &path, value).expect_err(&format!("{preset} {path:?} should be refused")).to_string();
            assert!(err.starts_with(&format!("invalid encoder spec {preset}: ")) && err.contains(message), "{preset}: {err}");
        }
    }

    #[test]
    fn every_preset_is_within_the_limits() {
        for (name, text) in PRESET_FILES {
            EncoderSpec::from_toml(text, name).unwrap_or_else(|err| panic!("{err}"));
        }
    }
}
