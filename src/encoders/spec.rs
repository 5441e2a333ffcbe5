//! Encoder specs: the TOML files in `encoders/` (the presets) and any a user writes.
//!
//! A spec names an architecture with its sizes, the preprocessing its checkpoint was trained
//! with, its family in the Cambrian-1 taxonomy, where its weights live, and the layer whose
//! tokens the connector receives. The schema is documented in the README.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use burn::tensor::Device;

use super::beit::BeitSpec;
use super::convnext::ConvNextSpec;
use super::diffusion::StableDiffusionSpec;
use super::eva::EvaSpec;
use super::preprocess::Preprocess;
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
        }
    }
}

/// The token grid of a patch size at a square input side; [0, 0] for a zero patch size, which
/// `Encoder::build` refuses.
pub fn patch_grid(resolution: usize, patch_size: usize) -> [usize; 2] {
    [resolution.checked_div(patch_size).unwrap_or(0); 2]
}

/// What each architecture's `[architecture]` table tells the rest of the crate.
pub trait ArchitectureSpec {
    /// Short description for listings, e.g. `vit (hf-clip)`.
    fn describe(&self) -> String;
    /// Channels of each output token.
    fn hidden_size(&self) -> usize;
    /// The output token grid [rows, cols] for a square input of side `resolution`.
    fn grid(&self, resolution: usize) -> [usize; 2];
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
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, EncoderError> {
        toml::from_str(text).map_err(|err| EncoderError::Spec { origin: origin.to_string(), message: err.message().to_string() })
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
