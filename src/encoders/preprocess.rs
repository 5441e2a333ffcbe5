//! Image preprocessing, matching the reference processors pixel for pixel: transformers'
//! PIL-based image processors, timm's and open_clip's eval transforms (torchvision on PIL
//! images), and Cambrian-1's pad-to-square (`expand2square` in `cambrian/mm_utils.py`).
//!
//! Steps: decode → RGB → [Cambrian's `process_images`: pad to a square, then resize it to
//! crop × crop with Pillow's default bicubic] → resize (shortest edge, or both sides) with
//! Pillow's filters in 8 bits → centre crop → scale to [0, 1] → normalise.

use std::ops::Range;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::EncoderError;
use super::resample::{resize_rgb, resize_rgb_window};
use super::spec::{check_size, limits};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// Cambrian-1's `process_images`: pad to a square (`expand2square`), then resize the
    /// square to crop × crop (bicubic) before the encoder's own transform.
    #[serde(default)]
    pub pad_to_square: bool,
    /// Fill colour of the padding, 0–255. Cambrian uses `int(255 * m)` of the processor's
    /// `image_mean`; its torchvision/open_clip/timm towers report CLIP's mean whatever they
    /// normalise with; its SAM tower states its mean in 0–255 units, so `int(255 * m)`
    /// overflows and PIL clips the fill to white. Absent: `int(255 * m)` of `mean`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_colour: Option<[u8; 3]>,
    pub resize: ResizeMode,
    /// Target of the shortest edge (`shortest-edge`) or of both sides (`squash`).
    pub resize_size: usize,
    /// Side of the centre crop: the encoder's input resolution.
    pub crop_size: usize,
    pub interpolation: Interpolation,
    #[serde(default)]
    pub crop_rounding: CropRounding,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeMode {
    /// Shortest edge to `resize_size`, aspect ratio kept (then the centre crop).
    ShortestEdge,
    /// Both sides to `resize_size`, aspect ratio ignored.
    Squash,
}

/// Pillow's resampling filters, as the reference processors use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interpolation {
    Bicubic,
    Bilinear,
    Lanczos,
}

/// Where an odd crop margin goes: transformers floors it, torchvision rounds half to even.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CropRounding {
    #[default]
    Floor,
    Round,
}

