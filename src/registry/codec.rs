//! A container record <-> a `containers` row, column by name. List fields
//! are JSON text; links and the URL template are validated again when read,
//! so a row no linkshim could have written is an error, not a silent gap.

use std::path::Path;

use rusqlite::{Connection, Row, named_params};
use serde::Serialize;

use super::error::{Error, corrupt, db};
use super::record::Record;
use crate::model::share::Policy;
use crate::model::{Name, Template};

/// The columns a record is read from, in the order [`COLUMNS`] selects them.
const NAMES: [&str; 18] = [
    "id",
    "scope",
    "name",
    "admits",
    "service",
    "svc_index",
    "hostname",
    "addrs",
    "nets",
    "host_net",
    "ports",
    "env",
    "links",
    "url",
    "pid",
    "pid_start",
    "boot_id",
    "created",
];

/// The columns a record is read from, as a select list.
pub(super) const COLUMNS: &str = "id, scope, name, admits, service, svc_index, hostname, addrs, nets, host_net, ports, env, links, url, pid, pid_start, boot_id, created";

/// Where column `name` is in a row selected with [`COLUMNS`], worked out
/// when linkshim is compiled (a name that is not there fails the build):
/// a row is read by name without SQLite's column names being searched
/// for each value of each row.
const fn at(name: &str) -> usize {
    let mut i = 0;
    while i < NAMES.len() {
        let (a, b) = (NAMES[i].as_bytes(), name.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("no such column in COLUMNS")
}

/// A column value as JSON text (these types always serialize).
pub(super) fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The `env` column: the variables and how they were chosen,
/// `{"shared":"declared","vars":[["K","V"],...]}`. A bare list is a row
/// from a linkshim that did not filter: read as shared under `all`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub(super) enum EnvColumn {
    Marked {
        shared: Policy,
        vars: Vec<(String, String)>,
    },
    Bare(Vec<(String, String)>),
}

fn env_json(rec: &Record) -> String {
    json(&EnvColumn::Marked {
        shared: rec.shared,
        vars: rec.env.clone(),
    })
}

fn env_of(text: &str) -> Result<(Vec<(String, String)>, Policy), serde_json::Error> {
    Ok(match serde_json::from_str(text)? {
        EnvColumn::Marked { shared, vars } => (vars, shared),
        EnvColumn::Bare(vars) => (vars, Policy::All),
    })
}

/// Add or replace the row of `rec`, carrying the hosts `token` of its container.
pub(super) fn put(conn: &Connection, rec: &Record, token: Option<&str>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO containers
            (id, scope, name, admits, service, svc_index, hostname, addrs, nets, host_net, ports, env, links, url, pid, pid_start, boot_id, created, token)
         VALUES
            (:id, :scope, :name, :admits, :service, :svc_index, :hostname, :addrs, :nets, :host_net, :ports, :env, :links, :url, :pid, :pid_start, :boot_id, :created, :token)",
    )?
    .execute(named_params! {
        ":id": rec.id.as_str(),
        ":scope": rec.scope.as_str(),
        ":name": rec.name.as_str(),
        ":admits": json(&rec.admits),
        ":service": rec.service.as_ref().map(Name::as_str),
        ":svc_index": rec.index,
        ":hostname": rec.hostname,
        ":addrs": json(&rec.addrs),
        ":nets": json(&rec.nets),
        ":host_net": rec.host_net,
        ":ports": json(&rec.ports),
        ":env": env_json(rec),
        ":links": json(&rec.links),
        ":url": rec.url.as_ref().map(Template::to_string),
        ":pid": rec.pid,
        ":pid_start": rec.pid_start.map(|s| s as i64),
        ":boot_id": rec.boot_id,
        ":created": rec.created,
        ":token": token,
    })?;
    Ok(())
}

