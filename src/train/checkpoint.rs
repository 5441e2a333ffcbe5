//! Checkpoints and finished stages in a run folder, each written whole or not at all: into a
//! hidden `.…partial` folder that is renamed into place once complete, so a run killed at
//! any moment leaves either the previous checkpoint or the new one.
//!
//! ```text
//! RUN/checkpoints/stage2-step0000040/   trained weights (burnpack, which keeps the parameter
//!                                       ids the optimizer state is keyed by), optimizer state,
//!                                       state.json (steps done, metrics so far, skips)
//! RUN/stage1/  RUN/stage2/              a finished stage: its trained weights and state.json
//! ```
//! Nothing else is needed to resume: the data order and the learning rate are functions of
//! the seed and the step, and training draws no other random numbers.

use std::path::{Path, PathBuf};

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::TrainError;
use super::metrics::MetricRow;
use super::optim::Optimizers;
use crate::mllm::Mllm;

/// What a stage trains besides the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parts {
    pub llm: bool,
    pub encoders: bool,
}

/// An example a stage could not train on, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skip {
    /// Record index in the data file.
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageState {
    pub stage: u8,
    /// Optimizer steps done.
    pub steps_done: u64,
    pub total_steps: u64,
    /// Usable examples in the stage's data (after `samples`).
    pub examples: usize,
    pub metrics: Vec<MetricRow>,
    /// Records the loader rejected.
    pub skipped_records: Vec<Skip>,
    /// Examples dropped while training (an image that fails to decode, no answer token left
    /// after truncation), once per occurrence.
    pub skipped_examples: Vec<Skip>,
    pub train_secs: f64,
}

pub fn final_dir(run: &Path, stage: u8) -> PathBuf {
    run.join(format!("stage{stage}"))
}

fn checkpoints(run: &Path) -> PathBuf {
    run.join("checkpoints")
}

fn step_name(stage: u8, step: u64) -> String {
    format!("stage{stage}-step{step:07}")
}

/// The newest complete checkpoint of `stage`: (folder, steps done).
pub fn latest(run: &Path, stage: u8) -> Result<Option<(PathBuf, u64)>, TrainError> {
    let root = checkpoints(run);
    if !root.is_dir() {
        return Ok(None);
    }
    let prefix = format!("stage{stage}-step");
    let mut best = None;
    for entry in std::fs::read_dir(&root).map_err(TrainError::io(&root))? {
        let entry = entry.map_err(TrainError::io(&root))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(step) = name.strip_prefix(&prefix).and_then(|s| s.parse::<u64>().ok()) else { continue };
        if best.as_ref().is_none_or(|(_, b)| step > *b) {
            best = Some((entry.path(), step));
        }
    }
    Ok(best)
}

impl Parts {
    /// Saves the connector and the trained parts into `dir` with `parts.json`.
    fn save_weights(self, model: &Mllm, dir: &Path) -> Result<(), TrainError> {
        let save = |module: Result<(), burn::store::RecordError>, name: &str| {
            module.map_err(|err| TrainError::record(&dir.join(name), err))
        };
        save(model.connector.clone().save_file(dir.join("connector.bpk")), "connector.bpk")?;
        if self.llm {
            save(model.llm.clone().save_file(dir.join("llm.bpk")), "llm.bpk")?;
        }
        if self.encoders {
            for (i, encoder) in model.encoders.iter().enumerate() {
                let name = format!("encoder-{i}.bpk");
                save(encoder.model.clone().save_file(dir.join(&name)), &name)?;
            }
        }
        Ok(crate::atomic::write_json(&dir.join("parts.json"), &self)?)
    }

