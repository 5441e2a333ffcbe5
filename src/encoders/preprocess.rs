//! Image preprocessing, matching the reference processors pixel for pixel: transformers'
//! PIL-based image processors, timm's and open_clip's eval transforms (torchvision on PIL
//! images), and Cambrian-1's pad-to-square (`expand2square` in `cambrian/mm_utils.py`).
//!
//! Steps: decode → RGB → [Cambrian's `process_images`: pad to a square, then resize it to
//! crop × crop with Pillow's default bicubic] → resize (shortest edge, or both sides) with
//! Pillow's filters in 8 bits → centre crop → scale to [0, 1] → normalise. Native-resolution
//! encoders take `max-patches` (SigLIP 2 NaFlex) instead of the resize and the crop: each
//! image keeps its aspect ratio at the largest size of at most `max_patches` patches; or
//! `none` (the native AIMv2): each image at its own size, cut to whole patches.

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
    /// Target of the shortest edge (`shortest-edge`) or of both sides (`squash`); with
    /// `max-patches`, `crop_size`.
    pub resize_size: usize,
    /// Side of the centre crop: the encoder's input resolution. With `max-patches`, the side
    /// a square image is resized to, ⌊√max_patches⌋ · patch_size: the nominal resolution.
    pub crop_size: usize,
    /// The token budget of `max-patches` (`max_num_patches` of `Siglip2ImageProcessor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_patches: Option<usize>,
    /// The patch the sides of a `max-patches` image are multiples of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_size: Option<usize>,
    pub interpolation: Interpolation,
    #[serde(default)]
    pub crop_rounding: CropRounding,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// One preprocessed image: normalised values, channels first, [3, height, width] of `size`.
