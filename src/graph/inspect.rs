//! One registered container or resource in full: what it is, where, and
//! its links both ways (what it links to, resolved now, and who links to
//! it). Env values and URL passwords are masked unless asked for.

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use super::{LinkState, all_resources, link_states};
use crate::links::resolve::Target;
use crate::logging::mask_passwords;
use crate::mask::MASK;
use crate::registry::{self, Record, Resource};

/// One record, in full.
#[derive(Debug, Clone, Serialize)]
pub struct Details {
    /// `container` or `resource`.
    pub kind: &'static str,
    pub name: String,
    pub id: Option<String>,
    pub scope: Option<String>,
    pub service: Option<String>,
    pub index: Option<u32>,
    pub addresses: Vec<IpAddr>,
    pub ports: Vec<String>,
    pub url: Option<String>,
    pub env: Vec<(String, String)>,
    pub pid: Option<i32>,
    /// When it registered (RFC 3339, UTC).
    pub since: Option<String>,
    pub links_to: Vec<LinkTo>,
    pub linked_by: Vec<LinkedBy>,
}

/// One of its links, resolved now.
#[derive(Debug, Clone, Serialize)]
pub struct LinkTo {
    /// As written in `io.linkshim.links`.
    pub link: String,
    pub alias: String,
    pub target: String,
    /// `container`, `service`, `resource`, or `missing`.
    pub kind: &'static str,
    /// The target's containers (a service's replicas): name and address.
    pub reaches: Vec<(String, Option<IpAddr>)>,
    pub broken: Option<String>,
}

/// A container that links to it.
#[derive(Debug, Clone, Serialize)]
pub struct LinkedBy {
    pub scope: String,
    pub name: String,
    pub id: String,
    pub link: String,
    pub alias: String,
}

/// Why a record cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error("{name:?} names a container in scopes {scopes}: say which with --scope")]
    Ambiguous { name: String, scopes: String },
}

/// The details of `name` (a container's name or id, in `scope` when
/// given, or a resource's name) in the registry of `state_dir`, which is
/// only read; None when nothing is registered under it.
pub fn details(
    state_dir: &Path,
    persist_dir: Option<&Path>,
    name: &str,
    scope: Option<&str>,
    show_env: bool,
) -> Result<Option<Details>, Error> {
    let mut reg = registry::open_read_only(state_dir)?;
    let all = reg.list()?;
    let in_scope = |r: &&Record| scope.is_none_or(|s| r.scope.as_str() == s);
    let mut named: Vec<&Record> = all
        .iter()
        .filter(in_scope)
        .filter(|r| r.name.as_str() == name)
        .collect();
    if named.is_empty() {
        named = all
            .iter()
            .filter(in_scope)
            .filter(|r| r.id.as_str() == name)
            .collect();
    }
    if named.len() > 1 {
        let scopes: Vec<&str> = named.iter().map(|r| r.scope.as_str()).collect();
        return Err(Error::Ambiguous {
            name: name.to_string(),
            scopes: scopes.join(", "),
        });
    }
    let found = named.first().map(|r| (*r).clone());
    let resource = match &found {
        Some(_) => None,
        None => all_resources(&*reg, persist_dir)?
            .into_iter()
            .find(|r| r.name.as_str() == name),
    };
    let mut d = match (&found, &resource) {
        (Some(rec), _) => of_record(rec, link_states(&mut *reg, rec, persist_dir)?),
        (None, Some(res)) => of_resource(res),
        (None, None) => return Ok(None),
    };
    for other in &all {
        for s in link_states(&mut *reg, other, persist_dir)? {
            let reaches_it = match (&s.target, &found, &resource) {
                (Ok(Target::Container(r)), Some(me), _) => r.id == me.id,
                (Ok(Target::Service { replicas, .. }), Some(me), _) => {
                    replicas.iter().any(|r| r.id == me.id)
                }
                (Ok(Target::Resource { resource: r, .. }), _, Some(me)) => r.name == me.name,
                _ => false,
            };
            if reaches_it {
                d.linked_by.push(LinkedBy {
                    scope: other.scope.to_string(),
                    name: other.name.to_string(),
                    id: other.id.to_string(),
                    link: s.request.to_string(),
                    alias: s.request.alias.to_string(),
                });
            }
        }
    }
    if !show_env {
        for (_, v) in &mut d.env {
            *v = MASK.to_string();
        }
        d.url = d.url.map(|u| mask_passwords(&u));
    }
    Ok(Some(d))
}

