//! The keys of the feature cache. An encoder's key is the canonical JSON of everything that
//! changes its features, hashed (SHA-256) to name its folder and stored whole in every entry,
//! which a read compares: a stale entry or a hash collision is never used.
//!
//! Images are keyed by their decoded pixels (SHA-256 of width, height and RGB bytes), not by
//! their file: the pixels are what preprocessing receives, so a copy or a lossless re-encoding
//! of a file shares the entry, an image made in memory (evaluation's mean-colour mode) has a
//! key, and a decoder that decodes a file differently gives new entries rather than stale
//! ones. Decoding is paid on every run either way: training decodes each image to check it.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use burn::tensor::Device;
use image::RgbImage;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{CacheDtype, FeatureError};
use crate::encoders::preprocess::Preprocess;
use crate::encoders::{Architecture, EncoderSpec, WeightsSource};

/// The entries' layout version (bumped when it or the meaning of a key changes) and the crate's
/// version: a new release, whose architecture code or weight loading may give other features
/// for the same key, never reads an older release's entries.
pub const FORMAT: &str = concat!("1/cambrian-", env!("CARGO_PKG_VERSION"));

/// One encoder's features, as the cache names them.
#[derive(Debug, Clone)]
pub struct EncoderKey {
    /// Canonical JSON of the key's parts.
    pub text: String,
    /// The first 32 hex digits of SHA-256(`text`): the encoder's folder in the cache.
    pub hash: String,
    /// Token grid [rows, cols] and channels of one image's features.
    pub grid: [usize; 2],
    pub hidden: usize,
    /// Each image's features at its own grid (a native-resolution encoder's tokens as they
    /// reach the LLM with `[connector] native`), not brought to `grid`.
    pub own_grids: bool,
}

/// Everything that changes an encoder's features, in a fixed order.
#[derive(Serialize)]
struct KeyParts<'a> {
    format: &'static str,
    architecture: &'a Architecture,
    preprocess: &'a Preprocess,
    feature_layer: Option<i64>,
    feature_tokens: Option<usize>,
    weights_key: Option<&'a str>,
    weights_prefix: Option<&'a str>,
    weights: WeightsId,
    /// The inner device, e.g. `Flex(…)`: backends round differently.
    backend: String,
    dtype: CacheDtype,
    /// Written only when set, so that the keys of the output grid stay as they were.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    own_grids: bool,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum WeightsId {
    /// Random initialisation: the seed fixes the parameters.
    Random { seed: u64 },
    /// A checkpoint: every file that loading it may read.
    Files { files: Vec<FileStamp> },
}

#[derive(Serialize)]
struct FileStamp {
    path: String,
    bytes: u64,
    modified_ns: u64,
}

impl EncoderKey {
    pub fn new(
        spec: &EncoderSpec,
        weights: &WeightsSource,
        dtype: CacheDtype,
        own_grids: bool,
        device: &Device,
    ) -> Result<Self, FeatureError> {
        let weights = match weights {
            WeightsSource::Random { seed } => WeightsId::Random { seed: *seed },
            WeightsSource::Path(path) => WeightsId::Files { files: checkpoint_files(path)? },
        };
        let parts = KeyParts {
            format: FORMAT,
            architecture: &spec.architecture,
            preprocess: &spec.preprocess,
            feature_layer: spec.feature_layer,
            feature_tokens: spec.feature_tokens,
            weights_key: spec.weights_key.as_deref(),
            weights_prefix: spec.weights_prefix.as_deref(),
            weights,
            backend: format!("{:?}", device.clone().inner()),
            dtype,
            own_grids,
        };
        let text = serde_json::to_string(&parts).map_err(|err| FeatureError::Invalid(format!("encoder key: {err}")))?;
        let hash = hex(&Sha256::digest(text.as_bytes()))[..32].to_string();
        Ok(Self { text, hash, grid: spec.output_grid()?, hidden: spec.hidden_size(), own_grids })
    }
}

/// A decoded image's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageId {
    /// SHA-256 of width and height (u32 little-endian) and the RGB bytes, 64 hex digits.
    pub hash: String,
    /// [width, height]
    pub size: [u32; 2],
}

impl ImageId {
    pub fn of(image: &RgbImage) -> Self {
        let (width, height) = image.dimensions();
        let mut hasher = Sha256::new();
        hasher.update(width.to_le_bytes());
        hasher.update(height.to_le_bytes());
        hasher.update(image.as_raw());
        Self { hash: hex(&hasher.finalize()), size: [width, height] }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file loading `path` may read, with canonical path, size and modification time: the
/// file itself; all files under a folder; for a sharded index, all files beside it.
fn checkpoint_files(path: &Path) -> Result<Vec<FileStamp>, FeatureError> {
    let canonical = std::fs::canonicalize(path).map_err(FeatureError::io(path))?;
    let is_index = canonical.to_string_lossy().ends_with(".index.json");
    let mut files = Vec::new();
    match canonical.parent() {
        _ if canonical.is_dir() => walk(&canonical, &mut files)?,
        Some(folder) if is_index => walk(folder, &mut files)?,
        _ => files.push(canonical),
    }
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let meta = std::fs::metadata(&file).map_err(FeatureError::io(&file))?;
            let modified = meta.modified().map_err(FeatureError::io(&file))?;
            let modified_ns = modified.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            Ok(FileStamp { path: file.to_string_lossy().into_owned(), bytes: meta.len(), modified_ns })
        })
        .collect()
}

