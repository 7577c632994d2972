//! The one way to write: an `flock` on the lock file (within the lock
//! budget, see `lock`), then an IMMEDIATE transaction, committed when the
//! work succeeds and rolled back otherwise.
//!
//! Several operations may share one transaction ([`Registry::begin`] ..
//! [`Registry::commit`]): the lock is taken once, every read sees one
//! state, and each write inside is a savepoint, undone alone when it
//! fails. Nothing of it stays unless `commit` succeeds.

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
        if self.batch.is_some() {
            return self.write_in_batch(work);
        }
        let lock = self.lock()?;
        self.write_locked(&lock, work)
    }

    /// [`write`](Self::write) only when the lock is free now: for clearing
    /// done in passing, which must not add a wait to what a reader asked.
    pub(super) fn try_write<T>(
        &mut self,
        work: impl FnOnce(&Tx<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.batch.is_some() {
            return self.write_in_batch(work);
        }
        let lock = self.lock_within(Duration::ZERO)?;
        self.write_locked(&lock, work)
    }

    /// Begin one transaction for every operation until [`commit`](Self::commit),
    /// when the write lock is free now; true when it did. Never a wait
    /// here: under a held lock each operation goes on alone, and the write
    /// that needs the lock waits for it within the budget. Dropping the
    /// registry before `commit` keeps nothing of the transaction.
    pub fn begin(&mut self) -> bool {
        if self.batch.is_some() {
            return true;
        }
        if self.read_only {
            return false;
        }
        let Ok(Some(lock)) = lock::try_acquire(&lock::path_of(&self.path)) else {
            return false;
        };
        match self.conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => self.batch = Some(lock),
            Err(e) => log::debug!("{}: one transaction not begun: {e}", self.path.display()),
        }
        self.batch.is_some()
    }

    /// Commit what was done since [`begin`](Self::begin), and let the lock go.
    pub fn commit(&mut self) -> Result<(), Error> {
        if self.batch.is_none() {
            return Ok(());
        }
        if self.conn.is_autocommit() {
            // SQLite ended the transaction itself (it rolls back on a full
            // disk or an I/O error): what was done in it is gone.
            self.batch = None;
            return Err(self.rolled_back());
        }
        let done = self.conn.execute_batch("COMMIT").map_err(db(&self.path));
        if done.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.batch = None;
        done
    }

    /// The error of writes whose transaction SQLite rolled back.
    fn rolled_back(&self) -> Error {
        StorageError::RolledBack {
            path: self.path.clone(),
        }
        .into()
    }

    /// `write` inside the transaction of [`begin`](Self::begin): a savepoint.
    /// Once SQLite has rolled that transaction back, every write fails
    /// (each would be committed alone), and so does `commit`.
    fn write_in_batch<T>(
        &mut self,
        work: impl FnOnce(&Tx<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.conn.is_autocommit() {
            return Err(self.rolled_back());
        }
        let sp = self.conn.savepoint().map_err(db(&self.path))?;
        let out = work(&Tx {
            conn: &sp,
            path: &self.path,
            live: &self.live,
        })?;
        sp.commit().map_err(db(&self.path))?;
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Name;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    fn names() -> (Name, Name) {
        (
            Name::parse("t", "default").unwrap(),
            Name::parse("t", "web").unwrap(),
        )
    }

    #[test]
    fn one_transaction_shows_nothing_before_its_commit_and_keeps_nothing_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let (scope, name) = names();
        let mut reg = Registry::open(dir.path()).unwrap();
        let mut other = Registry::open_within(dir.path(), Duration::ZERO).unwrap();
        assert!(reg.begin());
        reg.hold_token(A, &scope, &name).unwrap();
        assert!(reg.token_held(A).unwrap(), "it reads its own writes");
        assert!(!other.token_held(A).unwrap(), "no one else sees them yet");
        let err = other.hold_token(B, &scope, &name).unwrap_err();
        assert!(err.to_string().contains("lock"), "{err}");
        reg.commit().unwrap();
        assert!(other.token_held(A).unwrap(), "committed");
        other.hold_token(B, &scope, &name).unwrap();

        // Dropped before its commit: nothing stays, and the lock is free.
        let mut reg = Registry::open(dir.path()).unwrap();
        assert!(reg.begin());
        reg.hold_token("00000000000000000000000000000001", &scope, &name)
            .unwrap();
        drop(reg);
        let mut reg = Registry::open_within(dir.path(), Duration::ZERO).unwrap();
        assert!(!reg.token_held("00000000000000000000000000000001").unwrap());
        assert!(reg.token_held(A).unwrap() && reg.token_held(B).unwrap());
        reg.hold_token("00000000000000000000000000000002", &scope, &name)
            .unwrap();
    }

    #[test]
    fn a_failed_write_inside_one_transaction_undoes_itself_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (scope, name) = names();
        let mut reg = Registry::open(dir.path()).unwrap();
        assert!(reg.begin());
        reg.hold_token(A, &scope, &name).unwrap();
        let failed: Result<(), Error> = reg.write(|tx| {
            tx.exec(
                "INSERT INTO holds (token, boot_id, created) VALUES (?1, 'b', 0)",
                rusqlite::params![B],
            )?;
            Err(StorageError::ReadOnly {
                path: "a failure after a write".into(),
            }
            .into())
        });
        assert!(failed.is_err());
        reg.commit().unwrap();
        drop(reg);
        let reg = Registry::open(dir.path()).unwrap();
        assert!(reg.token_held(A).unwrap(), "the write before stays");
        assert!(!reg.token_held(B).unwrap(), "the failed one does not");
    }

    #[test]
    fn writes_after_sqlite_rolled_the_transaction_back_fail_and_so_does_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (scope, name) = names();
        let mut reg = Registry::open(dir.path()).unwrap();
        assert!(reg.begin());
        reg.hold_token(A, &scope, &name).unwrap();
        // What SQLite does by itself on a full disk or an I/O error.
        reg.conn.execute_batch("ROLLBACK").unwrap();
        let err = reg.hold_token(B, &scope, &name).unwrap_err();
        assert!(err.to_string().contains("rolled back"), "{err}");
        let err = reg.commit().unwrap_err();
        assert!(err.to_string().contains("rolled back"), "{err}");
        drop(reg);
        let mut reg = Registry::open_within(dir.path(), Duration::ZERO).unwrap();
        assert!(!reg.token_held(A).unwrap() && !reg.token_held(B).unwrap());
        reg.hold_token(B, &scope, &name).unwrap();
    }

    #[test]
    fn under_a_held_lock_no_transaction_begins_and_writes_wait_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let (scope, name) = names();
        let mut holder = Registry::open(dir.path()).unwrap();
        assert!(holder.begin());
        let mut reg = Registry::open_within(dir.path(), Duration::from_millis(50)).unwrap();
        assert!(!reg.begin(), "the lock is held: no wait, no transaction");
        assert!(!reg.token_held(A).unwrap(), "reads go on");
        let err = reg.hold_token(A, &scope, &name).unwrap_err();
        assert!(err.to_string().contains("lock"), "{err}");
        holder.commit().unwrap();
        reg.hold_token(A, &scope, &name).unwrap();
        reg.commit().unwrap();
        assert!(reg.token_held(A).unwrap());
    }
}
