//! `cambrian sweep`: every cell of a study's matrix through train → evaluate, into
//! `RESULTS/SWEEP/`:
//!
//! ```text
//! RESULTS/SWEEP/data/            prepared once: synthetic benchmark and data, a small LLM,
//!                                each folder stamped with what it was made from (`prepare`)
//! RESULTS/SWEEP/RUN-ID/          a run folder (see `train`), plus eval/NAME.MODE.json (each
//!                                stamped, `stamp`) and `done`, written last (`results`)
//! RESULTS/SWEEP/results.csv      one row per run × benchmark, regenerated from every
//!                                finished run folder (never appended; see `results`)
//! ```
//! Re-running skips finished runs, evaluates again the reports whose benchmark changed, and
//! resumes partial runs; a per-run lock keeps two processes (or a Slurm array's tasks, with
//! `--shard i/n`) off the same run, and a run left unfinished because another process holds
//! it is named in the outcome (`busy`), which the command turns into a failure.

pub mod lock;
pub mod prepare;
pub mod results;
pub mod slurm;
pub mod spec;
pub mod stamp;

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::atomic::write_json;
use crate::data::vision::ImageMode;
use crate::eval::evaluate::{DEFAULT_BATCH_SIZE, Options, Probe, evaluate, report_file};
use crate::eval::questions::{Questions, Source};
use crate::mllm::buckets::Buckets;
use crate::progress::Progress;
use lock::RunLock;
use prepare::Plan;
use results::{Done, Table};
use spec::{Cell, Paths, SweepSpec};
use stamp::{BenchmarkStamp, ReportStamp, StampedReport, current_report};

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Spec { path: PathBuf, message: String },
    #[error("--shard {0}: expected I/N with I < N")]
    Shard(String),
    #[error("run {run}: {source}")]
    Train { run: String, source: Box<crate::train::TrainError> },
    #[error("run {run}: {source}")]
    Eval { run: String, source: Box<crate::eval::evaluate::EvalError> },
    #[error("benchmark `{name}`: {source}")]
    Benchmark { name: String, source: Box<crate::eval::questions::QuestionsError> },
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Llm(#[from] crate::llm::LlmError),
    #[error(transparent)]
    Results(#[from] crate::results::ResultsError),
    #[error(transparent)]
    Output(#[from] crate::atomic::OutputError),
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
    plan: Plan,
    /// The prepared data's identity (`Plan::identity`), part of every run id.
    data: Option<String>,
}

/// How each cell of this process's share ended, and the results table written after.
#[derive(Debug)]
pub struct Outcome {
    pub finished: Vec<String>,
    pub skipped_done: Vec<String>,
    /// Left unfinished: another process holds them.
    pub busy: Vec<String>,
    pub table: Table,
}

/// A loaded benchmark with its stamp and its entry in the sweep file.
struct Scored<'a> {
    benchmark: Questions,
    stamp: BenchmarkStamp,
    spec: &'a spec::BenchmarkSpec,
}

/// One report a run needs: its benchmark and image mode, its file, the stamp it must carry.
struct Needed<'a> {
    scored: &'a Scored<'a>,
    mode: ImageMode,
    path: PathBuf,
    stamp: ReportStamp,
}

impl Sweep {
    pub fn load(path: &Path, results: &Path) -> Result<Self, SweepError> {
        let spec = SweepSpec::from_file(path)?;
        let dir = results.join(spec.name());
        let spec_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let data_dir = dir.join("data");
        let paths = Paths { spec_dir: &spec_dir, data_dir: &data_dir };
        let plan = Plan::new(&spec.prepare, &paths, path)?;
        let data = plan.identity();
        let cells = spec.cells(&paths, path, data.as_deref())?;
        Ok(Self { spec, dir, cells, spec_dir, plan, data })
    }

    fn paths(&self) -> (PathBuf, PathBuf) {
        (self.spec_dir.clone(), self.dir.join("data"))
    }

    /// Whether `cell`'s folder holds its `done` stamp (its reports are checked when it runs).
    pub fn trained(&self, cell: &Cell) -> bool {
        Done::read(&self.dir.join(&cell.id)).is_some_and(|done| done.run == cell.id)
    }

