//! Atomic output. A file's bytes go to a temporary file in the destination's folder, which is
//! then renamed over the destination, so that a reader never sees a partial file; a folder is
//! written whole into a hidden sibling and renamed into place ([`Staging`]). The temporary
//! name is unique to the call (process id, clock, counter), so that writers of the same file
//! in several threads, processes or machines sharing the folder never mix bytes.

pub mod checkpoints;
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

/// Refuses an output path that exists and is not a regular file (a folder, a FIFO, a device, a
/// socket, a dangling symlink), which renaming a new file over it would silently replace. A
/// symlink to a regular file passes: [`write`] writes through it.
pub fn refuse_special(path: &Path) -> io::Result<()> {
    let linked = match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        linked => linked?,
    };
    let metadata = match std::fs::metadata(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound && linked.is_symlink() => {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a symlink to nothing; refusing to replace it"));
        }
        metadata => metadata?,
    };
    match metadata.file_type() {
        kind if kind.is_file() => Ok(()),
        kind if kind.is_dir() => Err(io::Error::new(io::ErrorKind::InvalidInput, "a folder, not a file")),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, a device or a socket); refusing to replace it",
        )),
    }
}

/// `bytes` into `path`, atomically: into a temporary file beside the destination, renamed over
/// it. An existing special file is refused ([`refuse_special`]); through a symlink, the link
/// stays and its target is replaced.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    refuse_special(path)?;
    let path = match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_symlink() => std::fs::canonicalize(path)?,
        _ => path.to_path_buf(),
    };
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().ok_or_else(|| io::Error::other("not a file path"))?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let unique = format!("{}.{nanos}.{}", std::process::id(), CALLS.fetch_add(1, Ordering::Relaxed));
    let temporary = parent.join(format!(".{}.{unique}.tmp", file_name.to_string_lossy()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// `value` as pretty-printed JSON, written atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), OutputError> {
    let bytes =
        serde_json::to_vec_pretty(value).map_err(|err| OutputError::Io { path: path.to_path_buf(), source: err.into() })?;
    write(path, &bytes).map_err(OutputError::io(path))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cambrian-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
        assert!(status.success(), "mkfifo {}", path.display());
    }

    #[test]
    fn a_fifo_is_refused_and_stays_a_fifo() {
        let dir = scratch("fifo");
        let fifo = dir.join("out.safetensors");
        mkfifo(&fifo);
        let err = write(&fifo, b"bytes").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(!std::fs::symlink_metadata(&fifo).unwrap().is_file(), "the FIFO was replaced");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "a temporary file was left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_to_a_device_or_to_nothing_is_refused_and_stays() {
        let dir = scratch("device");
        for (name, target) in [("null", Path::new("/dev/null")), ("dangling", &dir.join("missing"))] {
            let link = dir.join(name);
            std::os::unix::fs::symlink(target, &link).unwrap();
            let err = write(&link, b"bytes").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name}: {err}");
            assert_eq!(std::fs::read_link(&link).unwrap(), target, "{name}: the link was replaced");
        }
        assert!(!dir.join("missing").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_folder_is_refused() {
        let dir = scratch("folder");
        let err = write(&dir, b"bytes").unwrap_err();
        assert!(err.to_string().contains("folder"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_to_a_file_is_written_through() {
        let dir = scratch("link");
        std::fs::create_dir(dir.join("real")).unwrap();
        let target = dir.join("real/report.md");
        std::fs::write(&target, b"old").unwrap();
        let link = dir.join("report.md");
        std::os::unix::fs::symlink("real/report.md", &link).unwrap();
        write(&link, b"new").unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("real/report.md"), "the link was replaced");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.join("real")).unwrap().count(), 1, "a temporary file was left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_new_file_and_a_regular_file_are_written() {
        let dir = scratch("plain");
        let path = dir.join("a.json");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
