//! The SQLite store behind the registry: schema, queries, transactions.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::liveness::Liveness;
use crate::links::annotation::{Name, Port};

/// What went wrong in the registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    #[error(
        "name {name:?} is already used by running container {id} (give this container another io.linkshim.name, or stop that one)"
    )]
    NameInUse { name: String, id: String },
    #[error(
        "name {name:?} is reserved by a container being created (its start or its failure frees it; a failed create holds it for {PENDING_SECS} s)"
    )]
    NameReserved { name: String },
    #[error(
        "name {name:?} is already a registered resource (resources and containers share one name space)"
    )]
    NameIsResource { name: String },
}

/// One running container, as registered at its start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub id: String,
    pub name: Name,
    /// The service this container is a replica of, and its index in it (1..N).
    pub service: Option<Name>,
    pub index: Option<u32>,
    /// Addresses read from its network namespace: IPv4 first.
    pub addrs: Vec<IpAddr>,
    /// Exposed ports, in Docker's order.
    pub ports: Vec<Port>,
    /// Its own configured environment (see `render::env::NOT_CASCADED`).
    pub env: Vec<(String, String)>,
    /// Its links, as `target[:alias]`.
    pub links: Vec<String>,
    /// How clients should address it (`io.linkshim.url`), host left empty.
    pub url: Option<String>,
    pub pid: Option<i32>,
    pub pid_start: Option<u64>,
    pub boot_id: String,
    /// Seconds since the epoch.
    pub created: i64,
}

/// How long a slot reserved at create time waits for its container to start.
pub const PENDING_SECS: i64 = 120;

impl Record {
    /// A record of container `id` named `name` from this boot, with nothing
    /// else yet: no address, port, env, link, service or process.
    pub fn new(id: impl Into<String>, name: Name) -> Record {
        Record {
            id: id.into(),
            name,
            service: None,
            index: None,
            addrs: vec![],
            ports: vec![],
            env: vec![],
            links: vec![],
            url: None,
            pid: None,
            pid_start: None,
            boot_id: crate::registry::boot_id(),
            created: now(),
        }
    }

    /// The same record, live as long as process `pid` is the one it is now.
    pub fn owned_by(self, pid: i32) -> Record {
        Record {
            pid: Some(pid),
            pid_start: crate::registry::pid_start_time(pid),
            ..self
        }
    }

    /// The id of the placeholder that reserves a replica slot for `token`.
    pub fn pending_id(token: &str) -> String {
        format!("pending:{token}")
    }

    /// True for a placeholder reserved at create time: not a link target yet.
    pub fn is_pending(&self) -> bool {
        self.id.starts_with("pending:")
    }

    fn live(&self, live: &Liveness) -> bool {
        if self.is_pending() {
            return self.boot_id == live.boot_id && now() - self.created < PENDING_SECS;
        }
        live.is_live(&self.boot_id, self.pid, self.pid_start)
    }

    /// The address clients use: the first IPv4, else the first IPv6.
    pub fn primary_ip(&self) -> Option<IpAddr> {
        self.addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| self.addrs.first())
            .copied()
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Something that is not a container but is linked like one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    pub name: Name,
    pub url: String,
    pub env: Vec<(String, String)>,
    /// Its URL's host, resolved when it was added (no lookup on a container's start).
    pub addrs: Vec<IpAddr>,
}

const SCHEMA_VERSION: i32 = 3;
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

/// Bring the schema to `SCHEMA_VERSION` in one transaction, whatever
/// version another linkshim left (the version is read again under the
/// write lock, so concurrent openers migrate once).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        let version: i32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        if version == 1 {
            conn.execute_batch(
                "ALTER TABLE containers ADD COLUMN token TEXT;
                 ALTER TABLE resources ADD COLUMN addrs TEXT NOT NULL DEFAULT '[]';",
            )?;
        }
        // Version 2 lacked link_targets, which the schema creates if missing.
        conn.execute_batch(&format!("{SCHEMA} PRAGMA user_version = {SCHEMA_VERSION};"))
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

const COLUMNS: &str =
    "id, name, service, svc_index, addrs, ports, env, links, url, pid, pid_start, boot_id, created";

/// An open registry database.
pub struct Registry {
    conn: Connection,
    path: PathBuf,
    live: Liveness,
}

/// Held while a process writes: writers queue on an `flock` (woken the
/// moment it is released) instead of SQLite's sleeping busy handler, so
/// many hooks at once cost little more than one after another.
struct WriteLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

