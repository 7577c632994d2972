//! Link requests + registry -> resolved links.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;

use crate::model::share::Policy;
use crate::model::url::{self, Template};
use crate::model::{LinkRequest, Name, Port, Proto, Unreachable, Vantage, reachable_from};
use crate::registry::{self, Record, Registry, Resource, Store};
use crate::render::{self, Endpoint, Rendered, To};

/// What a link's target turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One running container.
    Container(Record),
    /// The live replicas of a service, by index.
    Service { name: Name, replicas: Vec<Record> },
    /// Something registered with `linkshim resource add`, seen as a
    /// container: addresses from its URL's host, one port from its URL.
    Resource { resource: Resource, record: Record },
}

/// A link with its target found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub request: LinkRequest,
    pub target: Target,
}

impl Resolved {
    /// The link as the renderers see it.
    pub fn view(&self) -> render::Link<'_> {
        let to = match &self.target {
            Target::Container(r) | Target::Resource { record: r, .. } => To::One(endpoint(r)),
            Target::Service { replicas, .. } => To::Replicas(
                replicas
                    .iter()
                    .map(|r| (r.index.unwrap_or(0), endpoint(r)))
                    .collect(),
            ),
        };
        render::Link {
            request: &self.request,
            to,
        }
    }
}

fn endpoint(r: &Record) -> Endpoint<'_> {
    Endpoint {
        id: r.id.as_str(),
        hostname: r.hostname.as_deref(),
        name: r.name.as_str(),
        addrs: r.reach_addrs(),
        ports: &r.ports,
        published: r.reach_ports(),
        env: &r.env,
        shared: r.shared,
        url: r.url.as_ref(),
    }
}

/// Render every resolved link of `linker`, its targets' own variables
/// under the host's `policy`.
pub fn render(linker: &str, links: &[Resolved], policy: Policy) -> Result<Rendered, render::Error> {
    let views: Vec<render::Link<'_>> = links.iter().map(Resolved::view).collect();
    render::render_links(linker, &views, policy)
}

/// The hosts lines of every resolved link of `linker`.
pub fn hosts(linker: &str, links: &[Resolved]) -> Vec<render::hosts::Line> {
    let views: Vec<render::Link<'_>> = links.iter().map(Resolved::view).collect();
    render::hosts_lines(linker, &views)
}

/// Give each target of `links` only the addresses a linker at `from` can
/// use (`model::reachable_from`): the address on a network it shares with
/// the target, and for a target on the host's network the linker's
/// gateway. A target left with none fails its link (a replica: the
/// service's link); the failures come back, the targets they name have no
/// address left (so no hosts line).
pub fn narrow(links: &mut [Resolved], from: &Vantage) -> Vec<Error> {
    let mut errors = Vec::new();
    for l in links.iter_mut() {
        let records: Vec<&mut Record> = match &mut l.target {
            Target::Container(r) => vec![r],
            Target::Service { replicas, .. } => replicas.iter_mut().collect(),
            Target::Resource { .. } => vec![],
        };
        for r in records {
            match reachable_from(&r.addrs, &r.nets, r.host_net, from) {
                Ok(addrs) => r.addrs = addrs,
                Err(Unreachable) => {
                    r.addrs.clear();
                    errors.push(Error::Unreachable {
                        link: l.request.to_string(),
                        target: r.name.to_string(),
                    });
                }
            }
        }
    }
    errors
}

/// Why a link could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "link \"{link}\": could not get container for {target}: no running container, service or resource named {target:?} is registered in scope {scope:?} (start it first, or fix annotation io.linkshim.links)"
    )]
    Missing {
        link: String,
        target: String,
        scope: String,
    },
    #[error(
        "link \"{link}\": target \"{target}\" in scope \"{scope}\" does not admit scope \"{from}\" (add io.linkshim.allow-scopes={from} to the target)"
    )]
    NotAdmitted {
        link: String,
        target: String,
        scope: String,
        from: String,
    },
    #[error(
        "link \"{link}\": {target:?} is ambiguous: it is both {what} (rename one of them with io.linkshim.name or io.linkshim.service)"
    )]
    Ambiguous {
        link: String,
        target: String,
        what: &'static str,
    },
    #[error(
        "link \"{link}\": no container, service or resource named {target:?} registered in scope {scope:?} within the {bound:?} it waits (start it, raise the bound up to ?wait=60s, or make the link ?optional)"
    )]
    NotStarted {
        link: String,
        target: String,
        scope: String,
        bound: std::time::Duration,
    },
    #[error(
        "link \"{link}\": {target:?} names no container and is the start of {count} container ids in scope {scope:?} (give more of the id, or the name)"
    )]
    AmbiguousId {
        link: String,
        target: String,
        scope: String,
        count: usize,
    },
    #[error(
        "link \"{link}\": {target:?} uses the host's network and shares no network with the linker: it has no address the linker can reach (put the linker on a podman network whose gateway is on the host, or give the target a network of its own)"
    )]
    Unreachable { link: String, target: String },
    #[error("link \"{link}\": a container cannot link to itself")]
    SelfLink { link: String },
    #[error(transparent)]
    Registry(#[from] registry::Error),
}