/// The record in `row` (selected with [`COLUMNS`] first); the inner
/// error says which column holds what cannot be read.
pub(super) fn decode(row: &Row<'_>) -> rusqlite::Result<Result<Record, String>> {
    let text = |col: usize| row.get::<_, String>(col);
    let (addrs, ports) = (text(const { at("addrs") })?, text(const { at("ports") })?);
    let (env, links) = (text(const { at("env") })?, text(const { at("links") })?);
    let nets = text(const { at("nets") })?;
    let hostname: Option<String> = row.get(const { at("hostname") })?;
    let host_net: bool = row.get(const { at("host_net") })?;
    let name: String = row.get(const { at("name") })?;
    let scope: String = row.get(const { at("scope") })?;
    let admits: String = row.get(const { at("admits") })?;
    let service: Option<String> = row.get(const { at("service") })?;
    let url: Option<String> = row.get(const { at("url") })?;
    let id: String = row.get(const { at("id") })?;
    let index: Option<u32> = row.get(const { at("svc_index") })?;
    let pid: Option<i32> = row.get(const { at("pid") })?;
    let pid_start: Option<i64> = row.get(const { at("pid_start") })?;
    let boot_id = row.get(const { at("boot_id") })?;
    let created = row.get(const { at("created") })?;
    let why = |col: &str, e: &dyn std::fmt::Display| format!("container {id:?}, column {col}: {e}");
    let json_field = |col: &'static str| move |e: serde_json::Error| why(col, &e);
    Ok((|| {
        let (env, shared) = env_of(&env).map_err(json_field("env"))?;
        let mut ports: Vec<crate::model::Port> =
            serde_json::from_str(&ports).map_err(json_field("ports"))?;
        // A row of an older linkshim may hold another order.
        crate::model::sort_ports(&mut ports);
        if let Some(h) = hostname
            .as_deref()
            .filter(|h| !crate::model::valid_hostname(h))
        {
            return Err(why("hostname", &format!("{h:?} is not a hostname")));
        }
        Ok(Record {
            scope: Name::parse("scope", &scope).map_err(|e| why("scope", &e))?,
            name: Name::parse("name", &name).map_err(|e| why("name", &e))?,
            admits: serde_json::from_str(&admits).map_err(json_field("admits"))?,
            service: service
                .map(|s| Name::parse("service", &s))
                .transpose()
                .map_err(|e| why("service", &e))?,
            index,
            hostname,
            addrs: serde_json::from_str(&addrs).map_err(json_field("addrs"))?,
            nets: serde_json::from_str(&nets).map_err(json_field("nets"))?,
            host_net,
            ports,
            env,
            shared,
            links: serde_json::from_str(&links).map_err(json_field("links"))?,
            url: url
                .as_deref()
                .map(|u| Template::parse(u).map_err(|e| why("url", &format!("{u:?}: {e}"))))
                .transpose()?,
            publish: vec![],
            via: None,
            pid,
            pid_start: pid_start.map(|s| s as u64),
            boot_id,
            created,
            id: id.clone().into(),
        })
    })())
}

/// The records of the rows `cond` selects.
pub(super) fn select<P: rusqlite::Params>(
    conn: &Connection,
    path: &Path,
    cond: &str,
    params: P,
) -> Result<Vec<Record>, Error> {
    select_with(conn, path, "", cond, params, |rec, _| Ok(rec))
}