impl Registry {
    fn lock(&self) -> Result<WriteLock, Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.path.with_extension("lock");
        let err = |source| Error::Lock {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(err)?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map(WriteLock)
            .map_err(|(_, e)| err(e.into()))
    }
}

impl Registry {
    /// The database file inside a state directory.
    pub fn db_path(state_dir: &Path) -> PathBuf {
        state_dir.join("registry.db")
    }

    /// Open (creating when missing) the registry in `state_dir`, which must exist.
    pub fn open(state_dir: &Path) -> Result<Registry, Error> {
        let path = Self::db_path(state_dir);
        let db = |source| Error::Db {
            path: path.clone(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(&path, flags).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
        let version: i32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        if version != SCHEMA_VERSION {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(db)?;
            migrate(&conn).map_err(db)?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        Ok(Registry {
            conn,
            path,
            live: Liveness::current(),
        })
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |source| Error::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// Reserve a slot of `service` for the container being created under
    /// `token` (a placeholder record named `name`): its index, the same when
    /// asked again. The container's registration at start takes it over.
    pub fn reserve(&mut self, service: &Name, name: &Name, token: &str) -> Result<u32, Error> {
        let placeholder = Record {
            service: Some(service.clone()),
            boot_id: self.live.boot_id.clone(),
            ..Record::new(Record::pending_id(token), name.clone())
        };
        let stored = self.register(&placeholder, Some(token))?;
        Ok(stored.index.expect("a replica always gets an index"))
    }

    /// Add or replace the record of `rec.id`. A replica keeps its index when
    /// it registers again or takes over the slot reserved for `token`, else
    /// takes the lowest index no live replica holds. Stale records in its
    /// way are cleared in the same transaction.
    pub fn register(&mut self, rec: &Record, token: Option<&str>) -> Result<Record, Error> {
        let path = self.path.clone();
        let live = self.live.clone();
        let db = |source| Error::Db {
            path: path.clone(),
            source,
        };
        let _lock = self.lock()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let mut stored = rec.clone();
        // An index the container already carries (LINKSHIM_INDEX) is kept when free.
        let wanted = rec.index;
        stored.index = None;
        // The slot reserved at create time, taken over.
        if let Some(t) = token {
            let pending = Record::pending_id(t);
            if pending != rec.id {
                for p in select_where(&tx, &path, "id = ?1", [pending.as_str()])? {
                    if p.service == rec.service {
                        stored.index = p.index;
                    }
                }
                tx.execute("DELETE FROM containers WHERE id = ?1", [&pending])
                    .map_err(db)?;
            }
        }
        // The name: free, stale, ours, or held by a live container.
        let holder = select_where(&tx, &path, "name = ?1", [rec.name.as_str()])?;
        for other in holder {
            if other.id == rec.id {
                continue;
            }
            if other.live(&live) {
                return Err(if other.is_pending() {
                    Error::NameReserved {
                        name: rec.name.to_string(),
                    }
                } else {
                    Error::NameInUse {
                        name: rec.name.to_string(),
                        id: other.id,
                    }
                });
            }
            tx.execute("DELETE FROM containers WHERE id = ?1", [&other.id])
                .map_err(db)?;
        }
        let is_resource: bool = tx
            .query_row(
                "SELECT 1 FROM resources WHERE name = ?1",
                [rec.name.as_str()],
                |_| Ok(true),
            )
            .optional()
            .map_err(db)?
            .unwrap_or(false);
        if is_resource {
            return Err(Error::NameIsResource {
                name: rec.name.to_string(),
            });
        }
        if let Some(service) = &rec.service {
            let members = select_where(&tx, &path, "service = ?1", [service.as_str()])?;
            let mut taken = Vec::new();
            for m in members {
                if m.id == rec.id {
                    stored.index = stored.index.or(m.index);
                } else if m.live(&live) {
                    taken.extend(m.index);
                } else {
                    tx.execute("DELETE FROM containers WHERE id = ?1", [&m.id])
                        .map_err(db)?;
                }
            }
            if stored.index.is_none() {
                stored.index = wanted
                    .filter(|w| *w > 0 && !taken.contains(w))
                    .or_else(|| (1..).find(|i| !taken.contains(i)));
            }
        }
        tx.execute(
            &format!(
                "INSERT OR REPLACE INTO containers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ),
            params![
                stored.id,
                stored.name.as_str(),
                stored.service.as_ref().map(Name::as_str),
                stored.index,
                json(&stored.addrs),
                json(&stored.ports),
                json(&stored.env),
                json(&stored.links),
                stored.url,
                stored.pid,
                stored.pid_start.map(|s| s as i64),
                stored.boot_id,
                stored.created,
            ],
        )
        .map_err(db)?;
        tx.execute(
            "UPDATE containers SET token = ?2 WHERE id = ?1",
            params![stored.id, token],
        )
        .map_err(db)?;
        // What it links to, so that a target's change can find its linkers;
        // rows of records that are gone go with it.
        tx.execute(
            "DELETE FROM link_targets WHERE linker_id = ?1 OR linker_id NOT IN (SELECT id FROM containers)",
            [&stored.id],
        )
        .map_err(db)?;
        for link in &stored.links {
            let target = link.split([':', '+']).next().unwrap_or(link);
            tx.execute(
                "INSERT INTO link_targets (linker_id, target) VALUES (?1, ?2)",
                params![stored.id, target],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(stored)
    }

    /// The live linkers, with their tokens, whose links name any of `targets`.
    pub fn linkers_of(&mut self, targets: &[&str]) -> Result<Vec<(Record, String)>, Error> {
        let mut out = Vec::new();
        for target in targets {
            let found = select_where(
                &self.conn,
                &self.path,
                "token IS NOT NULL AND id IN (SELECT linker_id FROM link_targets WHERE target = ?1)",
                [target],
            )?;
            for rec in self.keep_live(found) {
                if out.iter().any(|(r, _): &(Record, String)| r.id == rec.id) {
                    continue;
                }
                let token: Option<String> = self
                    .conn
                    .query_row(
                        "SELECT token FROM containers WHERE id = ?1",
                        [&rec.id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(self.db())?
                    .flatten();
                if let Some(t) = token {
                    out.push((rec, t));
                }
            }
        }
        Ok(out)
    }

    /// Remove the record of container `id`, and the slot reserved under
    /// its `token` if its start never took it; the container's record when
    /// there was one.
    pub fn unregister(&mut self, id: &str, token: Option<&str>) -> Result<Option<Record>, Error> {
        let path = self.path.clone();
        let db = |source| Error::Db {
            path: path.clone(),
            source,
        };
        let _lock = self.lock()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let removed = select_where(&tx, &path, "id = ?1", [id])?.pop();
        let pending = token.map(Record::pending_id);
        let n = tx
            .execute(
                "DELETE FROM containers WHERE id = ?1 OR id = ?2",
                params![id, pending],
            )
            .map_err(db)?;
        tx.execute("DELETE FROM link_targets WHERE linker_id = ?1", [id])
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(removed.filter(|_| n > 0))
    }

    /// True when a record (a container or a reserved slot) carries `token`.
    pub fn has_token(&self, token: &str) -> Result<bool, Error> {
        self.conn
            .query_row(
                "SELECT 1 FROM containers WHERE token = ?1 LIMIT 1",
                [token],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(self.db())
    }

    /// The live container registered under `name`; a stale one is cleared.
    pub fn lookup(&mut self, name: &str) -> Result<Option<Record>, Error> {
        let found = select_where(&self.conn, &self.path, "name = ?1", [name])?;
        Ok(self.keep_live(found).into_iter().next())
    }

    /// The live replicas of `service`, by index; stale ones are cleared.
    pub fn service(&mut self, service: &str) -> Result<Vec<Record>, Error> {
        let found = select_where(
            &self.conn,
            &self.path,
            "service = ?1 ORDER BY svc_index",
            [service],
        )?;
        Ok(self.keep_live(found))
    }

    /// The live record of container `id`.
    pub fn get(&mut self, id: &str) -> Result<Option<Record>, Error> {
        let found = select_where(&self.conn, &self.path, "id = ?1", [id])?;
        Ok(self.keep_live(found).into_iter().next())
    }

    /// Every live record, by name; stale ones are cleared.
    pub fn list(&mut self) -> Result<Vec<Record>, Error> {
        let found = select_where(&self.conn, &self.path, "1 = 1 ORDER BY name", [])?;
        Ok(self.keep_live(found))
    }

    /// Drop stale records from `found` and clear them from the database
    /// (best effort: a failed clear leaves them for the next reader).
    fn keep_live(&mut self, found: Vec<Record>) -> Vec<Record> {
        let (live, stale): (Vec<_>, Vec<_>) = found.into_iter().partition(|r| r.live(&self.live));
        let _lock = if stale.is_empty() {
            None
        } else {
            self.lock().ok()
        };
        for r in stale {
            // Only delete the row if it is still the same stale record.
            let _ = self.conn.execute(
                "DELETE FROM containers WHERE id = ?1 AND boot_id = ?2 AND pid IS ?3 AND pid_start IS ?4",
                params![r.id, r.boot_id, r.pid, r.pid_start.map(|s| s as i64)],
            );
        }
        live
    }

    /// Add or replace a resource.
    pub fn put_resource(&mut self, res: &Resource) -> Result<(), Error> {
        let path = self.path.clone();
        let db = |source| Error::Db {
            path: path.clone(),
            source,
        };
        let _lock = self.lock()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let holders = select_where(&tx, &path, "name = ?1", [res.name.as_str()])?;
        if let Some(c) = holders.into_iter().find(|c| c.live(&self.live)) {
            return Err(Error::NameInUse {
                name: res.name.to_string(),
                id: c.id,
            });
        }
        tx.execute(
            "INSERT OR REPLACE INTO resources (name, url, env, addrs) VALUES (?1, ?2, ?3, ?4)",
            params![res.name.as_str(), res.url, json(&res.env), json(&res.addrs)],
        )
        .map_err(db)?;
        tx.commit().map_err(db)
    }

    /// Remove a resource; true when there was one.
    pub fn remove_resource(&mut self, name: &str) -> Result<bool, Error> {
        let _lock = self.lock()?;
        let n = self
            .conn
            .execute("DELETE FROM resources WHERE name = ?1", [name])
            .map_err(self.db())?;
        Ok(n > 0)
    }

    /// The resource named `name`.
    pub fn resource(&self, name: &str) -> Result<Option<Resource>, Error> {
        Ok(self
            .resources_where("name = ?1", [name])?
            .into_iter()
            .next())
    }

    /// Every resource, by name.
    pub fn resources(&self) -> Result<Vec<Resource>, Error> {
        self.resources_where("1 = 1 ORDER BY name", [])
    }

    fn resources_where<P: rusqlite::Params>(
        &self,
        cond: &str,
        p: P,
    ) -> Result<Vec<Resource>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT name, url, env, addrs FROM resources WHERE {cond}"
            ))
            .map_err(self.db())?;
        let rows = stmt
            .query_map(p, |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(self.db())?;
        let mut out = Vec::new();
        for row in rows {
            let (name, url, env, addrs) = row.map_err(self.db())?;
            let corrupt = |why: String| Error::Corrupt {
                path: self.path.clone(),
                why,
            };
            out.push(Resource {
                name: Name::parse("resource", &name).map_err(|e| corrupt(e.to_string()))?,
                url,
                env: serde_json::from_str(&env).map_err(|e| corrupt(e.to_string()))?,
                addrs: serde_json::from_str(&addrs).map_err(|e| corrupt(e.to_string()))?,
            });
        }
        Ok(out)
    }
}

/// A column value as JSON text (these types always serialize).
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn select_where<P: rusqlite::Params>(
    conn: &Connection,
    path: &Path,
    cond: &str,
    p: P,
) -> Result<Vec<Record>, Error> {
    let db = |source| Error::Db {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM containers WHERE {cond}"))
        .map_err(db)?;
    let rows = stmt.query_map(p, row_to_raw).map_err(db)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode(row.map_err(db)?).map_err(|why| Error::Corrupt {
            path: path.to_path_buf(),
            why,
        })?);
    }
    Ok(out)
}

type Raw = (
    String,
    String,
    Option<String>,
    Option<u32>,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i32>,
    Option<i64>,
    String,
    i64,
);

fn row_to_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

fn decode(raw: Raw) -> Result<Record, String> {
    let (id, name, service, index, addrs, ports, env, links, url, pid, pid_start, boot_id, created) =
        raw;
    Ok(Record {
        id,
        name: Name::parse("name", &name).map_err(|e| e.to_string())?,
        service: service
            .map(|s| Name::parse("service", &s))
            .transpose()
            .map_err(|e| e.to_string())?,
        index,
        addrs: serde_json::from_str(&addrs).map_err(|e| format!("addrs: {e}"))?,
        ports: serde_json::from_str(&ports).map_err(|e| format!("ports: {e}"))?,
        env: serde_json::from_str(&env).map_err(|e| format!("env: {e}"))?,
        links: serde_json::from_str(&links).map_err(|e| format!("links: {e}"))?,
        url,
        pid,
        pid_start: pid_start.map(|s| s as u64),
        boot_id,
        created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> Record {
        Record {
            addrs: vec!["10.0.0.2".parse().unwrap()],
            ports: crate::links::annotation::parse_expose("80").unwrap(),
            env: vec![("A".into(), "1=2".into())],
            ..Record::new(id, Name::parse("t", name).unwrap()).owned_by(std::process::id() as i32)
        }
    }

    fn replica(id: &str, service: &str) -> Record {
        let mut r = rec(id, id);
        r.service = Some(Name::parse("t", service).unwrap());
        r
    }

    #[test]
    fn register_lookup_unregister() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let r = rec("id1", "db");
        reg.register(&r, None).unwrap();
        assert_eq!(reg.lookup("db").unwrap(), Some(r.clone()));
        assert_eq!(reg.lookup("nope").unwrap(), None);
        // Registering again is harmless.
        reg.register(&r, None).unwrap();
        assert_eq!(reg.list().unwrap().len(), 1);
        // A second process sees it.
        let mut other = Registry::open(dir.path()).unwrap();
        assert_eq!(other.get("id1").unwrap(), Some(r));
        assert!(reg.unregister("id1", None).unwrap().is_some());
        assert!(reg.unregister("id1", None).unwrap().is_none());
        assert_eq!(other.lookup("db").unwrap(), None);
    }

    #[test]
    fn stale_records_count_as_absent_and_are_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let mut wrong_start = rec("a", "a");
        wrong_start.pid_start = wrong_start.pid_start.map(|s| s + 1);
        let mut other_boot = rec("b", "b");
        other_boot.boot_id = "not-this-boot".into();
        let mut gone = rec("c", "c");
        gone.pid = Some(i32::MAX - 1);
        for r in [&wrong_start, &other_boot, &gone] {
            reg.register(r, None).unwrap();
        }
        for name in ["a", "b", "c"] {
            assert_eq!(reg.lookup(name).unwrap(), None, "{name}");
        }
        let left: i64 = reg
            .conn
            .query_row("SELECT count(*) FROM containers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0, "stale rows are deleted");
    }

    #[test]
    fn a_live_name_is_not_taken_twice_but_a_stale_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.register(&rec("one", "db"), None).unwrap();
        let err = reg.register(&rec("two", "db"), None).unwrap_err();
        assert!(
            matches!(err, Error::NameInUse { ref id, .. } if id == "one"),
            "{err}"
        );
        let mut stale = rec("three", "cache");
        stale.boot_id = "old".into();
        reg.register(&stale, None).unwrap();
        reg.register(&rec("four", "cache"), None).unwrap();
        assert_eq!(reg.lookup("cache").unwrap().unwrap().id, "four");
    }

    #[test]
    fn service_indexes_are_stable_and_reused_only_when_free() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let idx =
            |reg: &mut Registry, id: &str| reg.register(&replica(id, "web"), None).unwrap().index;
        assert_eq!(idx(&mut reg, "w1"), Some(1));
        assert_eq!(idx(&mut reg, "w2"), Some(2));
        assert_eq!(idx(&mut reg, "w3"), Some(3));
        assert_eq!(
            idx(&mut reg, "w2"),
            Some(2),
            "registering again keeps the index"
        );
        reg.unregister("w2", None).unwrap();
        assert_eq!(idx(&mut reg, "w4"), Some(2), "a freed index is reused");
        assert_eq!(idx(&mut reg, "w5"), Some(4));
        let members: Vec<_> = reg
            .service("web")
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.index))
            .collect();
        assert_eq!(
            members,
            vec![
                ("w1".to_string(), Some(1)),
                ("w4".into(), Some(2)),
                ("w3".into(), Some(3)),
                ("w5".into(), Some(4))
            ]
        );
    }

    #[test]
    fn parallel_registrations_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        Registry::open(dir.path()).unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let path = dir.path();
                s.spawn(move || {
                    let mut reg = Registry::open(path).unwrap();
                    for i in 0..25 {
                        reg.register(&replica(&format!("c{t}-{i}"), "svc"), None)
                            .unwrap();
                    }
                });
            }
        });
        let mut reg = Registry::open(dir.path()).unwrap();
        let all = reg.service("svc").unwrap();
        assert_eq!(all.len(), 200);
        let mut idx: Vec<u32> = all.iter().filter_map(|r| r.index).collect();
        idx.sort();
        assert_eq!(
            idx,
            (1..=200).collect::<Vec<u32>>(),
            "indexes are unique and dense"
        );
    }