/// Resolve every link of `linker`, a container of `scope`; the first
/// failure fails them all. Resources are looked up in `reg`, then in the
/// registry in `persist_dir`.
pub fn resolve(
    reg: &mut dyn Store,
    linker: &Name,
    scope: &Name,
    links: &[LinkRequest],
    persist_dir: Option<&Path>,
) -> Result<Vec<Resolved>, Error> {
    resolve_each(reg, linker, scope, links, persist_dir)?
        .into_iter()
        .collect()
}

/// Resolve each link of `linker`, a container of `scope`, on its own, in
/// order: one registry statement per scope the links name (and one for
/// resources, when a name is no container or service). A target is looked
/// up in the link's scope (`scope/target`), else the linker's; a target in
/// another scope must admit the linker's (`io.linkshim.allow-scopes`).
/// Resources are host-wide: a link in the linker's own scope may name one.
pub fn resolve_each(
    reg: &mut dyn Store,
    linker: &Name,
    scope: &Name,
    links: &[LinkRequest],
    persist_dir: Option<&Path>,
) -> Result<Vec<Result<Resolved, Error>>, registry::Error> {
    let target_scope = |l: &LinkRequest| l.scope.clone().unwrap_or_else(|| scope.clone());
    let mut by_scope: std::collections::BTreeMap<Name, Vec<&str>> = Default::default();
    for l in links {
        by_scope
            .entry(target_scope(l))
            .or_default()
            .push(l.target.as_str());
    }
    let mut found = Vec::new();
    for (s, names) in &by_scope {
        found.extend(reg.find(s.as_str(), names)?);
    }
    let is_container_or_service = |s: &Name, name: &str| {
        found.iter().any(|r| {
            r.scope == *s
                && (r.name.as_str() == name
                    || r.service.as_ref().is_some_and(|v| v.as_str() == name))
        })
    };
    let missing: Vec<&str> = links
        .iter()
        .filter(|l| target_scope(l) == *scope && !is_container_or_service(scope, l.target.as_str()))
        .map(|l| l.target.as_str())
        .collect();
    let resources = find_resources(reg, &missing, persist_dir)?;
    // A target that is no name may be a container id or its prefix
    // (Docker's link by id), in the link's scope, when it looks like one
    // (`model::may_reference_id`).
    let mut by_id: Vec<Vec<Record>> = Vec::with_capacity(links.len());
    for l in links {
        let s = target_scope(l);
        let named = is_container_or_service(&s, l.target.as_str())
            || (s == *scope && resources.iter().any(|r| r.name == l.target));
        by_id.push(
            if named || !crate::model::may_reference_id(l.target.as_str()) {
                Vec::new()
            } else {
                reg.find_by_id(s.as_str(), l.target.as_str())?
            },
        );
    }
    Ok(links
        .iter()
        .zip(&by_id)
        .map(|(request, by_id)| {
            let link = request.to_string();
            let name = request.target.as_str();
            let in_scope = target_scope(request);
            if request.target == *linker && in_scope == *scope {
                return Err(Error::SelfLink { link });
            }
            if by_id.len() > 1 {
                return Err(Error::AmbiguousId {
                    link,
                    target: name.to_string(),
                    scope: in_scope.to_string(),
                    count: by_id.len(),
                });
            }
            if by_id
                .first()
                .is_some_and(|r| r.name == *linker && in_scope == *scope)
            {
                return Err(Error::SelfLink { link });
            }
            let here = || found.iter().filter(|r| r.scope == in_scope);
            // A replica named like its own service is one of the replicas;
            // a target that is no name may be an id.
            let container = here()
                .find(|r| r.name == request.target && r.service.as_ref() != Some(&request.target))
                .or(by_id.first());
            let replicas: Vec<Record> = here()
                .filter(|r| r.service.as_ref() == Some(&request.target))
                .cloned()
                .collect();
            if let Some(r) = container
                .into_iter()
                .chain(&replicas)
                .find(|r| !r.admits.admits(&r.scope, scope))
            {
                return Err(Error::NotAdmitted {
                    link,
                    target: r.name.to_string(),
                    scope: in_scope.to_string(),
                    from: scope.to_string(),
                });
            }
            let target = match (container, replicas.is_empty()) {
                (Some(_), false) => {
                    return Err(Error::Ambiguous {
                        link,
                        target: name.to_string(),
                        what: "a container and a service",
                    });
                }
                (Some(c), true) => Target::Container(c.clone()),
                (None, false) => Target::Service {
                    name: request.target.clone(),
                    replicas,
                },
                (None, true) => match resources
                    .iter()
                    .find(|r| r.name == request.target && in_scope == *scope)
                {
                    Some(r) => Target::Resource {
                        record: resource_record(r),
                        resource: r.clone(),
                    },
                    None => {
                        return Err(Error::Missing {
                            link,
                            target: name.to_string(),
                            scope: in_scope.to_string(),
                        });
                    }
                },
            };
            Ok(Resolved {
                request: request.clone(),
                target,
            })
        })
        .collect())
}