impl Preprocess {
    /// Sizes in range (at most [`limits::PIXELS`] a side), the crop within the resize, and a
    /// finite normalisation.
    pub fn validate(&self) -> Result<(), EncoderError> {
        check_size("crop_size", self.crop_size, 1..=limits::PIXELS)?;
        check_size("resize_size", self.resize_size, self.crop_size..=limits::PIXELS)?;
        if !self.mean.iter().all(|m| m.is_finite()) || !self.std.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(EncoderError::Config(format!(
                "mean {:?} must be finite and std {:?} finite and positive",
                self.mean, self.std
            )));
        }
        Ok(())
    }

    /// The fill colour of `expand2square`: `tuple(int(x * 255) for x in image_mean)`.
    fn pad_colour(&self) -> [u8; 3] {
        self.pad_colour.unwrap_or(self.mean.map(|m| (m * 255.0).clamp(0.0, 255.0) as u8))
    }

    /// Runs every step; returns the normalised pixels, channels first: [3, crop, crop].
    pub fn apply(&self, image: &RgbImage) -> Vec<f32> {
        let squared;
        let image = if self.pad_to_square {
            let padded = pad_to_square(image, self.pad_colour());
            let side = padded.width() as usize;
            let crop = self.crop_size;
            let raw = resize_rgb(padded.as_raw(), (side, side), (crop, crop), Interpolation::Bicubic);
            squared = RgbImage::from_raw(crop as u32, crop as u32, raw).expect("crop × crop × 3 bytes");
            &squared
        } else {
            image
        };
        let source = (image.width() as usize, image.height() as usize);
        let (width, height) = self.resized_size(source.0, source.1);
        let cropped =
            resize_rgb_window(image.as_raw(), source, (width, height), self.centre_crop(width, height), self.interpolation);
        self.normalise(&cropped)
    }

    /// Where `point` of the encoder's input (crop pixels, continuous: pixel (x, y) spans
    /// x..x+1, y..y+1) lies in the source image of `width × height`, undoing the pad, the
    /// resizes and the crop of [`apply`](Self::apply); for sampling dense targets (depth,
    /// masks) in the encoder's frame.
    pub fn source_position(&self, width: usize, height: usize, point: (f64, f64)) -> (f64, f64) {
        let (padded, offset) = match self.pad_to_square {
            true => {
                let side = width.max(height);
                ((side, side), ((side - width) / 2, (side - height) / 2))
            }
            false => ((width, height), (0, 0)),
        };
        let before_resize = if self.pad_to_square { (self.crop_size, self.crop_size) } else { padded };
        let (resized_width, resized_height) = self.resized_size(before_resize.0, before_resize.1);
        let (cols, rows) = self.centre_crop(resized_width, resized_height);
        let x = (point.0 + cols.start as f64) * padded.0 as f64 / resized_width as f64 - offset.0 as f64;
        let y = (point.1 + rows.start as f64) * padded.1 as f64 / resized_height as f64 - offset.1 as f64;
        (x, y)
    }

    fn resized_size(&self, width: usize, height: usize) -> (usize, usize) {
        match self.resize {
            ResizeMode::Squash => (self.resize_size, self.resize_size),
            // transformers' get_resize_output_image_size and torchvision's Resize(int) agree:
            // the long side is int(size * long / short).
            ResizeMode::ShortestEdge if width <= height => {
                let long = (self.resize_size as f64 * height as f64 / width as f64) as usize;
                (self.resize_size, long)
            }
            ResizeMode::ShortestEdge => {
                let long = (self.resize_size as f64 * width as f64 / height as f64) as usize;
                (long, self.resize_size)
            }
        }
    }

    /// The centre `crop × crop` window (columns, rows) of an image of `width × height`.
    fn centre_crop(&self, width: usize, height: usize) -> (Range<usize>, Range<usize>) {
        let crop = self.crop_size;
        let offset = |extent: usize| {
            let margin = extent - crop;
            match self.crop_rounding {
                CropRounding::Floor => margin / 2,
                CropRounding::Round => round_half_even(margin as f64 / 2.0),
            }
        };
        let (top, left) = (offset(height), offset(width));
        (left..left + crop, top..top + crop)
    }

    /// HWC u8 → CHW f32: `(v / 255 - mean) / std`.
    fn normalise(&self, rgb: &[u8]) -> Vec<f32> {
        let plane = rgb.len() / 3;
        let mut out = vec![0.0f32; rgb.len()];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * plane + i] = (px[c] as f32 / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        out
    }
}

/// Python's `round` (half to even), as torchvision's CenterCrop uses it.
fn round_half_even(x: f64) -> usize {
    let floor = x.floor();
    let rounded = if x - floor == 0.5 { if floor % 2.0 == 0.0 { floor } else { floor + 1.0 } } else { x.round() };
    rounded as usize
}

/// Cambrian's `expand2square`: centre the image on a square canvas of the fill colour.
fn pad_to_square(image: &RgbImage, fill: [u8; 3]) -> RgbImage {
    let (width, height) = image.dimensions();
    if width == height {
        return image.clone();
    }
    let side = width.max(height);
    let mut canvas = RgbImage::from_pixel(side, side, image::Rgb(fill));
    let (x, y) = if width > height { (0, (width - height) / 2) } else { ((height - width) / 2, 0) };
    image::imageops::replace(&mut canvas, image, x as i64, y as i64);
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_margins_round_to_even_like_python() {
        assert_eq!(round_half_even(0.5), 0);
        assert_eq!(round_half_even(1.5), 2);
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(3.0), 3);
    }

    #[test]
    fn pad_to_square_centres_the_image() {
        let image = RgbImage::from_pixel(4, 2, image::Rgb([255, 0, 0]));
        let square = pad_to_square(&image, [1, 2, 3]);
        assert_eq!(square.dimensions(), (4, 4));
        assert_eq!(square.get_pixel(0, 0).0, [1, 2, 3]);
        assert_eq!(square.get_pixel(0, 1).0, [255, 0, 0]);
        assert_eq!(square.get_pixel(3, 2).0, [255, 0, 0]);
        assert_eq!(square.get_pixel(3, 3).0, [1, 2, 3]);
    }
}
