//! Link requests + registry -> resolved links.

use crate::links::annotation::{LinkRequest, Name};
use crate::registry::{self, Record, Registry, Resource};

/// What a link's target turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One running container.
    Container(Record),
    /// The live replicas of a service, by index.
    Service { name: Name, replicas: Vec<Record> },
    /// Something registered with `linkshim resource add`.
    Resource(Resource),
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
pub fn resolve(reg: &mut Registry, linker: &Name, links: &[LinkRequest]) -> Result<Vec<Resolved>, Error> {
    links
        .iter()
        .map(|request| {
            let link = request.to_string();
            let name = request.target.as_str();
            if request.target == *linker {
                return Err(Error::SelfLink { link });
            }
            let container = reg.lookup(name)?;
            let replicas = reg.service(name)?;
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
                (None, true) => match reg.resource(name)? {
                    Some(r) => Target::Resource(r),
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
