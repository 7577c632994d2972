//! Replica slots reserved at create time, in the `reservations` table: a
//! service's index and a name in a scope, held for a container being created under a
//! hosts token until its start takes them over (or `PENDING_SECS` pass).

use rusqlite::{OptionalExtension, named_params};

use super::Registry;
use super::error::{Conflict, Error, db};
use super::record::{PENDING_SECS, now};
use super::write::Tx;
use crate::model::Name;

/// One reserved slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Slot {
    pub scope: Name,
    pub service: Name,
    pub index: u32,
}

/// Live reservations are from this boot and younger than `PENDING_SECS`.
pub(super) const LIVE: &str = "boot_id = :boot AND created > :oldest";

impl Registry {
    /// Reserve a slot of `service` in `scope` for the container being
    /// created under `token`, named `name`: its index, the same when asked
    /// again. The container's registration at start takes it over.
    pub fn reserve(
        &mut self,
        scope: &Name,
        service: &Name,
        name: &Name,
        token: &str,
    ) -> Result<u32, Error> {
        self.write(|tx| {
            tx.claim_container_name(scope, name, "")?;
            refuse_reserved_name(tx, Some(scope), name, Some(token))?;
            tx.refuse_resource_name(name)?;
            let own: Option<u32> = tx
                .conn
                .query_row(
                    "SELECT svc_index FROM reservations WHERE token = ?1 AND scope = ?2 AND service = ?3",
                    [token, scope.as_str(), service.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db(tx.path))?;
            let index = match own {
                Some(i) => i,
                None => {
                    let (mut taken, _) = tx.service_indexes(scope, service, "")?;
                    taken.extend(indexes(tx, scope, service, Some(token))?);
                    (1..).find(|i| !taken.contains(i)).expect("a free index")
                }
            };
            tx.conn
                .execute(
                    "INSERT OR REPLACE INTO reservations (token, scope, name, service, svc_index, boot_id, created)
                     VALUES (:token, :scope, :name, :service, :index, :boot, :now)",
                    named_params! {
                        ":token": token,
                        ":scope": scope.as_str(),
                        ":name": name.as_str(),
                        ":service": service.as_str(),
                        ":index": index,
                        ":boot": tx.live.boot_id,
                        ":now": now(),
                    },
                )
                .map_err(db(tx.path))?;
            Ok(index)
        })
    }
}

impl Registry {
    /// The index [`reserve`](Self::reserve) would give now, reserving
    /// nothing (a dry run); a name that is a resource's fails as there.
    pub fn peek_index(
        &mut self,
        scope: &Name,
        service: &Name,
        name: &Name,
        token: &str,
    ) -> Result<u32, Error> {
        if self.resource(name.as_str())?.is_some() {
            return Err(Conflict::NameIsResource {
                name: name.to_string(),
            }
            .into());
        }
        let query = |reg: &Registry, cond: &str| -> Result<Vec<u32>, Error> {
            let mut stmt = reg
                .conn
                .prepare(&format!(
                    "SELECT svc_index FROM reservations
                     WHERE scope = :scope AND service = :service AND {cond} AND {LIVE}"
                ))
                .map_err(db(&reg.path))?;
            let rows = stmt
                .query_map(
                    named_params! {
                        ":scope": scope.as_str(),
                        ":service": service.as_str(),
                        ":token": token,
                        ":boot": reg.live.boot_id,
                        ":oldest": now() - PENDING_SECS,
                    },
                    |r| r.get(0),
                )
                .map_err(db(&reg.path))?;
            rows.collect::<Result<_, _>>().map_err(db(&reg.path))
        };
        if let Some(own) = query(self, "token = :token")?.first() {
            return Ok(*own);
        }
        let mut taken = query(self, "token != :token")?;
        taken.extend(
            self.service(scope.as_str(), service.as_str())?
                .iter()
                .filter_map(|r| r.index),
        );
        Ok((1..).find(|i| !taken.contains(i)).expect("a free index"))
    }
}

/// Remove the slot reserved under `token`, and give it (if it was live).
pub(super) fn take(tx: &Tx<'_>, token: &str) -> Result<Option<Slot>, Error> {
    let slot = tx
        .conn
        .query_row(
            &format!("SELECT scope, service, svc_index FROM reservations WHERE token = :token AND {LIVE}"),
            named_params! {":token": token, ":boot": tx.live.boot_id, ":oldest": now() - PENDING_SECS},
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, u32>(2)?)),
        )
        .optional()
        .map_err(db(tx.path))?;
    tx.exec("DELETE FROM reservations WHERE token = ?1", [token])?;
    Ok(slot.and_then(|(scope, service, index)| {
        Some(Slot {
            scope: Name::parse("scope", &scope).ok()?,
            service: Name::parse("service", &service).ok()?,
            index,
        })
    }))
}

