//! `results.csv`, regenerated at the end of every invocation from every finished run folder
//! under the sweep's folder, not only from this invocation's cells: a narrower sweep file
//! (fewer axis values, say) never drops the rows of runs finished before. The runs of the
//! sweep file's matrix come first, in matrix order, then the other run folders by name; each
//! run has one row per benchmark of the sweep file, with the image-mode scores and, where the
//! benchmark was also run without the image, the vision-disabled ones.
//!
//! A finished run is left out, and named in [`Table::left_out`], when it was made from other
//! prepared data than the sweep file's (its `{data}` benchmark is not today's either), or for
//! a benchmark it has no report on as that benchmark is now (the sweep evaluates the runs of
//! its matrix again; another run's report stays as it is until the run is in a matrix again).
//! Editing a sweep's `base` gives new runs whose rows stand beside the old ones: give the
//! sweep a new `name` for a fresh table.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::spec::Cell;
use super::stamp::{BenchmarkStamp, MADE_BY, ReportStamp, current_report};
use super::{Sweep, SweepError};
use crate::atomic::write_json;
use crate::data::vision::ImageMode;
use crate::encoders::registry;
use crate::eval::evaluate::report_file;
use crate::results::{ResultRow, bootstrap};
use crate::train::StageSummary;
use crate::train::config::{EncoderChoice, Init};

/// `RUN/done`, written last: which run this is, the prepared data it was trained on, and the
/// columns of its rows that come from its config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub made_by: String,
    pub run: String,
    /// The prepared data's identity; none when the sweep prepares nothing.
    pub data: Option<String>,
    pub labels: RunLabels,
}

/// The columns of `results.csv` that a run's config decides (see [`ResultRow`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLabels {
    pub encoder: String,
    pub family: String,
    pub weights: String,
    pub connector: String,
    pub encoder_trainable: bool,
    pub llm: String,
    pub seed: u64,
}

impl Done {
    pub fn new(cell: &Cell, data: Option<String>) -> Result<Self, SweepError> {
        let mut names = Vec::new();
        let mut families = Vec::new();
        let mut weights = Vec::new();
        for choice in &cell.config.encoders {
            let resolved = registry::resolve(Some(&choice.name), None)
                .map_err(|err| SweepError::spec(Path::new(&choice.name), err.to_string()))?;
            weights.push(weights_label(choice, &resolved)?);
            names.push(resolved.spec.name);
            families.push(resolved.spec.family.to_string());
        }
        let config = &cell.config;
        let labels = RunLabels {
            encoder: names.join("+"),
            family: families.join("+"),
            weights: weights.join("+"),
            connector: config.connector.label(),
            encoder_trainable: [&config.stage1, &config.stage2].into_iter().flatten().any(|s| s.encoder_lr.is_some()),
            llm: config.llm.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            seed: config.seed,
        };
        Ok(Self { made_by: MADE_BY.into(), run: cell.id.clone(), data, labels })
    }

    /// The stamp in `run`; none when the run is unfinished or was finished by an older cambrian.
    pub fn read(run: &Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(run.join("done")).ok()?).ok()
    }

    pub fn write(&self, run: &Path) -> Result<(), SweepError> {
        Ok(write_json(&run.join("done"), self)?)
    }
}

/// What an encoder of a run loaded, without fetching it: `random`, the `weights` path as the
/// run config gives it, or where `init = "pretrained"` reads the spec's own checkpoint from.
/// A path's `%` and `+` are written `%25` and `%2B`, so that `+` only ever joins encoders.
fn weights_label(choice: &EncoderChoice, resolved: &registry::Resolved) -> Result<String, SweepError> {
    match (&choice.weights, choice.init) {
        (Some(path), _) => Ok(path.display().to_string().replace('%', "%25").replace('+', "%2B")),
        (None, Some(Init::Pretrained)) => match resolved.origin() {
            Some(origin) => Ok(origin.to_string()),
            None => Err(SweepError::spec(Path::new(&choice.name), format!("encoder `{}` names no weights", resolved.spec.name))),
        },
        (None, _) => Ok("random".into()),
    }
}

