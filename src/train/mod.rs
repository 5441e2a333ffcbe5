//! Training the probe as Cambrian-1 trained it (notes §4): stage 1 aligns the connector with
//! the encoder and LLM frozen, stage 2 instruction-tunes the connector and the LLM (and the
//! encoders when given a learning rate). A run lives in one folder: `config.toml` (resolved,
//! written first), checkpoints, finished stages, `metrics.csv`, `summary.json`; running the
//! same config on the same folder again resumes it, or skips what is finished.

pub mod adamw;
pub mod checkpoint;
pub mod clip;
pub mod config;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod order;
pub mod plan;
pub mod schedule;
pub mod stage;

use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device};
use serde::{Deserialize, Serialize};

use crate::atomic::checkpoints::ReadError;
use crate::encoders::EncoderError;
use crate::features::{CachedFeatures, Compute, FeatureError, FeatureSource};
use crate::llm::LlmError;
use crate::mllm::Mllm;
use crate::progress::Progress;
use checkpoint::{Parts, StageState};
use config::{ConfigError, RunConfig};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("{0}")]
    Data(String),
    #[error("{path} was made by a different configuration; use a new run folder, or restore its config.toml")]
    ConfigChanged { path: PathBuf },
    #[error(
        "stage {stage}, step {step}: loss {loss}, gradient norm {grad_norm}; training stopped before this step's \
         update and saved nothing of it (is the learning rate too high, or are the weights already non-finite?)"
    )]
    NotFinite { stage: u8, step: u64, loss: f64, grad_norm: f64 },
    #[error(
        "precision = \"{precision}\" keeps its weights in {wanted:?}, but the device makes {found:?} tensors; \
         `cambrian train` opens the device for the run's precision (a pure bf16 run needs a process of its own)"
    )]
    DevicePrecision { precision: &'static str, wanted: DType, found: DType },
    #[error(
        "stage {stage} needs about {peak} of device memory ({dominant} dominate; `cambrian plan` shows the parts), \
         more than the {limit} available: {advice}"
    )]
    DoesNotFit { stage: u8, peak: String, limit: String, dominant: &'static str, advice: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Llava(#[from] crate::data::llava::LlavaError),
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    #[error(transparent)]
    Mllm(#[from] crate::mllm::MllmError),
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Features(#[from] FeatureError),
    #[error(transparent)]
    Output(#[from] crate::atomic::OutputError),
}

impl From<ReadError> for TrainError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::Io { path, source } => TrainError::Io { path, source },
            ReadError::Corrupt { path, message } => TrainError::Corrupt { path, message },
        }
    }
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
        let path = path.into();
        move |source| TrainError::Io { path, source }
    }

    pub(crate) fn record(path: &Path, err: burn::store::RecordError) -> TrainError {
        TrainError::Corrupt { path: path.to_path_buf(), message: format!("{err:?}") }
    }
}

/// What `summary.json` says of each stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageSummary {
    pub stage: u8,
    pub steps: u64,
    pub examples: usize,
    /// The last step's loss; none when that step was skipped.
    pub final_loss: Option<f64>,
    pub train_secs: f64,
    pub skipped_records: usize,
    pub skipped_examples: usize,
}

impl From<&StageState> for StageSummary {
    fn from(state: &StageState) -> Self {
        Self {
            stage: state.stage,
            steps: state.steps_done,
            examples: state.examples,
            final_loss: state.metrics.last().and_then(|m| m.loss),
            train_secs: state.train_secs,
            skipped_records: state.skipped_records.len(),
            skipped_examples: state.skipped_examples.len(),
        }
    }
}

