//! What can go wrong in the registry: the storage itself failed, or a
//! name is taken (which the user fixes, not the operator).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::ErrorCode;

use super::record::PENDING_SECS;

/// What the operator does about a corrupt registry.
pub const REPAIR_HINT: &str = "`linkshim gc --repair` moves a corrupt registry aside and starts a new one (running containers register again at their next start)";

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
    /// A failure SQLite reports by a code, said in words (SQLite's own
    /// message, when it has one, follows in `detail`).
    #[error("registry {path}: {fault}{detail}")]
    Fault {
        path: PathBuf,
        fault: Fault,
        detail: String,
    },
    #[error("registry {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("registry lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("registry {path}: opened read-only, nothing may be written")]
    ReadOnly { path: PathBuf },
    #[error(
        "registry {path}: SQLite rolled back the transaction these writes were part of (a full disk, an I/O error?); none of it was kept"
    )]
    RolledBack { path: PathBuf },
    #[error(
        "registry {path}: schema version {found}, older than this linkshim's {wanted}: any linkshim command that writes (linkshim ls) brings it up to date"
    )]
    Outdated {
        path: PathBuf,
        found: i32,
        wanted: i32,
    },
    #[error(
        "registry {path}: schema version {found}, newer than this linkshim's {wanted}: a newer linkshim wrote it; run that version (this one would misread it, so it is left alone)"
    )]
    Newer {
        path: PathBuf,
        found: i32,
        wanted: i32,
    },
    #[error(
        "registry lock {path}: held by another process for more than {}{}; a stuck linkshim? see `linkshim doctor`",
        humantime::format_duration(*waited),
        holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    LockTimeout {
        path: PathBuf,
        waited: Duration,
        holder: Option<i32>,
    },
    #[error(
        "registry {path}: a row it cannot read: {why} (`linkshim gc --repair` removes the rows that cannot be read)"
    )]
    Corrupt { path: PathBuf, why: String },
    /// No etcd endpoint answered within the timeout.
    #[error(
        "etcd registry {endpoints}: no answer within {} ({why}); check that the cluster is up and reachable, or raise etcd_timeout",
        humantime::format_duration(*waited)
    )]
    EtcdUnreachable {
        endpoints: String,
        waited: Duration,
        why: String,
    },
    /// etcd answered with an error, or with what is no answer of etcd.
    #[error("etcd registry {endpoints}: {why}")]
    Etcd { endpoints: String, why: String },
    /// A value under linkshim's prefix that no linkshim could have written.
    #[error(
        "etcd registry {endpoints}: key {key}: {why} (`linkshim gc --repair` removes this host's keys that cannot be read)"
    )]
    EtcdCorrupt {
        endpoints: String,
        key: String,
        why: String,
    },
    /// The config file's registry settings are wrong.
    #[error("registry: the config file's registry settings are wrong: {why}")]
    Misconfigured { why: String },
    /// Optimistic transactions kept losing races.
    #[error("etcd registry {endpoints}: {what}: still contended after {tries} tries; try again")]
    EtcdContended {
        endpoints: String,
        what: &'static str,
        tries: u32,
    },
}

impl StorageError {
    /// True when the registry could not be had in time: its lock, or
    /// SQLite's own, held by another process for longer than the budget,
    /// or no etcd endpoint answering within `etcd_timeout`.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            StorageError::LockTimeout { .. }
                | StorageError::EtcdUnreachable { .. }
                | StorageError::Fault {
                    fault: Fault::Busy,
                    ..
                }
        )
    }

    /// True when the database file itself is damaged (not one bad row).
    pub fn is_corrupt_db(&self) -> bool {
        matches!(
            self,
            StorageError::Fault {
                fault: Fault::Corrupt,
                ..
            }
        )
    }
}

/// The failures of the database file that the operator fixes, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("no space left on device (free space on its file system, then try again)")]
    Full,
    #[error("the database is corrupt or not a registry; {REPAIR_HINT}")]
    Corrupt,
    #[error(
        "the database is read-only (a read-only file system, or a file linkshim may not write: check its owner and mode)"
    )]
    ReadOnly,
    #[error(
        "the database cannot be opened (check that the state directory exists, is a directory and is writable)"
    )]
    CantOpen,
    #[error(
        "the database is locked by another process for longer than the lock budget; a stuck linkshim? see `linkshim doctor`"
    )]
    Busy,
}

impl Fault {
    /// The kind of `e`, when it is one the operator fixes; `dir` (the
    /// database's directory) is asked for free space on an I/O error, which
    /// is how a full disk shows on some writes.
    fn of(e: &rusqlite::Error, dir: &Path) -> Option<Fault> {
        let code = e.sqlite_error_code()?;
        Some(match code {
            ErrorCode::DiskFull => Fault::Full,
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Fault::Corrupt,
            ErrorCode::ReadOnly => Fault::ReadOnly,
            ErrorCode::CannotOpen => Fault::CantOpen,
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Fault::Busy,
            ErrorCode::SystemIoFailure if no_space(dir) => Fault::Full,
            _ => return None,
        })
    }
}

/// True when the file system of `dir` has no block left.
fn no_space(dir: &Path) -> bool {
    nix::sys::statvfs::statvfs(dir).is_ok_and(|s| s.blocks_available() == 0)
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
pub(super) fn db(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| storage(path, source).into()
}

/// A database error on the registry at `path`, in words when it has a kind.
pub(super) fn storage(path: &Path, source: rusqlite::Error) -> StorageError {
    let dir = path.parent().unwrap_or(Path::new("."));
    match Fault::of(&source, dir) {
        Some(fault) => {
            let detail = match &source {
                rusqlite::Error::SqliteFailure(_, Some(msg)) => format!(" (SQLite: {msg})"),
                _ => String::new(),
            };
            StorageError::Fault {
                path: path.to_path_buf(),
                fault,
                detail,
            }
        }
        None => StorageError::Db {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// A record at `path` that cannot be read back.
pub(super) fn corrupt(path: &Path, why: String) -> Error {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        why,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    #[test]
    fn sqlite_codes_are_said_in_words_without_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        for (code, words) in [
            (ffi::SQLITE_FULL, "no space left on device"),
            (ffi::SQLITE_CORRUPT, "`linkshim gc --repair`"),
            (ffi::SQLITE_NOTADB, "corrupt or not a registry"),
            (ffi::SQLITE_READONLY, "read-only"),
            (ffi::SQLITE_CANTOPEN, "cannot be opened"),
            (ffi::SQLITE_BUSY, "locked by another process"),
        ] {
            let e = rusqlite::Error::SqliteFailure(ffi::Error::new(code), None);
            let text = format!("{:#}", anyhow::Error::from(Error::from(storage(&path, e))));
            assert!(text.contains(words), "{code}: {text}");
            assert!(!text.contains("code"), "{code}: {text}");
            assert!(text.contains(&path.display().to_string()), "{code}: {text}");
        }
        let other = rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_MISMATCH), None);
        assert!(matches!(storage(&path, other), StorageError::Db { .. }));
    }
}
