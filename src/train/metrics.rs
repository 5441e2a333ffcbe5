//! Per-step training metrics, `RUN/metrics.csv` ([`MetricRow`]): loss is the mean over the
//! step's answer tokens (empty for a step whose examples were all skipped), lr the
//! connector's, grad_norm global and before clipping, tokens_per_sec counts positions
//! forwarded (pads excluded), secs the stage's training time.
//! Rewritten whole (atomically) at each step from the rows in memory, which a checkpoint
//! also holds, so a resumed run's file has no duplicated or half-written rows.

use std::path::Path;

use super::TrainError;
pub use crate::results::MetricRow;

pub fn write(path: &Path, rows: &[MetricRow]) -> Result<(), TrainError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).map_err(|err| TrainError::Corrupt { path: path.to_path_buf(), message: err.to_string() })?;
    }
    let bytes = writer.into_inner().map_err(|err| TrainError::Corrupt { path: path.to_path_buf(), message: err.to_string() })?;
    crate::atomic::write(path, &bytes).map_err(TrainError::io(path))
}
