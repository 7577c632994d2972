//! The schema and its migrations. Only an opener that finds an older
//! version (or none) runs any of this: opening an up-to-date registry reads
//! one pragma and changes nothing.

use rusqlite::Connection;

use super::Registry;
use super::error::{Error, db};

/// The version `open` brings every registry to (`PRAGMA user_version`).
pub(super) const VERSION: i32 = 7;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containers (
    id        TEXT PRIMARY KEY,
    scope     TEXT NOT NULL,
    name      TEXT NOT NULL,
    admits    TEXT NOT NULL,
    service   TEXT,
    svc_index INTEGER,
    hostname  TEXT,
    addrs     TEXT NOT NULL,
    nets      TEXT NOT NULL DEFAULT '[]',
    host_net  INTEGER NOT NULL DEFAULT 0,
    ports     TEXT NOT NULL,
    env       TEXT NOT NULL,
    links     TEXT NOT NULL,
    url       TEXT,
    pid       INTEGER,
    pid_start INTEGER,
    boot_id   TEXT NOT NULL,
    created   INTEGER NOT NULL,
    token     TEXT,
    UNIQUE (scope, name)
);
CREATE INDEX IF NOT EXISTS containers_token ON containers(token);
CREATE INDEX IF NOT EXISTS containers_name ON containers(name);
CREATE UNIQUE INDEX IF NOT EXISTS containers_slot ON containers(scope, service, svc_index) WHERE service IS NOT NULL;
CREATE TABLE IF NOT EXISTS reservations (
    token     TEXT PRIMARY KEY,
    scope     TEXT NOT NULL,
    name      TEXT NOT NULL,
    service   TEXT NOT NULL,
    svc_index INTEGER NOT NULL,
    boot_id   TEXT NOT NULL,
    created   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_name ON reservations(scope, name);
CREATE INDEX IF NOT EXISTS reservations_service ON reservations(scope, service);
CREATE TABLE IF NOT EXISTS holds (
    token     TEXT PRIMARY KEY,
    boot_id   TEXT NOT NULL,
    created   INTEGER NOT NULL,
    scope     TEXT,
    name      TEXT
);
CREATE TABLE IF NOT EXISTS link_targets (
    linker_id TEXT NOT NULL,
    scope     TEXT NOT NULL,
    target    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS link_targets_target ON link_targets(scope, target);
CREATE INDEX IF NOT EXISTS link_targets_linker ON link_targets(linker_id);
CREATE TABLE IF NOT EXISTS resources (
    name    TEXT PRIMARY KEY,
    url     TEXT NOT NULL,
    env     TEXT NOT NULL,
    addrs   TEXT NOT NULL DEFAULT '[]'
);
";

/// An id runc would accept (`ContainerId::parse`), as an SQL condition on `id`.
const VALID_ID: &str = "length(id) BETWEEN 1 AND 1024 AND id NOT GLOB '*[^A-Za-z0-9_.+-]*'";

/// Create the current schema in a new, empty database.
pub(super) fn create(conn: &Connection) -> rusqlite::Result<()> {
    upgrade(conn, 0)?;
    conn.pragma_update(None, "user_version", VERSION)
}

/// The schema version of an open database.
pub(super) fn version(conn: &Connection) -> rusqlite::Result<i32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Bring a registry of version 1 to 6 (or none) to `VERSION`, in the
/// caller's transaction. Version 6 lacked the containers' hostname, their
/// addresses' subnets and whether they use the host's network: its rows
/// gain them empty (such a record is rendered with its short id and every
/// address, as before). Every old row goes to the `default` scope; rows
/// of a container id runc would refuse (a newline, a space) are dropped,
/// since their short form could break a hosts line. Version 2 lacked
/// link_targets, version 3 reservations and version 4 holds, which the
/// schema creates; the holds of version 5 (keyed by token, which is
/// host-wide) stay, without the scope and name of their container (which
/// makes them no container's own: a config carrying such a token is given
/// a new one).
fn upgrade(conn: &Connection, from: i32) -> rusqlite::Result<()> {
    if from == 6 {
        return conn.execute_batch(
            "ALTER TABLE containers ADD COLUMN hostname TEXT;
             ALTER TABLE containers ADD COLUMN nets TEXT NOT NULL DEFAULT '[]';
             ALTER TABLE containers ADD COLUMN host_net INTEGER NOT NULL DEFAULT 0;",
        );
    }
    if from == 1 {
        conn.execute_batch(
            "ALTER TABLE containers ADD COLUMN token TEXT;
             ALTER TABLE resources ADD COLUMN addrs TEXT NOT NULL DEFAULT '[]';",
        )?;
    }
    if from == 5 {
        conn.execute_batch(
            "ALTER TABLE holds ADD COLUMN scope TEXT;
             ALTER TABLE holds ADD COLUMN name TEXT;",
        )?;
    }
    // The old tables move aside (their indexes dropped, so the new ones
    // can take their names), the new ones are created, the rows copied.
    let old: Vec<&str> = ["containers", "reservations", "link_targets"]
        .into_iter()
        .filter(|t| has_table(conn, t).unwrap_or(false))
        .collect();
    if from >= 1 {
        conn.execute_batch(
            "DROP INDEX IF EXISTS containers_token; DROP INDEX IF EXISTS containers_slot;
             DROP INDEX IF EXISTS reservations_name; DROP INDEX IF EXISTS reservations_service;
             DROP INDEX IF EXISTS link_targets_target; DROP INDEX IF EXISTS link_targets_linker;",
        )?;
        for t in &old {
            conn.execute_batch(&format!("ALTER TABLE {t} RENAME TO old_{t}"))?;
        }
    }
    conn.execute_batch(SCHEMA)?;
    if from < 1 {
        return Ok(());
    }
    let moved = |t: &str| from >= 1 && old.contains(&t);
    if moved("containers") {
        conn.execute_batch(&format!(
            "INSERT OR IGNORE INTO containers (id, scope, name, admits, service, svc_index, addrs,
                ports, env, links, url, pid, pid_start, boot_id, created, token)
               SELECT id, 'default', name, '[]', service, svc_index, addrs, ports, env, links,
                 url, pid, pid_start, boot_id, created, token
               FROM old_containers WHERE substr(id, 1, 8) != 'pending:' AND {VALID_ID};"
        ))?;
        // Up to version 3 a reserved replica slot was a container row
        // with the id `pending:<token>`.
        conn.execute_batch(
            "INSERT OR REPLACE INTO reservations (token, scope, name, service, svc_index, boot_id, created)
               SELECT substr(id, 9), 'default', name, service, svc_index, boot_id, created
               FROM old_containers
               WHERE substr(id, 1, 8) = 'pending:' AND service IS NOT NULL AND svc_index IS NOT NULL;
             DROP TABLE old_containers;",
        )?;
    }
    if moved("reservations") {
        conn.execute_batch(
            "INSERT OR REPLACE INTO reservations (token, scope, name, service, svc_index, boot_id, created)
               SELECT token, 'default', name, service, svc_index, boot_id, created FROM old_reservations;
             DROP TABLE old_reservations;",
        )?;
    }
    if moved("link_targets") {
        conn.execute_batch(
            "INSERT INTO link_targets (linker_id, scope, target)
               SELECT linker_id, 'default', target FROM old_link_targets
               WHERE linker_id IN (SELECT id FROM containers);
             DROP TABLE old_link_targets;",
        )?;
    }
    Ok(())
}

impl Registry {
    /// Bring the schema to `VERSION` in one write transaction, whatever
    /// version another linkshim left (the version is read again under the
    /// write lock, so concurrent openers migrate once).
    pub(super) fn migrate(&mut self) -> Result<(), Error> {
        // A newer linkshim's schema is never touched: not switched to WAL,
        // not "upgraded" down. Checked again under the lock below.
        self.refuse_newer(version(&self.conn).map_err(db(&self.path))?)?;
        // Switching a new database to WAL needs it to itself, and SQLite
        // may answer "database is locked" at once rather than wait: the
        // switch is made under the write lock, like every change.
        let lock = self.lock()?;
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(db(&self.path))?;
        self.write_locked(&lock, |tx| {
            let conn = tx.conn;
            let from = version(conn).map_err(db(tx.path))?;
            if from > VERSION {
                return Err(newer(tx.path, from));
            }
            let run = || -> rusqlite::Result<()> {
                if from == VERSION {
                    return Ok(());
                }
                upgrade(conn, from)?;
                conn.pragma_update(None, "user_version", VERSION)
            };
            run().map_err(db(tx.path))
        })
    }

    fn refuse_newer(&self, found: i32) -> Result<(), Error> {
        if found > VERSION {
            return Err(newer(&self.path, found));
        }
        Ok(())
    }
}

/// The error for a registry at `path` of schema version `found`, above ours.
fn newer(path: &std::path::Path, found: i32) -> Error {
    super::error::StorageError::Newer {
        path: path.to_path_buf(),
        found,
        wanted: VERSION,
    }
    .into()
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

    /// The tables of version 4 as linkshim wrote them (no scopes, a name
    /// unique on the host).
    const V4: &str =
        "CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, service TEXT,
            svc_index INTEGER, addrs TEXT NOT NULL, ports TEXT NOT NULL, env TEXT NOT NULL,
            links TEXT NOT NULL, url TEXT, pid INTEGER, pid_start INTEGER,
            boot_id TEXT NOT NULL, created INTEGER NOT NULL, token TEXT);
         CREATE INDEX containers_token ON containers(token);
         CREATE UNIQUE INDEX containers_slot ON containers(service, svc_index) WHERE service IS NOT NULL;
         CREATE TABLE reservations (token TEXT PRIMARY KEY, name TEXT NOT NULL,
            service TEXT NOT NULL, svc_index INTEGER NOT NULL, boot_id TEXT NOT NULL,
            created INTEGER NOT NULL);
         CREATE INDEX reservations_name ON reservations(name);
         CREATE INDEX reservations_service ON reservations(service);
         CREATE TABLE link_targets (linker_id TEXT NOT NULL, target TEXT NOT NULL);
         CREATE INDEX link_targets_target ON link_targets(target);
         CREATE INDEX link_targets_linker ON link_targets(linker_id);
         CREATE TABLE resources (name TEXT PRIMARY KEY, url TEXT NOT NULL, env TEXT NOT NULL,
            addrs TEXT NOT NULL DEFAULT '[]');";

    /// Version 5 added the holds of hosts files to version 4.
    const V5_HOLDS: &str = "CREATE TABLE holds (token TEXT PRIMARY KEY, boot_id TEXT NOT NULL,
            created INTEGER NOT NULL);";

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
        assert_eq!(reg.linkers_of("default", &["pg"]).unwrap().len(), 1);
    }

    /// Version 3 as linkshim wrote it: a reserved slot is a `pending:` row.
    #[test]
    fn a_registry_of_a_newer_schema_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let newer = VERSION + 1;
        old_db(
            dir.path(),
            &format!(
                "CREATE TABLE containers (id TEXT PRIMARY KEY, future TEXT);
                 INSERT INTO containers VALUES ('c1', 'x');
                 PRAGMA user_version = {newer};"
            ),
        );
        let path = Registry::db_path(dir.path());
        let before = std::fs::read(&path).unwrap();
        for (how, got) in [
            ("open", Registry::open(dir.path()).err()),
            ("read-only", Registry::open_read_only(dir.path()).err()),
        ] {
            let err = got.unwrap_or_else(|| panic!("{how}: a newer registry was opened"));
            let text = err.to_string();
            assert!(
                text.contains(&format!(
                    "schema version {newer}, newer than this linkshim's {VERSION}"
                )),
                "{how}: {text}"
            );
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the registry was changed"
        );
        let conn = Connection::open(&path).unwrap();
        let journal: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "delete", "switched to WAL");
        assert_eq!(version(&conn).unwrap(), newer);
    }

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
            reg.reserve(
                &crate::model::default_scope(),
                &web,
                &n("web-2"),
                "00112233445566778899aabbccddeeff"
            )
            .unwrap(),
            2,
            "the migrated reservation keeps its slot"
        );
        assert_eq!(
            reg.reserve(
                &crate::model::default_scope(),
                &web,
                &n("web-3"),
                "ffeeddccbbaa99887766554433221100"
            )
            .unwrap(),
            3
        );
        let err = reg
            .reserve(
                &crate::model::default_scope(),
                &web,
                &n("web-2"),
                "0f0f0f0f0f0f0f0f",
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Conflict(crate::registry::Conflict::NameReserved { .. })
            ),
            "{err}"
        );
    }

    /// Version 4 as linkshim wrote it, with a row of an id runc refuses.
    #[test]
    fn a_version_4_registry_moves_to_the_default_scope_and_drops_bad_ids() {
        let dir = tempfile::tempdir().unwrap();
        let boot = crate::registry::boot_id();
        let now = crate::registry::now();
        let pid = std::process::id();
        let start = crate::registry::pid_start_time(pid as i32).unwrap();
        let row = |id: &str, name: &str, links: &str, token: &str| {
            format!(
                "INSERT INTO containers VALUES ('{id}', '{name}', NULL, NULL, '[\"10.0.0.1\"]', '[]',
                    '[]', '{links}', NULL, {pid}, {start}, '{boot}', {now}, {token});"
            )
        };
        old_db(
            dir.path(),
            &format!(
                "{V4}
                 {}
                 {}
                 {}
                 INSERT INTO link_targets VALUES ('web1', 'db');
                 INSERT INTO link_targets VALUES ('a' || char(10) || '6.6.6.6 db', 'x');
                 INSERT INTO reservations VALUES ('00112233445566778899aabbccddeeff', 'web-2', 'web', 2,
                    '{boot}', {now});
                 PRAGMA user_version = 4;",
                row("db1", "db", "[]", "NULL"),
                row("web1", "web", "[\"db\"]", "'00000000000000a1'"),
                row("a' || char(10) || '6.6.6.6 db", "evil", "[]", "NULL"),
            ),
        );
        let mut reg = Registry::open(dir.path()).unwrap();
        assert_eq!(version(&reg.conn).unwrap(), VERSION);
        let all: Vec<(String, String)> = reg
            .list()
            .unwrap()
            .into_iter()
            .map(|r| (r.scope.to_string(), r.id.to_string()))
            .collect();
        assert_eq!(
            all,
            vec![
                ("default".into(), "db1".into()),
                ("default".into(), "web1".into())
            ],
            "the row of the id with a newline is gone"
        );
        let linkers = reg.linkers_of("default", &["db"]).unwrap();
        assert_eq!(linkers.len(), 1);
        assert_eq!(linkers[0].1, "00000000000000a1");
        let stray: i64 = reg
            .conn
            .query_row("SELECT count(*) FROM link_targets", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stray, 1, "link targets of dropped rows go too");
        let n = |s: &str| Name::parse("t", s).unwrap();
        let dflt = crate::model::default_scope();
        assert_eq!(
            reg.reserve(
                &dflt,
                &n("web"),
                &n("web-2"),
                "00112233445566778899aabbccddeeff"
            )
            .unwrap(),
            2,
            "the reservation keeps its slot"
        );
        // The name is now unique per scope only.
        let other = Record {
            scope: n("b"),
            ..Record::new("db2", n("db")).owned_by(pid as i32)
        };
        reg.register(&other, None).unwrap();
        assert_eq!(old_tables(&reg), 0, "the old tables are gone");
    }

    /// How many tables a migration copied from (`old_*`) are left.
    fn old_tables(reg: &Registry) -> i64 {
        reg.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'old_%'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    #[test]
    fn a_version_4_registry_gains_the_holds_table() {
        let dir = tempfile::tempdir().unwrap();
        old_db(dir.path(), &format!("{V4} PRAGMA user_version = 4;"));
        let mut reg = Registry::open(dir.path()).unwrap();
        assert!(!reg.token_held("0123456789abcdef").unwrap());
        reg.hold_token(
            "0123456789abcdef",
            &crate::model::default_scope(),
            &Name::parse("t", "x").unwrap(),
        )
        .unwrap();
        assert!(reg.token_held("0123456789abcdef").unwrap());
    }

    /// Version 6 as linkshim wrote it (scopes, holds with their container;
    /// no hostname, no subnets).
    const V6: &str = "CREATE TABLE containers (id TEXT PRIMARY KEY, scope TEXT NOT NULL,
            name TEXT NOT NULL, admits TEXT NOT NULL, service TEXT, svc_index INTEGER,
            addrs TEXT NOT NULL, ports TEXT NOT NULL, env TEXT NOT NULL, links TEXT NOT NULL,
            url TEXT, pid INTEGER, pid_start INTEGER, boot_id TEXT NOT NULL,
            created INTEGER NOT NULL, token TEXT, UNIQUE (scope, name));
         CREATE INDEX containers_token ON containers(token);
         CREATE INDEX containers_name ON containers(name);
         CREATE UNIQUE INDEX containers_slot ON containers(scope, service, svc_index) WHERE service IS NOT NULL;
         CREATE TABLE reservations (token TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL,
            service TEXT NOT NULL, svc_index INTEGER NOT NULL, boot_id TEXT NOT NULL,
            created INTEGER NOT NULL);
         CREATE TABLE holds (token TEXT PRIMARY KEY, boot_id TEXT NOT NULL, created INTEGER NOT NULL,
            scope TEXT, name TEXT);
         CREATE TABLE link_targets (linker_id TEXT NOT NULL, scope TEXT NOT NULL, target TEXT NOT NULL);
         CREATE TABLE resources (name TEXT PRIMARY KEY, url TEXT NOT NULL, env TEXT NOT NULL,
            addrs TEXT NOT NULL DEFAULT '[]');";

    /// Version 6 keeps its scoped rows, holds and links; its containers
    /// gain no hostname and no subnets, and its ports come back in
    /// Docker's order.
    #[test]
    fn a_version_6_registry_keeps_its_rows_and_gains_hostname_and_subnets() {
        let dir = tempfile::tempdir().unwrap();
        let boot = crate::registry::boot_id();
        let now = crate::registry::now();
        let pid = std::process::id();
        let start = crate::registry::pid_start_time(pid as i32).unwrap();
        old_db(
            dir.path(),
            &format!(
                "{V6}
                 INSERT INTO containers VALUES ('db1', 'team-a', 'db', '[\"b\"]', NULL, NULL,
                    '[\"10.0.0.1\"]', '[{{\"number\":8,\"proto\":\"udp\"}},{{\"number\":9,\"proto\":\"sctp\"}}]',
                    '[]', '[]', NULL, {pid}, {start}, '{boot}', {now}, '000000000000000000000000000000d1');
                 INSERT INTO containers VALUES ('web1', 'team-a', 'web', '[]', NULL, NULL,
                    '[\"10.0.0.2\"]', '[]', '[]', '[\"db\"]', NULL, {pid}, {start}, '{boot}', {now},
                    '000000000000000000000000000000d2');
                 INSERT INTO link_targets VALUES ('web1', 'team-a', 'db');
                 INSERT INTO holds VALUES ('000000000000000000000000000000c1', '{boot}', {now}, 'team-a', 'x');
                 PRAGMA user_version = 6;"
            ),
        );
        let mut reg = Registry::open(dir.path()).unwrap();
        assert_eq!(version(&reg.conn).unwrap(), VERSION);
        let db1 = reg.lookup("team-a", "db").unwrap().expect("db1 kept");
        assert_eq!(db1.hostname, None);
        assert!(db1.nets.is_empty());
        assert!(!db1.host_net);
        assert_eq!(
            db1.addrs,
            vec!["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(db1.admits.to_string(), "b");
        let ports: Vec<String> = db1.ports.iter().map(ToString::to_string).collect();
        assert_eq!(ports, vec!["9/sctp", "8/udp"]);
        assert_eq!(reg.linkers_of("team-a", &["db"]).unwrap().len(), 1);
        assert!(reg.token_held("000000000000000000000000000000c1").unwrap());
        let rec = Record {
            hostname: Some("fred".into()),
            nets: vec!["10.0.0.3/24".parse().unwrap()],
            ..Record::new("c3", Name::parse("t", "c3").unwrap()).owned_by(pid as i32)
        };
        reg.register(&rec, None).unwrap();
        let got = reg.get("c3").unwrap().unwrap();
        assert_eq!((got.hostname, got.nets), (rec.hostname, rec.nets));
    }

    /// Version 5 as linkshim wrote it: version 4 and the holds, one of this
    /// boot and one of another. The holds come over as they are (a token is
    /// host-wide), the rest moves to the scoped layout, in one step.
    #[test]
    fn a_version_5_registry_keeps_its_holds_and_moves_to_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let boot = crate::registry::boot_id();
        let now = crate::registry::now();
        let pid = std::process::id();
        let start = crate::registry::pid_start_time(pid as i32).unwrap();
        old_db(
            dir.path(),
            &format!(
                "{V4}
                 {V5_HOLDS}
                 INSERT INTO containers VALUES ('db1', 'db', 'db', 1, '[\"10.0.0.1\"]', '[]', '[]',
                    '[]', NULL, {pid}, {start}, '{boot}', {now}, '000000000000000000000000000000d1');
                 INSERT INTO reservations VALUES ('000000000000000000000000000000d2', 'db-2', 'db', 2,
                    '{boot}', {now});
                 INSERT INTO holds VALUES ('000000000000000000000000000000c1', '{boot}', {now});
                 INSERT INTO holds VALUES ('000000000000000000000000000000c2', 'another boot', {now});
                 PRAGMA user_version = 5;"
            ),
        );
        let mut reg = Registry::open(dir.path()).unwrap();
        assert_eq!(version(&reg.conn).unwrap(), VERSION);
        assert_eq!(VERSION, 7);
        let held = |reg: &Registry, t: &str| reg.token_held(t).unwrap();
        assert!(
            held(&reg, "000000000000000000000000000000c1"),
            "the hold of this boot came over"
        );
        assert!(
            !held(&reg, "000000000000000000000000000000c2"),
            "a hold of another boot holds nothing"
        );
        assert!(
            held(&reg, "000000000000000000000000000000d1"),
            "a live record"
        );
        assert!(
            held(&reg, "000000000000000000000000000000d2"),
            "a live reservation"
        );
        assert!(!held(&reg, "000000000000000000000000000000ff"));
        let db1 = reg.lookup("default", "db").unwrap().expect("db1 migrated");
        assert_eq!((db1.scope.as_str(), db1.index), ("default", Some(1)));
        let n = |s: &str| Name::parse("t", s).unwrap();
        let dflt = crate::model::default_scope();
        assert_eq!(
            reg.reserve(
                &dflt,
                &n("db"),
                &n("db-2"),
                "000000000000000000000000000000d2"
            )
            .unwrap(),
            2,
            "the reservation keeps its slot"
        );
        // The hold is the container's until its start takes it over.
        let rec = Record::new("c1", n("c1")).owned_by(pid as i32);
        reg.register(&rec, Some("000000000000000000000000000000c1"))
            .unwrap();
        let holds: i64 = reg
            .conn
            .query_row(
                "SELECT count(*) FROM holds WHERE token = '000000000000000000000000000000c1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(holds, 0, "the start took the hold over");
        assert!(
            held(&reg, "000000000000000000000000000000c1"),
            "its record holds it now"
        );
        assert_eq!(old_tables(&reg), 0, "the old tables are gone");
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
