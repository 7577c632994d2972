//! Holds on hosts files, in the `holds` table: a container created and not
//! started yet holds its hosts token, however long its create-to-start gap,
//! so that no orphan sweep removes a file that is about to be used. Its
//! start takes the hold over (the record's liveness holds the token from
//! then on); its poststop drops it. A hold of another boot holds nothing.
//! Tokens are host-wide (one hosts file each): a hold is keyed by its
//! token alone, and names the scope and name of the container it is for,
//! so that preparing that container again keeps its token.
//!
//! `token_held` is the one rule for a token in use, for every end of a
//! token's life: a config that carries a token in use is given a new one
//! (it belongs to that container, not to whoever copied it), a stop leaves
//! a hosts file in use alone, and a sweep removes only a hosts file whose
//! token is not in use.

use rusqlite::{named_params, params};

use super::error::{Error, db};
use super::record::{PENDING_SECS, now};
use super::write::Tx;
use super::{Registry, codec, slots};
use crate::model::Name;

impl Registry {
    /// Hold the hosts file of `token` for the container named `name` in
    /// `scope`, being created.
    pub fn hold_token(&mut self, token: &str, scope: &Name, name: &Name) -> Result<(), Error> {
        self.write(|tx| {
            tx.exec(
                "INSERT OR REPLACE INTO holds (token, boot_id, created, scope, name)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token, tx.live.boot_id, now(), scope.as_str(), name.as_str()],
            )
            .map(drop)
        })
    }

    /// True when `token` is in use: a live record, a live reservation
    /// (`slots`) or a hold of this boot carries it. False only when the
    /// registry proves it unused.
    pub fn token_held(&self, token: &str) -> Result<bool, Error> {
        self.token_held_except(token, None)
    }

    /// `token_held`, for the container named `name` in `scope` being
    /// prepared again: its own reservation or hold (the create that made
    /// them is its own, or one it would race for that name anyway) leaves
    /// it its token; any other, or a live record, does not.
    pub fn token_held_by_other(
        &self,
        token: &str,
        scope: &Name,
        name: &Name,
    ) -> Result<bool, Error> {
        self.token_held_except(token, Some((scope, name)))
    }

    /// The one query behind both: the holds and reservations that carry
    /// `token`, but those of `own`; then the records that do.
    fn token_held_except(&self, token: &str, own: Option<(&Name, &Name)>) -> Result<bool, Error> {
        let not_own = "NOT (:name IS NOT NULL AND scope IS :scope AND name IS :name)";
        let pending: bool = self
            .conn
            .query_row(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM holds
                                    WHERE token = :token AND boot_id = :boot AND {not_own})
                         OR EXISTS (SELECT 1 FROM reservations
                                    WHERE token = :token AND {} AND {not_own})",
                    slots::LIVE
                ),
                named_params! {
                    ":token": token,
                    ":boot": self.live.boot_id,
                    ":oldest": now() - PENDING_SECS,
                    ":scope": own.map(|(s, _)| s.as_str()),
                    ":name": own.map(|(_, n)| n.as_str()),
                },
                |r| r.get(0),
            )
            .map_err(db(&self.path))?;
        if pending {
            return Ok(true);
        }
        let records = codec::select(&self.conn, &self.path, "token = ?1", [token])?;
        Ok(records.iter().any(|r| r.live(&self.live)))
    }
}

/// Drop the hold on `token` (its container started or stopped).
pub(super) fn release(tx: &Tx<'_>, token: &str) -> Result<(), Error> {
    tx.exec("DELETE FROM holds WHERE token = ?1", [token])
        .map(drop)
}

/// Drop the holds taken in another boot (they hold nothing); how many.
pub(super) fn clear_other_boots(tx: &Tx<'_>) -> Result<usize, Error> {
    tx.exec("DELETE FROM holds WHERE boot_id != ?1", [&tx.live.boot_id])
}

/// Hold `token` as of `created`, in this boot, for the container named
/// `name` in `scope` (none for a hold that named none): a repair carrying
/// a hold over. 1 when added, 0 when it was held already.
pub(super) fn carry(
    tx: &Tx<'_>,
    token: &str,
    created: i64,
    scope: Option<&str>,
    name: Option<&str>,
) -> Result<usize, Error> {
    tx.exec(
        "INSERT OR IGNORE INTO holds (token, boot_id, created, scope, name)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![token, tx.live.boot_id, created, scope, name],
    )
}

