//! Garbage collection and repair, for `linkshim gc`.
//!
//! `collect` removes what no running container holds: records whose
//! process is gone (or from another boot), reservations older than
//! `PENDING_SECS` or from another boot, holds of another boot, and link
//! rows of removed linkers. `sweep_hosts_files` removes the hosts files
//! (and their lock files) the registry proves unused, by the one rule
//! every sweep uses, poststop's included. Each of those is also cleared in
//! passing by the hooks; `gc` does it all at once, and again after a
//! poststop that could not get the lock in time. It is idempotent.
//!
//! `repair` handles a registry that can no longer be read. A database
//! SQLite finds damaged (or that is no database at all) is moved aside,
//! with its write-ahead log, as `registry.db.corrupt-<time>`, and a fresh
//! one is created. What can still be read from the old one and is still
//! alive is registered again: containers whose process is the same one,
//! reservations still pending, holds of this boot (a container created and
//! not started yet keeps its hosts file), resources. What is lost: whatever sat on a
//! damaged page (all of it, when the file is no database); a running
//! container whose record is lost cannot be linked to, and its linkers'
//! hosts files do not follow it, until it starts again (its poststart
//! registers it); a resource added without `--persist` must be added
//! again. A readable database is not moved: only its rows that cannot be
//! read are removed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OpenFlags, params};

use super::codec::{self, COLUMNS};
use super::error::{Error, StorageError, corrupt, db, storage};
use super::lock;
use super::record::{PENDING_SECS, Record, Resource};
use super::{Registry, holds, slots};
use crate::hosts_file;
use crate::model::Name;
use crate::state_dir;

/// What `collect` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Records of containers that are gone: (id, name).
    pub stale: Vec<(String, String)>,
    /// Reservations whose create never started.
    pub reservations: usize,
    /// Holds on hosts files taken in another boot.
    pub holds: usize,
    /// Rows that could not be read (only with `unreadable`): what and why.
    pub unreadable: Vec<String>,
}

/// What `repair` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repaired {
    /// No registry in the state directory: nothing to repair.
    Missing,
    /// The database is sound: left where it is.
    Sound,
    /// The database was damaged: moved to `aside`, a fresh one created,
    /// with what could be read and is still alive registered again.
    Replaced {
        aside: PathBuf,
        why: String,
        /// What was registered again.
        carried: Carried,
        /// What could not be carried over, and why.
        lost: Vec<String>,
    },
}

/// How many rows of each kind a repair carried over.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Carried {
    pub containers: usize,
    pub reservations: usize,
    pub holds: usize,
    pub resources: usize,
}

/// What says whether a container row is alive, and what names it.
struct Owner {
    rowid: i64,
    id: String,
    name: String,
    boot: String,
    pid: Option<i32>,
    start: Option<i64>,
}

/// A reservation row: token, scope, name, service, index, boot id, created.
type ReservationRow = (String, String, String, String, i64, String, i64);

/// A hold row: token, created, scope, name.
type HoldRow = (String, i64, Option<String>, Option<String>);

impl Registry {
    /// Remove stale records, expired reservations, holds of another boot
    /// and link rows of gone linkers in one transaction; with `unreadable`, also the rows no
    /// linkshim can read (see `codec`).
    pub fn collect(&mut self, unreadable: bool) -> Result<Collected, Error> {
        self.write(|tx| {
            let mut out = Collected::default();
            let rows: Vec<Owner> = {
                let mut stmt = tx
                    .conn
                    .prepare("SELECT rowid, id, name, boot_id, pid, pid_start FROM containers")
                    .map_err(db(tx.path))?;
                stmt.query_map([], |r| {
                    Ok(Owner {
                        rowid: r.get(0)?,
                        id: r.get(1)?,
                        name: r.get(2)?,
                        boot: r.get(3)?,
                        pid: r.get(4)?,
                        start: r.get(5)?,
                    })
                })
                .and_then(|rows| rows.collect())
                .map_err(|e| corrupt(tx.path, format!("a container row: {e}")))?
            };
            for o in rows {
                if !tx.live.is_live(&o.boot, o.pid, o.start.map(|s| s as u64)) {
                    tx.exec("DELETE FROM containers WHERE rowid = ?1", [o.rowid])?;
                    out.stale.push((o.id, o.name));
                }
            }
            out.reservations = slots::clear_stale(tx)?;
            out.holds = holds::clear_other_boots(tx)?;
            if unreadable {
                out.unreadable = remove_unreadable(tx.conn, tx.path)?;
            }
            tx.exec(
                "DELETE FROM link_targets WHERE linker_id NOT IN (SELECT id FROM containers)",
                [],
            )?;
            Ok(out)
        })
    }