    /// Loads what `dir` holds (as its `parts.json` says) into `model`.
    pub fn load_weights(mut model: Mllm, dir: &Path) -> Result<Mllm, TrainError> {
        let parts: Parts = read_json(&dir.join("parts.json"))?;
        let load = |name: &str| {
            let path = dir.join(name);
            burn::store::ModuleRecord::load(&path).map_err(|err| TrainError::record(&path, err))
        };
        let applied = |path: &str, err| TrainError::record(&dir.join(path), err);
        model.connector = model.connector.try_load_record(load("connector.bpk")?).map_err(|e| applied("connector.bpk", e))?;
        if parts.llm {
            model.llm = model.llm.try_load_record(load("llm.bpk")?).map_err(|e| applied("llm.bpk", e))?;
        }
        if parts.encoders {
            for (i, encoder) in model.encoders.iter_mut().enumerate() {
                let name = format!("encoder-{i}.bpk");
                let record = load(&name)?;
                encoder.model = encoder.model.clone().try_load_record(record).map_err(|e| applied(&name, e))?;
            }
        }
        Ok(model)
    }
}

/// Writes a checkpoint of `state.steps_done` steps and removes the stage's older ones.
pub fn save(run: &Path, parts: Parts, model: &Mllm, optimizers: &mut Optimizers, state: &StageState) -> Result<(), TrainError> {
    let root = checkpoints(run);
    let name = step_name(state.stage, state.steps_done);
    let staged = stage_folder(&root, &name)?;
    parts.save_weights(model, &staged)?;
    optimizers.save(&staged)?;
    crate::atomic::write_json(&staged.join("state.json"), state)?;
    let dest = root.join(&name);
    std::fs::rename(&staged, &dest).map_err(TrainError::io(&dest))?;
    remove_checkpoints(run, state.stage, Some(&name))
}

/// Removes the checkpoints of `stage` (but `keep`), and any half-written one a kill left.
fn remove_checkpoints(run: &Path, stage: u8, keep: Option<&str>) -> Result<(), TrainError> {
    let root = checkpoints(run);
    if !root.is_dir() {
        return Ok(());
    }
    let prefix = format!("stage{stage}-step");
    for entry in std::fs::read_dir(&root).map_err(TrainError::io(&root))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = name.strip_prefix('.').unwrap_or(&name).starts_with(&prefix) && Some(name.as_str()) != keep;
        if stale {
            std::fs::remove_dir_all(entry.path()).map_err(TrainError::io(entry.path()))?;
        }
    }
    Ok(())
}

/// Restores the model's trained parts, the optimizers and the state from a checkpoint.
pub fn resume(dir: &Path, model: Mllm, optimizers: &mut Optimizers) -> Result<(Mllm, StageState), TrainError> {
    let model = Parts::load_weights(model, dir)?;
    optimizers.load(dir)?;
    Ok((model, read_json(&dir.join("state.json"))?))
}

/// Writes a finished stage and drops its checkpoints.
pub fn finish(run: &Path, parts: Parts, model: &Mllm, state: &StageState) -> Result<(), TrainError> {
    let dest = final_dir(run, state.stage);
    let staged = stage_folder(run, &format!("stage{}", state.stage))?;
    parts.save_weights(model, &staged)?;
    crate::atomic::write_json(&staged.join("state.json"), state)?;
    std::fs::rename(&staged, &dest).map_err(TrainError::io(&dest))?;
    remove_checkpoints(run, state.stage, None)
}

pub fn finished_state(run: &Path, stage: u8) -> Result<StageState, TrainError> {
    read_json(&final_dir(run, stage).join("state.json"))
}

/// A fresh hidden folder `.NAME.partial` under `parent` (a stale one from a crash is cleared).
fn stage_folder(parent: &Path, name: &str) -> Result<PathBuf, TrainError> {
    let staged = parent.join(format!(".{name}.partial"));
    if staged.exists() {
        std::fs::remove_dir_all(&staged).map_err(TrainError::io(&staged))?;
    }
    std::fs::create_dir_all(&staged).map_err(TrainError::io(&staged))?;
    Ok(staged)
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TrainError> {
    let bytes = std::fs::read(path).map_err(TrainError::io(path))?;
    serde_json::from_slice(&bytes).map_err(|err| TrainError::Corrupt { path: path.to_path_buf(), message: err.to_string() })
}
