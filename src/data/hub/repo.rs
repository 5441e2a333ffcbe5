//! A dataset repository's files, by their paths in the repository: in the Hugging Face hub cache
//! (`datasets--ORG--NAME/refs/REV` names the commit, `snapshots/COMMIT/PATH` links into
//! `blobs/`), downloaded into it when missing unless `HF_HUB_OFFLINE` is set; or in a folder
//! with the repository's layout (`hf download REPO --repo-type dataset --local-dir DIR`).

use std::path::{Path, PathBuf};

use glob::{MatchOptions, Pattern};
use hf_hub::api::sync::Api;
use hf_hub::{Cache, Repo, RepoType};

use super::HubError;

/// `*` and `?` stay inside one path component, as in `datasets`' `data_files` patterns.
const ONE_COMPONENT: MatchOptions =
    MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };

/// Where a benchmark's files are read from.
#[derive(Debug, Clone)]
pub struct DatasetRepo {
    id: String,
    place: Place,
}

#[derive(Debug, Clone)]
enum Place {
    /// `revision` is a branch or tag under `refs/`, or a commit.
    Cache {
        cache: PathBuf,
        revision: String,
        offline: bool,
    },
    Folder(PathBuf),
}

impl DatasetRepo {
    /// The dataset `id` (`lmms-lab/MME`) at `revision` (`main` when none) in the standard cache:
    /// `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
    pub fn hub(id: &str, revision: Option<&str>) -> DatasetRepo {
        let cache = crate::weights::hub::cache().path().clone();
        DatasetRepo::in_cache(cache, id, revision, crate::weights::hub::offline())
    }

    /// The dataset `id` at `revision` in the hub cache at `cache`; `offline` forbids downloads.
    pub fn in_cache(cache: impl Into<PathBuf>, id: &str, revision: Option<&str>, offline: bool) -> DatasetRepo {
        let revision = revision.unwrap_or("main").to_string();
        DatasetRepo { id: id.to_string(), place: Place::Cache { cache: cache.into(), revision, offline } }
    }

    /// A folder with the repository's layout (`--data DIR`); nothing is downloaded into it.
    pub fn local(dir: impl Into<PathBuf>) -> DatasetRepo {
        let dir = dir.into();
        DatasetRepo { id: dir.display().to_string(), place: Place::Folder(dir) }
    }

    /// The repository id, or the folder for a local one.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The folder the repository's paths are relative to (the snapshot, or the local folder).
    pub fn root(&self) -> Result<PathBuf, HubError> {
        match &self.place {
            Place::Folder(dir) => Ok(dir.clone()),
            Place::Cache { .. } => self.snapshot().ok_or_else(|| self.missing("the repository", "is not", None)),
        }
    }

    /// The local path of the repository file `path`, downloaded when missing and allowed.
    pub fn file(&self, path: &str) -> Result<PathBuf, HubError> {
        if let Some(found) = self.local_root().map(|root| root.join(path)).filter(|found| found.is_file()) {
            return Ok(found);
        }
        let (api, revision) = self.api(&format!("`{path}`"), "is not", path)?;
        api.repo(self.hf_repo(revision)).get(path).map_err(|err| self.unreachable(path, &err.to_string()))
    }

    /// The repository files matching `pattern` (`data/test-*`; `*`, `?` and `[..]` within one
    /// path component), sorted by path. What is local is used when it is a complete split: none
    /// of the shards that `datasets` names `NAME-0000K-of-0000N` missing. Otherwise the hub's
    /// listing is fetched and the matches downloaded, when allowed.
    pub fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, HubError> {
        let matcher =
            Pattern::new(pattern).map_err(|err| HubError::Pattern { pattern: pattern.to_string(), message: err.to_string() })?;
        let local = match self.local_root() {
            Some(root) => list(&root, pattern)?,
            None => Vec::new(),
        };
        let missing = missing_shards(local.iter().map(|(path, _)| path.as_str()));
        if !local.is_empty() && missing.is_empty() {
            return Ok(local.into_iter().map(|(_, found)| found).collect());
        }
        let state = match missing.is_empty() {
            true => "matches no file".to_string(),
            false => format!("is incomplete (missing {})", missing.join(", ")),
        };
        let (api, revision) = self.api(&format!("`{pattern}`"), &state, pattern)?;
        let repo = api.repo(self.hf_repo(revision));
        let listing = repo.info().map_err(|err| self.unreachable(pattern, &err.to_string()))?;
        let mut files: Vec<String> = listing
            .siblings
            .into_iter()
            .map(|sibling| sibling.rfilename)
            .filter(|name| matcher.matches_with(name, ONE_COMPONENT))
            .collect();
        if files.is_empty() {
            let message = format!("no file in the repository matches `{pattern}`");
            return Err(HubError::Missing { what: self.id.clone(), message });
        }
        files.sort();
        files.iter().map(|file| repo.get(file).map_err(|err| self.unreachable(pattern, &err.to_string()))).collect()
    }

    /// The snapshot or folder to look in, if there is one.
    fn local_root(&self) -> Option<PathBuf> {
        match &self.place {
            Place::Folder(dir) => Some(dir.clone()),
            Place::Cache { .. } => self.snapshot(),
        }
    }

    /// `snapshots/<commit>` for the revision: the commit that `refs/<revision>` names, or the
    /// revision itself when it is a commit.
    fn snapshot(&self) -> Option<PathBuf> {
        let Place::Cache { cache, revision, .. } = &self.place else { return None };
        let repo = cache.join(self.hf_repo(revision).folder_name());
        let commit = match std::fs::read_to_string(repo.join("refs").join(revision)) {
            Ok(commit) => commit.trim().to_string(),
            Err(_) => revision.clone(),
        };
        Some(repo.join("snapshots").join(commit)).filter(|snapshot| snapshot.is_dir())
    }