    /// Remove the hosts files under `state_dir`, and their lock files,
    /// that the registry proves unused: no hold of this boot, no live
    /// reservation and no live record carries their token (`token_held`). Only files older
    /// than `PENDING_SECS` are looked at, so that a precreate writing one
    /// now (before it takes its hold) is left alone. Returns the removed
    /// files, and what could not be read or removed (left for the next
    /// sweep). poststop and `gc` both sweep with this.
    pub fn sweep_hosts_files(&self, state_dir: &Path) -> (Vec<PathBuf>, Vec<String>) {
        sweep_hosts_files(state_dir, |t| self.token_held(t))
    }
}

/// The sweep behind every store's `sweep_hosts_files`, by its `token_held`.
pub(super) fn sweep_hosts_files(
    state_dir: &Path,
    token_held: impl Fn(&str) -> Result<bool, Error>,
) -> (Vec<PathBuf>, Vec<String>) {
    let (mut removed, mut errors) = (Vec::new(), Vec::new());
    let dir = state_dir::hosts_dir(state_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (removed, errors),
        Err(e) => {
            errors.push(format!("{}: {e}", dir.display()));
            return (removed, errors);
        }
    };
    let old = SystemTime::now() - Duration::from_secs(PENDING_SECS as u64);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let token = name.strip_suffix(".lock").unwrap_or(name);
        let Some(hosts) = state_dir::hosts_file(state_dir, token) else {
            continue;
        };
        let path = match name == token {
            true => hosts,
            false => hosts_file::lock_path(&hosts),
        };
        let aged = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < old);
        if !aged {
            continue;
        }
        match token_held(token) {
            Ok(false) => match std::fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            },
            Ok(true) => {}
            Err(e) => errors.push(format!("{}: {e}", path.display())),
        }
    }
    (removed, errors)
}

/// Delete the container and resource rows that cannot be read back; what
/// they were and why.
fn remove_unreadable(conn: &Connection, path: &Path) -> Result<Vec<String>, Error> {
    let mut bad: Vec<(i64, String)> = Vec::new();
    {
        let mut stmt = conn
            .prepare(&format!("SELECT {COLUMNS}, rowid FROM containers"))
            .map_err(db(path))?;
        let mut rows = stmt.query([]).map_err(db(path))?;
        while let Some(row) = rows.next().map_err(db(path))? {
            let why = match codec::decode(row) {
                Ok(Ok(_)) => continue,
                Ok(Err(why)) => why,
                Err(e) => format!("container row {:?}: {e}", row.get_ref("id").ok()),
            };
            bad.push((row.get("rowid").map_err(db(path))?, why));
        }
    }
    let mut out = Vec::new();
    for (rowid, why) in bad {
        conn.execute("DELETE FROM containers WHERE rowid = ?1", [rowid])
            .map_err(db(path))?;
        out.push(why);
    }
    let resources: Vec<(i64, String, String, String)> = {
        let mut stmt = conn
            .prepare("SELECT rowid, name, env, addrs FROM resources")
            .map_err(db(path))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .and_then(|rows| rows.collect())
            .map_err(db(path))?
    };
    for (rowid, name, env, addrs) in resources {
        let why = if let Err(e) = Name::parse("resource", &name) {
            format!("resource {name:?}, column name: {e}")
        } else if let Err(e) = serde_json::from_str::<Vec<(String, String)>>(&env) {
            format!("resource {name:?}, column env: {e}")
        } else if let Err(e) = serde_json::from_str::<Vec<std::net::IpAddr>>(&addrs) {
            format!("resource {name:?}, column addrs: {e}")
        } else {
            continue;
        };
        conn.execute("DELETE FROM resources WHERE rowid = ?1", [rowid])
            .map_err(db(path))?;
        out.push(why);
    }
    Ok(out)
}

