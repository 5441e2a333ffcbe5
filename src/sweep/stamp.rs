//! What a sweep's evaluations were made from. Each eval report it writes
//! (`RUN/eval/NAME.MODE.json`) carries `made_from`: the run, the benchmark's content hash and
//! settings, the image mode and the cambrian version. A report whose stamp is not what the
//! sweep would write now (a benchmark file edited, a report written by `cambrian eval` or an
//! older cambrian) is evaluated again.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SweepError;
use super::spec::BenchmarkSpec;
use crate::data::vision::ImageMode;
use crate::eval::evaluate::Report;
use crate::eval::questions::Questions;
use crate::features::key::hex;

/// The program that made an artifact, part of every stamp: other code, other artifacts.
pub const MADE_BY: &str = concat!("cambrian ", env!("CARGO_PKG_VERSION"));

/// A benchmark as a sweep evaluates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkStamp {
    pub name: String,
    /// SHA-256 of the questions as scoring reads them (`Questions::sha256`).
    pub sha256: String,
    pub max_new_tokens: usize,
}

impl BenchmarkStamp {
    pub fn of(benchmark: &Questions, spec: &BenchmarkSpec) -> Result<Self, SweepError> {
        let max_new_tokens =
            spec.max_new_tokens.or(benchmark.max_new_tokens).unwrap_or(crate::eval::evaluate::DEFAULT_NEW_TOKENS);
        Ok(Self { name: spec.name.clone(), sha256: benchmark.sha256()?, max_new_tokens })
    }
}

/// What an eval report was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportStamp {
    pub made_by: String,
    /// The run id (which covers the run's config and its prepared data).
    pub run: String,
    pub benchmark: BenchmarkStamp,
    pub mode: ImageMode,
}

impl ReportStamp {
    pub fn new(run: &str, benchmark: &BenchmarkStamp, mode: ImageMode) -> Self {
        Self { made_by: MADE_BY.into(), run: run.into(), benchmark: benchmark.clone(), mode }
    }
}

/// An eval report file as a sweep writes it: the report's fields and `made_from`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StampedReport {
    /// None in a report written outside a sweep.
    pub made_from: Option<ReportStamp>,
    #[serde(flatten)]
    pub report: Report,
}

/// The report at `path` if it carries `stamp`: none when it is missing, unreadable, or made
/// from something else.
pub fn current_report(path: &Path, stamp: &ReportStamp) -> Option<Report> {
    let bytes = std::fs::read(path).ok()?;
    let stamped: StampedReport = serde_json::from_slice(&bytes).ok()?;
    (stamped.made_from.as_ref() == Some(stamp)).then_some(stamped.report)
}

pub fn sha256_file(path: &Path) -> Result<String, SweepError> {
    let bytes = std::fs::read(path).map_err(SweepError::io(path))?;
    Ok(hex(&Sha256::digest(bytes)))
}