    /// Prepares the data, trains and evaluates this shard's cells not yet done, then rewrites
    /// results.csv.
    pub fn run(
        &self,
        shard: Shard,
        device: &Device,
        progress: &dyn Progress,
        run_progress: &dyn Progress,
    ) -> Result<Outcome, SweepError> {
        let (spec_dir, data_dir) = self.paths();
        self.plan.prepare(&Paths { spec_dir: &spec_dir, data_dir: &data_dir }, device)?;
        let benchmarks = self.benchmarks()?;
        let mine: Vec<&Cell> =
            self.cells.iter().enumerate().filter(|(i, _)| i % shard.count == shard.index).map(|(_, c)| c).collect();
        let (mut finished, mut skipped_done, mut busy) = (Vec::new(), Vec::new(), Vec::new());
        progress.start(mine.len() as u64, "runs");
        for cell in mine {
            let run = self.dir.join(&cell.id);
            progress.note(&cell.id);
            if self.finished(cell, &benchmarks) {
                skipped_done.push(cell.id.clone());
            } else {
                match RunLock::acquire(&run)? {
                    None => busy.push(cell.id.clone()),
                    // finished by another process since the look above
                    Some(_lock) if self.finished(cell, &benchmarks) => skipped_done.push(cell.id.clone()),
                    Some(_lock) => {
                        self.run_cell(cell, &run, &benchmarks, device, run_progress)?;
                        finished.push(cell.id.clone());
                    }
                }
            }
            progress.advance(1);
        }
        progress.finish();
        let stamps: Vec<BenchmarkStamp> = benchmarks.into_iter().map(|b| b.stamp).collect();
        let table = self.write_results(&stamps)?;
        Ok(Outcome { finished, skipped_done, busy, table })
    }

    fn benchmarks(&self) -> Result<Vec<Scored<'_>>, SweepError> {
        let (spec_dir, data_dir) = self.paths();
        let paths = Paths { spec_dir: &spec_dir, data_dir: &data_dir };
        self.spec
            .benchmarks
            .iter()
            .map(|spec| {
                let path = spec.path.as_deref().map(|path| paths.resolve(path).to_string_lossy().into_owned());
                let data = spec.data.as_deref().map(|data| paths.resolve(data));
                let source = Source {
                    benchmark: path.as_deref().or(spec.preset.as_deref()).unwrap_or_default(),
                    data: data.as_deref(),
                    category: spec.category,
                    name: Some(&spec.name),
                };
                let failed = |source| SweepError::Benchmark { name: spec.name.clone(), source: Box::new(source) };
                let benchmark = Questions::load(&source).map_err(failed)?;
                if benchmark.scorer.is_none() {
                    let hidden = "its answers are hidden: `cambrian eval` writes its submission file".to_string();
                    return Err(failed(crate::eval::questions::QuestionsError::Source(hidden)));
                }
                let stamp = BenchmarkStamp::of(&benchmark, spec)?;
                Ok(Scored { benchmark, stamp, spec })
            })
            .collect()
    }

    /// Each report `cell` needs.
    fn needed<'a>(&self, cell: &Cell, benchmarks: &'a [Scored<'a>]) -> Vec<Needed<'a>> {
        let eval_dir = self.dir.join(&cell.id).join("eval");
        let pairs = benchmarks.iter().flat_map(|scored| scored.spec.vision.iter().map(move |&mode| (scored, mode)));
        pairs
            .map(|(scored, mode)| Needed {
                scored,
                mode,
                path: eval_dir.join(report_file(&scored.spec.name, mode)),
                stamp: ReportStamp::new(&cell.id, &scored.stamp, mode),
            })
            .collect()
    }

    /// Done, with every report this sweep file asks for made from what it names now.
    fn finished(&self, cell: &Cell, benchmarks: &[Scored]) -> bool {
        self.trained(cell) && self.needed(cell, benchmarks).iter().all(|n| current_report(&n.path, &n.stamp).is_some())
    }

    /// Trains (or resumes) a run, evaluates what is missing or stale, and marks it done.
    fn run_cell(
        &self,
        cell: &Cell,
        run: &Path,
        benchmarks: &[Scored],
        device: &Device,
        progress: &dyn Progress,
    ) -> Result<(), SweepError> {
        let done = run.join("done");
        match std::fs::remove_file(&done) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(SweepError::Io { path: done, source: err }),
            _ => {}
        }
        let failed = |source| SweepError::Train { run: cell.id.clone(), source: Box::new(source) };
        let (loaded, _) = crate::train::train(&cell.config, run, device, progress).map_err(failed)?;
        let eval_dir = run.join("eval");
        std::fs::create_dir_all(&eval_dir).map_err(SweepError::io(&eval_dir))?;
        for Needed { scored, mode, path, stamp } in self.needed(cell, benchmarks) {
            if current_report(&path, &stamp).is_some() {
                continue;
            }
            let options = Options {
                template: cell.config.template,
                max_length: cell.config.max_length,
                max_new_tokens: scored.stamp.max_new_tokens,
                mode,
                features: loaded.features(),
                allow_degraded: scored.spec.allow_degraded,
                batch_size: scored.spec.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
                buckets: Buckets::for_device(device),
            };
            let probe =
                Probe { model: &loaded.model, tokenizer: &loaded.tokenizer, eos_token_ids: &loaded.llm_config.eos_token_ids };
            let report = evaluate(&probe, &scored.benchmark, &options, device, progress)
                .map_err(|source| SweepError::Eval { run: cell.id.clone(), source: Box::new(source) })?;
            write_json(&path, &StampedReport { made_from: Some(stamp), report })?;
        }
        Done::new(cell, self.data.clone())?.write(run)
    }
}
