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
use crate::atomic::Staging;
use crate::atomic::checkpoints::{Checkpoints, read_json};
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

/// The checkpoints of `stage` in `run`.
fn checkpoints(run: &Path, stage: u8) -> Checkpoints {
    Checkpoints::new(run.join("checkpoints"), format!("stage{stage}-step"))
}

/// The newest complete checkpoint of `stage`: (folder, steps done).
pub fn latest(run: &Path, stage: u8) -> Result<Option<(PathBuf, u64)>, TrainError> {
    let checkpoints = checkpoints(run, stage);
    checkpoints.latest().map_err(TrainError::io(checkpoints.root()))
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
    let checkpoints = checkpoints(run, state.stage);
    let staged = checkpoints.stage(state.steps_done)?;
    parts.save_weights(model, staged.path())?;
    optimizers.save(staged.path())?;
    crate::atomic::write_json(&staged.path().join("state.json"), state)?;
    Ok(checkpoints.commit(staged, state.steps_done)?)
}

/// Restores the model's trained parts, the optimizers and the state from a checkpoint.
pub fn resume(dir: &Path, model: Mllm, optimizers: &mut Optimizers) -> Result<(Mllm, StageState), TrainError> {
    let model = Parts::load_weights(model, dir)?;
    optimizers.load(dir)?;
    Ok((model, read_json(&dir.join("state.json"))?))
}

/// Writes a finished stage and drops its checkpoints.
pub fn finish(run: &Path, parts: Parts, model: &Mllm, state: &StageState) -> Result<(), TrainError> {
    let staged = Staging::new(&final_dir(run, state.stage))?;
    parts.save_weights(model, staged.path())?;
    crate::atomic::write_json(&staged.path().join("state.json"), state)?;
    staged.commit()?;
    Ok(checkpoints(run, state.stage).remove(None)?)
}

pub fn finished_state(run: &Path, stage: u8) -> Result<StageState, TrainError> {
    Ok(read_json(&final_dir(run, stage).join("state.json"))?)
}
