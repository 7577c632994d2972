//! Which registry a process uses: the SQLite database in the state
//! directory (the default) or an etcd v3 cluster (`registry = "etcd"` in
//! the config file), chosen once at its start, and how it is opened.

use std::path::Path;
use std::sync::OnceLock;

use super::error::{Error, StorageError};
use super::store::Store;
use super::{Registry, etcd};

/// Which registry this process uses.
#[derive(Debug, Clone, Default)]
pub enum Backend {
    /// The SQLite database in the state directory.
    #[default]
    Sqlite,
    /// An etcd v3 cluster.
    Etcd(etcd::Settings),
    /// The config file names a backend whose settings are wrong: every
    /// open fails with why (never a silent fall back to another registry).
    Misconfigured(String),
}

static BACKEND: OnceLock<Backend> = OnceLock::new();

/// Use `backend` for every [`open`] of this process (once, at its start;
/// a later call changes nothing).
pub fn configure(backend: Backend) {
    let _ = BACKEND.set(backend);
}

/// The backend this process was configured with (SQLite when none was).
pub fn backend() -> &'static Backend {
    BACKEND.get_or_init(Backend::default)
}

/// Open the registry of `state_dir` (which must exist) in the configured
/// backend.
pub fn open(state_dir: &Path) -> Result<Box<dyn Store>, Error> {
    match backend() {
        Backend::Sqlite => Ok(Box::new(Registry::open(state_dir)?)),
        Backend::Etcd(settings) => Ok(Box::new(etcd::EtcdStore::open(settings)?)),
        Backend::Misconfigured(why) => Err(StorageError::Misconfigured { why: why.clone() }.into()),
    }
}

/// Open the registry of `state_dir` to read only (`graph`, `inspect`,
/// `explain`): it creates, migrates and clears nothing, and every write
/// fails (see `Registry::open_read_only`).
pub fn open_read_only(state_dir: &Path) -> Result<Box<dyn Store>, Error> {
    match backend() {
        Backend::Sqlite => Ok(Box::new(Registry::open_read_only(state_dir)?)),
        Backend::Etcd(settings) => Ok(Box::new(etcd::EtcdStore::open_read_only(settings)?)),
        Backend::Misconfigured(why) => Err(StorageError::Misconfigured { why: why.clone() }.into()),
    }
}

/// True when there is a registry to ask: an SQLite database in
/// `state_dir`, or any etcd cluster (it is asked, never assumed empty).
pub fn exists(state_dir: &Path) -> bool {
    match backend() {
        Backend::Sqlite => Registry::db_path(state_dir).exists(),
        Backend::Etcd(_) | Backend::Misconfigured(_) => true,
    }
}
