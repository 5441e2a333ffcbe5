//! Cambrian-1's benchmark suite as data: a TOML spec per preset in `benchmarks/` (`spec`,
//! `registry`), Cambrian's prompt builders per eval-script family (`prompt`), loading a
//! preset's released files into questions with Cambrian's prompts and the scorers' truths
//! (`load`), and the submission files of the hidden-answer splits (`submission`). Facts per
//! benchmark: shared/notes/benchmarks.md.

pub mod load;
pub mod prompt;
pub mod registry;
pub mod spec;
pub mod submission;

use std::path::PathBuf;

pub use load::{Dataset, Question};
pub use registry::{preset, presets, resolve};
pub use spec::BenchmarkSpec;

use crate::data::hub::HubError;

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("unknown benchmark `{name}`{}; `cambrian benchmarks` lists the presets", did_you_mean(.closest))]
    Unknown { name: String, closest: Option<String> },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid benchmark spec {origin}: {message}")]
    Spec { origin: String, message: String },
    #[error("benchmark `{preset}`: {source}")]
    Data { preset: String, source: HubError },
    #[error("benchmark `{preset}`: {}, row {row}: {message}", .path.display())]
    Row { preset: String, path: PathBuf, row: usize, message: String },
    #[error("{}: {answers} answers for {questions} questions", .path.display())]
    Answers { path: PathBuf, questions: usize, answers: usize },
    #[error("question id {id:?} is not an integer, as the submission needs")]
    Id { id: String },
    #[error(transparent)]
    Output(#[from] crate::atomic::OutputError),
}

fn did_you_mean(closest: &Option<String>) -> String {
    closest.as_ref().map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default()
}
