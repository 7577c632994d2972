//! What can go wrong in the registry: the storage itself failed, or a
//! name is taken (which the user fixes, not the operator).

use std::path::PathBuf;

use super::record::PENDING_SECS;

/// Every registry error: storage, or a naming conflict.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Conflict(#[from] Conflict),
    #[error(transparent)]
    BadId(#[from] crate::model::IdError),
}

/// The database, its lock or its content failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("registry {path}")]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("registry lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("registry {path}: a record holds data it cannot read: {why}")]
    Corrupt { path: PathBuf, why: String },
}

/// A name is already somebody else's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Conflict {
    #[error(
        "name {name:?} is already used by running container {id} in scope {scope:?} (give this container another io.linkshim.name, or stop that one)"
    )]
    NameInUse {
        scope: String,
        name: String,
        id: String,
    },
    #[error(
        "name {name:?} in scope {scope:?} is reserved by a container being created (its start or its failure frees it; a failed create holds it for {PENDING_SECS} s)"
    )]
    NameReserved { scope: String, name: String },
    #[error(
        "container id {id} is already registered by another running container (another process or hosts token): it is not replaced (give this container another id, or stop that one)"
    )]
    IdInUse { id: String },
    #[error(
        "the hosts token of container {id} is held by running container {holder} (prepare its config again: linkshim gives it a token of its own)"
    )]
    TokenInUse { id: String, holder: String },
    #[error(
        "name {name:?} is already a registered resource (resources and containers share one name space)"
    )]
    NameIsResource { name: String },
}

/// A database error on the registry at `path`.
pub(super) fn db(path: &std::path::Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| {
        StorageError::Db {
            path: path.to_path_buf(),
            source,
        }
        .into()
    }
}

/// A record at `path` that cannot be read back.
pub(super) fn corrupt(path: &std::path::Path, why: String) -> Error {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        why,
    }
    .into()
}
