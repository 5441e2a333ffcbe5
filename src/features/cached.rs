//! The cache seen through one model's frozen encoders: a batch's features are read where
//! stored; the missing ones are computed together, one forward pass per encoder, and stored.
//! Either way the batch gets the features as stored, so a run gives the same numbers whether
//! the cache was cold or warm.

use std::cell::Cell;

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use super::key::{EncoderKey, ImageId};
use super::store::{FeatureCache, Lookup};
use super::{FeatureError, FeatureSource};
use crate::encoders::{Encoder, Features};

pub struct CachedFeatures {
    cache: FeatureCache,
    /// One per encoder of the model, in order.
    keys: Vec<EncoderKey>,
    counts: Cell<Counts>,
}

/// Images' features served, by where they came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub read: u64,
    pub computed: u64,
    /// Entries refused (damaged, stale) and recomputed; also counted in `computed`.
    pub refused: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} read from the cache, {} computed and stored", self.read, self.computed)?;
        match self.refused {
            0 => Ok(()),
            n => write!(f, " ({n} of them replacing damaged or stale entries)"),
        }
    }
}

impl CachedFeatures {
    pub fn new(cache: FeatureCache, keys: Vec<EncoderKey>) -> Result<Self, FeatureError> {
        for key in &keys {
            cache.prepare(key)?;
        }
        Ok(Self { cache, keys, counts: Cell::default() })
    }

    /// The counts since the last call.
    pub fn take_counts(&self) -> Counts {
        self.counts.take()
    }

    /// One encoder's features of `images` ([images, tokens, hidden]), `ids` their keys.
    fn encoder_features(
        &self,
        encoder: &Encoder,
        key: &EncoderKey,
        images: &[&RgbImage],
        ids: &[ImageId],
        device: &Device,
    ) -> Result<Features, FeatureError> {
        let mut counts = self.counts.get();
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.push(match self.cache.read(key, id)? {
                Lookup::Hit(values) => Some(values),
                Lookup::Missing => None,
                Lookup::Corrupt(reason) => {
                    tracing::warn!("feature cache entry {}: {reason}; recomputing it", self.cache.entry_path(key, id).display());
                    counts.refused += 1;
                    None
                }
            });
        }
        let missing: Vec<usize> = (0..ids.len()).filter(|&i| found[i].is_none()).collect();
        counts.read += (ids.len() - missing.len()) as u64;
        counts.computed += missing.len() as u64;
        self.counts.set(counts);

        if !missing.is_empty() {
            let batch: Vec<&RgbImage> = missing.iter().map(|&i| images[i]).collect();
            let computed = encoder.encode_images(&batch, device)?;
            let values = computed
                .tokens
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|err| FeatureError::Invalid(format!("reading features back from the device: {err:?}")))?;
            let per_image = key.values_per_image();
            if computed.grid != key.grid || values.len() != per_image * missing.len() {
                return Err(FeatureError::Invalid(format!(
                    "{} gave a {:?} grid of {} values per image; its spec says {:?} × {} channels",
                    encoder.spec.name,
                    computed.grid,
                    values.len() / missing.len(),
                    key.grid,
                    key.hidden
                )));
            }
            for (image, &i) in values.chunks_exact(per_image).zip(&missing) {
                found[i] = Some(self.cache.write(key, &ids[i], image)?);
            }
        }
        let values: Vec<f32> = found.into_iter().flatten().flatten().collect();
        let tokens = key.grid[0] * key.grid[1];
        let data = TensorData::new(values, [ids.len(), tokens, key.hidden]);
        Ok(Features { tokens: Tensor::from_data(data, device), grid: key.grid })
    }
}

impl FeatureSource for CachedFeatures {
    fn features(&self, encoders: &[Encoder], images: &[&RgbImage], device: &Device) -> Result<Vec<Features>, FeatureError> {
        if encoders.len() != self.keys.len() {
            return Err(FeatureError::Invalid(format!("{} encoders but {} cache keys", encoders.len(), self.keys.len())));
        }
        let ids: Vec<ImageId> = images.iter().map(|image| ImageId::of(image)).collect();
        encoders.iter().zip(&self.keys).map(|(encoder, key)| self.encoder_features(encoder, key, images, &ids, device)).collect()
    }
}
