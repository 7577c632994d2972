//! The shared registry of running containers.
//!
//! On-disk layout, under the state directory (default `/run/linkshim`, mode 0700):
//!
//! ```text
//! registry.db        SQLite database (WAL mode), tables:
//!                      containers    one row per running container (and per replica
//!                                    slot reserved at create time, id `pending:<token>`)
//!                      link_targets  linker id -> target name, to find a target's linkers
//!                      resources     things that are not containers
//! registry.db-wal    SQLite's write-ahead log (and -shm, its index)
//! registry.lock      writers take an flock on it, then a transaction
//! hosts/<token>      a linker's hosts file, bind-mounted over its /etc/hosts
//! linkshim.log       the operator's log: failures, and more at a lower LINKSHIM_LOG
//! ```
//!
//! Every change is one SQLite transaction, so any number of hook processes
//! may register and look up at once and a crash leaves old or new state,
//! never a mix. A lookup reads only the rows of the names it asks for
//! (indexed). A record whose pid is gone (or a zombie), whose pid start
//! time differs or whose boot id differs is stale: it counts as absent and
//! is cleared. The persistent directory (`/var/lib/linkshim`) holds the same
//! database for resources added with `--persist`.

mod liveness;
mod store;

pub use liveness::{Liveness, boot_id, pid_start_time};
pub use store::{Error, PENDING_SECS, Record, Registry, Resource, now};