/// Files under `dir`, following links to files but not into linked folders.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), FeatureError> {
    for entry in std::fs::read_dir(dir).map_err(FeatureError::io(dir))? {
        let entry = entry.map_err(FeatureError::io(dir))?;
        let kind = entry.file_type().map_err(FeatureError::io(entry.path()))?;
        if kind.is_dir() {
            walk(&entry.path(), files)?;
        } else if entry.path().is_file() {
            files.push(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders::registry::preset;

    fn key(spec: &EncoderSpec, weights: &WeightsSource) -> EncoderKey {
        EncoderKey::new(spec, weights, CacheDtype::F32, false, &Device::flex()).unwrap()
    }

    #[test]
    fn cache_key_changes_with_whatever_changes_the_features() {
        let spec = preset("moco-v3-vit-b-16").unwrap();
        let base = key(&spec, &WeightsSource::Random { seed: 0 });
        assert_eq!(base.hash, key(&spec, &WeightsSource::Random { seed: 0 }).hash, "deterministic");
        assert_eq!(base.hash.len(), 32);
        let format = concat!("\"format\":\"1/cambrian-", env!("CARGO_PKG_VERSION"), "\"");
        assert!(base.text.contains(format), "the crate version is part of every key: {}", base.text);
        assert_ne!(base.hash, key(&spec, &WeightsSource::Random { seed: 1 }).hash, "seed");
        let mut layer = spec.clone();
        layer.feature_layer = Some(-2);
        let mut tokens = spec.clone();
        tokens.feature_tokens = Some(64);
        let mut crop = spec.clone();
        crop.preprocess.crop_rounding = crate::encoders::preprocess::CropRounding::Floor;
        let mut renamed = spec.clone();
        renamed.name = "another-name".into();
        for (what, changed) in [("layer", &layer), ("tokens", &tokens), ("preprocessing", &crop)] {
            assert_ne!(base.hash, key(changed, &WeightsSource::Random { seed: 0 }).hash, "{what}");
        }
        assert_eq!(base.hash, key(&renamed, &WeightsSource::Random { seed: 0 }).hash, "the name changes nothing");
        let f16 = EncoderKey::new(&spec, &WeightsSource::Random { seed: 0 }, CacheDtype::F16, false, &Device::flex()).unwrap();
        assert_ne!(base.hash, f16.hash, "dtype");
        let own = EncoderKey::new(&spec, &WeightsSource::Random { seed: 0 }, CacheDtype::F32, true, &Device::flex()).unwrap();
        assert_ne!(base.hash, own.hash, "own grids");
        assert!(!base.text.contains("own_grids"), "keys of the output grid are unchanged");
        assert_eq!(tokens.output_grid().unwrap(), key(&tokens, &WeightsSource::Random { seed: 0 }).grid);
    }

    #[test]
    fn cache_key_of_a_checkpoint_changes_when_its_file_changes() {
        let dir = std::env::temp_dir().join(format!("cambrian-cache-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("weights.safetensors");
        let spec = preset("moco-v3-vit-b-16").unwrap();
        std::fs::write(&file, b"one").unwrap();
        let first = key(&spec, &WeightsSource::Path(&file));
        assert!(first.text.contains(&std::fs::canonicalize(&file).unwrap().to_string_lossy().into_owned()));
        std::fs::write(&file, b"three").unwrap();
        assert_ne!(first.hash, key(&spec, &WeightsSource::Path(&file)).hash, "size and time");
        let folder = key(&spec, &WeightsSource::Path(&dir));
        std::fs::write(dir.join("config.json"), b"{}").unwrap();
        assert_ne!(folder.hash, key(&spec, &WeightsSource::Path(&dir)).hash, "a new file in the folder");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cache_image_id_is_the_pixels_and_the_size() {
        let a = RgbImage::from_pixel(4, 2, image::Rgb([1, 2, 3]));
        let b = RgbImage::from_pixel(2, 4, image::Rgb([1, 2, 3]));
        let mut c = a.clone();
        c.put_pixel(3, 1, image::Rgb([1, 2, 4]));
        assert_eq!(ImageId::of(&a), ImageId::of(&a.clone()));
        assert_ne!(ImageId::of(&a).hash, ImageId::of(&b).hash, "same bytes, other shape");
        assert_ne!(ImageId::of(&a).hash, ImageId::of(&c).hash);
        assert_eq!(ImageId::of(&a).size, [4, 2]);
    }
}
