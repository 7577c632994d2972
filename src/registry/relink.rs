//! Changing a running container's links (`linkshim link`/`unlink`): its
//! record's links and the `link_targets` rows that let its targets find it,
//! in one transaction.

use rusqlite::params;

use super::Registry;
use super::codec::{self, json};
use super::error::Error;
use crate::model::LinkRequest;
use crate::registry::Record;

impl Registry {
    /// The live record of container `id` and the hosts token it runs under.
    pub fn get_with_token(&mut self, id: &str) -> Result<Option<(Record, Option<String>)>, Error> {
        let found = codec::select_with(
            &self.conn,
            &self.path,
            ", token",
            "id = ?1",
            [id],
            |rec, row| Ok((rec, row.get::<_, Option<String>>("token")?)),
        )?;
        Ok(self.keep_live_by(found, |(rec, _)| rec).into_iter().next())
    }

    /// Replace the links of the live container `id` registered under
    /// `token` (the record read with it, so a container that restarted
    /// meanwhile under another token is left alone); the record as stored,
    /// or None when it is gone or another.
    pub fn set_links(
        &mut self,
        id: &str,
        token: &str,
        links: &[LinkRequest],
    ) -> Result<Option<Record>, Error> {
        self.write(|tx| {
            let found =
                codec::select_with(tx.conn, tx.path, ", token", "id = ?1", [id], |rec, row| {
                    Ok((rec, row.get::<_, Option<String>>("token")?))
                })?;
            let Some((mut rec, _)) = found
                .into_iter()
                .find(|(r, t)| t.as_deref() == Some(token) && r.live(tx.live))
            else {
                return Ok(None);
            };
            rec.links = links.to_vec();
            tx.exec(
                "UPDATE containers SET links = ?1 WHERE id = ?2",
                params![json(&rec.links), id],
            )?;
            tx.exec("DELETE FROM link_targets WHERE linker_id = ?1", [id])?;
            for link in &rec.links {
                tx.exec(
                    "INSERT INTO link_targets (linker_id, scope, target) VALUES (?1, ?2, ?3)",
                    params![
                        id,
                        link.scope.as_ref().unwrap_or(&rec.scope).as_str(),
                        link.target.as_str()
                    ],
                )?;
            }
            Ok(Some(rec))
        })
    }
}