/// Check the registry in `state_dir` and, when SQLite finds it damaged,
/// move it aside and start a fresh one (see the module's documentation).
/// Waits for the write lock at most `budget`.
pub fn repair(state_dir: &Path, budget: Duration) -> Result<Repaired, Error> {
    let path = Registry::db_path(state_dir);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(Repaired::Missing);
    }
    let (aside, why) = {
        let _lock = lock::acquire(&lock::path_of(&path), budget)?;
        let why = match check(&path, budget) {
            Ok(()) => return Ok(Repaired::Sound),
            Err(Damage::Corrupt(why)) => why,
            Err(Damage::Other(e)) => return Err(e),
        };
        (move_aside(&path)?, why)
    };
    // The lock is free again: opening the fresh database takes it itself.
    let mut fresh = Registry::open_within(state_dir, budget)?;
    let mut lost = Vec::new();
    let carried = match salvage(&aside, &mut fresh, &mut lost) {
        Ok(carried) => carried,
        Err(e) => {
            let why = match &e {
                rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
                other => other.to_string(),
            };
            lost.push(format!(
                "everything it held: nothing can be read from it ({why}); running containers register again at their next start, resources added without --persist must be added again"
            ));
            Carried::default()
        }
    };
    Ok(Repaired::Replaced {
        aside,
        why,
        carried,
        lost,
    })
}

/// Why a registry failed its check.
enum Damage {
    /// SQLite finds it damaged, or it is no database.
    Corrupt(String),
    /// Anything else (a full disk, a lock held too long): not repaired.
    Other(Error),
}

