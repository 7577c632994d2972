//! The shared registry of running containers.
//!
//! On-disk layout, under the state directory (default `/run/linkshim`, mode 0700):
//!
//! ```text
//! registry.db        SQLite database (WAL mode): tables `containers`, `resources`
//! registry.db-wal    SQLite's write-ahead log
//! hosts/<token>      a linker's hosts file, bind-mounted over its /etc/hosts
//! linkshim.log       one line per failure, for the operator
//! ```
//!
//! Every change is one SQLite transaction, so any number of hook processes
//! may register and look up at once and a crash leaves old or new state,
//! never a mix. A lookup reads only the rows of the names it asks for
//! (indexed). A record whose pid is gone, whose pid start time differs or
//! whose boot id differs is stale: it counts as absent and is cleared.

mod liveness;
mod store;

pub use liveness::{Liveness, boot_id, pid_start_time};
pub use store::{Error, PENDING_SECS, Record, Registry, Resource, now};