fn of_record(rec: &Record, links: Vec<LinkState>) -> Details {
    let since = std::time::UNIX_EPOCH + std::time::Duration::from_secs(rec.created.max(0) as u64);
    Details {
        kind: "container",
        name: rec.name.to_string(),
        id: Some(rec.id.to_string()),
        scope: Some(rec.scope.to_string()),
        service: rec.service.as_ref().map(ToString::to_string),
        index: rec.index,
        addresses: rec.addrs.clone(),
        ports: rec.ports.iter().map(ToString::to_string).collect(),
        url: rec.url.as_ref().map(ToString::to_string),
        env: rec.env.clone(),
        pid: rec.pid,
        since: Some(humantime::format_rfc3339_seconds(since).to_string()),
        links_to: links.into_iter().map(link_to).collect(),
        linked_by: vec![],
    }
}

fn of_resource(res: &Resource) -> Details {
    Details {
        kind: "resource",
        name: res.name.to_string(),
        id: None,
        scope: None,
        service: None,
        index: None,
        addresses: res.addrs.clone(),
        ports: vec![],
        url: Some(res.url.clone()),
        env: res.env.clone(),
        pid: None,
        since: None,
        links_to: vec![],
        linked_by: vec![],
    }
}

fn link_to(s: LinkState) -> LinkTo {
    let one = |r: &Record| (r.name.to_string(), r.primary_ip());
    let (kind, target, reaches, broken) = match s.target {
        Ok(Target::Container(r)) => ("container", r.name.to_string(), vec![one(&r)], None),
        Ok(Target::Service { name, replicas }) => (
            "service",
            name.to_string(),
            replicas.iter().map(one).collect(),
            None,
        ),
        Ok(Target::Resource { resource, record }) => (
            "resource",
            resource.name.to_string(),
            vec![one(&record)],
            None,
        ),
        Err(why) => ("missing", s.request.target.to_string(), vec![], Some(why)),
    };
    LinkTo {
        link: s.request.to_string(),
        alias: s.request.alias.to_string(),
        target,
        kind,
        reaches,
        broken,
    }
}

/// `d` as aligned `field value` lines.
pub fn render_text(d: &Details) -> String {
    let mut rows: Vec<(&str, String)> = vec![("name", d.name.clone()), ("kind", d.kind.into())];
    let mut opt = |k: &'static str, v: Option<String>| {
        if let Some(v) = v {
            rows.push((k, v));
        }
    };
    opt("id", d.id.clone());
    opt("scope", d.scope.clone());
    opt(
        "service",
        d.service.as_ref().map(|s| {
            format!(
                "{s}, index {}",
                d.index.map_or("?".into(), |i| i.to_string())
            )
        }),
    );
    let list = |v: Vec<String>| (!v.is_empty()).then(|| v.join(" "));
    opt(
        "addresses",
        list(d.addresses.iter().map(ToString::to_string).collect()),
    );
    opt("ports", list(d.ports.clone()));
    opt("url", d.url.clone());
    opt("pid", d.pid.map(|p| p.to_string()));
    opt("since", d.since.clone());
    let mut out = String::new();
    let line = |out: &mut String, k: &str, v: &str| out.push_str(&format!("{k:<10}  {v}\n"));
    for (k, v) in &rows {
        line(&mut out, k, v);
    }
    let many = |out: &mut String, k: &str, items: Vec<String>| {
        if items.is_empty() {
            line(out, k, "-");
        }
        for (i, item) in items.iter().enumerate() {
            line(out, if i == 0 { k } else { "" }, item);
        }
    };
    many(
        &mut out,
        "env",
        d.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    );
    many(
        &mut out,
        "links to",
        d.links_to
            .iter()
            .map(|l| match &l.broken {
                Some(why) => format!("{} ╌╌▶ {} BROKEN: {why}", l.alias, l.target),
                None => {
                    let at: Vec<String> = l
                        .reaches
                        .iter()
                        .map(|(n, ip)| match ip {
                            Some(ip) => format!("{n} {ip}"),
                            None => format!("{n} (no address)"),
                        })
                        .collect();
                    format!(
                        "{} ──▶ {} ({}: {})",
                        l.alias,
                        l.target,
                        l.kind,
                        at.join(", ")
                    )
                }
            })
            .collect(),
    );
    many(
        &mut out,
        "linked by",
        d.linked_by
            .iter()
            .map(|l| {
                format!(
                    "{} ({}) as {}",
                    l.name,
                    crate::model::short_id(&l.id),
                    l.alias
                )
            })
            .collect(),
    );
    out
}
