//! The shared registry of running containers.
//!
//! On-disk layout, under the state directory (default `/run/linkshim`, mode 0700):
//!
//! ```text
//! registry.db        SQLite database (WAL mode, schema version 7 in user_version), tables:
//!                      containers    one row per running container: its record (see
//!                                    `codec`) and the hosts token it was created under;
//!                                    (scope, name) unique, the id its primary key
//!                      reservations  replica slots (scope, service, index) and names
//!                                    reserved at create time, by hosts token, until the
//!                                    start takes them over or PENDING_SECS pass
//!                      link_targets  linker id -> target scope and name, to find a
//!                                    target's linkers
//!                      holds         hosts tokens of containers created and not started
//!                                    yet, with their scope and name: their hosts files
//!                                    are kept from sweeps
//!                      resources     things that are not containers
//! registry.db-wal    SQLite's write-ahead log (and -shm, its index), kept
//!                    between processes, empty once checkpointed
//! registry.lock      writers take an flock on it (waiting at most the lock
//!                    budget, `lock_timeout`), then a transaction
//! registry.db.corrupt-<time>  a corrupt database `gc --repair` moved aside
//! hosts/<token>      a linker's hosts file, bind-mounted over its /etc/hosts
//! hosts/<token>.lock taken while the hosts file is refreshed (`hosts_file`)
//! linkshim.log       the operator's log: failures, and more at a lower LINKSHIM_LOG
//! ```
//!
//! Every change is one SQLite transaction (`write`; several operations may
//! share one, `Registry::begin`/`commit`, each write a savepoint in it), so any number of hook
//! processes may register and look up at once and a crash leaves old or new
//! state, never a mix. A lookup reads only the rows of the names it asks for
//! (indexed), all of a linker's names in one statement. Opening an
//! up-to-date database changes nothing; an older one is migrated once
//! (`schema`). A record whose pid is gone (or a zombie), whose pid start
//! time differs or whose boot id differs is stale: it counts as absent and
//! is cleared. A live record is replaced only by the container that wrote
//! it (same pid and start time, same hosts token) and removed only by a
//! stop under its token. The persistent directory (`/var/lib/linkshim`)
//! holds the same database for resources added with `--persist`.
//!
//! One file per job: `record` (what is stored), `liveness`, `schema`,
//! `lock` (the bounded write lock), `write` (lock + transaction), `codec`
//! (a record <-> a row), `containers`, `slots` (reservations), `holds`
//! (hosts files of containers not started yet), `resources`, `gc` (stale
//! rows, orphan files, repair), `read_only` (a view that writes nothing),
//! `error`.

mod backend;
mod codec;
mod containers;
mod error;
pub mod etcd;
mod gc;
mod holds;
mod liveness;
mod lock;
mod read_only;
mod record;
mod relink;
mod resources;
mod schema;
mod slots;
mod store;
mod write;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use backend::{Backend, backend, configure, exists, open, open_read_only};
pub use error::{Conflict, Error, Fault, REPAIR_HINT, StorageError};
pub use gc::{Carried, Collected, Repaired, repair};
pub use liveness::{Liveness, boot_id, pid_start_time};
pub use lock::{DEFAULT_BUDGET, budget as lock_budget, holder_of, set_budget as set_lock_budget};
pub use record::{PENDING_SECS, Record, Resource, now};
pub use store::Store;

/// An open registry database.
pub struct Registry {
    conn: Connection,
    path: PathBuf,
    live: Liveness,
    /// How long a write waits for the lock, and SQLite for its own.
    budget: Duration,
    /// Opened with [`Registry::open_read_only`]: every write fails.
    read_only: bool,
    /// The write lock, while one transaction spans several operations
    /// ([`Registry::begin`]).
    batch: Option<write::WriteLock>,
}