/// The resources named in `names`: from `reg`, then from the registry in
/// `persist_dir` for those it lacks.
fn find_resources(
    reg: &dyn Store,
    names: &[&str],
    persist_dir: Option<&Path>,
) -> Result<Vec<Resource>, registry::Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = reg.resources_named(names)?;
    let rest: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !found.iter().any(|r| r.name.as_str() == *n))
        .collect();
    match persist_dir {
        Some(dir) if !rest.is_empty() && Registry::db_path(dir).exists() => {
            found.extend(Registry::open(dir)?.resources_named(&rest)?);
        }
        _ => {}
    }
    Ok(found)
}

/// The addresses of a resource URL's host: an address as written, or a
/// name looked up now (`resource add` does this, never a container's start).
pub fn resolve_host(url: &str) -> Vec<IpAddr> {
    let Some(host) = Template::parse(url)
        .ok()
        .and_then(|t| t.host().map(str::to_string))
    else {
        return vec![];
    };
    match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let found: Vec<IpAddr> = (host.as_str(), 0)
                .to_socket_addrs()
                .map(|a| a.map(|s| s.ip()).collect())
                .unwrap_or_default();
            // The shipped binary is static: its own lookup knows glibc's
            // `files` and `dns` sources only; getent asks every source
            // the host's nsswitch.conf names (mdns, myhostname, ...).
            let found = if found.is_empty() {
                getent_hosts(&host)
            } else {
                found
            };
            crate::netns::reachable(dedup(found))
        }
    }
}

/// The addresses `getent ahosts NAME` prints for `name`, in its order;
/// none when getent is missing, fails or takes longer than 10 s.
pub fn getent_hosts(name: &str) -> Vec<IpAddr> {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    if name.is_empty() || name.starts_with('-') {
        return vec![];
    }
    let Some(getent) = ["/usr/bin/getent", "/bin/getent"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
    else {
        return vec![];
    };
    let Ok(mut child) = Command::new(getent)
        .args(["ahosts", "--", name])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return vec![];
    };
    // Read as it comes (a full pipe would stall getent), keeping 64 KiB.
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut kept = Vec::new();
        if let Some(mut stdout) = stdout {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                let room = (1usize << 16).saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
        kept
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return vec![];
            }
        }
    }
    let out = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    parse_getent(&out)
}

/// The addresses of getent's `ahosts` lines (`ADDRESS SOCKTYPE [NAME]`),
/// each once, in order.
pub fn parse_getent(text: &str) -> Vec<IpAddr> {
    dedup(
        text.lines()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect(),
    )
}

