//! One process per run: `RUN/lock`. Its owner holds an OS lock on the file (`flock` on Linux:
//! the kernel grants it to one process and releases it when that process dies, even by
//! SIGKILL), writes its host, process id and a token of its own life into it for messages, and
//! touches it every minute while it works; it removes the file when it ends. Having locked the
//! file, a process checks that `RUN/lock` still names it (the owner before may have removed it
//! in between). A lock left by another host, unlocked but touched within ten minutes, is still
//! respected: OS locks may not reach across hosts (NFS without a lock daemon).
//!
//! Where the file system has no OS locks (ENOLCK, unsupported), the file is created
//! exclusively instead, and a lock is stale when nobody has touched it for ten minutes (on any
//! host: a process id may be reused after a container restart) or, on this host, when its
//! process has ended or it names this process's id from an earlier life. A stale lock is then
//! taken over under `RUN/lock.takeover`, itself created exclusively: of several processes
//! taking over the same lock, one goes on and the others find the run busy. (A takeover marker
//! older than a minute was left by a crash, and is removed.)

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::SweepError;

const STALE_AFTER: Duration = Duration::from_secs(600);
const HEARTBEAT: Duration = Duration::from_secs(60);
/// A takeover takes milliseconds: a marker older than this was left by a crash.
const TAKEOVER_LEFT_AFTER: Duration = Duration::from_secs(60);
/// Linux's "no locks available" (an NFS mount without a lock daemon).
const ENOLCK: i32 = 37;

pub struct RunLock {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    /// The OS-locked file, none without OS locks; closing it (after the removal) unlocks.
    _file: Option<File>,
}

/// This process as a lock file names it: host, process id, and the time it first took a lock
/// (a token of this life of the process id).
fn owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let token = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{} {} {token}", host.trim(), std::process::id())
    })
}

/// A lock file's owner text split into host, process id and token (empty where missing).
fn parts(text: &str) -> [&str; 3] {
    let mut words = text.split_whitespace();
    [(); 3].map(|_| words.next().unwrap_or_default())
}

/// A lock file as found: what it says and which file it is, to judge it and to check, before
/// taking it over, that it is still the one judged.
#[derive(Debug, PartialEq)]
struct Found {
    text: String,
    /// Device and inode.
    file: (u64, u64),
    modified: Option<SystemTime>,
}

impl Found {
    /// The lock at `path`, or `None` when there is none.
    fn read(path: &Path) -> io::Result<Option<Found>> {
        let (text, meta) = match std::fs::read_to_string(path).and_then(|text| Ok((text, std::fs::metadata(path)?))) {
            Ok(found) => found,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        Ok(Some(Found { text, file: (meta.dev(), meta.ino()), modified: meta.modified().ok() }))
    }

    /// Touched within [`STALE_AFTER`].
    fn fresh(&self) -> bool {
        self.modified.and_then(|t| t.elapsed().ok()).is_some_and(|age| age <= STALE_AFTER)
    }

    /// Names a host, not this one.
    fn on_other_host(&self) -> bool {
        let host = parts(&self.text)[0];
        !host.is_empty() && host != parts(owner())[0]
    }

    /// Without OS locks: whether the owner is gone.
    fn stale(&self) -> bool {
        let ([host, pid, token], [my_host, my_pid, my_token]) = (parts(&self.text), parts(owner()));
        if !self.fresh() {
            true
        } else if host != my_host || pid.is_empty() {
            false
        } else if pid == my_pid {
            token != my_token
        } else {
            !Path::new("/proc").join(pid).exists()
        }
    }
}

/// How one try at the lock went.
enum Attempt {
    Held(Option<File>),
    Busy,
    /// The file changed under the try: try again.
    Again,
    NoOsLocks,
}

impl RunLock {
    /// The run's lock, or `None` when another process holds it.
    pub fn acquire(run: &Path) -> Result<Option<Self>, SweepError> {
        Self::acquire_with(run, true)
    }

    fn acquire_with(run: &Path, mut os_locks: bool) -> Result<Option<Self>, SweepError> {
        std::fs::create_dir_all(run).map_err(SweepError::io(run))?;
        let path = run.join("lock");
        for _ in 0..4 {
            let attempt = if os_locks { os_lock(&path) } else { exclusive(&path) };
            match attempt.map_err(SweepError::io(&path))? {
                Attempt::Held(file) => return Ok(Some(Self::hold(path, file))),
                Attempt::Busy => return Ok(None),
                Attempt::Again => {}
                Attempt::NoOsLocks => {
                    tracing::debug!("{}: no OS locks on this file system; locking by exclusive creation", path.display());
                    os_locks = false;
                }
            }
        }
        Ok(None)
    }

    fn hold(path: PathBuf, file: Option<File>) -> Self {
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
        Self { path, stop, _file: file }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.path);
    }
}

fn os_lock(path: &Path) -> io::Result<Attempt> {
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(Attempt::Busy),
        Err(TryLockError::Error(err)) if err.kind() == io::ErrorKind::Unsupported || err.raw_os_error() == Some(ENOLCK) => {
            return Ok(Attempt::NoOsLocks);
        }
        Err(TryLockError::Error(err)) => return Err(err),
    }
    let meta = file.metadata()?;
    let Some(found) = Found::read(path)?.filter(|found| found.file == (meta.dev(), meta.ino())) else {
        return Ok(Attempt::Again);
    };
    if found.fresh() && found.on_other_host() {
        return Ok(Attempt::Busy);
    }
    if !found.text.trim().is_empty() {
        tracing::warn!("{}: taking over a stale lock ({})", path.display(), found.text.trim());
    }
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(owner().as_bytes())?;
    Ok(Attempt::Held(Some(file)))
}

