//! Preset weights from the standard Hugging Face cache (`HF_HUB_CACHE`, else `HF_HOME/hub`,
//! else `~/.cache/huggingface/hub`), downloaded into it when missing unless `HF_HUB_OFFLINE`
//! is set. A file that cannot be had is an error that says how to get it, never a fall-back.

use std::io::IsTerminal;
use std::path::PathBuf;

use hf_hub::Cache;
use hf_hub::api::sync::ApiBuilder;

use super::WeightsError;
use super::checkpoint::ShardIndex;

/// The hub cache: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub(crate) fn cache() -> Cache {
    match std::env::var_os("HF_HUB_CACHE") {
        Some(path) => Cache::new(PathBuf::from(path)),
        None => Cache::from_env(),
    }
}

pub(crate) fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// The hub API downloading into `cache`, with a progress bar on a terminal.
pub(crate) fn api(cache: Cache) -> Result<hf_hub::api::sync::Api, hf_hub::api::sync::ApiError> {
    ApiBuilder::from_cache(cache).with_progress(std::io::stderr().is_terminal()).build()
}

/// The local path of `file` in the Hugging Face repository `repo`.
pub fn fetch(repo: &str, file: &str) -> Result<PathBuf, WeightsError> {
    let cache = cache();
    if let Some(path) = cache.model(repo.to_string()).get(file) {
        return Ok(path);
    }
    let how = format!(
        "download it on a machine with network access (`hf download {repo} {file}`, into {}) or pass --weights PATH",
        cache.path().display()
    );
    if offline() {
        return Err(WeightsError::Hub(format!(
            "{repo}/{file} is not in the Hugging Face cache and HF_HUB_OFFLINE is set: {how}"
        )));
    }
    let api = api(cache).map_err(|err| WeightsError::Hub(format!("cannot reach the Hugging Face hub: {err}; {how}")))?;
    api.model(repo.to_string())
        .get(file)
        .map_err(|err| WeightsError::Hub(format!("{repo}/{file} is not cached and could not be downloaded ({err}): {how}")))
}

/// Like [`fetch`], and for a sharded index also every shard it names.
pub fn fetch_weights(repo: &str, file: &str) -> Result<PathBuf, WeightsError> {
    let path = fetch(repo, file)?;
    if file.ends_with(".index.json") {
        let index = ShardIndex::read(&path)?;
        for shard in index.shards(&path)? {
            fetch(repo, shard)?;
        }
    }
    Ok(path)
}
