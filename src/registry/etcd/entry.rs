//! The keys linkshim keeps in etcd and the JSON values under them.
//!
//! Under the configured prefix `P` (default `/linkshim`), for host `H`:
//!
//! ```text
//! P/names/<scope>/<name>            the holder of a name in a scope: a running
//!                                   container (its record), or a reservation of a
//!                                   container being created; claimed by a
//!                                   transaction (create revision 0, or unchanged)
//! P/slots/<scope>/<service>/<index> a replica index, held the same way
//! P/hosts/<H>/ids/<id>              host H's running container <id> (its record)
//! P/hosts/<H>/reserved/<token>      host H's reservation under <token>
//! P/hosts/<H>/holds/<token>         host H's hold on the hosts file of <token>
//! P/resources/<name>                a resource
//! ```
//!
//! A container's record is written, byte for byte the same value, under
//! its name, its slot (a replica) and its host's ids, in one transaction;
//! so is a reservation under its name, its slot and its host's reserved.
//! Every value names the host that wrote it. A host writes and removes
//! only its own entries: another host's record is trusted while it is
//! there (its host clears it at stop, or its `gc` after a crash), a
//! record of this host is live only while its process is (pid, start
//! time, boot id), and a reservation only for `PENDING_SECS`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::model::share::Policy;
use crate::model::{Admits, ContainerId, LinkRequest, Name, NetAddr, Port, Published, Template};
use crate::registry::codec::EnvColumn;
use crate::registry::liveness::Liveness;
use crate::registry::record::{PENDING_SECS, Record, Resource, now};

/// The keys of one host under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    pub prefix: String,
    pub host: String,
}

impl Keys {
    pub fn name(&self, scope: &str, name: &str) -> String {
        format!("{}/names/{scope}/{name}", self.prefix)
    }
    pub fn names_in(&self, scope: &str) -> String {
        format!("{}/names/{scope}/", self.prefix)
    }
    pub fn all_names(&self) -> String {
        format!("{}/names/", self.prefix)
    }
    pub fn slot(&self, scope: &str, service: &str, index: u32) -> String {
        format!("{}/slots/{scope}/{service}/{index}", self.prefix)
    }
    pub fn slots_of(&self, scope: &str, service: &str) -> String {
        format!("{}/slots/{scope}/{service}/", self.prefix)
    }
    pub fn mine(&self) -> String {
        format!("{}/hosts/{}/", self.prefix, self.host)
    }
    pub fn id(&self, id: &str) -> String {
        format!("{}/hosts/{}/ids/{id}", self.prefix, self.host)
    }
    pub fn ids(&self) -> String {
        format!("{}/hosts/{}/ids/", self.prefix, self.host)
    }
    pub fn reserved(&self, token: &str) -> String {
        format!("{}/hosts/{}/reserved/{token}", self.prefix, self.host)
    }
    pub fn hold(&self, token: &str) -> String {
        format!("{}/hosts/{}/holds/{token}", self.prefix, self.host)
    }
    pub fn resource(&self, name: &str) -> String {
        format!("{}/resources/{name}", self.prefix)
    }
    pub fn resources(&self) -> String {
        format!("{}/resources/", self.prefix)
    }
}

/// What holds a name or a slot: a container or a reservation, by a host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub host: String,
    /// The address other hosts reach its host at (`advertise_address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<IpAddr>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Stored>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved: Option<Reservation>,
}

/// A reservation made at create time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    pub boot: String,
    pub created: i64,
    pub scope: Name,
    pub name: Name,
    pub service: Name,
    pub index: u32,
}

/// A hold on a hosts file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    pub boot: String,
    pub created: i64,
    pub scope: Name,
    pub name: Name,
}

/// A record as JSON: every field validated again when read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stored {
    id: String,
    scope: Name,
    name: Name,
    admits: Admits,
    service: Option<Name>,
    index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    addrs: Vec<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    nets: Vec<NetAddr>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    host_net: bool,
    ports: Vec<Port>,
    env: EnvColumn,
    links: Vec<LinkRequest>,
    url: Option<Template>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    publish: Vec<Published>,
    pid: Option<i32>,
    pid_start: Option<u64>,
    boot_id: String,
    created: i64,
}

impl Stored {
    pub fn of(rec: &Record) -> Stored {
        Stored {
            id: rec.id.to_string(),
            scope: rec.scope.clone(),
            name: rec.name.clone(),
            admits: rec.admits.clone(),
            service: rec.service.clone(),
            index: rec.index,
            hostname: rec.hostname.clone(),
            addrs: rec.addrs.clone(),
            nets: rec.nets.clone(),
            host_net: rec.host_net,
            ports: rec.ports.clone(),
            env: EnvColumn::Marked {
                shared: rec.shared,
                vars: rec.env.clone(),
            },
            links: rec.links.clone(),
            url: rec.url.clone(),
            publish: rec.publish.clone(),
            pid: rec.pid,
            pid_start: rec.pid_start,
            boot_id: rec.boot_id.clone(),
            created: rec.created,
        }
    }

