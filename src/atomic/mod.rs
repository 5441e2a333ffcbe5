//! Atomic output. A file's bytes go to a temporary file in the destination's folder, which is
//! then renamed over the destination, so that a reader never sees a partial file; a folder is
//! written whole into a hidden sibling and renamed into place ([`Staging`]). The temporary
//! name is unique to the call (process id, clock, counter), so that writers of the same file
//! in several threads, processes or machines sharing the folder never mix bytes.

mod staging;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

pub use staging::Staging;

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} already exists; remove it or choose another output folder")]
    Exists(PathBuf),
}

impl OutputError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
        move |source| OutputError::Io { path: path.to_path_buf(), source }
    }
}

static CALLS: AtomicU64 = AtomicU64::new(0);

pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().ok_or_else(|| io::Error::other("not a file path"))?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let unique = format!("{}.{nanos}.{}", std::process::id(), CALLS.fetch_add(1, Ordering::Relaxed));
    let temporary = parent.join(format!(".{}.{unique}.tmp", file_name.to_string_lossy()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// Refuses an existing `path` that is not a regular file once symlinks are followed (a FIFO,
/// a device, a folder, a link to one of those), which writing would replace or hang on; a
/// missing path, or a dangling link, is fine.
pub fn refuse_special(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(io::Error::other(format!("{} exists and is not a regular file", path.display()))),
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// `value` as pretty-printed JSON, written atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), OutputError> {
    let bytes =
        serde_json::to_vec_pretty(value).map_err(|err| OutputError::Io { path: path.to_path_buf(), source: err.into() })?;
    write(path, &bytes).map_err(OutputError::io(path))
}
