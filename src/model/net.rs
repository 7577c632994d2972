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

/// The addresses of a target a linker on `linker` should use: those on a
/// subnet the linker shares with it, when any is shared (Docker gave the
/// address on the common network), else every address of the target (the
/// linker's own addresses are unknown, or it reaches the target through a
/// router). IPv4 first, as `addrs` lists them.
pub fn reachable_from(addrs: &[IpAddr], nets: &[NetAddr], linker: &[NetAddr]) -> Vec<IpAddr> {
    let shared: Vec<IpAddr> = addrs
        .iter()
        .copied()
        .filter(|a| {
            nets.iter()
                .filter(|n| n.ip == *a)
                .any(|n| linker.iter().any(|l| l.shares_subnet(n)))
        })
        .collect();
    if shared.is_empty() {
        addrs.to_vec()
    } else {
        shared
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
        let addrs = [ip("10.88.0.5"), ip("10.89.1.7")];
        let nets = [net("10.88.0.5/16"), net("10.89.1.7/24")];
        assert_eq!(
            reachable_from(&addrs, &nets, &[net("10.89.1.20/24")]),
            vec![ip("10.89.1.7")],
            "the linker is on the second network only"
        );
        assert_eq!(
            reachable_from(&addrs, &nets, &[net("10.88.3.3/16"), net("10.89.1.9/24")]),
            addrs.to_vec(),
            "on both: both, in the target's order"
        );
        assert_eq!(
            reachable_from(&addrs, &nets, &[net("192.168.1.2/24")]),
            addrs.to_vec(),
            "nothing shared: every address, as before"
        );
        assert_eq!(
            reachable_from(&addrs, &[], &[net("10.89.1.20/24")]),
            addrs.to_vec()
        );
    }
}
