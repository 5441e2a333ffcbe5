//! `cambrian sweep`: every cell of a study's matrix through train → evaluate, into
//! `RESULTS/SWEEP/`:
//!
//! ```text
//! RESULTS/SWEEP/data/            prepared once: synthetic benchmark and data, a small LLM
//! RESULTS/SWEEP/RUN-ID/          a run folder (see `train`), plus eval/NAME.MODE.json and
//!                                `done`, written last
//! RESULTS/SWEEP/results.csv      one row per run × benchmark, regenerated from the run
//!                                folders of the matrix (never appended)
//! ```
//! Re-running skips finished runs and resumes partial ones; a per-run lock keeps two
//! processes (or a Slurm array's tasks, with `--shard i/n`) off the same run.

pub mod lock;
pub mod prepare;
pub mod results;
pub mod slurm;
pub mod spec;

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::atomic::write_json;
use crate::data::benchmark::Benchmark;
use crate::data::cvbench::load::benchmark;
use crate::eval::mc::{Options, evaluate, report_file};
use crate::progress::Progress;
use lock::RunLock;
use spec::{Cell, Paths, SweepSpec};

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Spec { path: PathBuf, message: String },
    #[error("--shard {0}: expected I/N with I < N")]
    Shard(String),
    #[error("run {run}: {source}")]
    Train { run: String, source: crate::train::TrainError },
    #[error("run {run}: {source}")]
    Eval { run: String, source: crate::eval::mc::EvalError },
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Llm(#[from] crate::llm::LlmError),
    #[error(transparent)]
    Results(#[from] crate::results::ResultsError),
}

impl SweepError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SweepError {
        let path = path.into();
        move |source| SweepError::Io { path, source }
    }

    pub(crate) fn spec(path: &Path, message: impl Into<String>) -> SweepError {
        SweepError::Spec { path: path.to_path_buf(), message: message.into() }
    }
}

/// `--shard i/n`: this process runs the cells whose index is i modulo n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = SweepError;

    fn from_str(text: &str) -> Result<Self, SweepError> {
        let parsed = text.split_once('/').and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
        match parsed {
            Some((index, count)) if index < count => Ok(Shard { index, count }),
            _ => Err(SweepError::Shard(text.to_string())),
        }
    }
}

/// A sweep file read and expanded against a results folder.
pub struct Sweep {
    pub spec: SweepSpec,
    pub dir: PathBuf,
    pub cells: Vec<Cell>,
    spec_dir: PathBuf,
}

/// How each cell of this process's share ended.
#[derive(Debug, Default)]
pub struct Outcome {
    pub finished: Vec<String>,
    pub skipped_done: Vec<String>,
    pub busy: Vec<String>,
}

impl Sweep {
    pub fn load(path: &Path, results: &Path) -> Result<Self, SweepError> {
        let spec = SweepSpec::from_file(path)?;
        let dir = results.join(spec.name());
        let spec_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let data_dir = dir.join("data");
        let cells = spec.cells(&Paths { spec_dir: &spec_dir, data_dir: &data_dir }, path)?;
        Ok(Self { spec, dir, cells, spec_dir })
    }

    fn paths(&self) -> (PathBuf, PathBuf) {
        (self.spec_dir.clone(), self.dir.join("data"))
    }

    /// Prepares the data, then trains and evaluates this shard's cells not yet done.
    pub fn run(
        &self,
        shard: Shard,
        device: &Device,
        progress: &dyn Progress,
        run_progress: &dyn Progress,
    ) -> Result<Outcome, SweepError> {
        let (spec_dir, data_dir) = self.paths();
        prepare::prepare(&self.spec.prepare, &Paths { spec_dir: &spec_dir, data_dir: &data_dir }, device)?;
        let benchmarks = self.benchmarks()?;
        let mine: Vec<&Cell> =
            self.cells.iter().enumerate().filter(|(i, _)| i % shard.count == shard.index).map(|(_, c)| c).collect();
        let mut outcome = Outcome::default();
        progress.start(mine.len() as u64, "runs");
        for cell in mine {
            let run = self.dir.join(&cell.id);
            progress.note(&cell.id);
            if run.join("done").is_file() {
                outcome.skipped_done.push(cell.id.clone());
            } else {
                match RunLock::acquire(&run)? {
                    None => outcome.busy.push(cell.id.clone()),
                    Some(_lock) => {
                        self.run_cell(cell, &run, &benchmarks, device, run_progress)?;
                        outcome.finished.push(cell.id.clone());
                    }
                }
            }
            progress.advance(1);
        }
        progress.finish();
        Ok(outcome)
    }

    fn benchmarks(&self) -> Result<Vec<Benchmark>, SweepError> {
        let (spec_dir, data_dir) = self.paths();
        let paths = Paths { spec_dir: &spec_dir, data_dir: &data_dir };
        self.spec.benchmarks.iter().map(|b| Ok(benchmark(&paths.resolve(&b.path), &b.name, b.category)?)).collect()
    }

    /// Trains (or resumes) a run, evaluates what is missing, and marks it done.
    fn run_cell(
        &self,
        cell: &Cell,
        run: &Path,
        benchmarks: &[Benchmark],
        device: &Device,
        progress: &dyn Progress,
    ) -> Result<(), SweepError> {
        let failed = |source| SweepError::Train { run: cell.id.clone(), source };
        let (loaded, _) = crate::train::train(&cell.config, run, device, progress).map_err(failed)?;
        let eval_dir = run.join("eval");
        std::fs::create_dir_all(&eval_dir).map_err(SweepError::io(&eval_dir))?;
        for (benchmark, spec) in benchmarks.iter().zip(&self.spec.benchmarks) {
            for &mode in &spec.vision {
                let path = eval_dir.join(report_file(&spec.name, mode));
                if path.is_file() {
                    continue;
                }
                let options = Options {
                    template: cell.config.template,
                    max_length: cell.config.max_length,
                    max_new_tokens: spec.max_new_tokens,
                    mode,
                    features: loaded.features(),
                    allow_degraded: spec.allow_degraded,
                };
                let report = evaluate(
                    &loaded.model,
                    &loaded.tokenizer,
                    &loaded.llm_config.eos_token_ids,
                    benchmark,
                    &options,
                    device,
                    progress,
                )
                .map_err(|source| SweepError::Eval { run: cell.id.clone(), source })?;
                write_json(&path, &report).map_err(|source| failed(source.into()))?;
            }
        }
        let done = run.join("done");
        crate::atomic::write(&done, b"").map_err(SweepError::io(&done))
    }
}
