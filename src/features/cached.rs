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

/// One image's features as stored: its grid and values [rows × cols × hidden].
struct Stored {
    grid: [usize; 2],
    values: Vec<f32>,
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

    /// One encoder's features of `images` as stored, `ids` their keys.
    fn stored(
        &self,
        encoder: &Encoder,
        key: &EncoderKey,
        images: &[&RgbImage],
        ids: &[ImageId],
        device: &Device,
    ) -> Result<Vec<Stored>, FeatureError> {
        let grids = ids
            .iter()
            .map(|id| match key.own_grids {
                true => encoder.spec.own_grid(id.size[0] as usize, id.size[1] as usize),
                false => Ok(key.grid),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut counts = self.counts.get();
        let mut found = Vec::with_capacity(ids.len());
        for (id, &grid) in ids.iter().zip(&grids) {
            found.push(match self.cache.read(key, id, grid)? {
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
            for (Stored { grid, values }, &i) in computed(encoder, key, &batch, device)?.into_iter().zip(&missing) {
                if grid != grids[i] || values.len() != grid[0] * grid[1] * key.hidden {
                    return Err(FeatureError::Invalid(format!(
                        "{} gave a {grid:?} grid of {} values; its spec says {:?} × {} channels",
                        encoder.spec.name,
                        values.len(),
                        grids[i],
                        key.hidden
                    )));
                }
                found[i] = Some(self.cache.write(key, &ids[i], grid, &values)?);
            }
        }
        Ok(grids.into_iter().zip(found.into_iter().flatten()).map(|(grid, values)| Stored { grid, values }).collect())
    }
}

/// The features of `images` as the encoder computes them for `key`, per image.
fn computed(encoder: &Encoder, key: &EncoderKey, images: &[&RgbImage], device: &Device) -> Result<Vec<Stored>, FeatureError> {
    let batches = match key.own_grids {
        true => encoder.encode_own_grids(images, device)?,
        false => vec![encoder.encode_images(images, device)?],
    };
    let mut per_image = Vec::with_capacity(images.len());
    for Features { tokens, grid } in batches {
        let count = tokens.dims()[0];
        let values = tokens
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|err| FeatureError::Invalid(format!("reading features back from the device: {err:?}")))?;
        per_image.extend(values.chunks_exact(values.len() / count.max(1)).map(|image| Stored { grid, values: image.to_vec() }));
    }
    Ok(per_image)
}

impl CachedFeatures {
    /// Each encoder's stored features of `images`, per image; refused unless the model has as
    /// many encoders as keys.
    fn all_stored(&self, encoders: &[Encoder], images: &[&RgbImage], device: &Device) -> Result<Vec<Vec<Stored>>, FeatureError> {
        if encoders.len() != self.keys.len() {
            return Err(FeatureError::Invalid(format!("{} encoders but {} cache keys", encoders.len(), self.keys.len())));
        }
        let ids: Vec<ImageId> = images.iter().map(|image| ImageId::of(image)).collect();
        encoders.iter().zip(&self.keys).map(|(encoder, key)| self.stored(encoder, key, images, &ids, device)).collect()
    }
}

impl FeatureSource for CachedFeatures {
    fn features(&self, encoders: &[Encoder], images: &[&RgbImage], device: &Device) -> Result<Vec<Features>, FeatureError> {
        let stored = self.all_stored(encoders, images, device)?;
        Ok(stored
            .into_iter()
            .zip(&self.keys)
            .map(|(per_image, key)| {
                let count = per_image.len();
                let values: Vec<f32> = per_image.into_iter().flat_map(|image| image.values).collect();
                let data = TensorData::new(values, [count, key.grid[0] * key.grid[1], key.hidden]);
                Features { tokens: Tensor::from_data(data, device), grid: key.grid }
            })
            .collect())
    }

    fn own_grid_features(
        &self,
        encoders: &[Encoder],
        images: &[&RgbImage],
        device: &Device,
    ) -> Result<Vec<Vec<Features>>, FeatureError> {
        let stored = self.all_stored(encoders, images, device)?;
        Ok(stored
            .into_iter()
            .zip(&self.keys)
            .map(|(per_image, key)| {
                let one = |Stored { grid, values }: Stored| {
                    let data = TensorData::new(values, [1, grid[0] * grid[1], key.hidden]);
                    Features { tokens: Tensor::from_data(data, device), grid }
                };
                per_image.into_iter().map(one).collect()
            })
            .collect())
    }
}