#[cfg(test)]
mod tests {
    use crate::model::Name;
    use crate::registry::{Record, Registry};

    fn n(s: &str) -> Name {
        Name::parse("t", s).unwrap()
    }

    fn dflt() -> Name {
        crate::model::default_scope()
    }

    #[test]
    fn a_token_is_held_from_create_through_start_until_stop() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let t = "0123456789abcdef";
        assert!(!reg.token_held(t).unwrap(), "no one holds it");
        reg.hold_token(t, &dflt(), &n("c1")).unwrap();
        assert!(reg.token_held(t).unwrap(), "created, not started");
        let rec = Record::new("c1", Name::parse("t", "c1").unwrap());
        let dead = Record {
            pid: Some(i32::MAX),
            ..rec.clone()
        };
        reg.register(&dead, Some(t)).unwrap();
        assert!(
            !reg.token_held(t).unwrap(),
            "the start took the hold over; its record is dead"
        );
        reg.register(&rec.owned_by(std::process::id() as i32), Some(t))
            .unwrap();
        assert!(reg.token_held(t).unwrap(), "a live record holds it");
        reg.unregister("c1", Some(t)).unwrap();
        assert!(!reg.token_held(t).unwrap());
        reg.hold_token(t, &dflt(), &n("c1")).unwrap();
        reg.unregister("never-started", Some(t)).unwrap();
        assert!(!reg.token_held(t).unwrap(), "a stop before start drops it");
        reg.hold_token(t, &dflt(), &n("c1")).unwrap();
        reg.conn
            .execute("UPDATE holds SET boot_id = 'another boot'", [])
            .unwrap();
        assert!(!reg.token_held(t).unwrap(), "a hold of another boot");
    }

    #[test]
    fn a_live_reservation_holds_its_token_and_a_stale_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let t = "00000000000000000000000000000001";
        reg.reserve(&crate::model::default_scope(), &n("web"), &n("web-1"), t)
            .unwrap();
        assert!(reg.token_held(t).unwrap(), "reserved, not held");
        reg.conn
            .execute(
                "UPDATE reservations SET created = created - ?1",
                [crate::registry::PENDING_SECS + 1],
            )
            .unwrap();
        assert!(!reg.token_held(t).unwrap(), "a stale reservation");
        reg.conn
            .execute(
                "UPDATE reservations SET created = ?1",
                [crate::registry::now()],
            )
            .unwrap();
        reg.conn
            .execute("UPDATE reservations SET boot_id = 'another boot'", [])
            .unwrap();
        assert!(!reg.token_held(t).unwrap(), "a reservation of another boot");
    }

    #[test]
    fn a_hold_or_reservation_is_its_own_containers_but_no_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let (t, u) = (
            "00000000000000000000000000000001",
            "00000000000000000000000000000002",
        );
        reg.hold_token(t, &dflt(), &n("web")).unwrap();
        reg.reserve(&n("a"), &n("svc"), &n("svc-1"), u).unwrap();
        assert!(!reg.token_held_by_other(t, &dflt(), &n("web")).unwrap());
        assert!(!reg.token_held_by_other(u, &n("a"), &n("svc-1")).unwrap());
        for (scope, name) in [("default", "thief"), ("b", "web")] {
            assert!(
                reg.token_held_by_other(t, &n(scope), &n(name)).unwrap(),
                "{scope}/{name}"
            );
        }
        assert!(reg.token_held_by_other(u, &dflt(), &n("svc-1")).unwrap());
        assert!(reg.token_held(t).unwrap() && reg.token_held(u).unwrap());
        // A hold that names no container (a version 5 one) is no one's own.
        reg.conn
            .execute("UPDATE holds SET scope = NULL, name = NULL", [])
            .unwrap();
        assert!(reg.token_held_by_other(t, &dflt(), &n("web")).unwrap());
        // A live record is never a create's own.
        reg.conn.execute("DELETE FROM holds", []).unwrap();
        let rec = Record::new("w1", n("web")).owned_by(std::process::id() as i32);
        reg.register(&rec, Some(t)).unwrap();
        assert!(reg.token_held_by_other(t, &dflt(), &n("web")).unwrap());
    }
}
