//! Resources: things that are not containers, linked like containers. They
//! are host-wide: a resource's name is refused to containers of every
//! scope, and a link from any scope may name it.

use super::Registry;
use super::codec::json;
use super::error::{Conflict, Error, corrupt, db};
use super::record::Resource;
use super::slots;
use crate::model::Name;

impl Registry {
    /// Add or replace a resource.
    pub fn put_resource(&mut self, res: &Resource) -> Result<(), Error> {
        self.write(|tx| {
            let holders = tx.select("name = ?1", [res.name.as_str()])?;
            if let Some(c) = holders.into_iter().find(|c| c.live(tx.live)) {
                return Err(Conflict::NameInUse {
                    scope: c.scope.to_string(),
                    name: res.name.to_string(),
                    id: c.id.to_string(),
                }
                .into());
            }
            slots::refuse_reserved_name(tx, None, &res.name, None)?;
            tx.exec(
                "INSERT OR REPLACE INTO resources (name, url, env, addrs) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![res.name.as_str(), res.url, json(&res.env), json(&res.addrs)],
            )?;
            Ok(())
        })
    }

    /// Remove a resource; true when there was one.
    pub fn remove_resource(&mut self, name: &str) -> Result<bool, Error> {
        self.write(|tx| Ok(tx.exec("DELETE FROM resources WHERE name = ?1", [name])? > 0))
    }

    /// The resource named `name`.
    pub fn resource(&self, name: &str) -> Result<Option<Resource>, Error> {
        Ok(self
            .resources_where("name = ?1", [name])?
            .into_iter()
            .next())
    }

    /// The resources named one of `names`: one statement, however many names.
    pub fn resources_named(&self, names: &[&str]) -> Result<Vec<Resource>, Error> {
        self.resources_where("name IN (SELECT value FROM json_each(?1))", [json(&names)])
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
        let db = db(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT name, url, env, addrs FROM resources WHERE {cond}"
            ))
            .map_err(&db)?;
        let mut rows = stmt.query(p).map_err(&db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(&db)? {
            let (name, url, env, addrs): (String, String, String, String) = (
                row.get("name").map_err(&db)?,
                row.get("url").map_err(&db)?,
                row.get("env").map_err(&db)?,
                row.get("addrs").map_err(&db)?,
            );
            let bad = |col: &str, e: &dyn std::fmt::Display| {
                corrupt(&self.path, format!("resource {name:?}, column {col}: {e}"))
            };
            out.push(Resource {
                name: Name::parse("resource", &name).map_err(|e| bad("name", &e))?,
                url,
                env: serde_json::from_str(&env).map_err(|e| bad("env", &e))?,
                addrs: serde_json::from_str(&addrs).map_err(|e| bad("addrs", &e))?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Record;

    fn rec(id: &str, name: &str) -> Record {
        Record::new(id, Name::parse("t", name).unwrap()).owned_by(std::process::id() as i32)
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
            Err(Error::Conflict(Conflict::NameIsResource { .. }))
        ));
        assert!(reg.remove_resource("pg").unwrap());
        reg.register(&rec("x", "pg"), None).unwrap();
    }

    #[test]
    fn several_resources_in_one_statement() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        for name in ["pg", "mq"] {
            reg.put_resource(&Resource {
                name: Name::parse("t", name).unwrap(),
                url: format!("tcp://10.0.0.1:1/{name}"),
                env: vec![],
                addrs: vec![],
            })
            .unwrap();
        }
        let mut got: Vec<String> = reg
            .resources_named(&["mq", "nosuch", "pg"])
            .unwrap()
            .into_iter()
            .map(|r| r.name.to_string())
            .collect();
        got.sort();
        assert_eq!(got, vec!["mq", "pg"]);
    }
}
