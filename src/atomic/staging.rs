//! Output folders appear whole or not at all: everything is written into a hidden sibling
//! folder that is renamed onto the destination at the end; a failed run removes it.

use std::path::{Path, PathBuf};

use super::OutputError;

pub struct Staging {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl Staging {
    /// Refuses an existing destination; clears a stale staging folder of an earlier crash.
    pub fn new(dest: &Path) -> Result<Self, OutputError> {
        if dest.exists() {
            return Err(OutputError::Exists(dest.to_path_buf()));
        }
        let not_a_folder = || OutputError::Io { path: dest.to_path_buf(), source: std::io::Error::other("not a folder name") };
        let name = dest.file_name().ok_or_else(not_a_folder)?.to_string_lossy();
        let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(OutputError::io(parent))?;
        let tmp = parent.join(format!(".{name}.partial"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(OutputError::io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(OutputError::io(&tmp))?;
        Ok(Self { tmp, dest: dest.to_path_buf(), committed: false })
    }

    pub fn path(&self) -> &Path {
        &self.tmp
    }

    pub fn commit(mut self) -> Result<(), OutputError> {
        std::fs::rename(&self.tmp, &self.dest).map_err(OutputError::io(&self.dest))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}