/// The lock file created anew, or `None` when one exists.
fn create(path: &Path) -> io::Result<Option<File>> {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(mut file) => file.write_all(owner().as_bytes()).map(|()| Some(file)),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(None),
        Err(err) => Err(err),
    }
}

fn exclusive(path: &Path) -> io::Result<Attempt> {
    if create(path)?.is_some() {
        return Ok(Attempt::Held(None));
    }
    match Found::read(path)? {
        None => Ok(Attempt::Again),
        Some(found) if found.stale() => take_over(path, &found),
        Some(_) => Ok(Attempt::Busy),
    }
}

/// Replaces the stale lock `found` while holding `lock.takeover`.
fn take_over(path: &Path, found: &Found) -> io::Result<Attempt> {
    let marker = path.with_extension("takeover");
    match OpenOptions::new().write(true).create_new(true).open(&marker) {
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            let age = std::fs::metadata(&marker).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            if age.is_some_and(|age| age > TAKEOVER_LEFT_AFTER) {
                let _ = std::fs::remove_file(&marker);
                return Ok(Attempt::Again);
            }
            return Ok(Attempt::Busy);
        }
        Err(err) => return Err(err),
    }
    let _marker = RemovedOnDrop(marker);
    if Found::read(path)?.as_ref() != Some(found) {
        return Ok(Attempt::Busy);
    }
    tracing::warn!("{}: taking over a stale lock ({})", path.display(), found.text.trim());
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    Ok(match create(path)? {
        Some(_) => Attempt::Held(None),
        None => Attempt::Busy,
    })
}

struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TestDir;
    use std::sync::Barrier;

    fn scratch(name: &str) -> TestDir {
        TestDir::new(&format!("lock-{name}"))
    }

    fn host() -> &'static str {
        parts(owner())[0]
    }

    /// A lock file at `run` with `text`, last touched `age` ago.
    fn left(run: &Path, text: &str, age: Duration) {
        let path = run.join("lock");
        std::fs::write(&path, text).unwrap();
        File::options().append(true).open(&path).unwrap().set_modified(SystemTime::now() - age).unwrap();
    }

    /// Sixteen threads, each with its own file handles, take over the same stale lock at once,
    /// 400 times: exactly one wins each time (reading, removing and creating did not).
    fn race(os_locks: bool) {
        let run = scratch(&format!("race-{os_locks}"));
        for round in 0..400 {
            left(&run, &format!("{} 4294967295 1", host()), Duration::ZERO);
            let barrier = Arc::new(Barrier::new(16));
            let racers: Vec<_> = (0..16)
                .map(|_| {
                    let (barrier, run) = (barrier.clone(), run.to_path_buf());
                    std::thread::spawn(move || {
                        barrier.wait();
                        RunLock::acquire_with(&run, os_locks).unwrap()
                    })
                })
                .collect();
            let held: Vec<RunLock> = racers.into_iter().filter_map(|r| r.join().unwrap()).collect();
            assert_eq!(held.len(), 1, "round {round}: {} owners", held.len());
        }
    }

    #[test]
    fn racing_takeovers_of_a_stale_lock_leave_one_owner() {
        race(true);
    }

    #[test]
    fn racing_takeovers_without_os_locks_leave_one_owner() {
        race(false);
    }

    #[test]
    fn a_stale_lock_naming_this_process_is_taken_over() {
        let run = scratch("own-pid");
        left(&run, &format!("{} {}", host(), std::process::id()), Duration::ZERO);
        assert!(RunLock::acquire(&run).unwrap().is_some(), "with OS locks");
        left(&run, &format!("{} {} an-earlier-life", host(), std::process::id()), Duration::ZERO);
        assert!(RunLock::acquire_with(&run, false).unwrap().is_some(), "without");
    }

    #[test]
    fn a_held_lock_is_busy_until_released() {
        let run = scratch("held");
        for os_locks in [true, false] {
            let held = RunLock::acquire_with(&run, os_locks).unwrap().expect("a free run");
            assert!(RunLock::acquire_with(&run, os_locks).unwrap().is_none(), "os locks {os_locks}");
            drop(held);
            assert!(!run.join("lock").exists(), "removed when released");
            assert!(RunLock::acquire_with(&run, os_locks).unwrap().is_some(), "os locks {os_locks}");
        }
    }

    #[test]
    fn an_untouched_lock_goes_stale_after_ten_minutes() {
        let run = scratch("untouched");
        let old = STALE_AFTER + Duration::from_secs(60);
        // Another host: respected while touched, even when the OS lock is free.
        left(&run, "another-host 12 1", Duration::ZERO);
        assert!(RunLock::acquire(&run).unwrap().is_none());
        left(&run, "another-host 12 1", old);
        assert!(RunLock::acquire(&run).unwrap().is_some());
        // Without OS locks, a live process id on this host (init) does not keep a lock forever.
        left(&run, &format!("{} 1 1", host()), Duration::ZERO);
        assert!(RunLock::acquire_with(&run, false).unwrap().is_none());
        left(&run, &format!("{} 1 1", host()), old);
        assert!(RunLock::acquire_with(&run, false).unwrap().is_some());
    }
}
