//! The language model of the probe: a Llama-family decoder (Llama 2/3, Vicuna, Yi, Qwen2,
//! Mistral) loaded from a transformers folder, its tokenizer, Cambrian's conversation
//! templates, and greedy generation.

pub mod chat;
pub mod config;
pub mod generate;
pub mod keys;
pub mod model;
pub mod random_init;
pub mod tokenizer;

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::weights::WeightsError;
use crate::weights::checkpoint::Checkpoint;
pub use config::LlmConfig;
pub use model::{KvCache, LayerHook, LlmModel};

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("{0}")]
    Generation(String),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// Writing a model folder (`init-llm`).
    #[error(transparent)]
    Output(#[from] crate::atomic::OutputError),
}

/// A model folder loaded: configuration and weights.
pub struct Llm {
    pub config: LlmConfig,
    pub model: LlmModel,
}

impl Llm {
    /// Reads `dir/config.json` and the safetensors weights (one file or a sharded index).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, LlmError> {
        let config = LlmConfig::from_dir(dir)?;
        let mut model = LlmModel::new(&config, device);
        keys::load(&mut model, Checkpoint::open(dir, None)?)?;
        Ok(Self { config, model })
    }
}
