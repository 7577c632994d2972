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
//! registry.db-wal    SQLite's write-ahead log (and -shm, its index)
//! registry.lock      writers take an flock on it (waiting at most the lock
//!                    budget, `lock_timeout`), then a transaction
//! registry.db.corrupt-<time>  a corrupt database `gc --repair` moved aside
//! hosts/<token>      a linker's hosts file, bind-mounted over its /etc/hosts
//! hosts/<token>.lock taken while the hosts file is refreshed (`hosts_file`)
//! linkshim.log       the operator's log: failures, and more at a lower LINKSHIM_LOG
//! ```
//!
//! Every change is one SQLite transaction (`write`), so any number of hook
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
        let current = schema::version(&conn).map_err(&db)? == schema::VERSION;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(&db)?;
        let mut reg = Registry {
            conn,
            path: path.clone(),
            live: Liveness::current(),
            budget,
            read_only: false,
        };
        if !current {
            reg.migrate()?;
        }
        Ok(reg)
    }
}
