//! Where a container is on the network: its hostname as other hosts files
//! may carry it, and each address with the subnet it sits on.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The longest hostname a hosts line carries (a DNS name).
pub const MAX_HOSTNAME_LEN: usize = 253;

/// `hostname` when it may go into another container's hosts file: labels
/// of `[A-Za-z0-9_-]` (not starting or ending with `-`) joined by dots, at
/// most 253 characters. A hostname is the container creator's to choose,
/// so anything else (a space, a newline, a `#`) is refused.
pub fn valid_hostname(hostname: &str) -> bool {
    hostname.len() <= MAX_HOSTNAME_LEN
        && !hostname.is_empty()
        && hostname.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// An address with its subnet's prefix length, written `10.88.0.5/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetAddr {
    pub ip: IpAddr,
    pub prefix: u8,
}

impl NetAddr {
    /// `ip`/`prefix`, when the prefix fits the address family.
    pub fn new(ip: IpAddr, prefix: u8) -> Option<NetAddr> {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(NetAddr { ip, prefix })
    }

    /// True when `other` is on this address's subnet.
    pub fn contains(&self, other: IpAddr) -> bool {
        match (self.ip, other) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }

    /// True when both addresses are on one subnet (either's prefix).
    pub fn shares_subnet(&self, other: &NetAddr) -> bool {
        self.contains(other.ip) && other.contains(self.ip)
    }
}

impl fmt::Display for NetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

impl FromStr for NetAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<NetAddr, String> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: not ADDRESS/PREFIX"))?;
        let ip: IpAddr = ip.parse().map_err(|e| format!("{s:?}: {e}"))?;
        let prefix: u8 = prefix.parse().map_err(|e| format!("{s:?}: {e}"))?;
        NetAddr::new(ip, prefix).ok_or_else(|| format!("{s:?}: prefix too long"))
    }
}

impl serde::Serialize for NetAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for NetAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NetAddr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a linker stands on the network, as far as linkshim knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vantage {
    /// It uses the host's network namespace (`--network host`).
    pub host: bool,
    /// Its addresses with their subnets; empty when unknown.
    pub nets: Vec<NetAddr>,
}

/// Why a target has no address a linker can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable;

