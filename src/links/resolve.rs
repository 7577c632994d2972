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

/// A resource seen as a container: its URL's host (an address, or a name
/// resolved now) and port, its env.
pub fn resource_record(r: &Resource) -> Record {
    let template = Template::parse(&r.url).ok();
    let host = template.as_ref().and_then(|t| t.host().map(str::to_string));
    let port = template
        .as_ref()
        .and_then(|t| url::parts(&t.fill(None, None)).ok())
        .and_then(|p| p.port);
    let addrs = match host {
        Some(h) => match h.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (h.as_str(), 0)
                .to_socket_addrs()
                .map(|a| crate::netns::reachable(a.map(|s| s.ip()).collect()))
                .unwrap_or_default(),
        },
        None => vec![],
    };
    Record {
        id: String::new(),
        name: r.name.clone(),
        service: None,
        index: None,
        addrs,
        ports: port
            .map(|number| Port {
                number,
                proto: Proto::Tcp,
            })
            .into_iter()
            .collect(),
        env: r.env.clone(),
        links: vec![],
        url: Some(r.url.clone()),
        pid: None,
        pid_start: None,
        boot_id: String::new(),
        created: 0,
    }
}