    #[test]
    fn resources_share_the_name_space() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let res = Resource {
            name: Name::parse("t", "pg").unwrap(),
            url: "postgres://u:p@10.1.2.3:5432/db".into(),
            env: vec![],
            addrs: vec!["10.1.2.3".parse().unwrap()],
        };
        reg.put_resource(&res).unwrap();
        assert_eq!(reg.resource("pg").unwrap(), Some(res));
        assert!(matches!(
            reg.register(&rec("x", "pg"), None),
            Err(Error::NameIsResource { .. })
        ));
        assert!(reg.remove_resource("pg").unwrap());
        reg.register(&rec("x", "pg"), None).unwrap();
    }
}

#[cfg(test)]
mod reserve_tests {
    use super::*;

    #[test]
    fn a_reserved_slot_is_taken_over_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let web = Name::parse("t", "web").unwrap();
        let n = |s: &str| Name::parse("t", s).unwrap();
        assert_eq!(reg.reserve(&web, &n("a"), "tok-a").unwrap(), 1);
        assert_eq!(reg.reserve(&web, &n("b"), "tok-b").unwrap(), 2);
        assert_eq!(
            reg.reserve(&web, &n("a"), "tok-a").unwrap(),
            1,
            "asking again gives the same slot"
        );
        // "b" starts first, as a container, and keeps slot 2.
        let mut rec = Record {
            service: Some(web.clone()),
            ..Record::new("cid-b", n("b")).owned_by(std::process::id() as i32)
        };
        assert_eq!(reg.register(&rec, Some("tok-b")).unwrap().index, Some(2));
        rec.id = "cid-a".into();
        rec.name = n("a");
        assert_eq!(reg.register(&rec, Some("tok-a")).unwrap().index, Some(1));
        let ids: Vec<String> = reg
            .service("web")
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec!["cid-a", "cid-b"], "placeholders are gone");
    }

    #[test]
    fn an_old_placeholder_frees_its_slot() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let web = Name::parse("t", "web").unwrap();
        reg.reserve(&web, &Name::parse("t", "a").unwrap(), "old")
            .unwrap();
        reg.conn
            .execute(
                "UPDATE containers SET created = created - ?1",
                [PENDING_SECS + 1],
            )
            .unwrap();
        assert_eq!(
            reg.reserve(&web, &Name::parse("t", "b").unwrap(), "new")
                .unwrap(),
            1
        );
    }
}

