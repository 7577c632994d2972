//! The one way to write: an `flock` on the lock file (within the lock
//! budget, see `lock`), then an IMMEDIATE transaction, committed when the
//! work succeeds and rolled back otherwise.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::Registry;
use super::error::{Error, StorageError, db};
use super::liveness::Liveness;
use super::lock;
pub(super) use super::lock::WriteLock;

/// What a write sees: the transaction, the database path (for errors)
/// and this machine's liveness.
pub(super) struct Tx<'a> {
    pub conn: &'a Connection,
    pub path: &'a Path,
    pub live: &'a Liveness,
}

impl Registry {
    /// Take the write lock within this registry's budget. Writers queue
    /// on an `flock` (woken the moment it is released) instead of SQLite's
    /// sleeping busy handler, so many hooks at once cost little more than
    /// one after another.
    pub(super) fn lock(&self) -> Result<WriteLock, Error> {
        self.lock_within(self.budget)
    }

    /// Every write takes the lock first: a read-only registry refuses here,
    /// before the lock file is even opened.
    fn lock_within(&self, budget: Duration) -> Result<WriteLock, Error> {
        if self.read_only {
            return Err(StorageError::ReadOnly {
                path: self.path.clone(),
            }
            .into());
        }
        lock::acquire(&lock::path_of(&self.path), budget)
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

    /// [`write`](Self::write) only when the lock is free now: for clearing
    /// done in passing, which must not add a wait to what a reader asked.
    pub(super) fn try_write<T>(
        &mut self,
        work: impl FnOnce(&Tx<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let lock = self.lock_within(Duration::ZERO)?;
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
