//! Link requests + registry -> resolved links.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;

use crate::links::annotation::{LinkRequest, Name, Port, Proto};
use crate::links::url::{self, Template};
use crate::registry::{self, Record, Registry, Resource};

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

/// Why a link could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "link \"{link}\": could not get container for {target}: no running container, service or resource named {target:?} is registered (start it first, or fix annotation io.linkshim.links)"
    )]
    Missing { link: String, target: String },
    #[error(
        "link \"{link}\": {target:?} is ambiguous: it is both {what} (rename one of them with io.linkshim.name or io.linkshim.service)"
    )]
    Ambiguous {
        link: String,
        target: String,
        what: &'static str,
    },
    #[error("link \"{link}\": a container cannot link to itself")]
    SelfLink { link: String },
    #[error(transparent)]
    Registry(#[from] registry::Error),
}

/// Resolve every link of `linker`; the first failure fails them all.
/// Resources are looked up in `reg`, then in the registry in `persist_dir`.
pub fn resolve(
    reg: &mut Registry,
    linker: &Name,
    links: &[LinkRequest],
    persist_dir: Option<&Path>,
) -> Result<Vec<Resolved>, Error> {
    links
        .iter()
        .map(|request| {
            let link = request.to_string();
            let name = request.target.as_str();
            if request.target == *linker {
                return Err(Error::SelfLink { link });
            }
            let container = reg.lookup(name)?.filter(|r| !r.is_pending());
            let replicas: Vec<Record> = reg
                .service(name)?
                .into_iter()
                .filter(|r| !r.is_pending())
                .collect();
            // A replica named like its own service is one of the replicas.
            let container = container.filter(|c| c.service.as_ref() != Some(&request.target));
            let target = match (container, replicas.is_empty()) {
                (Some(_), false) => {
                    return Err(Error::Ambiguous {
                        link,
                        target: name.to_string(),
                        what: "a container and a service",
                    });
                }
                (Some(c), true) => Target::Container(c),
                (None, false) => Target::Service {
                    name: request.target.clone(),
                    replicas,
                },
                (None, true) => match find_resource(reg, name, persist_dir)? {
                    Some(r) => Target::Resource {
                        record: resource_record(&r),
                        resource: r,
                    },
                    None => {
                        return Err(Error::Missing {
                            link,
                            target: name.to_string(),
                        });
                    }
                },
            };
            Ok(Resolved {
                request: request.clone(),
                target,
            })
        })
        .collect()
}

fn find_resource(
    reg: &Registry,
    name: &str,
    persist_dir: Option<&Path>,
) -> Result<Option<Resource>, Error> {
    if let Some(r) = reg.resource(name)? {
        return Ok(Some(r));
    }
    match persist_dir {
        Some(dir) if Registry::db_path(dir).exists() => Ok(Registry::open(dir)?.resource(name)?),
        _ => Ok(None),
    }
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
        Err(_) => (host.as_str(), 0)
            .to_socket_addrs()
            .map(|a| crate::netns::reachable(a.map(|s| s.ip()).collect()))
            .unwrap_or_default(),
    }
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
        url: Some(r.url.clone()),
        ..Record::new(String::new(), r.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::annotation::parse_links;

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
            &Name::parse("t", "lazy").unwrap(),
            &Name::parse("t", "lazy-1").unwrap(),
            "0123456789abcdef",
        )
        .unwrap();
        let linker = Name::parse("t", "me").unwrap();
        let one = |reg: &mut Registry, text: &str| {
            resolve(reg, &linker, &parse_links(text).unwrap(), None)
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
        assert!(resolve(&mut reg, &me, &links, None).is_err());
        let got = resolve(&mut reg, &me, &links, Some(persist.path())).unwrap();
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
        let got = resolve(&mut reg, &me, &parse_links("web").unwrap(), None).unwrap();
        assert!(matches!(&got[0].target, Target::Service { replicas, .. } if replicas.len() == 2));
    }
}
