//! A run's numbered checkpoints: `ROOT/{prefix}{step:07}/`, each written whole into a hidden
//! `.NAME.partial` sibling ([`Staging`]) and renamed into place, after which the prefix's
//! other checkpoints (and any half-written one a kill left) are removed: a run killed at any
//! moment keeps one complete checkpoint. Training (`stage2-step…`) and pre-training
//! (`step…`) keep theirs this way.

use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::{OutputError, Staging};

pub struct Checkpoints {
    root: PathBuf,
    prefix: String,
}

/// A state file that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
}

/// A JSON state file, or why it cannot be read.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&bytes).map_err(|err| ReadError::Corrupt { path: path.to_path_buf(), message: err.to_string() })
}

impl Checkpoints {
    pub fn new(root: PathBuf, prefix: impl Into<String>) -> Self {
        Self { root, prefix: prefix.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn name(&self, step: u64) -> String {
        format!("{}{step:07}", self.prefix)
    }

    /// The newest complete checkpoint: (folder, steps done).
    pub fn latest(&self) -> io::Result<Option<(PathBuf, u64)>> {
        if !self.root.is_dir() {
            return Ok(None);
        }
        let mut best: Option<(PathBuf, u64)> = None;
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(step) = name.strip_prefix(&self.prefix).and_then(|s| s.parse::<u64>().ok()) else { continue };
            if best.as_ref().is_none_or(|(_, b)| step > *b) {
                best = Some((entry.path(), step));
            }
        }
        Ok(best)
    }

    /// A staging folder for the checkpoint of `step`; [`Self::commit`] puts it in place.
    pub fn stage(&self, step: u64) -> Result<Staging, OutputError> {
        Staging::new(&self.root.join(self.name(step)))
    }

    /// Renames the staged checkpoint of `step` into place and removes every other one.
    pub fn commit(&self, staged: Staging, step: u64) -> Result<(), OutputError> {
        staged.commit()?;
        self.remove(Some(&self.name(step)))
    }

    /// Removes the prefix's checkpoints but `keep`, and any half-written one.
    pub fn remove(&self, keep: Option<&str>) -> Result<(), OutputError> {
        if !self.root.is_dir() {
            return Ok(());
        }
        let entries = std::fs::read_dir(&self.root).map_err(OutputError::io(&self.root))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.strip_prefix('.').unwrap_or(&name).starts_with(&self.prefix);
            if ours && Some(name.as_str()) != keep {
                std::fs::remove_dir_all(entry.path()).map_err(OutputError::io(&entry.path()))?;
            }
        }
        Ok(())
    }
}
