//! The one way to write: an `flock` on the lock file, then an IMMEDIATE
//! transaction, committed when the work succeeds and rolled back otherwise.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::Registry;
use super::error::{Error, StorageError, db};
use super::liveness::Liveness;

/// Held while a process writes: writers queue on an `flock` (woken the
/// moment it is released) instead of SQLite's sleeping busy handler, so
/// many hooks at once cost little more than one after another.
pub(super) struct WriteLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

/// What a write sees: the transaction, the database path (for errors)
/// and this machine's liveness.
pub(super) struct Tx<'a> {
    pub conn: &'a Connection,
    pub path: &'a Path,
    pub live: &'a Liveness,
}

impl Registry {
    pub(super) fn lock(&self) -> Result<WriteLock, Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.path.with_extension("lock");
        let err = |source| -> Error {
            StorageError::Lock {
                path: path.clone(),
                source,
            }
            .into()
        };
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(err)?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map(WriteLock)
            .map_err(|(_, e)| err(e.into()))
    }

    /// Run `work` in one write transaction under the write lock; nothing
    /// of it stays when it fails.
    pub(super) fn write<T>(
        &mut self,
        work: impl FnOnce(&Tx<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let lock = self.lock()?;
        self.write_locked(&lock, work)
    }

    /// `write`, for a caller that holds the write lock already.
    pub(super) fn write_locked<T>(
        &mut self,
        _lock: &WriteLock,
        work: impl FnOnce(&Tx<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db(&self.path))?;
        let out = work(&Tx {
            conn: &tx,
            path: &self.path,
            live: &self.live,
        })?;
        tx.commit().map_err(db(&self.path))?;
        Ok(out)
    }
}
