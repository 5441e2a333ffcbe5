//! The benchmark suite's released files, read without Python: dataset repositories in the
//! Hugging Face hub cache or a `--data` folder, their parquet splits streamed as rows of
//! [`Value`]s with images kept encoded, and MMVP's `Questions.csv`. Facts about the layouts:
//! shared/notes/benchmarks.md, sections 0.2, 0.3 and 3.

mod value;

pub use value::{ImageRef, Row, Value};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{path}: column `{column}` was not requested from the file")]
    NotRequested { path: PathBuf, column: String },
    #[error("{path}, row {row}: column `{column}` should hold {expected}, found {found}")]
    WrongType { path: PathBuf, row: usize, column: String, expected: &'static str, found: &'static str },
}
