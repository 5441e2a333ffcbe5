//! One process per run: `RUN/lock` is created exclusively and holds the owner's host and
//! process id; the owner touches it every minute while it works. A lock is stale, and is
//! taken over, when its process is gone (same host) or it has not been touched for ten
//! minutes (another host, which cannot be asked); so a killed process never leaves a run stuck.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::SweepError;

const STALE_AFTER: Duration = Duration::from_secs(600);
const HEARTBEAT: Duration = Duration::from_secs(60);

pub struct RunLock {
    path: PathBuf,
    stop: Arc<AtomicBool>,
}

fn owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{} {}", host.trim(), std::process::id())
}

/// Whether the lock at `path` (with contents `text`) belongs to nobody alive.
fn stale(path: &Path, text: &str) -> bool {
    let mine = owner();
    let host = mine.split(' ').next().unwrap_or_default();
    let mut parts = text.split_whitespace();
    let (lock_host, pid) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if lock_host == host && !pid.is_empty() {
        return !Path::new("/proc").join(pid).exists();
    }
    let age = std::fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| SystemTime::now().duration_since(t).ok());
    age.is_none_or(|age| age > STALE_AFTER)
}

impl RunLock {
    /// The run's lock, or `None` when a live process holds it.
    pub fn acquire(run: &Path) -> Result<Option<Self>, SweepError> {
        std::fs::create_dir_all(run).map_err(SweepError::io(run))?;
        let path = run.join("lock");
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(owner().as_bytes()).map_err(SweepError::io(&path))?;
                    return Ok(Some(Self::hold(path)));
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    if !stale(&path, &text) {
                        return Ok(None);
                    }
                    tracing::warn!("{}: taking over a stale lock ({})", path.display(), text.trim());
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                        Err(err) => return Err(SweepError::Io { path, source: err }),
                    }
                }
                Err(err) => return Err(SweepError::Io { path, source: err }),
            }
        }
        Ok(None)
    }

    fn hold(path: PathBuf) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (touched, flag) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let due = std::fs::metadata(&touched).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                if due.is_some_and(|age| age >= HEARTBEAT) {
                    let _ = OpenOptions::new().append(true).open(&touched).and_then(|f| f.set_modified(SystemTime::now()));
                }
            }
        });
        Self { path, stop }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.path);
    }
}