pub struct Pixels {
    pub values: Vec<f32>,
    /// [height, width]
    pub size: [usize; 2],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeMode {
    /// Shortest edge to `resize_size`, aspect ratio kept (then the centre crop).
    ShortestEdge,
    /// Both sides to `resize_size`, aspect ratio ignored.
    Squash,
    /// Aspect ratio kept, sides rounded up to multiples of `patch_size`, at the largest scale
    /// with at most `max_patches` patches (`get_image_size_for_max_num_patches`); no crop.
    MaxPatches,
    /// No resize (`do_resize = false`): the image at its own size, its right and bottom
    /// remainders past the last whole `patch_size` left out, as the patch convolution drops
    /// them.
    #[serde(rename = "none")]
    Keep,
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
        self.validate_max_patches()?;
        if !self.mean.iter().all(|m| m.is_finite()) || !self.std.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(EncoderError::Config(format!(
                "mean {:?} must be finite and std {:?} finite and positive",
                self.mean, self.std
            )));
        }
        Ok(())
    }

    /// `max_patches` and `patch_size` given exactly with `max-patches`, in range, and the
    /// nominal side consistent with them.
    fn validate_max_patches(&self) -> Result<(), EncoderError> {
        let (budget, patch) = match (self.resize, self.max_patches, self.patch_size) {
            (ResizeMode::Keep, None, Some(patch)) => return check_size("patch_size", patch, 1..=limits::PATCH),
            (ResizeMode::Keep, _, _) => {
                return Err(EncoderError::Config("resize = \"none\" needs patch_size and no max_patches".into()));
            }
            (ResizeMode::MaxPatches, Some(budget), Some(patch)) => (budget, patch),
            (ResizeMode::MaxPatches, _, _) => {
                return Err(EncoderError::Config("resize = \"max-patches\" needs max_patches and patch_size".into()));
            }
            (_, None, None) => return Ok(()),
            (_, _, _) => {
                return Err(EncoderError::Config(
                    "max_patches and patch_size are read only with resize = \"max-patches\" (patch_size also with \"none\")"
                        .into(),
                ));
            }
        };
        check_size("max_patches", budget, 1..=limits::PATCHES)?;
        check_size("patch_size", patch, 1..=limits::PATCH)?;
        let side = budget.isqrt() * patch;
        if self.crop_size != side || self.resize_size != side {
            return Err(EncoderError::Config(format!(
                "with max_patches = {budget} and patch_size = {patch}, crop_size and resize_size must be {side} \
                 (a square image's side); got {} and {}",
                self.crop_size, self.resize_size
            )));
        }
        Ok(())
    }

    /// The encoder's input [height, width] for an image of `width × height`: the crop's
    /// square, or with `max-patches` the image's own size within the budget.
    pub fn input_size(&self, width: usize, height: usize) -> [usize; 2] {
        let (width, height) = if self.pad_to_square { (self.crop_size, self.crop_size) } else { (width, height) };
        match self.resize {
            ResizeMode::MaxPatches => {
                let (width, height) = self.resized_size(width, height);
                [height, width]
            }
            ResizeMode::Keep => {
                let (cols, rows) = self.window(width, height);
                [rows.end, cols.end]
            }
            _ => [self.crop_size; 2],
        }
    }

    /// The fill colour of `expand2square`: `tuple(int(x * 255) for x in image_mean)`.
    fn pad_colour(&self) -> [u8; 3] {
        self.pad_colour.unwrap_or(self.mean.map(|m| (m * 255.0).clamp(0.0, 255.0) as u8))
    }

    /// Runs every step; returns the normalised pixels, channels first: [3, crop, crop], or
    /// [3, height, width] of [`input_size`](Self::input_size) with `max-patches`.
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
        if self.resize == ResizeMode::Keep {
            let (cols, rows) = self.window(source.0, source.1);
            return self.normalise(image::imageops::crop_imm(image, 0, 0, cols.end as u32, rows.end as u32).to_image().as_raw());
        }
        let (width, height) = self.resized_size(source.0, source.1);
        let cropped = resize_rgb_window(image.as_raw(), source, (width, height), self.window(width, height), self.interpolation);
        self.normalise(&cropped)
    }

    /// [`apply`](Self::apply) with the size of its output.
    pub fn pixels(&self, image: &RgbImage) -> Pixels {
        Pixels { values: self.apply(image), size: self.input_size(image.width() as usize, image.height() as usize) }
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
        let (cols, rows) = self.window(resized_width, resized_height);
        let x = (point.0 + cols.start as f64) * padded.0 as f64 / resized_width as f64 - offset.0 as f64;
        let y = (point.1 + rows.start as f64) * padded.1 as f64 / resized_height as f64 - offset.1 as f64;
        (x, y)
    }

    fn resized_size(&self, width: usize, height: usize) -> (usize, usize) {
        match self.resize {
            ResizeMode::Squash => (self.resize_size, self.resize_size),
            ResizeMode::Keep => (width, height),
            ResizeMode::MaxPatches => {
                let (Some(budget), Some(patch)) = (self.max_patches, self.patch_size) else {
                    unreachable!("validated: max-patches has max_patches and patch_size")
                };
                let (height, width) = size_for_max_patches(height, width, patch, budget);
                (width, height)
            }
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

    /// The window (columns, rows) of the resized `width × height` image the encoder takes:
    /// the centre `crop × crop`, or all of it with `max-patches`.
    fn window(&self, width: usize, height: usize) -> (Range<usize>, Range<usize>) {
        match (self.resize, self.patch_size) {
            (ResizeMode::MaxPatches, _) => return (0..width, 0..height),
            (ResizeMode::Keep, Some(patch)) => return (0..width - width % patch, 0..height - height % patch),
            _ => {}
        }
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

/// transformers' `get_image_size_for_max_num_patches`: the binary search (in f64, as
/// Python's floats) for the largest scale whose sides, rounded up to multiples of `patch`
/// and at least one patch, hold at most `budget` patches. → (height, width)
fn size_for_max_patches(height: usize, width: usize, patch: usize, budget: usize) -> (usize, usize) {
    let scaled = |scale: f64, size: usize| {
        let patches = (size as f64 * scale / patch as f64).ceil() as usize;
        patches.max(1) * patch
    };
    let eps = 1e-5;
    let (mut low, mut high) = (eps / 10.0, 100.0);
    while high - low >= eps {
        let scale = (low + high) / 2.0;
        let patches = (scaled(scale, height) / patch) * (scaled(scale, width) / patch);
        if patches <= budget {
            low = scale;
        } else {
            high = scale;
        }
    }
    (scaled(low, height), scaled(low, width))
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

    /// Sizes transformers' `get_image_size_for_max_num_patches` gives (patch 16, budget 256).
    #[test]
    fn max_patches_sizes_match_transformers() {
        assert_eq!(size_for_max_patches(480, 640, 16, 256), (224, 288));
        assert_eq!(size_for_max_patches(1000, 10, 16, 256), (2048, 32));
        assert_eq!(size_for_max_patches(7, 7, 16, 256), (256, 256));
        assert_eq!(size_for_max_patches(300, 300, 16, 1), (16, 16));
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