/// Like [`select`], with `extra` columns read by `also` from each row.
pub(super) fn select_with<P: rusqlite::Params, T>(
    conn: &Connection,
    path: &Path,
    extra: &str,
    cond: &str,
    params: P,
    also: impl Fn(Record, &Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, Error> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}{extra} FROM containers WHERE {cond}"
        ))
        .map_err(db(path))?;
    let mut rows = stmt.query(params).map_err(db(path))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db(path))? {
        let rec = decode(row)
            .map_err(|e| corrupt(path, format!("a container row: {e}")))?
            .map_err(|why| corrupt(path, why))?;
        out.push(also(rec, row).map_err(db(path))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::{LinkRequest, Port, Proto};

    #[test]
    fn the_select_list_is_the_columns_by_name() {
        assert_eq!(COLUMNS, NAMES.join(", "));
        let conn = Connection::open_in_memory().unwrap();
        super::super::schema::create(&conn).unwrap();
        let stmt = conn
            .prepare(&format!("SELECT {COLUMNS}, token FROM containers"))
            .unwrap();
        for name in NAMES {
            assert_eq!(stmt.column_index(name).unwrap(), at(name), "{name}");
        }
    }

    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE containers (id TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL,
                admits TEXT NOT NULL, service TEXT,
                svc_index INTEGER, hostname TEXT, addrs TEXT NOT NULL, nets TEXT NOT NULL DEFAULT '[]', host_net INTEGER NOT NULL DEFAULT 0,
                ports TEXT NOT NULL, env TEXT NOT NULL,
                links TEXT NOT NULL, url TEXT, pid INTEGER, pid_start INTEGER,
                boot_id TEXT NOT NULL, created INTEGER NOT NULL, token TEXT);",
        )
        .unwrap();
        c
    }

    #[test]
    fn a_record_round_trips() {
        let c = conn();
        let rec = Record {
            id: "0123456789abcdef".into(),
            scope: Name::parse("t", "team-a").unwrap(),
            name: Name::parse("t", "web-1").unwrap(),
            admits: crate::model::Admits::parse("t", ["b", "c"]).unwrap(),
            service: Some(Name::parse("t", "web").unwrap()),
            index: Some(3),
            hostname: Some("fred".into()),
            addrs: vec!["10.0.0.2".parse().unwrap(), "fd00::2".parse().unwrap()],
            nets: vec![
                "10.0.0.2/24".parse().unwrap(),
                "fd00::2/64".parse().unwrap(),
            ],
            host_net: true,
            ports: vec![
                Port {
                    number: 80,
                    proto: Proto::Tcp,
                },
                Port {
                    number: 53,
                    proto: Proto::Udp,
                },
            ],
            env: vec![("A".into(), "1=2".into())],
            shared: Policy::Declared,
            links: vec![
                LinkRequest::parse("db:data").unwrap(),
                LinkRequest::parse("redis:cache+convox").unwrap(),
                LinkRequest::parse("team-b/pg:db2").unwrap(),
            ],
            url: Some(Template::parse("redis://:pw@:6379/0").unwrap()),
            publish: vec![],
            via: None,
            pid: Some(42),
            pid_start: Some(u64::from(u32::MAX) + 7),
            boot_id: "boot".into(),
            created: 1_700_000_000,
        };
        put(&c, &rec, Some("feedfacefeedface")).unwrap();
        let path = Path::new("mem");
        let got = select_with(&c, path, ", token", "1 = 1", [], |r, row| {
            Ok((r, row.get::<_, Option<String>>("token")?))
        })
        .unwrap();
        assert_eq!(got, vec![(rec.clone(), Some("feedfacefeedface".into()))]);
        let bare = Record::new("x", Name::parse("t", "x").unwrap());
        put(&c, &bare, None).unwrap();
        assert_eq!(select(&c, path, "id = 'x'", []).unwrap(), vec![bare]);
    }

    #[test]
    fn a_bare_env_list_is_a_row_shared_under_all() {
        let c = conn();
        c.execute_batch(
            "INSERT INTO containers VALUES ('i', 'default', 'n', '[]', NULL, NULL, NULL, '[]', '[]', 0, '[]',
                '[[\"A\",\"1\"]]', '[]', NULL, NULL, NULL, 'b', 0, NULL);",
        )
        .unwrap();
        let got = select(&c, Path::new("mem"), "1 = 1", []).unwrap();
        assert_eq!(got[0].env, vec![("A".to_string(), "1".to_string())]);
        assert_eq!(got[0].shared, Policy::All);
    }

    #[test]
    fn an_unreadable_row_is_corrupt_and_says_which_column() {
        let c = conn();
        for (col, value, why) in [
            ("links", "'[\"a:b c\"]'", "links"),
            ("url", "'redis://:0'", "url"),
            ("ports", "'nope'", "ports"),
            ("scope", "'a b'", "scope"),
            ("admits", "'[\"a/b\"]'", "admits"),
            ("nets", "'[\"10.0.0.1\"]'", "nets"),
            ("hostname", "'a b'", "hostname"),
        ] {
            c.execute_batch(&format!(
                "DELETE FROM containers;
                 INSERT INTO containers VALUES ('i', 'default', 'n', '[]', NULL, NULL, NULL, '[]', '[]', 0, '[]', '[]', '[]', NULL, NULL, NULL, 'b', 0, NULL);
                 UPDATE containers SET {col} = {value};"
            ))
            .unwrap();
            let err = select(&c, Path::new("mem"), "1 = 1", []).unwrap_err();
            assert!(
                matches!(
                    &err,
                    Error::Storage(super::super::StorageError::Corrupt { .. })
                ),
                "{col}: {err}"
            );
            let text = err.to_string();
            assert!(
                text.contains(&format!("container \"i\", column {why}")),
                "{col}: {text}"
            );
            assert!(text.contains("linkshim gc --repair"), "{col}: {text}");
        }
    }
}