#[cfg(test)]
mod wanted_index_tests {
    use super::*;

    #[test]
    fn the_index_a_replica_was_told_is_kept_when_free() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let mk = |id: &str, index: Option<u32>| Record {
            service: Some(Name::parse("t", "web").unwrap()),
            index,
            ..Record::new(id, Name::parse("t", id).unwrap()).owned_by(std::process::id() as i32)
        };
        assert_eq!(
            reg.register(&mk("a", Some(3)), None).unwrap().index,
            Some(3)
        );
        assert_eq!(
            reg.register(&mk("b", Some(3)), None).unwrap().index,
            Some(1),
            "taken: the lowest free"
        );
        assert_eq!(reg.register(&mk("c", None), None).unwrap().index, Some(2));
    }
}

#[cfg(test)]
mod migrate_tests {
    use super::*;

    #[test]
    fn a_version_1_registry_is_brought_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(Registry::db_path(dir.path())).unwrap();
            conn.execute_batch(
                "CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, service TEXT,
                    svc_index INTEGER, addrs TEXT NOT NULL, ports TEXT NOT NULL, env TEXT NOT NULL,
                    links TEXT NOT NULL, url TEXT, pid INTEGER, pid_start INTEGER,
                    boot_id TEXT NOT NULL, created INTEGER NOT NULL);
                 CREATE TABLE resources (name TEXT PRIMARY KEY, url TEXT NOT NULL, env TEXT NOT NULL);
                 INSERT INTO resources VALUES ('pg', 'postgres://10.1.1.1:5432/x', '[]');
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let mut reg = Registry::open(dir.path()).unwrap();
        assert!(reg.resource("pg").unwrap().unwrap().addrs.is_empty());
        let rec = Record {
            links: vec!["pg".into()],
            ..Record::new("x", Name::parse("t", "x").unwrap()).owned_by(std::process::id() as i32)
        };
        reg.register(&rec, Some("0123456789abcdef")).unwrap();
        assert!(reg.has_token("0123456789abcdef").unwrap());
        assert_eq!(reg.linkers_of(&["pg"]).unwrap().len(), 1);
    }
}
