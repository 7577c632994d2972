//! Rows of running containers: register, look up, unregister, and the
//! linkers of a target. A container's name (and its service index) is
//! unique in its scope; a row is the container's own as long as its pid
//! (with its start time) and its hosts token are the same. Stale rows count
//! as absent and are cleared.

use rusqlite::{OptionalExtension, params};

use super::Registry;
use super::codec::{self, json};
use super::error::{Conflict, Error, db};
use super::record::Record;
use super::write::Tx;
use super::{holds, slots};
use crate::model::{ContainerId, Name};

/// The rows of one name in a scope (`scope`, `name` is unique).
const BY_NAME: &str = "scope = ?1 AND name = ?2";
/// The replicas of one service in a scope. Sorted here, not by `ORDER
/// BY`: SQLite plans an `ORDER BY` over this partial index anew for each
/// binding, preparing the statement again every time.
const BY_SERVICE: &str = "scope = ?1 AND service = ?2";

impl Tx<'_> {
    /// The records `cond` selects, in this transaction.
    pub(super) fn select<P: rusqlite::Params>(
        &self,
        cond: &str,
        params: P,
    ) -> Result<Vec<Record>, Error> {
        codec::select(self.conn, self.path, cond, params)
    }

    /// Run one statement in this transaction.
    pub(super) fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> Result<usize, Error> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params))
            .map_err(db(self.path))
    }

    /// Fail with `NameIsResource` when `name` is a resource's (resources
    /// are host-wide: their names are refused in every scope).
    pub(super) fn refuse_resource_name(&self, name: &Name) -> Result<(), Error> {
        let is_resource = self
            .conn
            .query_row(
                "SELECT 1 FROM resources WHERE name = ?1",
                [name.as_str()],
                |_| Ok(()),
            )
            .optional()
            .map_err(db(self.path))?
            .is_some();
        if is_resource {
            return Err(Conflict::NameIsResource {
                name: name.to_string(),
            }
            .into());
        }
        Ok(())
    }

    /// Fail with `NameInUse` when a live container other than `id` holds
    /// `name` in `scope`; a stale holder is removed.
    pub(super) fn claim_container_name(
        &self,
        scope: &Name,
        name: &Name,
        id: &str,
    ) -> Result<(), Error> {
        for other in self.select("scope = ?1 AND name = ?2", [scope.as_str(), name.as_str()])? {
            if other.id == id {
                continue;
            }
            if other.live(self.live) {
                return Err(Conflict::NameInUse {
                    scope: scope.to_string(),
                    name: name.to_string(),
                    id: other.id.to_string(),
                }
                .into());
            }
            self.exec("DELETE FROM containers WHERE id = ?1", [other.id.as_str()])?;
        }
        Ok(())
    }

    /// The indexes live members of `service` in `scope` other than `id`
    /// hold (stale ones are removed), and the index `id` holds itself.
    pub(super) fn service_indexes(
        &self,
        scope: &Name,
        service: &Name,
        id: &str,
    ) -> Result<(Vec<u32>, Option<u32>), Error> {
        let mut taken = Vec::new();
        let mut own = None;
        for m in self.select(
            "scope = ?1 AND service = ?2",
            [scope.as_str(), service.as_str()],
        )? {
            if m.id == id {
                own = m.index;
            } else if m.live(self.live) {
                taken.extend(m.index);
            } else {
                self.exec("DELETE FROM containers WHERE id = ?1", [m.id.as_str()])?;
            }
        }
        Ok((taken, own))
    }

    /// Fail unless the row of `rec.id`, when a live one exists, is this
    /// very container registering again: the same process (pid and its
    /// start time) under the same hosts token. A stale row is replaced.
    /// Fail too when a live container of another id holds `token`.
    fn claim_identity(&self, rec: &Record, token: Option<&str>) -> Result<(), Error> {
        let found = codec::select_with(
            self.conn,
            self.path,
            ", token",
            "id = ?1 OR (token IS NOT NULL AND token = ?2)",
            params![rec.id.as_str(), token],
            |r, row| Ok((r, row.get::<_, Option<String>>("token")?)),
        )?;
        for (other, other_token) in found {
            if !other.live(self.live) {
                continue;
            }
            if other.id != rec.id {
                return Err(Conflict::TokenInUse {
                    id: rec.id.to_string(),
                    holder: other.id.to_string(),
                }
                .into());
            }
            let same = other_token.as_deref() == token
                && other.pid == rec.pid
                && other.pid_start == rec.pid_start;
            if !same {
                return Err(Conflict::IdInUse {
                    id: rec.id.to_string(),
                }
                .into());
            }
        }
        Ok(())
    }
}

