//! Benchmarks and training data: the multiple-choice benchmark type with its categories and
//! scoring rules (`benchmark`), CV-Bench built from detection annotations or loaded as released
//! (`cvbench`), the built-in synthetic vision-centric benchmark and training set (`synth`),
//! instruction data in the LLaVA format (`llava`), and the image replacements of
//! vision-disabled evaluation (`vision`).

pub mod benchmark;
pub mod corpus;
pub mod cvbench;
pub mod draw;
pub mod hub;
pub mod llava;
pub mod suite;
pub mod synth;
pub mod vision;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not valid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}, line {line}: {source}")]
    JsonLine { path: PathBuf, line: usize, source: serde_json::Error },
    #[error("{path}: {source}")]
    Image { path: PathBuf, source: image::ImageError },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Output(#[from] crate::atomic::OutputError),
    #[error("{0}")]
    Config(String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
        let path = path.into();
        move |source| DataError::Io { path, source }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> DataError {
        DataError::Invalid { path: path.into(), message: message.into() }
    }
}

/// Reads and parses a whole JSON file.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, DataError> {
    let bytes = std::fs::read(path).map_err(DataError::io(path))?;
    serde_json::from_slice(&bytes).map_err(|source| DataError::Json { path: path.to_path_buf(), source })
}

/// Opens an image as 8-bit RGB.
pub(crate) fn open_rgb(path: &std::path::Path) -> Result<image::RgbImage, DataError> {
    image::open(path).map(|img| img.to_rgb8()).map_err(|source| DataError::Image { path: path.to_path_buf(), source })
}

/// Decodes an encoded image held in memory (the format sniffed from its bytes) as 8-bit RGB;
/// `origin` names it in errors.
pub(crate) fn decode_rgb(bytes: &[u8], origin: &std::path::Path) -> Result<image::RgbImage, DataError> {
    image::load_from_memory(bytes)
        .map(|img| img.to_rgb8())
        .map_err(|source| DataError::Image { path: origin.to_path_buf(), source })
}