    /// The hub API and the revision, when downloads are allowed; otherwise the error saying that
    /// `what` `state` here (“is not”, “is incomplete (…)”) and how to get `include`.
    fn api(&self, what: &str, state: &str, include: &str) -> Result<(Api, &str), HubError> {
        let Place::Cache { cache, revision, offline: false } = &self.place else {
            return Err(self.missing(what, state, Some(include)));
        };
        let api =
            crate::weights::hub::api(Cache::new(cache.clone())).map_err(|err| self.unreachable(include, &err.to_string()))?;
        Ok((api, revision))
    }

    fn hf_repo(&self, revision: &str) -> Repo {
        Repo::with_revision(self.id.clone(), RepoType::Dataset, revision.to_string())
    }

    /// `what` `state` here (“is not”, “is incomplete (…)”), with how to get it.
    fn missing(&self, what: &str, state: &str, include: Option<&str>) -> HubError {
        let message = match &self.place {
            Place::Folder(dir) => format!(
                "{what} {state} in {} (a folder with the repository's layout, as `hf download REPO --repo-type dataset --local-dir DIR` writes it)",
                dir.display()
            ),
            Place::Cache { cache, offline, .. } => format!(
                "{what} {state} in the Hugging Face cache ({}){}; download it on a machine with network access: `{}`, or pass --data DIR",
                cache.display(),
                if *offline { " and HF_HUB_OFFLINE is set" } else { "" },
                self.command(include),
            ),
        };
        HubError::Missing { what: self.id.clone(), message }
    }

    fn unreachable(&self, include: &str, err: &str) -> HubError {
        let message = format!(
            "`{include}` is not cached and the Hugging Face hub could not provide it ({err}); download it on a machine with network access: `{}`, or pass --data DIR",
            self.command(Some(include))
        );
        HubError::Missing { what: self.id.clone(), message }
    }

    /// The `hf download` command that fetches `include` (or the whole repository).
    fn command(&self, include: Option<&str>) -> String {
        let mut command = format!("hf download {} --repo-type dataset", self.id);
        if let Place::Cache { revision, .. } = &self.place
            && revision != "main"
        {
            command += &format!(" --revision {revision}");
        }
        if let Some(include) = include {
            command += &format!(" --include '{include}'");
        }
        command
    }
}

/// The files under `root` matching `pattern`, as (repository path, local path), sorted by path.
fn list(root: &Path, pattern: &str) -> Result<Vec<(String, PathBuf)>, HubError> {
    let bad = |message: String| HubError::Pattern { pattern: root.join(pattern).display().to_string(), message };
    let root_text = root.to_str().ok_or_else(|| bad("the folder's path is not UTF-8".to_string()))?;
    let full = format!("{}/{pattern}", Pattern::escape(root_text));
    let paths = glob::glob_with(&full, ONE_COMPONENT).map_err(|err| bad(err.to_string()))?;
    let mut found = Vec::new();
    for path in paths {
        let path = path.map_err(|err| HubError::Io { path: err.path().to_path_buf(), source: err.into() })?;
        if !path.is_file() {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        found.push((relative, path));
    }
    found.sort();
    Ok(found)
}

/// Shards absent from the `NAME-0000K-of-0000N[-HASH].EXT` series among `paths`, as
/// `NAME-0000K-of-0000N*`.
fn missing_shards<'a>(paths: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut series: std::collections::BTreeMap<(&str, usize, usize), Vec<bool>> = Default::default();
    for path in paths {
        if let Some((name, at, of, width)) = shard(path)
            && at < of
        {
            series.entry((name, of, width)).or_insert_with(|| vec![false; of])[at] = true;
        }
    }
    let mut missing = Vec::new();
    for ((name, of, width), present) in series {
        let absent = present.iter().enumerate().filter(|(_, present)| !**present);
        missing.extend(absent.map(|(at, _)| format!("{name}-{at:0width$}-of-{of:0width$}*")));
    }
    missing
}

/// `data/test-00001-of-00004-a25d.parquet` → (`data/test`, 1, 4, 5 digits).
fn shard(path: &str) -> Option<(&str, usize, usize, usize)> {
    let middle = path.rfind("-of-")?;
    let (head, tail) = (&path[..middle], &path[middle + 4..]);
    let at_digits = head.len() - head.bytes().rev().take_while(u8::is_ascii_digit).count();
    let of_len = tail.bytes().take_while(u8::is_ascii_digit).count();
    let name = head[..at_digits].strip_suffix('-')?;
    let at = head[at_digits..].parse().ok()?;
    let of: usize = tail[..of_len].parse().ok()?;
    // a series longer than this is not a shard name; it would only cost memory
    (of <= 100_000).then_some((name, at, of, of_len))
}

#[cfg(test)]
mod tests {
    use super::missing_shards;

    #[test]
    fn a_gap_in_a_shard_series_is_named() {
        let paths =
            ["data/test-00000-of-00003-aa.parquet", "data/test-00002-of-00003-cc.parquet", "data/dev-00000-of-00001.parquet"];
        assert_eq!(missing_shards(paths.into_iter()), ["data/test-00001-of-00003*"]);
        let whole = ["data/validation-00000-of-00002.parquet", "data/validation-00001-of-00002.parquet", "test_2d.parquet"];
        assert!(missing_shards(whole.into_iter()).is_empty());
    }
}
