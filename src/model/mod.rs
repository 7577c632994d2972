//! The shared vocabulary: names, scopes, ports, link requests, container
//! ids, URL templates, what a target shares, which variables are safe and
//! the size caps: the words every other module speaks.
//!
//! Nothing here imports the rest of the crate, so the annotation parser,
//! the registry and the renderers can all use it without depending on one
//! another: model <- {annotation, registry, render} <- resolve <- prepare.

mod id;
pub mod limits;
mod link;
mod name;
mod net;
mod port;
mod scope;
pub mod share;
pub mod url;
pub mod vars;

pub use id::{
    ContainerId, IdError, MAX_ID_LEN, MIN_ID_REFERENCE, escape as escape_id, may_reference_id,
    short_id,
};
pub use link::{Family, LinkRequest, StartPolicy};
pub use name::{Name, NameError};
pub use net::{MAX_HOSTNAME_LEN, NetAddr, Unreachable, Vantage, reachable_from, valid_hostname};
pub use port::{Port, Proto, Published, reached_port, sort_ports};
pub use scope::{Admits, DEFAULT_SCOPE, default_scope};
pub use url::Template;

/// Variables of a target's own environment that a link never carries.
pub const NOT_CASCADED: &[&str] = &["HOME", "PATH", "HOSTNAME", "TERM", "container"];

/// The variable prefix of an alias: upper-cased, every character outside
/// `[A-Z0-9_]` turned into `_`.
pub fn prefix(alias: &str) -> String {
    alias
        .chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The address clients use among `addrs`: the first IPv4, else the first IPv6.
pub fn primary_ip(addrs: &[std::net::IpAddr]) -> Option<std::net::IpAddr> {
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_table() {
        for (alias, want) in [
            ("db", "DB"),
            ("my-db", "MY_DB"),
            ("a.b", "A_B"),
            ("web_1", "WEB_1"),
            ("X9", "X9"),
        ] {
            assert_eq!(prefix(alias), want, "{alias}");
        }
    }

    #[test]
    fn primary_ip_prefers_ipv4() {
        let v6: std::net::IpAddr = "fd00::1".parse().unwrap();
        let v4: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(primary_ip(&[v6, v4]), Some(v4));
        assert_eq!(primary_ip(&[v6]), Some(v6));
        assert_eq!(primary_ip(&[]), None);
    }
}
