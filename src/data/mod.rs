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
    Decode(#[from] crate::encoders::image_file::ImageFileError),
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

/// Reads and parses a whole JSON file (a UTF-8 byte-order mark is allowed).
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, DataError> {
    let bytes = std::fs::read(path).map_err(DataError::io(path))?;
    serde_json::from_slice(without_bom(&bytes)).map_err(|source| DataError::Json { path: path.to_path_buf(), source })
}

/// `bytes` without the UTF-8 byte-order mark that some editors put at the head of a file.
pub(crate) fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The non-empty lines of a JSONL file's bytes, numbered from 1, each as UTF-8 text or the
/// reason it is not (so that one bad byte costs its line, not the file).
pub(crate) fn jsonl_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, Result<&str, String>)> {
    without_bom(bytes)
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, std::str::from_utf8(line).map_err(|err| format!("not UTF-8 text ({err})"))))
        .filter(|(_, line)| !matches!(line, Ok(text) if text.trim().is_empty()))
}

/// Whether `relative`, a path read from a data file, stays inside the folder it is taken
/// from: relative, with no `..` (a symbolic link inside the folder is trusted).
pub(crate) fn stays_inside(relative: &str) -> bool {
    let path = std::path::Path::new(relative);
    !relative.is_empty() && path.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
}

/// Opens an image as 8-bit RGB with the crate's one decoder (size limit, truncation check).
pub(crate) fn open_rgb(path: &std::path::Path) -> Result<image::RgbImage, DataError> {
    Ok(crate::encoders::image_file::load_image(path)?)
}

/// Decodes an encoded image held in memory (the format sniffed from its bytes) as 8-bit RGB
/// with the same decoder and limits; `origin` names it in errors.
pub(crate) fn decode_rgb(bytes: &[u8], origin: &std::path::Path) -> Result<image::RgbImage, DataError> {
    Ok(crate::encoders::image_file::decode_image(bytes, origin)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_file_may_start_with_a_byte_order_mark() {
        let path = std::env::temp_dir().join(format!("cambrian-bom-{}.json", std::process::id()));
        std::fs::write(&path, "\u{FEFF}{\"images\": [1, 2]}").unwrap();
        let value: serde_json::Value = read_json(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(value["images"], serde_json::json!([1, 2]));
    }

    /// An image held in a parquet cell goes through the file decoder's checks: a JPEG cut
    /// half-way is refused, not filled in.
    #[test]
    fn an_embedded_image_is_decoded_with_the_files_checks() {
        let image = image::RgbImage::from_fn(256, 256, |x, y| image::Rgb([x as u8, (x * y % 251) as u8, y as u8]));
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(image).write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        let origin = std::path::Path::new("cell.jpg");
        assert_eq!(decode_rgb(&jpeg, origin).unwrap().dimensions(), (256, 256));
        let message = decode_rgb(&jpeg[..jpeg.len() * 3 / 4], origin).unwrap_err().to_string();
        assert!(message.contains("cell.jpg") && message.contains("truncated"), "{message}");
    }

    #[test]
    fn paths_that_leave_their_folder_are_told_apart() {
        for inside in ["a.png", "./img/2D/a.png"] {
            assert!(stays_inside(inside), "{inside}");
        }
        // Any `..` is refused, even one that comes back in.
        for outside in ["../a.png", "/etc/passwd", "img/../../a.png", "img/../a.png", ""] {
            assert!(!stays_inside(outside), "{outside}");
        }
    }
}
