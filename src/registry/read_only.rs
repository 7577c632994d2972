//! A view of the registry that writes nothing, for the commands that only
//! look (`graph`, `inspect`) and for a dry run of prepare (`explain`).
//!
//! It creates no database, lock file or directory, migrates no schema and
//! clears no stale record (stale records still count as absent), and every
//! write fails with `StorageError::ReadOnly`. A registry that does not exist
//! reads as empty.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::error::{StorageError, db};
use super::liveness::Liveness;
use super::{Error, Registry, lock, schema};

impl Registry {
    /// Open the registry in `state_dir` to read; see the module doc.
    pub fn open_read_only(state_dir: &Path) -> Result<Registry, Error> {
        let path = Self::db_path(state_dir);
        let at = path.clone();
        let db = db(&at);
        let conn = if path.exists() {
            // Opened for writing but never created, and `query_only`: a
            // connection opened read-only could not recover a log another
            // process left behind, nor checkpoint one.
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_NOFOLLOW;
            let conn = Connection::open_with_flags(&path, flags).map_err(&db)?;
            conn.busy_timeout(lock::budget()).map_err(&db)?;
            super::keep_wal(&conn);
            conn.pragma_update(None, "query_only", true).map_err(&db)?;
            let found = schema::version(&conn).map_err(&db)?;
            if found > schema::VERSION {
                return Err(StorageError::Newer {
                    path,
                    found,
                    wanted: schema::VERSION,
                }
                .into());
            }
            if found != schema::VERSION {
                return Err(StorageError::Outdated {
                    path,
                    found,
                    wanted: schema::VERSION,
                }
                .into());
            }
            conn
        } else {
            let conn = Connection::open_in_memory().map_err(&db)?;
            schema::create(&conn).map_err(&db)?;
            conn
        };
        Ok(Registry {
            conn,
            path,
            live: Liveness::current(),
            budget: lock::budget(),
            read_only: true,
            batch: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::model::Name;
    use crate::registry::Record;

    /// Every file under `dir` and its bytes.
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                out.extend(snapshot(&p));
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
        out
    }

    /// Fail naming the files that differ. The bytes of `-shm` are not
    /// compared: it is the log's index in shared memory, which SQLite
    /// rebuilds in place whenever a connection opens with no other open
    /// (it holds no data of the registry; the database and its log do).
    fn assert_same(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) {
        let names = |m: &BTreeMap<PathBuf, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(after), names(before), "no file added or removed");
        for (path, bytes) in before {
            if path.to_string_lossy().ends_with("-shm") {
                continue;
            }
            assert!(&after[path] == bytes, "{} changed", path.display());
        }
    }

    fn rec(id: &str, name: &str) -> Record {
        Record::new(id, Name::parse("t", name).unwrap()).owned_by(std::process::id() as i32)
    }

    #[test]
    fn reading_changes_no_byte_and_stale_records_stay() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut reg = Registry::open(dir.path()).unwrap();
            reg.register(&rec("live1", "db"), None).unwrap();
            let mut stale = rec("stale1", "old");
            stale.boot_id = "another-boot".into();
            reg.register(&stale, None).unwrap();
        }
        let before = snapshot(dir.path());
        assert!(
            before.keys().any(|p| p.ends_with("registry.db-wal")),
            "the writer left its log: a reader must not change it either"
        );
        {
            let mut reg = Registry::open_read_only(dir.path()).unwrap();
            let names: Vec<String> = reg
                .list()
                .unwrap()
                .into_iter()
                .map(|r| r.name.to_string())
                .collect();
            assert_eq!(names, vec!["db"], "the stale record counts as absent");
            assert_eq!(reg.lookup("default", "old").unwrap(), None);
            let err = reg.register(&rec("x", "x"), None).unwrap_err();
            assert!(
                matches!(err, Error::Storage(StorageError::ReadOnly { .. })),
                "{err}"
            );
            let err = reg
                .hold_token(
                    "0123456789abcdef",
                    &Name::parse("t", "default").unwrap(),
                    &Name::parse("t", "x").unwrap(),
                )
                .unwrap_err();
            assert!(matches!(err, Error::Storage(StorageError::ReadOnly { .. })));
        }
        assert_same(&before, &snapshot(dir.path()));
        // The stale row is still there for a writer to clear.
        assert_eq!(
            Registry::open(dir.path())
                .unwrap()
                .lookup("default", "old")
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_missing_registry_reads_as_empty_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open_read_only(dir.path()).unwrap();
        assert!(reg.list().unwrap().is_empty());
        assert!(reg.resources().unwrap().is_empty());
        drop(reg);
        assert!(snapshot(dir.path()).is_empty());
    }

    #[test]
    fn an_outdated_registry_is_named_not_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(Registry::db_path(dir.path())).unwrap();
        conn.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 1;")
            .unwrap();
        drop(conn);
        let before = snapshot(dir.path());
        let err = Registry::open_read_only(dir.path()).err().unwrap();
        assert!(err.to_string().contains("schema version 1"), "{err}");
        assert_same(&before, &snapshot(dir.path()));
    }
}
