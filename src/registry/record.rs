//! What the registry holds: running containers and resources.

use std::net::IpAddr;

use serde::Serialize;

use super::liveness::{self, Liveness};
use crate::model::share::Policy;
use crate::model::{
    Admits, ContainerId, LinkRequest, Name, NetAddr, Port, Published, Template, default_scope,
};

/// One running container, as registered at its start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub id: ContainerId,
    /// The scope its name (and service) is unique in, and its links resolve in.
    pub scope: Name,
    pub name: Name,
    /// The other scopes that may link to it.
    pub admits: Admits,
    /// The service this container is a replica of, and its index in it (1..N).
    pub service: Option<Name>,
    pub index: Option<u32>,
    /// Its configured hostname (`hostname` in its config), when one that
    /// may go into a hosts line (`model::valid_hostname`).
    pub hostname: Option<String>,
    /// Addresses read from its network namespace: IPv4 first.
    pub addrs: Vec<IpAddr>,
    /// The same addresses with their subnets, to find the one a linker
    /// shares; empty in a record from before they were kept.
    pub nets: Vec<NetAddr>,
    /// It uses the host's network namespace (`--network host`): `addrs`
    /// are the host's, given to a linker only on a subnet it shares.
    pub host_net: bool,
    /// Exposed ports, in Docker's order.
    pub ports: Vec<Port>,
    /// What it shares of its own configured environment (see
    /// `model::NOT_CASCADED` and `model::share`).
    pub env: Vec<(String, String)>,
    /// How `env` was chosen: `all` (Docker's behaviour, or a row from a
    /// linkshim that did not filter), `declared` or `none`.
    pub shared: Policy,
    /// Its links.
    pub links: Vec<LinkRequest>,
    /// How clients should address it (`io.linkshim.url`), host left empty.
    pub url: Option<Template>,
    /// Ports published on its host (`io.linkshim.publish`): kept by a
    /// registry shared by hosts (etcd), for links from other hosts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<Published>,
    /// Set when read by a linker on another host that reaches it through
    /// its host: that host's address (`advertise_address`). Its `ports`
    /// are then the published ones, connected to at their host ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    pub pid: Option<i32>,
    pub pid_start: Option<u64>,
    pub boot_id: String,
    /// Seconds since the epoch.
    pub created: i64,
}

/// How long a slot reserved at create time waits for its container to start.
pub const PENDING_SECS: i64 = 120;

impl Record {
    /// A record of container `id` named `name` in the default scope from
    /// this boot, with nothing else yet: no address, port, env, link,
    /// service or process, admitting no other scope.
    pub fn new(id: impl Into<ContainerId>, name: Name) -> Record {
        Record {
            id: id.into(),
            scope: default_scope(),
            name,
            admits: Admits::Own,
            service: None,
            index: None,
            hostname: None,
            addrs: vec![],
            nets: vec![],
            host_net: false,
            ports: vec![],
            env: vec![],
            shared: Policy::All,
            links: vec![],
            url: None,
            publish: vec![],
            via: None,
            pid: None,
            pid_start: None,
            boot_id: liveness::boot_id(),
            created: now(),
        }
    }

    /// The same record, live as long as process `pid` is the one it is now.
    pub fn owned_by(self, pid: i32) -> Record {
        Record {
            pid: Some(pid),
            pid_start: liveness::pid_start_time(pid),
            ..self
        }
    }

    pub(super) fn live(&self, live: &Liveness) -> bool {
        live.is_live(&self.boot_id, self.pid, self.pid_start)
    }

    /// The address clients use: the first IPv4, else the first IPv6.
    pub fn primary_ip(&self) -> Option<IpAddr> {
        crate::model::primary_ip(self.reach_addrs())
    }

    /// The addresses a linker connects to: its host's when it is reached
    /// through its host ([`via`](Self::via)), else its own.
    pub fn reach_addrs(&self) -> &[IpAddr] {
        match &self.via {
            Some(v) => std::slice::from_ref(v),
            None => &self.addrs,
        }
    }

    /// The published ports that map a port to its host port, when it is
    /// reached through its host; none (every port as it is) otherwise.
    pub fn reach_ports(&self) -> &[Published] {
        match self.via {
            Some(_) => &self.publish,
            None => &[],
        }
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Something that is not a container but is linked like one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    pub name: Name,
    pub url: String,
    pub env: Vec<(String, String)>,
    /// Its URL's host, resolved when it was added (no lookup on a container's start).
    pub addrs: Vec<IpAddr>,
}