/// Trains (or resumes) the run in `run` on `device` (the autodiff layer is added here) and
/// returns the trained model ready for inference, with the stages' summaries.
pub fn train(
    config: &RunConfig,
    run: &Path,
    device: &Device,
    progress: &dyn Progress,
) -> Result<(LoadedRun, Vec<StageSummary>), TrainError> {
    let (wanted, found) = (config.precision.storage(), DType::from(device.settings().float_dtype));
    if wanted != found {
        return Err(TrainError::DevicePrecision { precision: config.precision.name(), wanted, found });
    }
    std::fs::create_dir_all(run).map_err(TrainError::io(run))?;
    claim(config, run)?;
    let device = match config.gradient_checkpointing {
        true => device.clone().autodiff().gradient_checkpointing(),
        false => device.clone().autodiff(),
    };
    let model::Built { mut model, tokenizer, llm_config, cache: shared_cache } = model::build(config, &device)?;
    let mut session = stage::Session {
        run,
        config,
        tokenizer: &tokenizer,
        device: &device,
        progress,
        features: &Compute,
        earlier_metrics: Vec::new(),
    };
    let mut summaries = Vec::new();
    for (index, stage_config) in [(1u8, &config.stage1), (2, &config.stage2)] {
        let Some(stage_config) = stage_config.as_ref().filter(|s| s.samples != Some(0)) else { continue };
        let state = if checkpoint::final_dir(run, index).is_dir() {
            model = Parts::load_weights(model, &checkpoint::final_dir(run, index))?;
            checkpoint::finished_state(run, index)?
        } else {
            let cache = shared_cache.as_ref().filter(|_| !config.encoders_trained_by(index));
            if shared_cache.is_some() && cache.is_none() {
                tracing::info!("stage {index}: the encoders have trained, so their features are computed, not cached");
            }
            session.features = cache.map_or(&Compute, |cache| cache as &dyn FeatureSource);
            let (trained, state) = stage::run(&session, index, stage_config, model)?;
            if let Some(cache) = cache {
                tracing::info!("stage {index}: image features {}", cache.take_counts());
            }
            model = trained;
            state
        };
        session.earlier_metrics.extend(state.metrics.iter().cloned());
        summaries.push(StageSummary::from(&state));
    }
    crate::atomic::write_json(&run.join("summary.json"), &summaries)?;
    drop(session);
    let cache = shared_cache.filter(|_| !config.encoders_trained_by(2));
    let trained = LoadedRun { config: config.clone(), model: model.valid(), tokenizer, llm_config, cache };
    Ok((trained, summaries))
}

/// Writes `config.toml` into a new run folder, or checks that an existing one means the same
/// config: the same files, however their paths are spelled or wherever the folder is reached.
fn claim(config: &RunConfig, run: &Path) -> Result<(), TrainError> {
    let path = run.join("config.toml");
    let mut wanted = config.clone();
    wanted.resolve_paths(Path::new(""));
    match RunConfig::from_file(&path) {
        Ok(existing) if existing == wanted => Ok(()),
        Ok(_) | Err(ConfigError::Invalid { .. }) => Err(TrainError::ConfigChanged { path }),
        Err(ConfigError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let text = toml::to_string(&wanted.relative_to(run))
                .map_err(|err| TrainError::Corrupt { path: path.clone(), message: err.to_string() })?;
            crate::atomic::write(&path, text.as_bytes()).map_err(TrainError::io(&path))
        }
        Err(err) => Err(err.into()),
    }
}

/// A finished run, ready for evaluation.
pub struct LoadedRun {
    pub config: RunConfig,
    pub model: Mllm,
    pub tokenizer: crate::llm::tokenizer::LlmTokenizer,
    pub llm_config: crate::llm::LlmConfig,
    /// The run's feature cache, if it names one and no stage trained the encoders.
    pub cache: Option<CachedFeatures>,
}

impl LoadedRun {
    /// Where evaluation takes image features from.
    pub fn features(&self) -> &dyn FeatureSource {
        self.cache.as_ref().map_or(&Compute, |cache| cache as &dyn FeatureSource)
    }
}

/// The base model of the run's `config.toml` (its relative paths taken from the run folder)
/// with every finished stage's trained weights.
pub fn load_run(run: &Path, device: &Device) -> Result<LoadedRun, TrainError> {
    let config = RunConfig::from_file(&run.join("config.toml"))?;
    let built = model::build(&config, device)?;
    let model = model::apply_finished_stages(built.model, run)?;
    let cache = built.cache.filter(|_| !config.encoders_trained_by(2));
    Ok(LoadedRun { config, model, tokenizer: built.tokenizer, llm_config: built.llm_config, cache })
}
