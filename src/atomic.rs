//! Atomic file output: the bytes go to a temporary file in the destination's folder, which
//! is then renamed over the destination, so that a reader never sees a partial file.

use std::io;
use std::path::Path;

pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().ok_or_else(|| io::Error::other("not a file path"))?;
    let temporary = parent.join(format!(".{}.{}.tmp", file_name.to_string_lossy(), std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}
