//! The schema and its migrations. Only an opener that finds an older
//! version (or none) runs any of this: opening an up-to-date registry reads
//! one pragma and changes nothing.

use rusqlite::Connection;

use super::Registry;
use super::error::{Error, db};

/// The version `open` brings every registry to (`PRAGMA user_version`).
pub(super) const VERSION: i32 = 5;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containers (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,
    service   TEXT,
    svc_index INTEGER,
    addrs     TEXT NOT NULL,
    ports     TEXT NOT NULL,
    env       TEXT NOT NULL,
    links     TEXT NOT NULL,
    url       TEXT,
    pid       INTEGER,
    pid_start INTEGER,
    boot_id   TEXT NOT NULL,
    created   INTEGER NOT NULL,
    token     TEXT
);
CREATE INDEX IF NOT EXISTS containers_token ON containers(token);
CREATE UNIQUE INDEX IF NOT EXISTS containers_slot ON containers(service, svc_index) WHERE service IS NOT NULL;
CREATE TABLE IF NOT EXISTS reservations (
    token     TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    service   TEXT NOT NULL,
    svc_index INTEGER NOT NULL,
    boot_id   TEXT NOT NULL,
    created   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_name ON reservations(name);
CREATE INDEX IF NOT EXISTS reservations_service ON reservations(service);
CREATE TABLE IF NOT EXISTS holds (
    token     TEXT PRIMARY KEY,
    boot_id   TEXT NOT NULL,
    created   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS link_targets (
    linker_id TEXT NOT NULL,
    target    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS link_targets_target ON link_targets(target);
CREATE INDEX IF NOT EXISTS link_targets_linker ON link_targets(linker_id);
CREATE TABLE IF NOT EXISTS resources (
    name    TEXT PRIMARY KEY,
    url     TEXT NOT NULL,
    env     TEXT NOT NULL,
    addrs   TEXT NOT NULL DEFAULT '[]'
);
";

/// The schema version of an open database.
pub(super) fn version(conn: &Connection) -> rusqlite::Result<i32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

impl Registry {
    /// Bring the schema to `VERSION` in one write transaction, whatever
    /// version another linkshim left (the version is read again under the
    /// write lock, so concurrent openers migrate once).
    pub(super) fn migrate(&mut self) -> Result<(), Error> {
        // Switching a new database to WAL needs it to itself, and SQLite
        // may answer "database is locked" at once rather than wait: the
        // switch is made under the write lock, like every change.
        let lock = self.lock()?;
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(db(&self.path))?;
        self.write_locked(&lock, |tx| {
            let conn = tx.conn;
            let run = || -> rusqlite::Result<()> {
                let from = version(conn)?;
                if from == VERSION {
                    return Ok(());
                }
                if from == 1 {
                    conn.execute_batch(
                        "ALTER TABLE containers ADD COLUMN token TEXT;
                         ALTER TABLE resources ADD COLUMN addrs TEXT NOT NULL DEFAULT '[]';",
                    )?;
                }
                // Version 2 lacked link_targets, version 3 reservations and
                // version 4 holds, which the schema creates if missing.
                conn.execute_batch(SCHEMA)?;
                if (1..=3).contains(&from) {
                    // Up to version 3 a reserved replica slot was a container
                    // row with the id `pending:<token>`.
                    conn.execute_batch(
                        "INSERT OR REPLACE INTO reservations (token, name, service, svc_index, boot_id, created)
                           SELECT substr(id, 9), name, service, svc_index, boot_id, created FROM containers
                           WHERE substr(id, 1, 8) = 'pending:' AND service IS NOT NULL AND svc_index IS NOT NULL;
                         DELETE FROM containers WHERE substr(id, 1, 8) = 'pending:';",
                    )?;
                }
                conn.pragma_update(None, "user_version", VERSION)
            };
            run().map_err(db(tx.path))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Name;
    use crate::registry::Record;

    fn old_db(dir: &std::path::Path, sql: &str) {
        let conn = Connection::open(Registry::db_path(dir)).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    const V1: &str =
        "CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, service TEXT,
            svc_index INTEGER, addrs TEXT NOT NULL, ports TEXT NOT NULL, env TEXT NOT NULL,
            links TEXT NOT NULL, url TEXT, pid INTEGER, pid_start INTEGER,
            boot_id TEXT NOT NULL, created INTEGER NOT NULL);
         CREATE TABLE resources (name TEXT PRIMARY KEY, url TEXT NOT NULL, env TEXT NOT NULL);";

    #[test]
    fn a_version_1_registry_is_brought_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        old_db(
            dir.path(),
            &format!(
                "{V1}
                 INSERT INTO resources VALUES ('pg', 'postgres://10.1.1.1:5432/x', '[]');
                 PRAGMA user_version = 1;"
            ),
        );
        let mut reg = Registry::open(dir.path()).unwrap();
        assert_eq!(version(&reg.conn).unwrap(), VERSION);
        assert!(reg.resource("pg").unwrap().unwrap().addrs.is_empty());
        let rec = Record {
            links: vec![crate::model::LinkRequest::parse("pg").unwrap()],
            ..Record::new("x", Name::parse("t", "x").unwrap()).owned_by(std::process::id() as i32)
        };
        reg.register(&rec, Some("0123456789abcdef")).unwrap();
        assert!(reg.has_token("0123456789abcdef").unwrap());
        assert_eq!(reg.linkers_of(&["pg"]).unwrap().len(), 1);
    }

    /// Version 3 as linkshim wrote it: a reserved slot is a `pending:` row.
    #[test]
    fn a_version_3_registry_moves_its_placeholders_to_reservations() {
        let dir = tempfile::tempdir().unwrap();
        let boot = crate::registry::boot_id();
        let now = crate::registry::now();
        let pid = std::process::id();
        let start = crate::registry::pid_start_time(pid as i32).unwrap();
        old_db(
            dir.path(),
            &format!(
                "CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, service TEXT,
                    svc_index INTEGER, addrs TEXT NOT NULL, ports TEXT NOT NULL, env TEXT NOT NULL,
                    links TEXT NOT NULL, url TEXT, pid INTEGER, pid_start INTEGER,
                    boot_id TEXT NOT NULL, created INTEGER NOT NULL, token TEXT);
                 CREATE INDEX containers_token ON containers(token);
                 CREATE UNIQUE INDEX containers_slot ON containers(service, svc_index) WHERE service IS NOT NULL;
                 CREATE TABLE link_targets (linker_id TEXT NOT NULL, target TEXT NOT NULL);
                 CREATE TABLE resources (name TEXT PRIMARY KEY, url TEXT NOT NULL, env TEXT NOT NULL,
                    addrs TEXT NOT NULL DEFAULT '[]');
                 INSERT INTO containers VALUES ('c1', 'web-1', 'web', 1, '[\"10.0.0.1\"]', '[]', '[]',
                    '[\"db:data\"]', 'http://:80/', {pid}, {start}, '{boot}', {now}, NULL);
                 INSERT INTO containers VALUES ('pending:00112233445566778899aabbccddeeff', 'web-2',
                    'web', 2, '[]', '[]', '[]', '[]', NULL, NULL, NULL, '{boot}', {now},
                    '00112233445566778899aabbccddeeff');
                 PRAGMA user_version = 3;"
            ),
        );
        let mut reg = Registry::open(dir.path()).unwrap();
        assert_eq!(version(&reg.conn).unwrap(), VERSION);
        let ids: Vec<String> = reg
            .list()
            .unwrap()
            .into_iter()
            .map(|r| r.id.to_string())
            .collect();
        assert_eq!(ids, vec!["c1"], "the placeholder is no container any more");
        let c1 = reg.get("c1").unwrap().unwrap();
        assert_eq!(c1.links[0].to_string(), "db:data");
        assert_eq!(c1.url.unwrap().to_string(), "http://:80/");
        assert!(reg.has_token("00112233445566778899aabbccddeeff").unwrap());
        let web = Name::parse("t", "web").unwrap();
        let n = |s: &str| Name::parse("t", s).unwrap();
        assert_eq!(
            reg.reserve(&web, &n("web-2"), "00112233445566778899aabbccddeeff")
                .unwrap(),
            2,
            "the migrated reservation keeps its slot"
        );
        assert_eq!(
            reg.reserve(&web, &n("web-3"), "ffeeddccbbaa99887766554433221100")
                .unwrap(),
            3
        );
        let err = reg
            .reserve(&web, &n("web-2"), "0f0f0f0f0f0f0f0f")
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Conflict(crate::registry::Conflict::NameReserved { .. })
            ),
            "{err}"
        );
    }

    #[test]
    fn opening_an_up_to_date_registry_changes_no_schema() {
        let dir = tempfile::tempdir().unwrap();
        let cookie = |reg: &Registry| -> i64 {
            reg.conn
                .query_row("PRAGMA schema_version", [], |r| r.get(0))
                .unwrap()
        };
        let first = Registry::open(dir.path()).unwrap();
        let before = cookie(&first);
        let journal: String = first
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let again = Registry::open(dir.path()).unwrap();
        assert_eq!(cookie(&again), before, "no DDL ran on the second open");
        assert_eq!(cookie(&first), before);
    }
}