impl Registry {
    /// Add or replace the record of `rec.id`. A live record of the same id
    /// is replaced only by the same container (same process, same `token`).
    /// A replica keeps its index when it registers again or takes over the
    /// slot reserved for `token`, else takes the lowest index of its
    /// service in its scope that no live replica or reservation holds.
    /// Stale records in its way are cleared in the same transaction.
    pub fn register(&mut self, rec: &Record, token: Option<&str>) -> Result<Record, Error> {
        ContainerId::parse(rec.id.as_str())?;
        self.write(|tx| {
            tx.claim_identity(rec, token)?;
            let mut stored = rec.clone();
            // An index the container already carries (LINKSHIM_INDEX) is kept when free.
            let wanted = rec.index;
            stored.index = None;
            // The slot reserved at create time, taken over.
            let slot = token.map(|t| slots::take(tx, t)).transpose()?.flatten();
            // The hold on its hosts file too: its liveness holds it now.
            token.map(|t| holds::release(tx, t)).transpose()?;
            if let Some(slot) = slot
                .filter(|s| rec.service.as_ref() == Some(&s.service) && rec.scope == s.scope)
            {
                stored.index = Some(slot.index);
            }
            tx.claim_container_name(&rec.scope, &rec.name, rec.id.as_str())?;
            slots::refuse_reserved_name(tx, Some(&rec.scope), &rec.name, token)?;
            tx.refuse_resource_name(&rec.name)?;
            if let Some(service) = &rec.service {
                let (mut taken, own) = tx.service_indexes(&rec.scope, service, rec.id.as_str())?;
                taken.extend(slots::indexes(tx, &rec.scope, service, token)?);
                stored.index = stored.index.or(own);
                if stored.index.is_none() {
                    stored.index = wanted
                        .filter(|w| *w > 0 && !taken.contains(w))
                        .or_else(|| (1..).find(|i| !taken.contains(i)));
                }
            }
            codec::put(tx.conn, &stored, token).map_err(db(tx.path))?;
            // What it links to (the target's scope and name), so that a
            // target's change can find its linkers; rows of records that
            // are gone go with it.
            tx.exec(
                "DELETE FROM link_targets WHERE linker_id = ?1 OR linker_id NOT IN (SELECT id FROM containers)",
                [stored.id.as_str()],
            )?;
            for link in &stored.links {
                tx.exec(
                    "INSERT INTO link_targets (linker_id, scope, target) VALUES (?1, ?2, ?3)",
                    params![
                        stored.id.as_str(),
                        link.scope.as_ref().unwrap_or(&stored.scope).as_str(),
                        link.target.as_str()
                    ],
                )?;
            }
            Ok(stored)
        })
    }

    /// Remove the record of container `id` that was registered under
    /// `token`, or under none (a record of the same id under another token
    /// is another container's, and stays), and the slot reserved under
    /// `token` if its start never took it; the removed record when there
    /// was one.
    pub fn unregister(&mut self, id: &str, token: Option<&str>) -> Result<Option<Record>, Error> {
        self.write(|tx| {
            let removed =
                codec::select_with(tx.conn, tx.path, ", token", "id = ?1", [id], |r, row| {
                    Ok((r, row.get::<_, Option<String>>("token")?))
                })?
                .into_iter()
                .find(|(_, t)| t.is_none() || t.as_deref() == token)
                .map(|(r, _)| r);
            if removed.is_some() {
                tx.exec("DELETE FROM containers WHERE id = ?1", [id])?;
                tx.exec("DELETE FROM link_targets WHERE linker_id = ?1", [id])?;
            }
            if let Some(t) = token {
                slots::take(tx, t)?;
                holds::release(tx, t)?;
            }
            Ok(removed)
        })
    }