/// Keep the write-ahead log and its index when the last connection
/// closes (SQLite's `SQLITE_FCNTL_PERSIST_WAL`): every hook process is a
/// short-lived last connection, which would otherwise create, fsync (with
/// its directory) and delete `registry.db-wal` and `-shm` on each write.
/// The close still checkpoints the log into the database; the bundled
/// SQLite then truncates it (`SQLITE_DEFAULT_JOURNAL_SIZE_LIMIT=0`), so the
/// next opener has no frames to replay. Best effort: a SQLite that ignores
/// it deletes the files as before.
pub(super) fn keep_wal(conn: &Connection) {
    let mut on: std::os::raw::c_int = 1;
    #[allow(unsafe_code)]
    // SAFETY: `conn.handle()` is the live connection `conn` owns, used on
    // this thread only for this call; "main" is a NUL-terminated name of
    // its main database; PERSIST_WAL reads and writes one c_int through
    // the pointer, which points at `on` for the whole call.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&raw mut on).cast(),
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        log::debug!("the registry's write-ahead log is deleted on close (file control: {rc})");
    }
}

impl Registry {
    /// The database file inside a state directory.
    pub fn db_path(state_dir: &Path) -> PathBuf {
        state_dir.join("registry.db")
    }

    /// The database file this registry is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The write lock beside the database in a state directory.
    pub fn lock_path(state_dir: &Path) -> PathBuf {
        lock::path_of(&Self::db_path(state_dir))
    }

    /// Open (creating when missing) the registry in `state_dir`, which must
    /// exist. Only a database of another schema version is changed. Every
    /// wait on it is bounded by this process's lock budget.
    pub fn open(state_dir: &Path) -> Result<Registry, Error> {
        Self::open_within(state_dir, lock::budget())
    }

    /// [`open`](Self::open) with waits bounded by `budget`.
    pub fn open_within(state_dir: &Path, budget: Duration) -> Result<Registry, Error> {
        let path = Self::db_path(state_dir);
        let db = error::db(&path);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(&path, flags).map_err(&db)?;
        conn.busy_timeout(budget).map_err(&db)?;
        keep_wal(&conn);
        let current = schema::version(&conn).map_err(&db)? == schema::VERSION;
        // The bundled SQLite starts WAL connections at NORMAL already
        // (`SQLITE_DEFAULT_WAL_SYNCHRONOUS`): one statement fewer per open.
        #[cfg(not(feature = "bundled-sqlite"))]
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(&db)?;
        let mut reg = Registry {
            conn,
            path: path.clone(),
            live: Liveness::current(),
            budget,
            read_only: false,
            batch: None,
        };
        if !current {
            reg.migrate()?;
        }
        Ok(reg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Name;

    #[test]
    fn the_log_outlives_its_writer_checkpointed_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let db = Registry::db_path(dir.path());
        let wal = dir.path().join("registry.db-wal");
        let (scope, name) = (
            Name::parse("t", "default").unwrap(),
            Name::parse("t", "web").unwrap(),
        );
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.hold_token("0123456789abcdef0123456789abcdef", &scope, &name)
            .unwrap();
        assert!(wal.exists(), "a write goes through the log");
        drop(reg);
        assert!(wal.exists(), "the last connection to close kept the log");
        #[cfg(feature = "bundled-sqlite")]
        assert_eq!(
            wal.metadata().unwrap().len(),
            0,
            "checkpointed and truncated"
        );
        // The write reached the database itself: read without the log.
        remove_log(&wal);
        let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let held: i64 = conn
            .query_row("SELECT count(*) FROM holds", [], |r| r.get(0))
            .unwrap();
        assert_eq!(held, 1);
        // Commits are not synced one by one, checkpoints are.
        let sync: i64 = Registry::open(dir.path())
            .unwrap()
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "synchronous = NORMAL");
        // And the next writer starts from the kept files.
        drop(conn);
        let mut reg = Registry::open(dir.path()).unwrap();
        assert!(reg.token_held("0123456789abcdef0123456789abcdef").unwrap());
        reg.hold_token("fedcba9876543210fedcba9876543210", &scope, &name)
            .unwrap();
    }

    fn remove_log(p: &Path) {
        std::fs::remove_file(p).unwrap();
        let _ = std::fs::remove_file(p.with_file_name("registry.db-shm"));
    }
}
