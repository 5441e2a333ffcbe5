//! Where the connector's image features come from: the encoders, run on every batch
//! (`Compute`), or the frozen-feature cache (`CachedFeatures`), which keeps each frozen
//! encoder's features of each image on disk so that every later step, epoch, evaluation and
//! run that needs them again reads them instead of running the encoder.
//!
//! An entry is keyed by everything that changes the features (`key`): the encoder's
//! architecture, preprocessing, feature layer and token count, its weights' identity, the
//! backend, the stored dtype, the format version, and the decoded image. Entries are
//! safetensors files written atomically (`store`), so several runs, processes or machines may
//! share one cache folder. Only encoders that have not trained may use it: the caller decides
//! (`train` per stage, `load_run` for evaluation).

pub mod cached;
pub mod key;
pub mod store;

use std::path::PathBuf;

use burn::tensor::Device;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::encoders::{Encoder, EncoderError, Features};
pub use cached::CachedFeatures;
pub use store::FeatureCache;

/// How cache entries hold the features. f32 gives exactly the features the encoder computes;
/// f16 halves the disk space and changes the numbers (a run then sees the features rounded
/// to f16, whether it computed them or read them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CacheDtype {
    #[default]
    F32,
    F16,
}

#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    #[error("feature cache {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("feature cache: {0}")]
    Invalid(String),
}

impl FeatureError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> FeatureError {
        let path = path.into();
        move |source| FeatureError::Io { path, source }
    }
}

/// Each encoder's features of a batch of images.
pub trait FeatureSource {
    /// One `Features` per encoder, in order: tokens [images, tokens, hidden] on `device`.
    fn features(&self, encoders: &[Encoder], images: &[&RgbImage], device: &Device) -> Result<Vec<Features>, FeatureError>;
    /// Per encoder, each image's features at the image's own grid (`EncoderSpec::own_grid`):
    /// images × [1, rows_i × cols_i, hidden] on `device`.
    fn own_grid_features(
        &self,
        encoders: &[Encoder],
        images: &[&RgbImage],
        device: &Device,
    ) -> Result<Vec<Vec<Features>>, FeatureError>;
}

/// Runs every encoder on every batch.
pub struct Compute;

impl FeatureSource for Compute {
    fn features(&self, encoders: &[Encoder], images: &[&RgbImage], device: &Device) -> Result<Vec<Features>, FeatureError> {
        Ok(encoders.iter().map(|encoder| encoder.encode_images(images, device)).collect::<Result<_, _>>()?)
    }

    fn own_grid_features(
        &self,
        encoders: &[Encoder],
        images: &[&RgbImage],
        device: &Device,
    ) -> Result<Vec<Vec<Features>>, FeatureError> {
        Ok(encoders.iter().map(|encoder| encoder.encode_own_grids(images, device)).collect::<Result<_, _>>()?)
    }
}