/// `addrs` with each address once, first place kept.
fn dedup(addrs: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::with_capacity(addrs.len());
    for a in addrs {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// A resource seen as a container: the addresses stored when it was added,
/// the port of its URL, its env.
pub fn resource_record(r: &Resource) -> Record {
    let port = Template::parse(&r.url)
        .ok()
        .and_then(|t| url::parts(&t.fill(None, None)).ok())
        .and_then(|p| p.port);
    Record {
        addrs: r.addrs.clone(),
        ports: port
            .map(|number| Port {
                number,
                proto: Proto::Tcp,
            })
            .into_iter()
            .collect(),
        env: r.env.clone(),
        // The operator declared each of a resource's variables.
        shared: Policy::Declared,
        url: Template::parse(&r.url).ok(),
        ..Record::new(String::new(), r.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::annotation::parse_links;

    #[test]
    fn getent_lines_give_each_address_once_in_order() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            (
                "10.1.2.3        STREAM db.example\n10.1.2.3        DGRAM  \n10.1.2.3        RAW    \n",
                &["10.1.2.3"],
            ),
            (
                "fd00::5  STREAM db\n10.0.0.7 STREAM\nfd00::5  DGRAM\n",
                &["fd00::5", "10.0.0.7"],
            ),
            (
                "not-an-address STREAM x\n\n   \n10.9.9.9 RAW\n",
                &["10.9.9.9"],
            ),
        ];
        for (text, want) in cases {
            let want: Vec<IpAddr> = want.iter().map(|a| a.parse().unwrap()).collect();
            assert_eq!(parse_getent(text), want, "{text:?}");
        }
    }

    #[test]
    fn getent_resolves_through_the_hosts_nsswitch_and_refuses_options() {
        assert!(
            getent_hosts("-s").is_empty(),
            "a name never becomes an option"
        );
        assert!(getent_hosts("").is_empty());
        if !Path::new("/usr/bin/getent").is_file() && !Path::new("/bin/getent").is_file() {
            eprintln!("SKIP: no getent here");
            return;
        }
        let found = getent_hosts("localhost");
        assert!(
            found.iter().any(|a| a.is_loopback()),
            "localhost gave {found:?}"
        );
    }

    fn rec(id: &str, name: &str, service: Option<&str>) -> Record {
        Record {
            service: service.map(|s| Name::parse("t", s).unwrap()),
            addrs: vec!["10.0.0.9".parse().unwrap()],
            ..Record::new(id, Name::parse("t", name).unwrap()).owned_by(std::process::id() as i32)
        }
    }

    #[test]
    fn targets_and_clashes() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.register(&rec("c1", "db", None), None).unwrap();
        reg.register(&rec("r1", "web-a", Some("web")), None)
            .unwrap();
        reg.register(&rec("r2", "web-b", Some("web")), None)
            .unwrap();
        reg.register(&rec("x1", "api", None), None).unwrap();
        reg.register(&rec("x2", "api-1", Some("api")), None)
            .unwrap();
        reg.reserve(
            &crate::model::default_scope(),
            &Name::parse("t", "lazy").unwrap(),
            &Name::parse("t", "lazy-1").unwrap(),
            "0123456789abcdef",
        )
        .unwrap();
        let linker = Name::parse("t", "me").unwrap();
        let one = |reg: &mut Registry, text: &str| {
            resolve(
                reg,
                &linker,
                &crate::model::default_scope(),
                &parse_links(text).unwrap(),
                None,
            )
        };

        assert!(
            matches!(one(&mut reg, "db").unwrap()[0].target, Target::Container(ref r) if r.id == "c1")
        );
        match &one(&mut reg, "web").unwrap()[0].target {
            Target::Service { replicas, .. } => {
                assert_eq!(
                    replicas.iter().map(|r| r.index).collect::<Vec<_>>(),
                    vec![Some(1), Some(2)]
                )
            }
            other => panic!("{other:?}"),
        }
        let err = one(&mut reg, "api").unwrap_err().to_string();
        assert!(err.contains("both a container and a service"), "{err}");
        let err = one(&mut reg, "lazy").unwrap_err().to_string();
        assert!(
            err.contains("could not get container for lazy"),
            "a reserved slot is no target: {err}"
        );
        let err = one(&mut reg, "me").unwrap_err().to_string();
        assert!(err.contains("itself"), "{err}");
        let err = one(&mut reg, "db nosuch").unwrap_err().to_string();
        assert!(
            err.contains("nosuch"),
            "one missing target fails them all: {err}"
        );
    }

    /// Docker's link by id: a name first, then a full id or a prefix that
    /// only one container's id starts with, in the link's scope; an id
    /// reference is 12 or more lowercase hex digits.
    #[test]
    fn a_target_may_be_a_container_id_or_an_unambiguous_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let full = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
        reg.register(&rec(full, "db", None), None).unwrap();
        reg.register(&rec("0a1b2c3d4e5f99999999", "cache", None), None)
            .unwrap();
        reg.register(&rec("ffff0000ffff0000", "0a1b2c3d4e5f60", None), None)
            .unwrap();
        let other_scope = Record {
            scope: Name::parse("t", "b").unwrap(),
            ..rec("beef0001beef0001", "x", None)
        };
        reg.register(&other_scope, None).unwrap();
        // Ids a container chose to look like the names of others.
        reg.register(&rec("web", "w1", None), None).unwrap();
        reg.register(&rec("dbefbea9bec4978c", "app", None), None)
            .unwrap();
        let me = Name::parse("t", "me").unwrap();
        let dflt = crate::model::default_scope();
        let id_of = |reg: &mut Registry, text: &str| -> Result<String, String> {
            resolve(reg, &me, &dflt, &parse_links(text).unwrap(), None)
                .map(|r| match &r[0].target {
                    Target::Container(c) => c.id.to_string(),
                    other => panic!("{other:?}"),
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(id_of(&mut reg, &format!("{full}:db")).unwrap(), full);
        assert_eq!(id_of(&mut reg, "0a1b2c3d4e5f6071").unwrap(), full);
        assert_eq!(
            id_of(&mut reg, "0a1b2c3d4e5f60").unwrap(),
            "ffff0000ffff0000",
            "a name wins over an id prefix"
        );
        let err = id_of(&mut reg, "0a1b2c3d4e5f").unwrap_err();
        assert!(err.contains("start of 2 container ids"), "{err}");
        assert!(err.contains("\"0a1b2c3d4e5f\""), "{err}");
        let err = id_of(&mut reg, "beef0001beef").unwrap_err();
        assert!(
            err.contains("could not get container for beef0001beef"),
            "an id in another scope is not found: {err}"
        );
        // Too short, or not hex: a name only, never an id.
        for name in ["0a1b2c3d", "web", "dbe", "dbefbea9bec", "DBEFBEA9BEC4"] {
            let err = id_of(&mut reg, name).unwrap_err();
            assert!(
                err.contains(&format!("could not get container for {name}")),
                "{name} reached a container by its id: {err}"
            );
        }
    }

    #[test]
    fn persistent_resources_are_found_after_runtime_ones() {
        let state = tempfile::tempdir().unwrap();
        let persist = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(state.path()).unwrap();
        Registry::open(persist.path())
            .unwrap()
            .put_resource(&Resource {
                name: Name::parse("t", "pg").unwrap(),
                url: "postgres://10.9.9.9:5432/x".into(),
                env: vec![],
                addrs: vec!["10.9.9.9".parse().unwrap()],
            })
            .unwrap();
        let links = parse_links("pg").unwrap();
        let me = Name::parse("t", "me").unwrap();
        assert!(resolve(&mut reg, &me, &crate::model::default_scope(), &links, None).is_err());
        let got = resolve(
            &mut reg,
            &me,
            &crate::model::default_scope(),
            &links,
            Some(persist.path()),
        )
        .unwrap();
        match &got[0].target {
            Target::Resource { record, .. } => assert_eq!(
                record.addrs,
                vec!["10.9.9.9".parse::<std::net::IpAddr>().unwrap()]
            ),
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;
    use crate::links::annotation::parse_links;
    use crate::model::Admits;

    fn n(s: &str) -> Name {
        Name::parse("t", s).unwrap()
    }

    fn rec(id: &str, scope: &str, name: &str, admits: &[&str]) -> Record {
        Record {
            scope: n(scope),
            admits: Admits::parse("t", admits.iter().copied()).unwrap(),
            addrs: vec!["10.0.0.9".parse().unwrap()],
            ..Record::new(id, n(name)).owned_by(std::process::id() as i32)
        }
    }

    #[test]
    fn a_link_resolves_in_its_scope_and_crosses_only_when_admitted() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        reg.register(&rec("a-db", "a", "db", &[]), None).unwrap();
        reg.register(&rec("b-db", "b", "db", &[]), None).unwrap();
        reg.register(&rec("a-open", "a", "open", &["*"]), None)
            .unwrap();
        reg.register(&rec("a-some", "a", "some", &["b"]), None)
            .unwrap();
        let mut web = rec("a-w1", "a", "w1", &["b"]);
        web.service = Some(n("web"));
        reg.register(&web, None).unwrap();
        let mut web2 = rec("a-w2", "a", "w2", &[]);
        web2.service = Some(n("web"));
        reg.register(&web2, None).unwrap();
        reg.put_resource(&Resource {
            name: n("pg"),
            url: "postgres://10.9.9.9:5432/x".into(),
            env: vec![],
            addrs: vec![],
        })
        .unwrap();
        let one = |reg: &mut Registry, scope: &str, text: &str| {
            resolve(reg, &n("me"), &n(scope), &parse_links(text).unwrap(), None)
        };
        let id = |r: Result<Vec<Resolved>, Error>| match r.unwrap().remove(0).target {
            Target::Container(r) => r.id.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(id(one(&mut reg, "a", "db")), "a-db");
        assert_eq!(id(one(&mut reg, "b", "db")), "b-db");
        assert_eq!(id(one(&mut reg, "b", "a/open")), "a-open");
        assert_eq!(id(one(&mut reg, "b", "a/some")), "a-some");
        let err = one(&mut reg, "c", "a/some").unwrap_err().to_string();
        assert_eq!(
            err,
            "link \"a/some\": target \"some\" in scope \"a\" does not admit scope \"c\" (add io.linkshim.allow-scopes=c to the target)"
        );
        let err = one(&mut reg, "b", "a/db:data").unwrap_err().to_string();
        assert!(err.contains("does not admit scope \"b\""), "{err}");
        let err = one(&mut reg, "c", "db").unwrap_err().to_string();
        assert!(err.contains("in scope \"c\""), "{err}");
        // A service crosses only when every replica admits the linker.
        let err = one(&mut reg, "b", "a/web").unwrap_err().to_string();
        assert!(err.contains("target \"w2\""), "{err}");
        assert!(one(&mut reg, "a", "web").is_ok());
        // Resources are host-wide, named without a scope.
        assert!(matches!(
            one(&mut reg, "c", "pg").unwrap()[0].target,
            Target::Resource { .. }
        ));
        assert!(one(&mut reg, "c", "a/pg").is_err());
        // The same name in another scope is not the linker itself.
        assert_eq!(
            id(resolve(
                &mut reg,
                &n("db"),
                &n("b"),
                &parse_links("a/open").unwrap(),
                None
            )),
            "a-open"
        );
        reg.register(&rec("a-me", "a", "me", &["*"]), None).unwrap();
        assert!(
            one(&mut reg, "b", "a/me").is_ok(),
            "a namesake in another scope"
        );
        assert!(
            one(&mut reg, "a", "me")
                .unwrap_err()
                .to_string()
                .contains("itself")
        );
    }
}

#[cfg(test)]
mod render_tests {
    use super::*;
    use crate::links::annotation::parse_links;

    #[test]
    fn resources_link_like_containers() {
        let resource = Resource {
            name: Name::parse("t", "pg").unwrap(),
            url: "postgres://app:pw@192.0.2.10:5433/appdb".into(),
            env: vec![("PGSSLMODE".into(), "require".into())],
            addrs: vec!["192.0.2.10".parse().unwrap()],
        };
        let record = resource_record(&resource);
        let r = render(
            "web",
            &[Resolved {
                request: parse_links("pg:db").unwrap().remove(0),
                target: Target::Resource { resource, record },
            }],
            Policy::All,
        )
        .unwrap();
        let get = |k: &str| {
            r.env
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("DB_PORT"), Some("tcp://192.0.2.10:5433"));
        assert_eq!(
            get("DB_URL"),
            Some("postgres://app:pw@192.0.2.10:5433/appdb")
        );
        assert_eq!(get("DB_PASSWORD"), Some("pw"));
        assert_eq!(get("DB_ENV_PGSSLMODE"), Some("require"));
        assert_eq!(r.hosts.len(), 1);
        assert_eq!(r.hosts[0].names, vec!["db", "pg"]);
    }
}

#[cfg(test)]
mod replica_name_tests {
    use super::*;
    use crate::links::annotation::parse_links;

    #[test]
    fn a_replica_named_like_its_service_is_no_clash() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        for (id, name) in [("a", "web"), ("b", "web-b")] {
            let rec = Record {
                service: Some(Name::parse("t", "web").unwrap()),
                ..Record::new(id, Name::parse("t", name).unwrap())
                    .owned_by(std::process::id() as i32)
            };
            reg.register(&rec, None).unwrap();
        }
        let me = Name::parse("t", "me").unwrap();
        let got = resolve(
            &mut reg,
            &me,
            &crate::model::default_scope(),
            &parse_links("web").unwrap(),
            None,
        )
        .unwrap();
        assert!(matches!(&got[0].target, Target::Service { replicas, .. } if replicas.len() == 2));
    }
}
