//! linkshim's own subcommands that are not hooks or the wrapper.

pub mod compose;
pub mod doctor;
pub mod explain;
pub mod gc;
pub mod graph;
pub mod host;
pub mod inspect;
pub mod install;
pub mod link;
pub mod ls;
pub mod refresh;
pub mod resource;
pub mod watch;

use std::path::Path;

use crate::registry::{self, Registry, Store};

/// The registry in `dir`, or None when nothing has registered yet. A state
/// dir this user cannot read (root's, for anyone else) is an error that
/// says so, not an empty registry.
pub fn existing_registry(dir: &Path) -> anyhow::Result<Option<Registry>> {
    let db = Registry::db_path(dir);
    match std::fs::symlink_metadata(&db) {
        Ok(_) => Ok(Some(Registry::open(dir).map_err(|e| {
            anyhow::anyhow!(
                "state directory {}: {e} (run as its owner, usually root, or pass --state-dir)",
                dir.display()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => anyhow::bail!(
            "state directory {}: cannot read it: {e} (run as its owner, usually root, or pass --state-dir)",
            dir.display()
        ),
    }
}

/// The registry of the state directory `dir` in the configured backend, or
/// None when nothing has registered yet (on etcd it is always asked).
pub fn existing_store(dir: &Path) -> anyhow::Result<Option<Box<dyn Store>>> {
    match registry::backend() {
        registry::Backend::Sqlite => {
            Ok(existing_registry(dir)?.map(|r| Box::new(r) as Box<dyn Store>))
        }
        _ => Ok(Some(registry::open(dir)?)),
    }
}
