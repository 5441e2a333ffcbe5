//! The benchmark suite's released files, read without Python: dataset repositories in the
//! Hugging Face hub cache or a `--data` folder (`repo`), their parquet splits streamed as rows
//! of [`Value`]s with images kept encoded until asked for (`parquet`, `cells`), and MMVP's
//! `Questions.csv` (`mmvp`). The layouts: shared/notes/benchmarks.md, sections 0.2, 0.3 and 3.

mod cells;
mod mmvp;
mod parquet;
mod repo;
mod value;

pub use mmvp::mmvp_rows;
pub use parquet::{Rows, rows};
pub use repo::DatasetRepo;
pub use value::{ImageRef, Row, Value};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a readable parquet file: {source}")]
    Parquet { path: PathBuf, source: ::parquet::errors::ParquetError },
    #[error("{path}: no column `{column}` (it has: {available})")]
    MissingColumn { path: PathBuf, column: String, available: String },
    #[error("{path}: column `{column}` was not requested from the file")]
    NotRequested { path: PathBuf, column: String },
    #[error("{path}: column `{column}` is compressed with {codec}, which this build does not read (it reads {readable})")]
    Codec { path: PathBuf, column: String, codec: &'static str, readable: &'static str },
    #[error("{path}: column `{column}`: {message}")]
    Schema { path: PathBuf, column: String, message: String },
    #[error("{path}: corrupt parquet data (the parquet reader failed: {message})")]
    Corrupt { path: PathBuf, message: String },
    #[error("{path}: cannot read rows: {message}")]
    Rows { path: PathBuf, message: String },
    #[error("{path}, row {row}: column `{column}`: {message}")]
    Cell { path: PathBuf, row: usize, column: String, message: String },
    #[error("{path}, row {row}: column `{column}` should hold {expected}, found {found}")]
    WrongType { path: PathBuf, row: usize, column: String, expected: &'static str, found: &'static str },
    #[error("{path}: the `huggingface` schema metadata is not the JSON `datasets` writes: {message}")]
    Metadata { path: PathBuf, message: String },
    #[error("{path}, line {line}: {message}")]
    Csv { path: PathBuf, line: u64, message: String },
    #[error("{what}: {message}")]
    Missing { what: String, message: String },
    #[error("`{pattern}` is not a file pattern: {message}")]
    Pattern { pattern: String, message: String },
}

impl HubError {
    fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> HubError {
        let path = path.into();
        move |source| HubError::Io { path, source }
    }
}
