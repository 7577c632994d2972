//! The registry's write lock, `registry.lock`: an exclusive `flock`, taken
//! within a budget. A holder that never lets go (a stuck or stopped
//! process) makes a writer fail after the budget, never wait forever.
//!
//! The wait never spins: the lock is tried at once, and only when it is
//! held does a helper thread block in `flock` while the caller waits on a
//! channel with a timeout. Writers are woken the moment the lock is
//! released, in the kernel's order. A helper left blocked after its caller
//! gave up takes the lock when it frees and drops it again at once.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::error::{Error, StorageError};

/// How long a writer waits for the lock (and SQLite for its own locks)
/// unless the process says otherwise: `lock_timeout` in the config file.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(5);

/// This process's budget, in milliseconds (0: the default).
static BUDGET_MS: AtomicU64 = AtomicU64::new(0);

/// Set how long this process's registry writers wait for the lock. Set
/// once at start, from the configuration, before any registry is opened.
pub fn set_budget(budget: Duration) {
    let ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX).max(1);
    BUDGET_MS.store(ms, Ordering::Relaxed);
}

/// This process's lock budget.
pub fn budget() -> Duration {
    match BUDGET_MS.load(Ordering::Relaxed) {
        0 => DEFAULT_BUDGET,
        ms => Duration::from_millis(ms),
    }
}

/// The held write lock; released when dropped.
pub(super) struct WriteLock(#[allow(dead_code)] Flock<File>);

/// Open the lock file (created 0600, never through a symlink).
fn open(path: &Path) -> std::io::Result<File> {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// The lock on `path` when it is free now, else the open lock file.
fn try_lock(path: &Path) -> Result<Result<WriteLock, File>, Error> {
    let file = open(path).map_err(|source| lock_err(path, source))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(held) => Ok(Ok(WriteLock(held))),
        Err((file, Errno::EWOULDBLOCK)) => Ok(Err(file)),
        Err((_, e)) => Err(lock_err(path, e.into())),
    }
}

fn lock_err(path: &Path, source: std::io::Error) -> Error {
    StorageError::Lock {
        path: path.to_path_buf(),
        source,
    }
    .into()
}

/// The lock on `path` when it is free now; None when another holds it
/// (who does is not looked up: no error is made of it).
pub(super) fn try_acquire(path: &Path) -> Result<Option<WriteLock>, Error> {
    Ok(try_lock(path)?.ok())
}

/// Take the exclusive lock on `path` within `budget` (zero: only if it is
/// free now).
pub(super) fn acquire(path: &Path, budget: Duration) -> Result<WriteLock, Error> {
    let io_err = |source: std::io::Error| lock_err(path, source);
    let file = match try_lock(path)? {
        Ok(held) => return Ok(held),
        Err(file) => file,
    };
    let inode = file.metadata().ok().map(|m| (m.dev(), m.ino()));
    let timeout = || -> Error {
        StorageError::LockTimeout {
            path: path.to_path_buf(),
            waited: budget,
            holder: inode.and_then(|(dev, ino)| holder(dev, ino)),
        }
        .into()
    };
    if budget.is_zero() {
        return Err(timeout());
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("registry-lock".into())
        .spawn(move || {
            // When the caller has given up, the send fails and the lock,
            // just taken, is dropped with it.
            let _ = tx.send(Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| e));
        });
    if let Err(e) = spawned {
        return Err(io_err(e));
    }
    match rx.recv_timeout(budget) {
        Ok(Ok(held)) => Ok(WriteLock(held)),
        Ok(Err(e)) => Err(io_err(e.into())),
        Err(_) => Err(timeout()),
    }
}

/// The process holding a lock on `path`, when one does and it can be told.
pub fn holder_of(path: &Path) -> Option<i32> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    holder(meta.dev(), meta.ino())
}

/// The pid `/proc/locks` names as holding a lock on the file at (`dev`,
/// `ino`). Waiters (`->` lines) are skipped.
fn holder(dev: u64, ino: u64) -> Option<i32> {
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    holder_in(&text, dev, ino)
}

/// [`holder`] on the text of `/proc/locks`: lines such as
/// `1: FLOCK  ADVISORY  WRITE 4242 00:1a:1234 0 EOF`, the device as hex
/// major:minor, the inode in decimal.
fn holder_in(text: &str, dev: u64, ino: u64) -> Option<i32> {
    let want = format!(
        "{:02x}:{:02x}:{ino}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev)
    );
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&"->") {
            return None;
        }
        (fields.get(5) == Some(&want.as_str()))
            .then(|| fields.get(4)?.parse().ok())
            .flatten()
    })
}

/// The lock file beside the database at `db`.
pub(super) fn path_of(db: &Path) -> PathBuf {
    db.with_extension("lock")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_held_lock_fails_within_the_budget_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.lock");
        // A lock held by another open file description: as another process's.
        let held = Flock::lock(open(&path).unwrap(), FlockArg::LockExclusive).unwrap();
        let start = Instant::now();
        let err = acquire(&path, Duration::from_millis(200))
            .err()
            .expect("the lock is held");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the wait returned"
        );
        let text = err.to_string();
        assert!(text.contains("held by another process"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(held);
        acquire(&path, Duration::from_secs(30)).expect("free again");
    }

    #[test]
    fn a_waiter_gets_the_lock_when_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.lock");
        let held = Flock::lock(open(&path).unwrap(), FlockArg::LockExclusive).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
        });
        acquire(&path, Duration::from_secs(60)).expect("taken once released");
        releaser.join().unwrap();
    }

    #[test]
    fn proc_locks_lines_are_read_by_device_and_inode() {
        let dev = nix::sys::stat::makedev(0x103, 2);
        let text = "1: FLOCK  ADVISORY  WRITE 77 103:02:99 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 88 103:02:42 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 42 103:02:42 0 EOF\n";
        assert_eq!(holder_in(text, dev, 42), Some(42));
        assert_eq!(holder_in(text, dev, 99), Some(77));
        assert_eq!(holder_in(text, dev, 7), None);
    }
}