/// Open the database at `path` on its own and have SQLite check it.
fn check(path: &Path, budget: Duration) -> Result<(), Damage> {
    let classify = |e: rusqlite::Error| {
        let why = match &e {
            rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
            other => other.to_string(),
        };
        let e = storage(path, e);
        if e.is_corrupt_db() {
            Damage::Corrupt(why)
        } else {
            Damage::Other(e.into())
        }
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(path, flags).map_err(classify)?;
    conn.busy_timeout(budget).map_err(classify)?;
    let verdict: Vec<String> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(classify)?;
    if verdict != ["ok"] {
        return Err(Damage::Corrupt(format!(
            "SQLite's check: {}",
            verdict.join("; ").replace('\n', "; ")
        )));
    }
    Ok(())
}

/// Rename the database at `path` and its SQLite side files to
/// `<path>.corrupt-<time>` (a number appended when that is taken).
fn move_aside(path: &Path) -> Result<PathBuf, Error> {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let base = path.with_extension(format!("db.corrupt-{stamp}"));
    let aside = (0..)
        .map(|n| match n {
            0 => base.clone(),
            n => PathBuf::from(format!("{}.{n}", base.display())),
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("a free name");
    let io = |source| -> Error {
        StorageError::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()
    };
    for side in ["-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{side}", path.display()));
        let to = PathBuf::from(format!("{}{side}", aside.display()));
        match std::fs::rename(&from, &to) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
    }
    std::fs::rename(path, &aside).map_err(io)?;
    Ok(aside)
}

/// Register again in `fresh` what can be read from the database at `old`
/// and is still alive; what cannot go is added to `lost`. Returns how many
/// rows of each kind were carried over.
fn salvage(old: &Path, fresh: &mut Registry, lost: &mut Vec<String>) -> rusqlite::Result<Carried> {
    let conn = Connection::open_with_flags(
        old,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )?;
    // A file that is no database at all fails here: nothing to carry over.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    let live = fresh.live.clone();
    // Rows are read until the first one on a damaged page.
    // A table that cannot be read at all (damaged, or of an older schema
    // version) is said to be lost.
    let mut prepare = |table: &str, sql: &str| match conn.prepare(sql) {
        Ok(stmt) => Some(stmt),
        Err(e) => {
            lost.push(format!("the {table} table: {e}"));
            None
        }
    };
    let mut records: Vec<(Record, Option<String>)> = Vec::new();
    let mut reservations: Vec<ReservationRow> = Vec::new();
    let mut held: Vec<HoldRow> = Vec::new();
    let mut resources: Vec<Resource> = Vec::new();
    let containers = prepare(
        "containers",
        &format!("SELECT {COLUMNS}, token FROM containers"),
    );
    let reserved = prepare(
        "reservations",
        "SELECT token, scope, name, service, svc_index, boot_id, created FROM reservations",
    );
    let holds = prepare(
        "holds",
        "SELECT token, boot_id, created, scope, name FROM holds",
    );
    let stored = prepare("resources", "SELECT name, url, env, addrs FROM resources");
    if let Some(mut stmt) = containers {
        let mut rows = stmt.query([])?;
        loop {
            match rows.next() {
                Ok(Some(row)) => match codec::decode(row) {
                    Ok(Ok(rec)) if rec.live(&live) => {
                        records.push((rec, row.get("token").ok().flatten()))
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(why)) => lost.push(why),
                    Err(e) => lost.push(format!("a container row: {e}")),
                },
                Ok(None) => break,
                Err(e) => {
                    lost.push(format!("container rows after the first damaged one: {e}"));
                    break;
                }
            }
        }
    }
    if let Some(mut stmt) = reserved {
        let mut rows = stmt.query([])?;
        while let Ok(Some(r)) = rows.next() {
            let row = (|| {
                Ok::<_, rusqlite::Error>((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })();
            if let Ok(row) = row
                && row.5 == live.boot_id
                && row.6 > super::now() - PENDING_SECS
            {
                reservations.push(row);
            }
        }
    }
    // Holds of this boot, on well-formed tokens: a container created and
    // not started yet keeps its hosts file from the sweeps.
    if let Some(mut stmt) = holds {
        let mut rows = stmt.query([])?;
        loop {
            match rows.next() {
                Ok(Some(r)) => {
                    let row = (|| {
                        Ok::<_, rusqlite::Error>((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, Option<String>>(4)?,
                        ))
                    })();
                    match row {
                        Ok((token, boot, created, scope, name)) if state_dir::is_token(&token) => {
                            if boot == live.boot_id {
                                held.push((token, created, scope, name));
                            }
                        }
                        _ => lost.push("a hold row that cannot be read".into()),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    lost.push(format!("hold rows after the first damaged one: {e}"));
                    break;
                }
            }
        }
    }
    if let Some(mut stmt) = stored {
        let mut rows = stmt.query([])?;
        while let Ok(Some(r)) = rows.next() {
            let read = (|| -> Option<Resource> {
                let name: String = r.get(0).ok()?;
                Some(Resource {
                    name: Name::parse("resource", &name).ok()?,
                    url: r.get(1).ok()?,
                    env: serde_json::from_str(&r.get::<_, String>(2).ok()?).ok()?,
                    addrs: serde_json::from_str(&r.get::<_, String>(3).ok()?).ok()?,
                })
            })();
            match read {
                Some(res) => resources.push(res),
                None => lost.push("a resource row that cannot be read".into()),
            }
        }
    }
    // Reservations and holds first, so that a replica's start-time token
    // finds its slot, and a registered container takes its hold over.
    let mut counts = Carried::default();
    let done = fresh.write(|tx| {
        let mut n = 0;
        for (token, scope, name, service, index, boot, created) in &reservations {
            n += tx.exec(
                "INSERT OR IGNORE INTO reservations (token, scope, name, service, svc_index, boot_id, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![token, scope, name, service, index, boot, created],
            )?;
        }
        Ok(n)
    });
    match done {
        Ok(n) => counts.reservations = n,
        Err(e) => lost.push(format!("reservations: {e}")),
    }
    let done = fresh.write(|tx| {
        let mut n = 0;
        for (token, created, scope, name) in &held {
            n += holds::carry(tx, token, *created, scope.as_deref(), name.as_deref())?;
        }
        Ok(n)
    });
    match done {
        Ok(n) => counts.holds = n,
        Err(e) => lost.push(format!(
            "holds (the hosts files of containers created and not started yet may be swept before they start): {e}"
        )),
    }
    for (rec, token) in records {
        let token = token.filter(|t| state_dir::is_token(t));
        match fresh.register(&rec, token.as_deref()) {
            Ok(_) => counts.containers += 1,
            Err(e) => lost.push(format!(
                "container {:?} ({}): {e}",
                rec.name.as_str(),
                rec.id
            )),
        }
    }
    for res in resources {
        match fresh.put_resource(&res) {
            Ok(()) => counts.resources += 1,
            Err(e) => lost.push(format!("resource {:?}: {e}", res.name.as_str())),
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repair_carries_this_boots_holds_over_and_drops_the_rest() {
        let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (waiting, before, started) = (
            "0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210",
            "00112233445566778899aabbccddeeff",
        );
        let mut reg = Registry::open(old.path()).unwrap();
        let (dflt, n) = (crate::model::default_scope(), |s: &str| {
            Name::parse("t", s).unwrap()
        });
        for t in [waiting, before, started, "../not-a-token"] {
            reg.hold_token(t, &dflt, &n("c-waiting")).unwrap();
        }
        reg.conn
            .execute(
                "UPDATE holds SET boot_id = 'another boot' WHERE token = ?1",
                [before],
            )
            .unwrap();
        let me = std::process::id() as i32;
        let rec = Record::new("c1", Name::parse("t", "c1").unwrap()).owned_by(me);
        // Its hold is taken over at its start; put it back as a crash
        // between the two would leave it.
        reg.register(&rec, Some(started)).unwrap();
        reg.hold_token(started, &dflt, &n("c1")).unwrap();
        let slot = "0000000000000000000000000000000a";
        reg.reserve(&n("a"), &n("svc"), &n("svc-1"), slot).unwrap();
        drop(reg);

        let mut fresh = Registry::open(new.path()).unwrap();
        let mut lost = Vec::new();
        let carried = salvage(&Registry::db_path(old.path()), &mut fresh, &mut lost).unwrap();
        assert_eq!(carried.holds, 2, "{lost:?}");
        assert_eq!(carried.reservations, 1, "{lost:?}");
        assert!(
            fresh.token_held(slot).unwrap(),
            "the reservation, in its scope"
        );
        assert!(
            !fresh
                .token_held_by_other(slot, &n("a"), &n("svc-1"))
                .unwrap()
        );
        assert_eq!(carried.containers, 1, "{lost:?}");
        assert_eq!(lost, vec!["a hold row that cannot be read".to_string()]);
        assert!(fresh.token_held(waiting).unwrap(), "created, not started");
        assert!(!fresh.token_held(before).unwrap(), "another boot's");
        assert!(
            !fresh
                .token_held_by_other(waiting, &dflt, &n("c-waiting"))
                .unwrap(),
            "the hold still names its container"
        );
        assert!(fresh.token_held_by_other(waiting, &dflt, &n("c2")).unwrap());
        let held: Vec<String> = fresh
            .conn
            .prepare("SELECT token FROM holds")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            held,
            vec![waiting.to_string()],
            "the started container's record took its hold over"
        );
    }
}
