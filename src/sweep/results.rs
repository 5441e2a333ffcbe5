//! `results.csv`, regenerated from the finished run folders of the matrix, in matrix order:
//! one row per run × benchmark with the image-mode scores and, where the benchmark was also
//! run without the image, the vision-disabled ones.

use std::path::Path;

use super::spec::Cell;
use super::{Sweep, SweepError};
use crate::data::vision::ImageMode;
use crate::encoders::registry;
use crate::eval::mc::{Report, report_file};
use crate::results::ResultRow;
use crate::train::StageSummary;

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SweepError> {
    let bytes = std::fs::read(path).map_err(SweepError::io(path))?;
    serde_json::from_slice(&bytes).map_err(|err| SweepError::spec(path, err.to_string()))
}

impl Sweep {
    /// Rewrites `results.csv` from every finished run; returns its rows.
    pub fn write_results(&self) -> Result<Vec<ResultRow>, SweepError> {
        let mut rows = Vec::new();
        for cell in &self.cells {
            let run = self.dir.join(&cell.id);
            if run.join("done").is_file() {
                rows.extend(self.rows(cell, &run)?);
            }
        }
        let path = self.dir.join("results.csv");
        let mut writer = csv::Writer::from_writer(Vec::new());
        if rows.is_empty() {
            writer.write_record(crate::results::RESULT_COLUMNS).map_err(|err| SweepError::spec(&path, err.to_string()))?;
        }
        for row in &rows {
            writer.serialize(row).map_err(|err| SweepError::spec(&path, err.to_string()))?;
        }
        let bytes = writer.into_inner().map_err(|err| SweepError::spec(&path, err.to_string()))?;
        crate::atomic::write(&path, &bytes).map_err(SweepError::io(&path))?;
        Ok(rows)
    }

    fn rows(&self, cell: &Cell, run: &Path) -> Result<Vec<ResultRow>, SweepError> {
        let mut names = Vec::new();
        let mut families = Vec::new();
        for choice in &cell.config.encoders {
            let spec = registry::resolve(Some(&choice.name), None).map_err(|err| SweepError::spec(run, err.to_string()))?.spec;
            names.push(spec.name);
            families.push(spec.family.to_string());
        }
        let stages: Vec<StageSummary> = read(&run.join("summary.json"))?;
        let examples = |stage: u8| stages.iter().find(|s| s.stage == stage).map_or(0, |s| s.examples as u64);
        let config = &cell.config;
        let trainable = [&config.stage1, &config.stage2].into_iter().flatten().any(|s| s.encoder_lr.is_some());
        let mut rows = Vec::new();
        for spec in &self.spec.benchmarks {
            let seeing: Report = read(&run.join("eval").join(report_file(&spec.name, ImageMode::Image)))?;
            let blind_path = run.join("eval").join(report_file(&spec.name, ImageMode::NoImage));
            let blind: Option<Report> = if blind_path.is_file() { Some(read(&blind_path)?) } else { None };
            rows.push(ResultRow {
                sweep: self.spec.name().to_string(),
                run: cell.id.clone(),
                encoder: names.join("+"),
                family: families.join("+"),
                connector: config.connector.label(),
                stage1_samples: examples(1),
                stage2_samples: examples(2),
                encoder_trainable: trainable,
                llm: config.llm.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                seed: config.seed,
                benchmark: spec.name.clone(),
                category: seeing.category,
                questions: seeing.questions as u64,
                chance: seeing.chance,
                generation: seeing.generation.value,
                likelihood: seeing.likelihood.value,
                generation_blind: blind.as_ref().map(|b| b.generation.value),
                likelihood_blind: blind.as_ref().map(|b| b.likelihood.value),
                train_secs: stages.iter().map(|s| s.train_secs).sum(),
            });
        }
        Ok(rows)
    }
}
