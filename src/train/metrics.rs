//! Per-step training metrics, `RUN/metrics.csv`: stage, step (optimizer steps from 0 within
//! the stage), loss (mean over the step's answer tokens), lr (the connector's), grad_norm
//! (global, before clipping), tokens_per_sec (positions forwarded, pads excluded), secs.
//! Rewritten whole (atomically) at each step from the rows in memory, which a checkpoint
//! also holds, so a resumed run's file has no duplicated or half-written rows.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TrainError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    pub stage: u8,
    pub step: u64,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub tokens_per_sec: f64,
    pub secs: f64,
}

pub fn write(path: &Path, rows: &[MetricRow]) -> Result<(), TrainError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).map_err(|err| TrainError::Corrupt { path: path.to_path_buf(), message: err.to_string() })?;
    }
    let bytes = writer.into_inner().map_err(|err| TrainError::Corrupt { path: path.to_path_buf(), message: err.to_string() })?;
    crate::atomic::write(path, &bytes).map_err(TrainError::io(path))
}