/// Fail with `NameReserved` when a live reservation under another token
/// than `token` holds `name` in `scope` (in any scope when `scope` is None);
/// stale ones are removed.
pub(super) fn refuse_reserved_name(
    tx: &Tx<'_>,
    scope: Option<&Name>,
    name: &Name,
    token: Option<&str>,
) -> Result<(), Error> {
    clear_stale(tx)?;
    let held = tx
        .conn
        .query_row(
            "SELECT scope FROM reservations WHERE (?1 IS NULL OR scope = ?1) AND name = ?2 AND token IS NOT ?3",
            rusqlite::params![scope.map(Name::as_str), name.as_str(), token],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(db(tx.path))?;
    if let Some(scope) = held {
        return Err(Conflict::NameReserved {
            scope,
            name: name.to_string(),
        }
        .into());
    }
    Ok(())
}

/// The indexes of `service` in `scope` that live reservations under other
/// tokens than `token` hold.
pub(super) fn indexes(
    tx: &Tx<'_>,
    scope: &Name,
    service: &Name,
    token: Option<&str>,
) -> Result<Vec<u32>, Error> {
    clear_stale(tx)?;
    let mut stmt = tx
        .conn
        .prepare_cached(
            "SELECT svc_index FROM reservations WHERE scope = ?1 AND service = ?2 AND token IS NOT ?3",
        )
        .map_err(db(tx.path))?;
    let rows = stmt
        .query_map(
            rusqlite::params![scope.as_str(), service.as_str(), token],
            |r| r.get(0),
        )
        .map_err(db(tx.path))?;
    rows.collect::<Result<_, _>>().map_err(db(tx.path))
}

/// Remove the reservations that are no longer live; how many there were.
pub(super) fn clear_stale(tx: &Tx<'_>) -> Result<usize, Error> {
    tx.conn
        .prepare_cached(&format!("DELETE FROM reservations WHERE NOT ({LIVE})"))
        .and_then(|mut s| {
            s.execute(named_params! {":boot": tx.live.boot_id, ":oldest": now() - PENDING_SECS})
        })
        .map_err(db(tx.path))
}

/// True when a live reservation under another token than `token` holds
/// `name` in `scope`.
pub(super) fn reserved_by_other(
    reg: &Registry,
    scope: &Name,
    name: &Name,
    token: &str,
) -> Result<bool, Error> {
    reg.conn
        .query_row(
            &format!(
                "SELECT 1 FROM reservations WHERE scope = :scope AND name = :name AND token != :token AND {LIVE}"
            ),
            named_params! {
                ":scope": scope.as_str(),
                ":name": name.as_str(),
                ":token": token,
                ":boot": reg.live.boot_id,
                ":oldest": now() - PENDING_SECS,
            },
            |_| Ok(()),
        )
        .optional()
        .map(|r| r.is_some())
        .map_err(db(&reg.path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Record;

    fn dflt() -> Name {
        crate::model::default_scope()
    }

    fn n(s: &str) -> Name {
        Name::parse("t", s).unwrap()
    }

    #[test]
    fn peek_gives_the_index_reserve_would_and_reserves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let web = n("web");
        reg.register(
            &Record {
                service: Some(web.clone()),
                ..Record::new("r1", n("r1")).owned_by(std::process::id() as i32)
            },
            None,
        )
        .unwrap();
        assert_eq!(reg.reserve(&dflt(), &web, &n("b"), "tok-b").unwrap(), 2);
        assert_eq!(reg.peek_index(&dflt(), &web, &n("c"), "tok-c").unwrap(), 3);
        assert_eq!(
            reg.peek_index(&dflt(), &web, &n("c"), "tok-c").unwrap(),
            3,
            "nothing reserved"
        );
        assert_eq!(
            reg.peek_index(&dflt(), &web, &n("b"), "tok-b").unwrap(),
            2,
            "its own slot"
        );
        assert_eq!(
            reg.peek_index(&n("other"), &web, &n("c"), "tok-c").unwrap(),
            1,
            "another scope's service of that name is another service"
        );
        assert_eq!(
            reg.reserve(&dflt(), &web, &n("c"), "tok-c").unwrap(),
            3,
            "as peeked"
        );
    }

    #[test]
    fn a_reserved_slot_is_taken_over_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let web = n("web");
        assert_eq!(reg.reserve(&dflt(), &web, &n("a"), "tok-a").unwrap(), 1);
        assert_eq!(reg.reserve(&dflt(), &web, &n("b"), "tok-b").unwrap(), 2);
        assert_eq!(
            reg.reserve(&dflt(), &web, &n("a"), "tok-a").unwrap(),
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
            .service("default", "web")
            .unwrap()
            .into_iter()
            .map(|r| r.id.to_string())
            .collect();
        assert_eq!(ids, vec!["cid-a", "cid-b"], "placeholders are gone");
        let left: i64 = reg
            .conn
            .query_row("SELECT count(*) FROM reservations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0, "a start takes its reservation over");
    }

    #[test]
    fn an_old_placeholder_frees_its_slot() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let web = n("web");
        reg.reserve(&dflt(), &web, &n("a"), "old").unwrap();
        reg.conn
            .execute(
                "UPDATE reservations SET created = created - ?1",
                [PENDING_SECS + 1],
            )
            .unwrap();
        assert_eq!(reg.reserve(&dflt(), &web, &n("b"), "new").unwrap(), 1);
        assert!(!reg.has_token("old").unwrap(), "the stale one is gone");
    }

    #[test]
    fn a_reserved_name_is_refused_to_others_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.reserve(&dflt(), &n("web"), &n("web-x"), "tok").unwrap();
        let other = Record::new("c2", n("web-x")).owned_by(std::process::id() as i32);
        let err = reg.register(&other, Some("other")).unwrap_err();
        assert!(
            matches!(err, Error::Conflict(Conflict::NameReserved { .. })),
            "{err}"
        );
        let err = reg
            .check_name(&dflt(), &n("web-x"), None, "other")
            .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(Conflict::NameReserved { .. })),
            "{err}"
        );
        reg.check_name(&dflt(), &n("web-x"), None, "tok")
            .expect("its own token may use it");
        reg.conn
            .execute(
                "UPDATE reservations SET created = created - ?1",
                [PENDING_SECS + 1],
            )
            .unwrap();
        reg.check_name(&dflt(), &n("web-x"), None, "other").unwrap();
        reg.register(&other, Some("other")).unwrap();
    }

    #[test]
    fn an_unregister_before_start_frees_the_slot() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.reserve(&dflt(), &n("web"), &n("a"), "tok-a").unwrap();
        assert!(reg.has_token("tok-a").unwrap());
        assert_eq!(reg.unregister("cid-a", Some("tok-a")).unwrap(), None);
        assert!(!reg.has_token("tok-a").unwrap());
        assert_eq!(
            reg.reserve(&dflt(), &n("web"), &n("b"), "tok-b").unwrap(),
            1
        );
    }
}
