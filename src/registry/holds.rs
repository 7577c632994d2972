//! Holds on hosts files, in the `holds` table: a container created and not
//! started yet holds its hosts token, however long its create-to-start gap,
//! so that no orphan sweep removes a file that is about to be used. Its
//! start takes the hold over (the record's liveness holds the token from
//! then on); its poststop drops it. A hold of another boot holds nothing.
//! Tokens are host-wide (one hosts file each), so holds have no scope.
//! `token_held` is the one rule for whether a token is in use.

use rusqlite::{named_params, params};

use super::error::{Error, db};
use super::record::{PENDING_SECS, now};
use super::write::Tx;
use super::{Registry, codec, slots};

impl Registry {
    /// Hold the hosts file of `token` for a container being created.
    pub fn hold_token(&mut self, token: &str) -> Result<(), Error> {
        self.write(|tx| {
            tx.exec(
                "INSERT OR REPLACE INTO holds (token, boot_id, created) VALUES (?1, ?2, ?3)",
                params![token, tx.live.boot_id, now()],
            )
            .map(drop)
        })
    }

    /// True when the hosts token `token` is in use: a live record, a live
    /// reservation (`slots`) or a hold of this boot carries it. False only
    /// when the registry proves it unused. The one rule for both ends of a
    /// token's life: a config that carries a token in use is given a new
    /// one (it belongs to that container, not to whoever copied it), a stop
    /// leaves a hosts file in use alone, and a sweep removes only a hosts
    /// file whose token is not in use.
    pub fn token_held(&self, token: &str) -> Result<bool, Error> {
        let pending: bool = self
            .conn
            .query_row(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM holds WHERE token = :token AND boot_id = :boot)
                         OR EXISTS (SELECT 1 FROM reservations WHERE token = :token AND {})",
                    slots::LIVE
                ),
                named_params! {
                    ":token": token,
                    ":boot": self.live.boot_id,
                    ":oldest": now() - PENDING_SECS,
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

#[cfg(test)]
mod tests {
    use crate::model::Name;
    use crate::registry::{Record, Registry};

    #[test]
    fn a_token_is_held_from_create_through_start_until_stop() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let t = "0123456789abcdef";
        assert!(!reg.token_held(t).unwrap(), "no one holds it");
        reg.hold_token(t).unwrap();
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
        reg.hold_token(t).unwrap();
        reg.unregister("never-started", Some(t)).unwrap();
        assert!(!reg.token_held(t).unwrap(), "a stop before start drops it");
        reg.hold_token(t).unwrap();
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
        let n = |s: &str| Name::parse("t", s).unwrap();
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
}
