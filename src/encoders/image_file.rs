//! Image files → 8-bit RGB: the crate's one decoder, for `encode`, training, evaluation and
//! CV-Bench alike. Refused, each with the image's path: an image whose padded square (the
//! canvas Cambrian's `expand2square` allocates) would exceed [`MAX_SQUARE_PIXELS`], checked
//! from the header before anything is decoded; a decode beyond the `image` crate's `Limits`;
//! and a truncated JPEG, which the `image` crate's decoder (zune-jpeg, not in strict mode)
//! would fill in silently where Pillow refuses it.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// Pillow's `MAX_IMAGE_PIXELS` (its decompression-bomb warning), applied to the padded square:
/// sides up to 9459 pixels.
pub const MAX_SQUARE_PIXELS: u64 = 89_478_485;

/// Bytes a decode may allocate: the largest allowed image as 16-bit RGBA.
const MAX_DECODE_BYTES: u64 = MAX_SQUARE_PIXELS * 8;

#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot decode image {path}: {message}")]
    Undecodable { path: PathBuf, message: String },
    #[error(
        "image {path} is too large: {width}×{height} pads to a square of {} pixels, more than {MAX_SQUARE_PIXELS}",
        (*.width.max(.height) as u64).pow(2)
    )]
    TooLarge { path: PathBuf, width: u32, height: u32 },
}

/// Decodes an image file into 8-bit RGB (alpha dropped, as PIL's `convert("RGB")` does).
pub fn load_image(path: &Path) -> Result<RgbImage, ImageFileError> {
    let bytes = std::fs::read(path).map_err(|source| ImageFileError::Io { path: path.to_path_buf(), source })?;
    decode_image(&bytes, path)
}

/// The same for an encoded image held in memory (a parquet cell), `path` naming it in errors.
pub fn decode_image(bytes: &[u8], path: &Path) -> Result<RgbImage, ImageFileError> {
    let undecodable = |message: String| ImageFileError::Undecodable { path: path.to_path_buf(), message };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| ImageFileError::Io { path: path.to_path_buf(), source })?;
    // Limits are set once the size is known, so that a too-large image gets its own error.
    reader.no_limits();
    let format = reader.format();
    let mut decoder = reader.into_decoder().map_err(|err| undecodable(err.to_string()))?;
    let (width, height) = decoder.dimensions();
    if (width.max(height) as u64).pow(2) > MAX_SQUARE_PIXELS {
        return Err(ImageFileError::TooLarge { path: path.to_path_buf(), width, height });
    }
    let mut limits = Limits::no_limits();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    decoder.set_limits(limits).map_err(|err| undecodable(err.to_string()))?;
    if format == Some(ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(undecodable("truncated: the JPEG data ends before its end-of-image marker".into()));
    }
    let decoded = DynamicImage::from_decoder(decoder).map_err(|err| undecodable(err.to_string()))?;
    Ok(decoded.to_rgb8())
}

/// Whether a JPEG stream reaches its end-of-image marker (FF D9), walking the marker segments
/// (ITU T.81 B.1) so that an embedded thumbnail's marker inside an APPn segment does not count.
/// Entropy-coded data after each SOS runs to the next marker other than a stuffed FF 00 or a
/// restart marker FF D0-D7.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    const SOI: u8 = 0xD8;
    const EOI: u8 = 0xD9;
    const SOS: u8 = 0xDA;
    if bytes.len() < 4 || bytes[..2] != [0xFF, SOI] {
        return false;
    }
    let mut at = 2;
    loop {
        // Fill bytes (any number of FF) may precede a marker.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else { return false };
        at += 2;
        match marker {
            EOI => return true,
            // Standalone markers carry no length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(length) = bytes.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize) else { return false };
        at += length;
        if marker == SOS {
            // The scan's entropy-coded data.
            loop {
                match (bytes.get(at), bytes.get(at + 1)) {
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => at += 2,
                    (Some(0xFF), Some(_)) => break,
                    (Some(_), _) => at += 1,
                    (None, _) => return false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small photo-like JPEG, encoded by the `image` crate.
    fn jpeg() -> Vec<u8> {
        let image = RgbImage::from_fn(40, 24, |x, y| image::Rgb([(x * 6) as u8, (y * 10) as u8, ((x + y) * 3) as u8]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg).unwrap();
        bytes
    }

    #[test]
    fn a_whole_jpeg_is_complete_and_one_cut_anywhere_is_not() {
        let bytes = jpeg();
        assert!(jpeg_is_complete(&bytes));
        // Trailing bytes after the end-of-image marker are allowed, as Pillow allows them.
        assert!(jpeg_is_complete(&[&bytes[..], b"trailer"].concat()));
        for cut in [2, 20, bytes.len() / 2, bytes.len() - 2, bytes.len() - 1] {
            assert!(!jpeg_is_complete(&bytes[..cut]), "cut at {cut} of {}", bytes.len());
        }
    }
}