    pub fn record(&self) -> Result<Record, String> {
        let id = ContainerId::parse(&self.id).map_err(|e| e.to_string())?;
        let (env, shared) = match &self.env {
            EnvColumn::Marked { shared, vars } => (vars.clone(), *shared),
            EnvColumn::Bare(vars) => (vars.clone(), Policy::All),
        };
        Ok(Record {
            id,
            scope: self.scope.clone(),
            name: self.name.clone(),
            admits: self.admits.clone(),
            service: self.service.clone(),
            index: self.index,
            hostname: match &self.hostname {
                Some(h) if !crate::model::valid_hostname(h) => {
                    return Err(format!("hostname {h:?} may not go into a hosts line"));
                }
                h => h.clone(),
            },
            addrs: self.addrs.clone(),
            nets: self.nets.clone(),
            host_net: self.host_net,
            ports: self.ports.clone(),
            env,
            shared,
            links: self.links.clone(),
            url: self.url.clone(),
            publish: self.publish.clone(),
            via: None,
            pid: self.pid,
            pid_start: self.pid_start,
            boot_id: self.boot_id.clone(),
            created: self.created,
        })
    }
}

/// A resource as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredResource {
    pub name: Name,
    pub url: String,
    pub env: Vec<(String, String)>,
    pub addrs: Vec<IpAddr>,
}

impl From<&Resource> for StoredResource {
    fn from(r: &Resource) -> StoredResource {
        StoredResource {
            name: r.name.clone(),
            url: r.url.clone(),
            env: r.env.clone(),
            addrs: r.addrs.clone(),
        }
    }
}

impl From<StoredResource> for Resource {
    fn from(r: StoredResource) -> Resource {
        Resource {
            name: r.name,
            url: r.url,
            env: r.env,
            addrs: r.addrs,
        }
    }
}

/// An entry read back: what it holds, decoded and checked against its key.
#[derive(Debug, Clone)]
pub enum Holder {
    Container {
        host: String,
        advertise: Option<IpAddr>,
        token: Option<String>,
        record: Box<Record>,
    },
    Reserved {
        host: String,
        token: Option<String>,
        reservation: Reservation,
    },
}

impl Entry {
    pub fn container(
        host: &str,
        advertise: Option<IpAddr>,
        rec: &Record,
        token: Option<&str>,
    ) -> Entry {
        Entry {
            host: host.to_string(),
            advertise,
            token: token.map(str::to_string),
            record: Some(Stored::of(rec)),
            reserved: None,
        }
    }

    pub fn reservation(host: &str, token: &str, r: Reservation) -> Entry {
        Entry {
            host: host.to_string(),
            advertise: None,
            token: Some(token.to_string()),
            record: None,
            reserved: Some(r),
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("entries always serialize")
    }

    /// Decode `value`; the error says why it cannot be read.
    pub fn decode(value: &[u8]) -> Result<Holder, String> {
        let e: Entry = serde_json::from_slice(value).map_err(|e| e.to_string())?;
        if !is_host_id(&e.host) {
            return Err(format!("host {:?} is no host id", e.host));
        }
        if let Some(t) = &e.token
            && !crate::state_dir::is_token(t)
        {
            return Err(format!("token {t:?} is no hosts token"));
        }
        match (e.record, e.reserved) {
            (Some(s), None) => Ok(Holder::Container {
                host: e.host,
                advertise: e.advertise,
                token: e.token,
                record: Box::new(s.record()?),
            }),
            (None, Some(r)) if e.token.is_some() => Ok(Holder::Reserved {
                host: e.host,
                token: e.token,
                reservation: r,
            }),
            _ => Err("neither a record nor a reservation".into()),
        }
    }
}

impl Holder {
    pub fn host(&self) -> &str {
        match self {
            Holder::Container { host, .. } | Holder::Reserved { host, .. } => host,
        }
    }

    pub fn token(&self) -> Option<&str> {
        match self {
            Holder::Container { token, .. } | Holder::Reserved { token, .. } => token.as_deref(),
        }
    }

    /// Still holding: a record of another host (its host clears it), of
    /// this host while its process runs; a reservation of this boot (or
    /// of another host) for `PENDING_SECS`.
    pub fn live(&self, me: &str, live: &Liveness) -> bool {
        match self {
            Holder::Container { host, record, .. } => {
                host != me || live.is_live(&record.boot_id, record.pid, record.pid_start)
            }
            Holder::Reserved {
                host, reservation, ..
            } => {
                reservation.created > now() - PENDING_SECS
                    && (host != me || reservation.boot == live.boot_id)
            }
        }
    }

    pub fn record(&self) -> Option<&Record> {
        match self {
            Holder::Container { record, .. } => Some(record.as_ref()),
            Holder::Reserved { .. } => None,
        }
    }

