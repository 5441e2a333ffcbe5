//! Opening a checkpoint: one safetensors file, a sharded safetensors index, a PyTorch pickle
//! (.pth / .pt / .bin / .pth.tar), or a folder holding one of them. Tensors stay lazy: their
//! bytes are read only when a parameter takes them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::pytorch_reader::{PickleValue, PytorchReader};
use burn::store::{ModuleStore, PytorchStore, SafetensorsStore};
use serde::Deserialize;

use super::{WeightsError, pickle};

/// Files a folder is searched for, in order of preference.
const WEIGHT_FILES: &[&str] = &[
    "model.safetensors",
    "model.safetensors.index.json",
    "open_clip_model.safetensors",
    "pytorch_model.bin",
    "open_clip_pytorch_model.bin",
];

pub struct Checkpoint {
    /// Where it came from, for messages.
    pub origin: String,
    pub tensors: BTreeMap<String, PackTensor>,
}

/// transformers' sharded layout: `model.safetensors.index.json` maps each tensor to the shard
/// file, beside the index, that holds it.
#[derive(Deserialize)]
pub(super) struct ShardIndex {
    pub weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    pub(super) fn read(path: &Path) -> Result<Self, WeightsError> {
        let text = std::fs::read_to_string(path).map_err(|err| read_error(path, err))?;
        serde_json::from_str(&text).map_err(|err| read_error(path, err))
    }

    /// The shard files, each once, in order. An entry whose file is not a plain name inside
    /// the index's folder (`../x`, an absolute path) is refused: the index is data from the
    /// repository, not a licence to read or download anywhere.
    pub(super) fn shards(&self, path: &Path) -> Result<BTreeSet<&str>, WeightsError> {
        for (tensor, shard) in &self.weight_map {
            let components = Path::new(shard).components();
            if shard.is_empty() || !components.into_iter().all(|c| matches!(c, Component::Normal(_))) {
                return Err(read_error(
                    path,
                    format!("weight_map entry `{tensor}`: `{shard}` is not a file inside the index's folder"),
                ));
            }
        }
        Ok(self.weight_map.values().map(String::as_str).collect())
    }
}

impl Checkpoint {
    /// Opens `path`, a weights file or a folder holding one. `pickle_key` selects a nested
    /// state dict inside a PyTorch pickle (e.g. `state_dict`).
    pub fn open(path: &Path, pickle_key: Option<&str>) -> Result<Self, WeightsError> {
        if !path.exists() {
            return Err(WeightsError::NotFound(path.to_path_buf()));
        }
        let file = if path.is_dir() { find_weights_file(path)? } else { path.to_path_buf() };
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let tensors = if name.ends_with(".index.json") {
            read_shards(&file)?
        } else if name.ends_with(".safetensors") {
            read_safetensors(&file)?
        } else {
            read_pickle(&file, pickle_key)?
        };
        Ok(Self { origin: file.display().to_string(), tensors })
    }

    /// Keeps the tensors whose keys start with `prefix`. Their keys are kept whole, so that
    /// messages name them as the file does; a key map finds the prefix by its anchor.
    pub fn under_prefix(self, prefix: &str) -> Result<Self, WeightsError> {
        let tensors: BTreeMap<String, PackTensor> = self.tensors.into_iter().filter(|(key, _)| key.starts_with(prefix)).collect();
        if tensors.is_empty() {
            return Err(WeightsError::Read {
                path: PathBuf::from(&self.origin),
                message: format!("no tensor key starts with `{prefix}`"),
            });
        }
        Ok(Self { origin: self.origin, tensors })
    }
}

/// The keys of a PyTorch pickle's top-level dict (the container checked first, as for
/// reading), e.g. to choose between a checkpoint's `state_dict_ema` and `state_dict`.
pub fn pickle_top_level_keys(path: &Path) -> Result<Vec<String>, WeightsError> {
    pickle::check_container(path)?;
    match PytorchReader::read_pickle_data(path, None).map_err(|err| read_error(path, err))? {
        PickleValue::Dict(entries) => Ok(entries.into_keys().collect()),
        _ => Err(read_error(path, "the pickle is not a dict")),
    }
}

fn find_weights_file(dir: &Path) -> Result<PathBuf, WeightsError> {
    WEIGHT_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| WeightsError::NoWeightsInDir { path: dir.to_path_buf(), looked_for: WEIGHT_FILES.join(", ") })
}

fn read_error(path: &Path, err: impl std::fmt::Display) -> WeightsError {
    WeightsError::Read { path: path.to_path_buf(), message: err.to_string() }
}

fn read_safetensors(path: &Path) -> Result<BTreeMap<String, PackTensor>, WeightsError> {
    let mut store = SafetensorsStore::from_file(path);
    Ok(store.get_all_tensors().map_err(|err| read_error(path, err))?.clone())
}

fn read_pickle(path: &Path, key: Option<&str>) -> Result<BTreeMap<String, PackTensor>, WeightsError> {
    pickle::check_container(path)?;
    let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
    if let Some(key) = key {
        store = store.with_top_level_key(key);
    }
    let tensors = store.get_all_tensors().map_err(|err| read_error(path, err))?.clone();
    pickle::warn_about_globals(path)?;
    Ok(tensors)
}

fn read_shards(index_path: &Path) -> Result<BTreeMap<String, PackTensor>, WeightsError> {
    let index = ShardIndex::read(index_path)?;
    let dir = index_path.parent().unwrap_or(Path::new("."));
    let mut tensors = BTreeMap::new();
    for shard in index.shards(index_path)? {
        tensors.extend(read_safetensors(&dir.join(shard))?);
    }
    if let Some(name) = index.weight_map.keys().find(|name| !tensors.contains_key(*name)) {
        return Err(read_error(index_path, format!("the index lists `{name}`, which no shard holds")));
    }
    Ok(tensors)
}
