//! Vision encoders behind one interface: a spec (architecture, preprocessing, family,
//! weights), a model built from it, and `forward(pixels) → patch-token grid`.

pub mod encode;
pub mod hf_config;
pub mod preprocess;
pub mod registry;
pub mod resample;
pub mod sam;
pub mod spec;
pub mod vit;
pub mod vit_keys;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::weights::WeightsError;
use crate::weights::checkpoint::Checkpoint;
pub use spec::{Architecture, ArchitectureSpec, EncoderSpec, Family};
use sam::SamEncoder;
use vit::VisionTransformer;

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("unknown encoder `{name}`{}; `cambrian encoders` lists the presets", did_you_mean(.closest))]
    Unknown { name: String, closest: Option<String> },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid encoder spec {origin}: {message}")]
    Spec { origin: String, message: String },
    #[error("invalid model configuration: {0}")]
    Config(String),
    #[error("cannot decode image {path}: {message}")]
    Image { path: PathBuf, message: String },
    #[error("layer {layer} does not exist: the encoder has {depth} blocks (layers 0..={depth}, or -1..=-{})", .depth + 1)]
    Layer { layer: i64, depth: usize },
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

fn did_you_mean(closest: &Option<String>) -> String {
    closest.as_ref().map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default()
}

/// Where an encoder's parameters come from.
pub enum WeightsSource<'a> {
    /// A checkpoint file or folder.
    Path(&'a Path),
    /// Random initialisation, seeded.
    Random { seed: u64 },
}

/// The architectures, as one module type so that callers can train, freeze or save any.
#[derive(Module, Debug)]
pub enum EncoderModel {
    Vit(VisionTransformer),
    Sam(SamEncoder),
}

/// A patch-token grid: `tokens` [batch, rows × cols, hidden], row-major over `grid`.
pub struct Features {
    pub tokens: Tensor<3>,
    pub grid: [usize; 2],
}

pub struct Encoder {
    pub spec: EncoderSpec,
    pub model: EncoderModel,
}

impl Encoder {
    pub fn build(spec: EncoderSpec, weights: WeightsSource, device: &Device) -> Result<Self, EncoderError> {
        spec.preprocess.validate().map_err(EncoderError::Config)?;
        let checkpoint = match weights {
            WeightsSource::Path(path) => Some(Checkpoint::open(path, spec.weights_key.as_deref())?),
            WeightsSource::Random { seed } => {
                device.seed(seed);
                None
            }
        };
        let model = spec.architecture.spec().build(checkpoint, device)?;
        Ok(Self { spec, model })
    }

    /// The tokens of `layer` (default: the spec's feature layer) for a batch of
    /// preprocessed images. [batch, 3, res, res] → [batch, tokens, hidden]
    pub fn forward(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<Features, EncoderError> {
        let layer = layer.or(self.spec.feature_layer);
        let (tokens, grid) = match &self.model {
            EncoderModel::Vit(vit) => vit.forward(pixels, layer)?,
            EncoderModel::Sam(sam) => sam.forward(pixels, layer)?,
        };
        Ok(Features { tokens, grid })
    }
}
