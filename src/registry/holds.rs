//! Holds on hosts files, in the `holds` table: a container created and not
//! started yet holds its hosts token, however long its create-to-start gap,
//! so that no orphan sweep removes a file that is about to be used. Its
//! start takes the hold over (the record's liveness holds the token from
//! then on); its poststop drops it. A hold of another boot holds nothing.

use rusqlite::{OptionalExtension, params};

use super::Registry;
use super::codec;
use super::error::{Error, db};
use super::record::now;
use super::write::Tx;

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

    /// False only when the registry proves the hosts file of `token`
    /// unused: no hold of this boot and no live record carries it.
    pub fn token_held(&self, token: &str) -> Result<bool, Error> {
        let held = self
            .conn
            .query_row(
                "SELECT 1 FROM holds WHERE token = ?1 AND boot_id = ?2",
                params![token, self.live.boot_id],
                |_| Ok(()),
            )
            .optional()
            .map_err(db(&self.path))?
            .is_some();
        if held {
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
    fn a_version_4_registry_gains_the_holds_table() {
        let dir = tempfile::tempdir().unwrap();
        drop(Registry::open(dir.path()).unwrap());
        let conn = rusqlite::Connection::open(Registry::db_path(dir.path())).unwrap();
        conn.execute_batch("DROP TABLE holds; PRAGMA user_version = 4;")
            .unwrap();
        drop(conn);
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.hold_token("0123456789abcdef").unwrap();
        assert!(reg.token_held("0123456789abcdef").unwrap());
    }
}
