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

use std::path::Path;

use crate::registry::Registry;

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
