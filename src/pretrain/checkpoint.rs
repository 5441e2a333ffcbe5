//! A pre-training run's folder (see the module above): the claim (`pretrain.json`),
//! checkpoints written whole or not at all (into `.stepNNNNNNN.partial`, renamed once
//! complete; only the newest is kept) and the finish (`summary.json`, written last).

use std::path::{Path, PathBuf};

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::{PretrainConfig, PretrainError, Pretrainer, Summary};
use crate::encoders::EncoderSpec;
use crate::train::optim::PartOptimizer;

/// Steps done and their losses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub steps_done: u64,
    pub losses: Vec<f64>,
    pub train_secs: f64,
}

/// `pretrain.json`: everything the result depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Claim {
    config: PretrainConfig,
    /// The encoder spec, as TOML.
    encoder: String,
    /// The synth folder, absolute.
    data: PathBuf,
}

fn checkpoints(out: &Path) -> PathBuf {
    out.join("checkpoints")
}

/// Writes `pretrain.json` into a new run folder, or checks that an existing one says the same.
pub fn claim(config: &PretrainConfig, spec: &EncoderSpec, data: &Path, out: &Path) -> Result<(), PretrainError> {
    let encoder = toml::to_string(spec).map_err(|err| PretrainError::Config(format!("encoder spec: {err}")))?;
    let data = std::path::absolute(data).map_err(PretrainError::io(data))?;
    let wanted = Claim { config: config.clone(), encoder, data };
    let path = out.join("pretrain.json");
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Claim>(&bytes) {
            Ok(existing) if existing == wanted => Ok(()),
            _ => Err(PretrainError::ConfigChanged { path }),
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out).map_err(PretrainError::io(out))?;
            Ok(crate::atomic::write_json(&path, &wanted)?)
        }
        Err(source) => Err(PretrainError::Io { path, source }),
    }
}

/// The finished run's summary, if `summary.json` is there.
pub fn finished(out: &Path) -> Result<Option<Summary>, PretrainError> {
    let path = out.join("summary.json");
    if !path.is_file() {
        return Ok(None);
    }
    read_json(&path).map(Some)
}

/// Writes `summary.json`, the finished marker, and drops the checkpoints.
pub fn finish(out: &Path, summary: &Summary) -> Result<(), PretrainError> {
    crate::atomic::write_json(&out.join("summary.json"), summary)?;
    let root = checkpoints(out);
    if root.is_dir() {
        std::fs::remove_dir_all(&root).map_err(PretrainError::io(&root))?;
    }
    Ok(())
}

fn step_name(step: u64) -> String {
    format!("step{step:07}")
}

/// The newest complete checkpoint.
pub fn latest(out: &Path) -> Result<Option<PathBuf>, PretrainError> {
    let root = checkpoints(out);
    if !root.is_dir() {
        return Ok(None);
    }
    let mut best: Option<(u64, PathBuf)> = None;
    for entry in std::fs::read_dir(&root).map_err(PretrainError::io(&root))? {
        let entry = entry.map_err(PretrainError::io(&root))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(step) = name.strip_prefix("step").and_then(|s| s.parse::<u64>().ok()) else { continue };
        if best.as_ref().is_none_or(|(b, _)| step > *b) {
            best = Some((step, entry.path()));
        }
    }
    Ok(best.map(|(_, path)| path))
}

fn record_error(path: &Path) -> impl FnOnce(burn::store::RecordError) -> PretrainError + '_ {
    move |err| PretrainError::Corrupt { path: path.to_path_buf(), message: format!("{err:?}") }
}

/// Writes a checkpoint of `state.steps_done` steps and removes every other one.
pub fn save(out: &Path, model: &Pretrainer, optim: &mut PartOptimizer, state: &State) -> Result<(), PretrainError> {
    let root = checkpoints(out);
    let name = step_name(state.steps_done);
    let staged = root.join(format!(".{name}.partial"));
    if staged.exists() {
        std::fs::remove_dir_all(&staged).map_err(PretrainError::io(&staged))?;
    }
    std::fs::create_dir_all(&staged).map_err(PretrainError::io(&staged))?;
    let (model_path, optim_path) = (staged.join("model.bpk"), staged.join("optim.bpk"));
    model.clone().save_file(model_path.clone()).map_err(record_error(&model_path))?;
    optim.optim.save(&optim_path).map_err(record_error(&optim_path))?;
    crate::atomic::write_json(&staged.join("state.json"), state)?;
    let dest = root.join(&name);
    std::fs::rename(&staged, &dest).map_err(PretrainError::io(&dest))?;
    for entry in std::fs::read_dir(&root).map_err(PretrainError::io(&root))?.flatten() {
        if entry.file_name().to_string_lossy() != name {
            std::fs::remove_dir_all(entry.path()).map_err(PretrainError::io(&entry.path()))?;
        }
    }
    Ok(())
}

/// The model with its heads, the optimizer and the state of checkpoint `dir`.
pub fn resume(dir: &Path, model: Pretrainer, optim: &mut PartOptimizer) -> Result<(Pretrainer, State), PretrainError> {
    let (model_path, optim_path) = (dir.join("model.bpk"), dir.join("optim.bpk"));
    let record = burn::store::ModuleRecord::load(&model_path).map_err(record_error(&model_path))?;
    let model = model.try_load_record(record).map_err(record_error(&model_path))?;
    optim.optim = optim.optim.clone().load(&optim_path).map_err(record_error(&optim_path))?;
    Ok((model, read_json(&dir.join("state.json"))?))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PretrainError> {
    let bytes = std::fs::read(path).map_err(PretrainError::io(path))?;
    serde_json::from_slice(&bytes).map_err(|err| PretrainError::Corrupt { path: path.to_path_buf(), message: err.to_string() })
}
