//! Vision-disabled evaluation, data side: an item's image as the model should see it, either
//! the image itself, a flat image of its mean colour (same size, so the token count is
//! unchanged), or no image at all (the evaluator then splices no image tokens).

use std::path::Path;

use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use super::{DataError, open_rgb};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ImageMode {
    /// The benchmark's image.
    #[default]
    Image,
    /// A flat image of the image's mean colour.
    MeanColour,
    /// No image and no image tokens.
    NoImage,
}

impl ImageMode {
    /// The name on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            ImageMode::Image => "image",
            ImageMode::MeanColour => "mean-colour",
            ImageMode::NoImage => "no-image",
        }
    }

    /// The image to feed, or `None` when the evaluator must leave image tokens out.
    pub fn load(self, path: &Path) -> Result<Option<RgbImage>, DataError> {
        match self {
            ImageMode::Image => open_rgb(path).map(Some),
            ImageMode::MeanColour => open_rgb(path).map(|img| Some(mean_colour(&img))),
            ImageMode::NoImage => Ok(None),
        }
    }
}

/// A flat image of the same size filled with the per-channel mean, rounded.
pub fn mean_colour(img: &RgbImage) -> RgbImage {
    let mut sums = [0u64; 3];
    for px in img.pixels() {
        for (sum, v) in sums.iter_mut().zip(px.0) {
            *sum += v as u64;
        }
    }
    let n = (img.width() as u64 * img.height() as u64).max(1);
    let mean = sums.map(|s| ((s + n / 2) / n) as u8);
    RgbImage::from_pixel(img.width(), img.height(), Rgb(mean))
}
