//! A pre-training run's folder (see the module above): the claim (`pretrain.json`),
//! checkpoints written whole or not at all (into `.stepNNNNNNN.partial`, renamed once
//! complete; only the newest is kept) and the finish (`summary.json`, written last).

use std::path::{Path, PathBuf};

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::{PretrainConfig, PretrainError, Pretrainer, Summary};
use crate::atomic::checkpoints::{Checkpoints, read_json};
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

fn checkpoints(out: &Path) -> Checkpoints {
    Checkpoints::new(out.join("checkpoints"), "step")
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
    Ok(Some(read_json(&path)?))
}

/// Writes `summary.json`, the finished marker, and drops the checkpoints.
pub fn finish(out: &Path, summary: &Summary) -> Result<(), PretrainError> {
    crate::atomic::write_json(&out.join("summary.json"), summary)?;
    let root = out.join("checkpoints");
    if root.is_dir() {
        std::fs::remove_dir_all(&root).map_err(PretrainError::io(&root))?;
    }
    Ok(())
}

/// The newest complete checkpoint.
pub fn latest(out: &Path) -> Result<Option<PathBuf>, PretrainError> {
    let checkpoints = checkpoints(out);
    let latest = checkpoints.latest().map_err(PretrainError::io(checkpoints.root()))?;
    Ok(latest.map(|(dir, _)| dir))
}

fn record_error(path: &Path) -> impl FnOnce(burn::store::RecordError) -> PretrainError + '_ {
    move |err| PretrainError::Corrupt { path: path.to_path_buf(), message: format!("{err:?}") }
}

/// Writes a checkpoint of `state.steps_done` steps and removes every other one.
pub fn save(out: &Path, model: &Pretrainer, optim: &mut PartOptimizer, state: &State) -> Result<(), PretrainError> {
    let checkpoints = checkpoints(out);
    let staged = checkpoints.stage(state.steps_done)?;
    let (model_path, optim_path) = (staged.path().join("model.bpk"), staged.path().join("optim.bpk"));
    model.clone().save_file(model_path.clone()).map_err(record_error(&model_path))?;
    optim.optim.save(&optim_path).map_err(record_error(&optim_path))?;
    crate::atomic::write_json(&staged.path().join("state.json"), state)?;
    Ok(checkpoints.commit(staged, state.steps_done)?)
}

/// The model with its heads, the optimizer and the state of checkpoint `dir`.
pub fn resume(dir: &Path, model: Pretrainer, optim: &mut PartOptimizer) -> Result<(Pretrainer, State), PretrainError> {
    let (model_path, optim_path) = (dir.join("model.bpk"), dir.join("optim.bpk"));
    let record = burn::store::ModuleRecord::load(&model_path).map_err(record_error(&model_path))?;
    let model = model.try_load_record(record).map_err(record_error(&model_path))?;
    optim.optim = optim.optim.clone().load(&optim_path).map_err(record_error(&optim_path))?;
    Ok((model, read_json(&dir.join("state.json"))?))
}
