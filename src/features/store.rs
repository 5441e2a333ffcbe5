//! The cache folder. One safetensors file per (encoder key, image), fanned out by hash:
//!
//! ```text
//! ROOT/<key hash>/key.json                          the encoder key, readable
//! ROOT/<key hash>/<image hash[..2]>/<image hash>.safetensors
//!     tokens [tokens, hidden] f32 or f16; metadata: format, the key's full text, the image's
//!     hash and size, the grid, and the SHA-256 of the tensor bytes
//! ```
//!
//! Safe to share between processes and machines: every file is written whole to a temporary
//! name and renamed into place (`crate::atomic`), so a reader sees a complete entry or none;
//! two writers of one entry write the same bytes and the last rename wins; no index exists
//! that could disagree with the entries. A reader checks the whole key, the shape, the dtype
//! and the checksum, so a truncated, damaged, stale or colliding entry is reported and never
//! used. A writer killed mid-write leaves a hidden `.…tmp` file that no read looks at.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::f16;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use super::key::{EncoderKey, FORMAT, ImageId, hex};
use super::{CacheDtype, FeatureError};

pub struct FeatureCache {
    root: PathBuf,
    dtype: CacheDtype,
}

/// What a read found.
pub enum Lookup {
    /// One image's features [tokens × hidden], as stored.
    Hit(Vec<f32>),
    Missing,
    /// An entry that must not be used, and why.
    Corrupt(String),
}

impl FeatureCache {
    pub fn new(root: PathBuf, dtype: CacheDtype) -> Self {
        Self { root, dtype }
    }

    pub fn dtype(&self) -> CacheDtype {
        self.dtype
    }

    /// Makes the encoder's folder, with `key.json` saying what it holds.
    pub fn prepare(&self, key: &EncoderKey) -> Result<(), FeatureError> {
        let dir = self.root.join(&key.hash);
        std::fs::create_dir_all(&dir).map_err(FeatureError::io(&dir))?;
        let path = dir.join("key.json");
        if !path.is_file() {
            crate::atomic::write(&path, key.text.as_bytes()).map_err(FeatureError::io(&path))?;
        }
        Ok(())
    }

    pub fn entry_path(&self, key: &EncoderKey, image: &ImageId) -> PathBuf {
        self.root.join(&key.hash).join(&image.hash[..2]).join(format!("{}.safetensors", image.hash))
    }

    /// The stored features of `image` at `grid`; an unreadable file (other than a missing one)
    /// is an error.
    pub fn read(&self, key: &EncoderKey, image: &ImageId, grid: [usize; 2]) -> Result<Lookup, FeatureError> {
        let path = self.entry_path(key, image);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Lookup::Missing),
            Err(source) => return Err(FeatureError::Io { path, source }),
        };
        Ok(match self.decode(&bytes, key, image, grid) {
            Ok(values) => Lookup::Hit(values),
            Err(reason) => Lookup::Corrupt(reason),
        })
    }

    /// Stores one image's features at `grid` [tokens × hidden] and returns them as stored
    /// (rounded to f16 if the cache holds f16), which is what a later read will give.
    pub fn write(&self, key: &EncoderKey, image: &ImageId, grid: [usize; 2], values: &[f32]) -> Result<Vec<f32>, FeatureError> {
        let bytes = encode(values, self.dtype);
        let mut metadata = expected_metadata(key, image, grid);
        metadata.insert("sha256".into(), hex(&Sha256::digest(&bytes)));
        let shape = vec![grid[0] * grid[1], key.hidden];
        let view = TensorView::new(dtype_of(self.dtype), shape, &bytes).map_err(|err| FeatureError::Invalid(err.to_string()))?;
        let file = crate::weights::sorted::serialize([("tokens", view)], metadata).map_err(FeatureError::Invalid)?;
        let path = self.entry_path(key, image);
        let dir = path.parent().expect("an entry lies in a folder");
        std::fs::create_dir_all(dir).map_err(FeatureError::io(dir))?;
        crate::atomic::write(&path, &file).map_err(FeatureError::io(&path))?;
        Ok(decode_values(&bytes, self.dtype))
    }

    fn decode(&self, bytes: &[u8], key: &EncoderKey, image: &ImageId, grid: [usize; 2]) -> Result<Vec<f32>, String> {
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|err| format!("unreadable ({err})"))?;
        let file = SafeTensors::deserialize(bytes).map_err(|err| format!("unreadable ({err})"))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        for (name, expected) in expected_metadata(key, image, grid) {
            if metadata.get(&name) != Some(&expected) {
                return Err(format!("its `{name}` is not this entry's (a stale entry or a hash collision)"));
            }
        }
        let tokens = file.tensor("tokens").map_err(|err| format!("no tokens ({err})"))?;
        let shape = [grid[0] * grid[1], key.hidden];
        if tokens.dtype() != dtype_of(self.dtype) || tokens.shape() != shape {
            return Err(format!(
                "tokens are {:?} {:?}, not {:?} {shape:?}",
                tokens.dtype(),
                tokens.shape(),
                dtype_of(self.dtype)
            ));
        }
        if metadata.get("sha256") != Some(&hex(&Sha256::digest(tokens.data()))) {
            return Err("checksum mismatch".into());
        }
        Ok(decode_values(tokens.data(), self.dtype))
    }
}