    /// The live linkers, with their tokens, whose links name any of
    /// `targets` in `scope`: one statement, however many targets.
    pub fn linkers_of(
        &mut self,
        scope: &str,
        targets: &[&str],
    ) -> Result<Vec<(Record, String)>, Error> {
        let found = codec::select_with(
            &self.conn,
            &self.path,
            ", token",
            "token IS NOT NULL AND id IN (SELECT linker_id FROM link_targets
                WHERE scope = ?1 AND target IN (SELECT value FROM json_each(?2)))",
            params![scope, json(&targets)],
            |rec, row| Ok((rec, row.get::<_, String>("token")?)),
        )?;
        Ok(self.keep_live_by(found, |(rec, _)| rec))
    }

    /// The live linkers, with their tokens, whose links in `scope` name
    /// container `id` by its id or a prefix of it.
    pub fn linkers_by_id(&mut self, scope: &str, id: &str) -> Result<Vec<(Record, String)>, Error> {
        let found = codec::select_with(
            &self.conn,
            &self.path,
            ", token",
            "token IS NOT NULL AND id IN (SELECT linker_id FROM link_targets
                WHERE scope = ?1 AND substr(?2, 1, length(target)) = target)",
            params![scope, id],
            |rec, row| Ok((rec, row.get::<_, String>("token")?)),
        )?;
        Ok(self.keep_live_by(found, |(rec, _)| rec))
    }

    /// The live containers of `scope` whose id is `prefix` or starts with
    /// it (Docker's link by id); stale ones are cleared.
    pub fn find_by_id(&mut self, scope: &str, prefix: &str) -> Result<Vec<Record>, Error> {
        if prefix.is_empty() {
            return Ok(Vec::new());
        }
        let found = codec::select(
            &self.conn,
            &self.path,
            "scope = ?1 AND substr(id, 1, length(?2)) = ?2 ORDER BY id",
            [scope, prefix],
        )?;
        Ok(self.keep_live(found))
    }

    /// Replace the addresses of the record of `id` (after `podman network
    /// connect` or `disconnect`); true when they changed. A record that is
    /// gone is left alone.
    pub fn set_addrs(
        &mut self,
        id: &str,
        addrs: &[std::net::IpAddr],
        nets: &[crate::model::NetAddr],
    ) -> Result<bool, Error> {
        self.write(|tx| {
            let n = tx.exec(
                "UPDATE containers SET addrs = ?2, nets = ?3
                 WHERE id = ?1 AND (addrs != ?2 OR nets != ?3)",
                params![id, json(&addrs), json(&nets)],
            )?;
            Ok(n > 0)
        })
    }

    /// The hosts token the record of `id` was registered under.
    pub fn token_of(&self, id: &str) -> Result<Option<String>, Error> {
        self.conn
            .query_row("SELECT token FROM containers WHERE id = ?1", [id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(db(&self.path))
    }

    /// True when a container or a reserved slot carries `token`.
    pub fn has_token(&self, token: &str) -> Result<bool, Error> {
        self.conn
            .query_row(
                "SELECT 1 FROM containers WHERE token = ?1
                 UNION ALL SELECT 1 FROM reservations WHERE token = ?1 LIMIT 1",
                [token],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(db(&self.path))
    }

    /// The live container registered under `name` in `scope`; a stale one
    /// is cleared.
    pub fn lookup(&mut self, scope: &str, name: &str) -> Result<Option<Record>, Error> {
        let found = codec::select(&self.conn, &self.path, BY_NAME, [scope, name])?;
        Ok(self.keep_live(found).into_iter().next())
    }

    /// Every live container of `scope` named one of `names` or a replica
    /// of a service named so, by service index. Two indexed lookups a name,
    /// by the statements of [`lookup`](Self::lookup) and
    /// [`service`](Self::service): a process prepares each once, where one
    /// statement for every name (a `json_each` join) cost a fifth of a
    /// precreate to prepare.
    pub fn find(&mut self, scope: &str, names: &[&str]) -> Result<Vec<Record>, Error> {
        let mut found: Vec<Record> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                continue;
            }
            for cond in [BY_NAME, BY_SERVICE] {
                for rec in codec::select(&self.conn, &self.path, cond, [scope, name])? {
                    if !found.iter().any(|r| r.id == rec.id) {
                        found.push(rec);
                    }
                }
            }
        }
        // Stable: replicas by index, containers outside a service first.
        found.sort_by_key(|r| r.index);
        Ok(self.keep_live(found))
    }

    /// Fail when `name` is held in `scope` by a live container other than
    /// `id` or reserved under another token than `token`.
    pub fn check_name(
        &mut self,
        scope: &Name,
        name: &Name,
        id: Option<&str>,
        token: &str,
    ) -> Result<(), Error> {
        if let Some(holder) = self
            .lookup(scope.as_str(), name.as_str())?
            .filter(|h| Some(h.id.as_str()) != id)
        {
            return Err(Conflict::NameInUse {
                scope: scope.to_string(),
                name: name.to_string(),
                id: holder.id.to_string(),
            }
            .into());
        }
        if slots::reserved_by_other(self, scope, name, token)? {
            return Err(Conflict::NameReserved {
                scope: scope.to_string(),
                name: name.to_string(),
            }
            .into());
        }
        Ok(())
    }

    /// The live replicas of `service` in `scope`, by index; stale ones are
    /// cleared.
    pub fn service(&mut self, scope: &str, service: &str) -> Result<Vec<Record>, Error> {
        let mut found = codec::select(&self.conn, &self.path, BY_SERVICE, [scope, service])?;
        found.sort_by_key(|r| r.index);
        Ok(self.keep_live(found))
    }

    /// The live record of container `id`.
    pub fn get(&mut self, id: &str) -> Result<Option<Record>, Error> {
        let found = codec::select(&self.conn, &self.path, "id = ?1", [id])?;
        Ok(self.keep_live(found).into_iter().next())
    }

    /// Every live record, by scope and name; stale ones are cleared.
    pub fn list(&mut self) -> Result<Vec<Record>, Error> {
        let found = codec::select(&self.conn, &self.path, "1 = 1 ORDER BY scope, name", [])?;
        Ok(self.keep_live(found))
    }

    /// Drop stale records from `found` and clear them from the database
    /// (best effort, when the lock is free: else they stay for the next
    /// reader).
    fn keep_live(&mut self, found: Vec<Record>) -> Vec<Record> {
        self.keep_live_by(found, |r| r)
    }

    /// [`keep_live`](Self::keep_live) of rows that carry a record and more.
    pub(super) fn keep_live_by<T>(&mut self, found: Vec<T>, rec: impl Fn(&T) -> &Record) -> Vec<T> {
        let (live, stale): (Vec<_>, Vec<_>) =
            found.into_iter().partition(|r| rec(r).live(&self.live));
        if !stale.is_empty() && !self.read_only {
            // In passing: never a wait on the lock (a held one leaves them
            // for the next reader, or `gc`).
            let _ = self.try_write(|tx| {
                for r in stale.iter().map(&rec) {
                    // Only delete the row if it is still the same stale record.
                    tx.exec(
                        "DELETE FROM containers WHERE id = ?1 AND boot_id = ?2 AND pid IS ?3 AND pid_start IS ?4",
                        params![r.id.as_str(), r.boot_id, r.pid, r.pid_start.map(|s| s as i64)],
                    )?;
                }
                Ok(())
            });
        }
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Conflict;

    fn rec(id: &str, name: &str) -> Record {
        Record {
            addrs: vec!["10.0.0.2".parse().unwrap()],
            ports: vec![crate::model::Port {
                number: 80,
                proto: crate::model::Proto::Tcp,
            }],
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
        assert_eq!(reg.lookup("default", "db").unwrap(), Some(r.clone()));
        assert_eq!(reg.lookup("default", "nope").unwrap(), None);
        // Registering again is harmless.
        reg.register(&r, None).unwrap();
        assert_eq!(reg.list().unwrap().len(), 1);
        // A second process sees it.
        let mut other = Registry::open(dir.path()).unwrap();
        assert_eq!(other.get("id1").unwrap(), Some(r));
        assert!(reg.unregister("id1", None).unwrap().is_some());
        assert!(reg.unregister("id1", None).unwrap().is_none());
        assert_eq!(other.lookup("default", "db").unwrap(), None);
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
            assert_eq!(reg.lookup("default", name).unwrap(), None, "{name}");
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
            matches!(err, Error::Conflict(Conflict::NameInUse { ref id, .. }) if id == "one"),
            "{err}"
        );
        let mut stale = rec("three", "cache");
        stale.boot_id = "old".into();
        reg.register(&stale, None).unwrap();
        reg.register(&rec("four", "cache"), None).unwrap();
        assert_eq!(reg.lookup("default", "cache").unwrap().unwrap().id, "four");
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
            .service("default", "web")
            .unwrap()
            .into_iter()
            .map(|r| (r.id.to_string(), r.index))
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
        let all = reg.service("default", "svc").unwrap();
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

    #[test]
    fn find_gives_every_name_once_and_skips_the_missing() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.register(&rec("c1", "db"), None).unwrap();
        reg.register(&replica("r2", "web"), None).unwrap();
        reg.register(&replica("r1", "web"), None).unwrap();
        reg.register(&rec("c9", "other"), None).unwrap();
        let mut stale = rec("s1", "cache");
        stale.boot_id = "old".into();
        reg.register(&stale, None).unwrap();
        let got: Vec<(String, Option<u32>)> = reg
            .find("default", &["db", "web", "nosuch", "cache"])
            .unwrap()
            .into_iter()
            .map(|r| (r.id.to_string(), r.index))
            .collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.contains(&("c1".into(), None)));
        let replicas: Vec<_> = got.iter().filter(|(_, i)| i.is_some()).collect();
        assert_eq!(
            replicas,
            vec![&("r2".to_string(), Some(1)), &("r1".to_string(), Some(2))],
            "replicas by index"
        );
        assert!(reg.find("default", &["nosuch"]).unwrap().is_empty());
        assert!(reg.find("default", &[]).unwrap().is_empty());
        // A replica asked for by its own name and by its service, and a
        // name asked for twice: each record once.
        let again: Vec<String> = reg
            .find("default", &["r1", "web", "db", "db"])
            .unwrap()
            .into_iter()
            .map(|r| r.id.to_string())
            .collect();
        assert_eq!(again, ["c1", "r2", "r1"]);
        assert!(
            reg.find("other", &["db", "web"]).unwrap().is_empty(),
            "another scope"
        );
        assert_eq!(
            reg.lookup("default", "cache").unwrap(),
            None,
            "the stale one was cleared"
        );
    }

    #[test]
    fn linkers_of_several_targets_in_one_statement() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let linker = |id: &str, links: &str| Record {
            links: crate::links::annotation::parse_links(links).unwrap(),
            ..rec(id, id)
        };
        reg.register(&linker("l1", "db"), Some("00000000000000a1"))
            .unwrap();
        reg.register(&linker("l2", "web:w db:d2"), Some("00000000000000a2"))
            .unwrap();
        reg.register(&linker("l3", "other"), Some("00000000000000a3"))
            .unwrap();
        reg.register(&linker("l4", "db"), None).unwrap();
        let mut got: Vec<(String, String)> = reg
            .linkers_of("default", &["db", "web", "nosuch"])
            .unwrap()
            .into_iter()
            .map(|(r, t)| (r.id.to_string(), t))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("l1".to_string(), "00000000000000a1".to_string()),
                ("l2".into(), "00000000000000a2".into())
            ],
            "each linker once; one without a token has no hosts file to refresh"
        );
    }

    fn scoped(id: &str, scope: &str, name: &str) -> Record {
        Record {
            scope: Name::parse("t", scope).unwrap(),
            ..rec(id, name)
        }
    }

    #[test]
    fn the_same_id_twice_does_not_replace_the_live_original() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let original = rec("dup", "db");
        reg.register(&original, Some("00000000000000aa")).unwrap();
        // The same container again: harmless.
        reg.register(&original, Some("00000000000000aa")).unwrap();
        // Another token, or another process, under the same id.
        let mut newcomer = rec("dup", "db");
        newcomer.addrs = vec!["10.6.6.6".parse().unwrap()];
        for token in [Some("00000000000000bb"), None] {
            let err = reg.register(&newcomer, token).unwrap_err();
            assert!(
                matches!(err, Error::Conflict(Conflict::IdInUse { ref id }) if id == "dup"),
                "{err}"
            );
        }
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let other_process = Record {
            name: Name::parse("t", "other").unwrap(),
            ..rec("dup", "db").owned_by(child.id() as i32)
        };
        let err = reg
            .register(&other_process, Some("00000000000000aa"))
            .unwrap_err();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            matches!(err, Error::Conflict(Conflict::IdInUse { .. })),
            "{err}"
        );
        assert_eq!(reg.lookup("default", "db").unwrap(), Some(original.clone()));
        // The newcomer stops: the original stays registered.
        assert_eq!(
            reg.unregister("dup", Some("00000000000000bb")).unwrap(),
            None
        );
        assert_eq!(reg.unregister("dup", None).unwrap(), None);
        assert_eq!(
            reg.unregister("dup", Some("00000000000000a")).unwrap(),
            None
        );
        assert_eq!(reg.lookup("default", "db").unwrap(), Some(original));
        assert!(
            reg.unregister("dup", Some("00000000000000aa"))
                .unwrap()
                .is_some()
        );
        // A stale record of the id is replaced.
        let mut stale = rec("dup", "db");
        stale.boot_id = "old".into();
        reg.register(&stale, Some("00000000000000cc")).unwrap();
        reg.register(&newcomer, Some("00000000000000bb")).unwrap();
        assert_eq!(
            reg.lookup("default", "db").unwrap().unwrap().addrs,
            newcomer.addrs
        );
    }

    #[test]
    fn a_token_a_live_container_holds_is_not_taken_by_another_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.register(&rec("victim", "db"), Some("00000000000000aa"))
            .unwrap();
        assert!(reg.token_held("00000000000000aa").unwrap());
        assert!(!reg.token_held("00000000000000ff").unwrap());
        let err = reg
            .register(&rec("thief", "web"), Some("00000000000000aa"))
            .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(Conflict::TokenInUse { ref holder, .. }) if holder == "victim"),
            "{err}"
        );
        assert_eq!(reg.lookup("default", "web").unwrap(), None);
    }

    #[test]
    fn an_id_runc_would_refuse_is_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        for id in ["a\n6.6.6.6 db", "", "a b", &"x".repeat(1025)] {
            let err = reg.register(&rec(id, "a"), None).unwrap_err();
            assert!(matches!(err, Error::BadId(_)), "{id:?}: {err}");
        }
        assert!(reg.list().unwrap().is_empty());
    }

    #[test]
    fn names_and_service_indexes_are_per_scope() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.register(&scoped("a1", "a", "db"), None).unwrap();
        reg.register(&scoped("b1", "b", "db"), None).unwrap();
        let err = reg.register(&scoped("a2", "a", "db"), None).unwrap_err();
        // A record registered without a token is removed by its id alone.
        assert!(
            reg.unregister("b1", Some("00000000000000b1"))
                .unwrap()
                .is_some()
        );
        reg.register(&scoped("b1", "b", "db"), None).unwrap();
        assert!(
            matches!(err, Error::Conflict(Conflict::NameInUse { ref scope, ref id, .. }) if scope == "a" && id == "a1"),
            "{err}"
        );
        assert_eq!(reg.lookup("a", "db").unwrap().unwrap().id, "a1");
        assert_eq!(reg.lookup("b", "db").unwrap().unwrap().id, "b1");
        assert_eq!(reg.lookup("default", "db").unwrap(), None);
        let replica = |id: &str, scope: &str| Record {
            service: Some(Name::parse("t", "web").unwrap()),
            ..scoped(id, scope, id)
        };
        assert_eq!(
            reg.register(&replica("wa1", "a"), None).unwrap().index,
            Some(1)
        );
        assert_eq!(
            reg.register(&replica("wb1", "b"), None).unwrap().index,
            Some(1)
        );
        assert_eq!(
            reg.register(&replica("wa2", "a"), None).unwrap().index,
            Some(2)
        );
        let ids = |v: Vec<Record>| v.into_iter().map(|r| r.id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(reg.service("a", "web").unwrap()), vec!["wa1", "wa2"]);
        assert_eq!(
            ids(reg.find("b", &["web", "db"]).unwrap()),
            vec!["b1", "wb1"]
        );
        // A linker finds its targets in the scope it named.
        let linker = Record {
            links: crate::links::annotation::parse_links("db b/web:w").unwrap(),
            ..scoped("l1", "a", "l1")
        };
        reg.register(&linker, Some("00000000000000a1")).unwrap();
        let found = |reg: &mut Registry, scope: &str, name: &str| {
            ids(reg
                .linkers_of(scope, &[name])
                .unwrap()
                .into_iter()
                .map(|(r, _)| r)
                .collect())
        };
        assert_eq!(found(&mut reg, "a", "db"), vec!["l1"]);
        assert_eq!(found(&mut reg, "b", "db"), Vec::<String>::new());
        assert_eq!(found(&mut reg, "b", "web"), vec!["l1"]);
        assert_eq!(found(&mut reg, "a", "web"), Vec::<String>::new());
    }
}