/// The rows written to `results.csv`, and the finished runs or rows left out, with why.
#[derive(Debug, Default)]
pub struct Table {
    pub rows: Vec<ResultRow>,
    pub left_out: Vec<String>,
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SweepError> {
    let bytes = std::fs::read(path).map_err(SweepError::io(path))?;
    serde_json::from_slice(&bytes).map_err(|err| SweepError::spec(path, err.to_string()))
}

impl Sweep {
    /// Rewrites `results.csv` from every finished run, on `benchmarks` as they are now.
    pub(super) fn write_results(&self, benchmarks: &[BenchmarkStamp]) -> Result<Table, SweepError> {
        std::fs::create_dir_all(&self.dir).map_err(SweepError::io(&self.dir))?;
        let mut table = Table::default();
        for (name, run) in self.run_folders()? {
            match Done::read(&run) {
                None if run.join("done").exists() => {
                    table.left_out.push(format!("{name}: its `done` has no stamp (an older cambrian's run)"));
                }
                None => {}
                Some(done) if done.run != name => table.left_out.push(format!("{name}: its `done` names run {}", done.run)),
                Some(done) if done.data != self.data => {
                    table.left_out.push(format!("{name}: made from other prepared data than the sweep file's"));
                }
                Some(done) => self.rows(&run, &done, benchmarks, &mut table)?,
            }
        }
        let path = self.dir.join("results.csv");
        let csv_error = |err: csv::Error| SweepError::spec(&path, err.to_string());
        let mut writer = csv::Writer::from_writer(Vec::new());
        if table.rows.is_empty() {
            writer.write_record(crate::results::RESULT_COLUMNS).map_err(csv_error)?;
        }
        for row in &table.rows {
            writer.serialize(row).map_err(csv_error)?;
        }
        let bytes = writer.into_inner().map_err(|err| SweepError::spec(&path, err.to_string()))?;
        crate::atomic::write(&path, &bytes).map_err(SweepError::io(&path))?;
        Ok(table)
    }

    /// The matrix's run folders in matrix order, then the other folders under the sweep's
    /// (but `data` and hidden ones) by name.
    fn run_folders(&self) -> Result<Vec<(String, PathBuf)>, SweepError> {
        let mut others = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(SweepError::io(&self.dir))? {
            let entry = entry.map_err(SweepError::io(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let listed = name == "data" || name.starts_with('.') || self.cells.iter().any(|c| c.id == name);
            if !listed && entry.path().is_dir() {
                others.push(name);
            }
        }
        others.sort();
        let matrix = self.cells.iter().map(|c| c.id.clone()).filter(|id| self.dir.join(id).is_dir());
        Ok(matrix.chain(others).map(|name| (name.clone(), self.dir.join(name))).collect())
    }

    fn rows(&self, run: &Path, done: &Done, benchmarks: &[BenchmarkStamp], table: &mut Table) -> Result<(), SweepError> {
        let stages: Vec<StageSummary> = read(&run.join("summary.json"))?;
        let examples = |stage: u8| stages.iter().find(|s| s.stage == stage).map_or(0, |s| s.examples as u64);
        for benchmark in benchmarks {
            let report = |mode| {
                let path = run.join("eval").join(report_file(&benchmark.name, mode));
                current_report(&path, &ReportStamp::new(&done.run, benchmark, mode))
            };
            let Some((seeing, generation)) = report(ImageMode::Image).and_then(|r| r.generation.clone().map(|g| (r, g))) else {
                table.left_out.push(format!("{}: no report on `{}` as it is now", done.run, benchmark.name));
                continue;
            };
            let blind = report(ImageMode::NoImage);
            let interval = bootstrap::interval(&generation.correct, generation.score);
            let labels = done.labels.clone();
            table.rows.push(ResultRow {
                sweep: self.spec.name().to_string(),
                run: done.run.clone(),
                encoder: labels.encoder,
                family: labels.family,
                weights: labels.weights,
                connector: labels.connector,
                stage1_samples: examples(1),
                stage2_samples: examples(2),
                encoder_trainable: labels.encoder_trainable,
                llm: labels.llm,
                seed: labels.seed,
                benchmark: benchmark.name.clone(),
                category: seeing.category,
                questions: seeing.questions as u64,
                unreadable: seeing.unreadable.len() as u64,
                degraded: seeing.degraded.len() as u64,
                chance: seeing.chance,
                generation: generation.score,
                generation_low: interval.map(|i| i.0),
                generation_high: interval.map(|i| i.1),
                paper_score: generation.paper_score,
                likelihood: seeing.likelihood.as_ref().map(|l| l.score),
                generation_blind: blind.as_ref().and_then(|b| b.generation.as_ref()).map(|g| g.score),
                likelihood_blind: blind.as_ref().and_then(|b| b.likelihood.as_ref()).map(|l| l.score),
                train_secs: stages.iter().map(|s| s.train_secs).sum(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `+` inside a path cannot pass for a second encoder in the `weights` column.
    #[test]
    fn a_weights_path_keeps_plus_for_joining_encoders() {
        let resolved = registry::resolve(Some("moco-v3-vit-b-16"), None).unwrap();
        let weights = Some(PathBuf::from("runs/a+b/100%.safetensors"));
        let choice = EncoderChoice { name: "moco-v3-vit-b-16".into(), weights, init: None, tokens: None };
        assert_eq!(weights_label(&choice, &resolved).unwrap(), "runs/a%2Bb/100%25.safetensors");
        let random = EncoderChoice { weights: None, init: Some(Init::Random), ..choice };
        assert_eq!(weights_label(&random, &resolved).unwrap(), "random");
    }
}