/// The metadata an entry of `key` and `image` at `grid` must carry (its checksum aside).
fn expected_metadata(key: &EncoderKey, image: &ImageId, grid: [usize; 2]) -> BTreeMap<String, String> {
    let [width, height] = image.size;
    BTreeMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("key".to_string(), key.text.clone()),
        ("image".to_string(), image.hash.clone()),
        ("image_size".to_string(), format!("{width}x{height}")),
        ("grid".to_string(), format!("{}x{}", grid[0], grid[1])),
    ])
}

fn dtype_of(dtype: CacheDtype) -> Dtype {
    match dtype {
        CacheDtype::F32 => Dtype::F32,
        CacheDtype::F16 => Dtype::F16,
    }
}

/// Little-endian bytes of `values` in `dtype` (f16: rounded to nearest).
fn encode(values: &[f32], dtype: CacheDtype) -> Vec<u8> {
    match dtype {
        CacheDtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        CacheDtype::F16 => values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect(),
    }
}

fn decode_values(bytes: &[u8], dtype: CacheDtype) -> Vec<f32> {
    match dtype {
        CacheDtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        CacheDtype::F16 => bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> EncoderKey {
        EncoderKey { text: text.into(), hash: "0123456789abcdef0123456789abcdef".into(), grid: GRID, hidden: 3, own_grids: false }
    }

    const GRID: [usize; 2] = [2, 2];

    /// A fresh folder under the system's temporary one, removed when dropped.
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("cambrian-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }

    fn image() -> ImageId {
        ImageId::of(&image::RgbImage::from_pixel(3, 2, image::Rgb([9, 8, 7])))
    }

    /// Values that f16 cannot hold exactly.
    fn values() -> Vec<f32> {
        (0..12).map(|i| (i as f32 - 5.5) * 0.3141).collect()
    }

    #[test]
    fn cache_f32_entries_round_trip_exactly() {
        let dir = scratch("f32");
        let cache = FeatureCache::new(dir.0.clone(), CacheDtype::F32);
        let (key, image) = (key("k"), image());
        assert!(matches!(cache.read(&key, &image, GRID).unwrap(), Lookup::Missing));
        assert_eq!(cache.write(&key, &image, GRID, &values()).unwrap(), values());
        let Lookup::Hit(read) = cache.read(&key, &image, GRID).unwrap() else { panic!("not a hit") };
        assert_eq!(read, values());
        assert_eq!(cache.write(&key, &image, GRID, &values()).unwrap(), values(), "a second writer succeeds");
    }

    #[test]
    fn cache_f16_entries_hold_the_rounded_features() {
        let dir = scratch("f16");
        let cache = FeatureCache::new(dir.0.clone(), CacheDtype::F16);
        let (key, image) = (key("k"), image());
        let stored = cache.write(&key, &image, GRID, &values()).unwrap();
        assert_ne!(stored, values(), "rounded");
        for (s, v) in stored.iter().zip(values()) {
            assert!((s - v).abs() <= v.abs() * 2f32.powi(-11), "{s} vs {v}");
        }
        let Lookup::Hit(read) = cache.read(&key, &image, GRID).unwrap() else { panic!("not a hit") };
        assert_eq!(read, stored, "a read gives what the writer used");
    }

    #[test]
    fn cache_damaged_or_foreign_entries_are_refused() {
        let dir = scratch("damaged");
        let cache = FeatureCache::new(dir.0.clone(), CacheDtype::F32);
        let (key, image) = (key("k"), image());
        cache.write(&key, &image, GRID, &values()).unwrap();
        let path = cache.entry_path(&key, &image);
        let good = std::fs::read(&path).unwrap();
        let refused = |bytes: &[u8], key: &EncoderKey| {
            std::fs::write(&path, bytes).unwrap();
            match cache.read(key, &image, GRID).unwrap() {
                Lookup::Corrupt(reason) => reason,
                _ => panic!("used"),
            }
        };
        assert!(refused(&good[..good.len() - 5], &key).contains("unreadable"));
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(refused(&flipped, &key).contains("checksum"));
        assert!(refused(&good, &self::key("another")).contains("`key`"), "same hash, other key");
        std::fs::write(&path, &good).unwrap();
        assert!(matches!(cache.read(&key, &image, [1, 4]).unwrap(), Lookup::Corrupt(_)), "another grid");
        let f16 = FeatureCache::new(cache.root.clone(), CacheDtype::F16);
        std::fs::write(&path, &good).unwrap();
        assert!(matches!(f16.read(&key, &image, GRID).unwrap(), Lookup::Corrupt(_)), "dtype");
    }
}