    /// The record as a linker on host `me` reaches it: a container of
    /// another host that advertises an address and publishes ports is
    /// reached at that address, through its published ports alone; any
    /// other at its own addresses and ports.
    pub fn record_from(&self, me: &str) -> Option<Record> {
        let Holder::Container {
            host,
            advertise,
            record,
            ..
        } = self
        else {
            return None;
        };
        let mut rec = record.as_ref().clone();
        if let Some(addr) = advertise.filter(|_| host != me && !rec.publish.is_empty()) {
            rec.via = Some(addr);
            rec.ports
                .retain(|p| rec.publish.iter().any(|x| x.port == *p));
        }
        Some(rec)
    }
}

/// A host id: 1 to 64 of `[A-Za-z0-9_.-]`, not starting with a dot (a key
/// segment that cannot break the layout).
pub fn is_host_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse("t", s).unwrap()
    }

    #[test]
    fn a_record_round_trips_and_a_bad_one_is_refused() {
        let rec = Record {
            addrs: vec!["10.0.0.2".parse().unwrap()],
            links: vec![LinkRequest::parse("b/db:x").unwrap()],
            url: Some(Template::parse("redis://:6379/0").unwrap()),
            env: vec![("K".into(), "v".into())],
            shared: Policy::Declared,
            ..Record::new("c1", n("web")).owned_by(1)
        };
        let tok = "0123456789abcdef0123456789abcdef";
        let e = Entry::container("host-a", None, &rec, Some(tok));
        match Entry::decode(&e.bytes()).unwrap() {
            Holder::Container {
                host,
                token,
                record,
                ..
            } => {
                assert_eq!(host, "host-a");
                assert_eq!(token.as_deref(), Some(tok));
                assert_eq!(*record, rec);
            }
            other => panic!("{other:?}"),
        }
        let text = String::from_utf8(e.bytes()).unwrap();
        for (from, to) in [
            ("\"web\"", "\"we b\""),
            ("\"c1\"", "\"c/1\""),
            ("\"host-a\"", "\"../x\""),
            (tok, "nottoken"),
            ("\"b/db:x\"", "\"b/db:x y\""),
        ] {
            let bad = text.replacen(from, to, 1);
            assert!(Entry::decode(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(Entry::decode(b"{\"host\":\"h\"}").is_err());
    }

    #[test]
    fn another_hosts_record_is_trusted_this_hosts_is_checked() {
        let live = Liveness {
            boot_id: "boot-1".into(),
        };
        let dead = Record {
            pid: Some(i32::MAX),
            boot_id: "boot-1".into(),
            ..Record::new("c1", n("web"))
        };
        let holder = |host: &str| Holder::Container {
            host: host.into(),
            advertise: None,
            token: None,
            record: Box::new(dead.clone()),
        };
        assert!(holder("b").live("a", &live), "another host's");
        assert!(!holder("a").live("a", &live), "its process is gone");
        let res = |boot: &str, created: i64| Holder::Reserved {
            host: "a".into(),
            token: Some("t".into()),
            reservation: Reservation {
                boot: boot.into(),
                created,
                scope: n("s"),
                name: n("n"),
                service: n("v"),
                index: 1,
            },
        };
        assert!(res("boot-1", now()).live("a", &live));
        assert!(!res("boot-0", now()).live("a", &live), "another boot");
        assert!(res("boot-0", now()).live("b", &live), "another host's boot");
        assert!(!res("boot-1", now() - PENDING_SECS - 1).live("a", &live));
    }

    #[test]
    fn host_ids_are_one_key_segment() {
        for good in ["a", "3f1c9b2e0d7a4c55", "host-a.example_1"] {
            assert!(is_host_id(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(65), "é"] {
            assert!(!is_host_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn another_host_is_reached_through_its_address_and_published_ports() {
        let ports = crate::links::annotation::parse_expose("80 443").unwrap();
        let rec = Record {
            addrs: vec!["10.88.0.5".parse().unwrap()],
            ports: ports.clone(),
            publish: vec![crate::model::Published {
                port: ports[0],
                host_port: 18080,
            }],
            ..Record::new("c1", n("web")).owned_by(1)
        };
        let holder = |advertise: Option<IpAddr>| {
            Entry::decode(&Entry::container("host-b", advertise, &rec, None).bytes()).unwrap()
        };
        let addr: IpAddr = "192.0.2.20".parse().unwrap();
        let far = holder(Some(addr)).record_from("host-a").unwrap();
        assert_eq!(far.via, Some(addr));
        assert_eq!(far.reach_addrs(), [addr]);
        assert_eq!(far.ports, ports[..1], "only what is published");
        assert_eq!(far.addrs, rec.addrs, "its own addresses are kept");
        let near = holder(Some(addr)).record_from("host-b").unwrap();
        assert_eq!((near.via, near.ports.len()), (None, 2), "same host");
        let flat = holder(None).record_from("host-a").unwrap();
        assert_eq!(flat.via, None, "no advertised address: a routed network");
        let unpublished = Record {
            publish: vec![],
            ..rec.clone()
        };
        let h = Entry::decode(&Entry::container("host-b", Some(addr), &unpublished, None).bytes())
            .unwrap();
        assert_eq!(h.record_from("host-a").unwrap().via, None);
    }
}