/// The addresses of a target (`addrs`, with their subnets `nets`; `host`
/// when it uses the host's network) a linker at `from` should use:
///
/// - a target with its own network: its addresses on a subnet the linker
///   shares (Docker gave the address on the common network), else all of
///   them (the linker's addresses are unknown, it is on the host, or it
///   reaches the target through a router);
/// - a target on the host's network: for a linker on the host too,
///   `127.0.0.1`; for a linker with its own network, the host's address on
///   a subnet the linker shares (its gateway, as `host.containers.internal`);
///   none shared, or the linker's addresses unknown: [`Unreachable`], never
///   an arbitrary host interface address.
///
/// IPv4 first, as `addrs` lists them.
pub fn reachable_from(
    addrs: &[IpAddr],
    nets: &[NetAddr],
    host: bool,
    from: &Vantage,
) -> Result<Vec<IpAddr>, Unreachable> {
    let shared: Vec<IpAddr> = addrs
        .iter()
        .copied()
        .filter(|a| {
            nets.iter()
                .filter(|n| n.ip == *a)
                .any(|n| from.nets.iter().any(|l| l.shares_subnet(n)))
        })
        .collect();
    match (host, from.host) {
        (true, true) => Ok(vec![IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)]),
        (true, false) if shared.is_empty() => Err(Unreachable),
        (false, _) if shared.is_empty() => Ok(addrs.to_vec()),
        _ => Ok(shared),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_that_may_enter_a_hosts_line() {
        for ok in ["fred", "db-1", "a.b.c", "330ef1855f71", "X9", "my_db"] {
            assert!(valid_hostname(ok), "{ok}");
        }
        let long = "a".repeat(64);
        let too_long = ["a"; 128].join(".");
        for bad in [
            "",
            "a b",
            "a\n6.6.6.6 db",
            "-a",
            "a-",
            "a..b",
            "a#b",
            long.as_str(),
            too_long.as_str(),
        ] {
            assert!(!valid_hostname(bad), "{bad:?}");
        }
    }

    #[test]
    fn net_addrs_parse_print_and_contain() {
        let n: NetAddr = "10.88.0.5/16".parse().unwrap();
        assert_eq!(n.to_string(), "10.88.0.5/16");
        assert!(n.contains("10.88.200.1".parse().unwrap()));
        assert!(!n.contains("10.89.0.1".parse().unwrap()));
        assert!(!n.contains("fd00::1".parse().unwrap()));
        let v6: NetAddr = "fd00:1::5/64".parse().unwrap();
        assert!(v6.contains("fd00:1::9".parse().unwrap()));
        assert!(!v6.contains("fd00:2::9".parse().unwrap()));
        let all: NetAddr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        for bad in [
            "10.0.0.1",
            "10.0.0.1/33",
            "x/8",
            "fd00::1/129",
            "10.0.0.1/-1",
        ] {
            assert!(bad.parse::<NetAddr>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&vec![n]).unwrap();
        assert_eq!(json, "[\"10.88.0.5/16\"]");
        assert_eq!(
            serde_json::from_str::<Vec<NetAddr>>(&json).unwrap(),
            vec![n]
        );
    }

    #[test]
    fn the_address_on_a_shared_subnet_is_chosen() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let net = |s: &str| s.parse::<NetAddr>().unwrap();
        let on = |nets: &[&str]| Vantage {
            host: false,
            nets: nets.iter().map(|n| net(n)).collect(),
        };
        let addrs = [ip("10.88.0.5"), ip("10.89.1.7")];
        let nets = [net("10.88.0.5/16"), net("10.89.1.7/24")];
        let pick = |from: &Vantage| reachable_from(&addrs, &nets, false, from);
        assert_eq!(
            pick(&on(&["10.89.1.20/24"])),
            Ok(vec![ip("10.89.1.7")]),
            "the linker is on the second network only"
        );
        assert_eq!(
            pick(&on(&["10.88.3.3/16", "10.89.1.9/24"])),
            Ok(addrs.to_vec()),
            "on both: both, in the target's order"
        );
        assert_eq!(
            pick(&on(&["192.168.1.2/24"])),
            Ok(addrs.to_vec()),
            "nothing shared: every address"
        );
        assert_eq!(pick(&Vantage::default()), Ok(addrs.to_vec()), "unknown");
        let host = Vantage {
            host: true,
            nets: vec![],
        };
        assert_eq!(pick(&host), Ok(addrs.to_vec()), "a linker on the host");
        assert_eq!(
            reachable_from(&addrs, &[], false, &on(&["10.89.1.20/24"])),
            Ok(addrs.to_vec()),
            "a record without subnets: as before"
        );
    }

    #[test]
    fn a_target_on_the_host_network_gives_the_linkers_gateway_or_nothing() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let net = |s: &str| s.parse::<NetAddr>().unwrap();
        // The host's interfaces: a public address and podman's bridge.
        let addrs = [ip("203.0.113.9"), ip("10.88.0.1")];
        let nets = [net("203.0.113.9/24"), net("10.88.0.1/16")];
        let linker = Vantage {
            host: false,
            nets: vec![net("10.88.0.7/16")],
        };
        assert_eq!(
            reachable_from(&addrs, &nets, true, &linker),
            Ok(vec![ip("10.88.0.1")])
        );
        let elsewhere = Vantage {
            host: false,
            nets: vec![net("10.89.0.7/24")],
        };
        assert_eq!(
            reachable_from(&addrs, &nets, true, &elsewhere),
            Err(Unreachable)
        );
        assert_eq!(
            reachable_from(&addrs, &nets, true, &Vantage::default()),
            Err(Unreachable),
            "never an arbitrary host address"
        );
        let on_host = Vantage {
            host: true,
            nets: vec![],
        };
        assert_eq!(
            reachable_from(&addrs, &nets, true, &on_host),
            Ok(vec![ip("127.0.0.1")])
        );
    }
}
