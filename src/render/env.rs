//! Pure: resolved links -> environment variables.
//!
//! Docker's legacy `--link` variables, exactly as Docker made them, with one
//! fix: every character of the prefix outside `[A-Z0-9_]` becomes `_`.

use std::net::IpAddr;

use crate::links::annotation::{Port, Proto};

/// Variables of a target's own environment that a link never carries.
pub const NOT_CASCADED: &[&str] = &["HOME", "PATH", "HOSTNAME", "TERM", "container"];

/// The variable prefix of an alias: upper-cased, every character outside
/// `[A-Z0-9_]` turned into `_`.
pub fn prefix(alias: &str) -> String {
    alias
        .chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' { c } else { '_' }
        })
        .collect()
}

/// `proto://ip:port`, with brackets around an IPv6 address.
pub fn port_url(proto: Proto, ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{}://{v4}:{port}", proto.as_str()),
        IpAddr::V6(v6) => format!("{}://[{v6}]:{port}", proto.as_str()),
    }
}

/// What the env renderer needs to know of one link target.
#[derive(Debug, Clone, Copy)]
pub struct TargetView<'a> {
    /// The address clients use, when the target has one.
    pub ip: Option<IpAddr>,
    /// Exposed ports, in Docker's order (see `sort_ports`).
    pub ports: &'a [Port],
    /// The target's own configured environment, `KEY=VALUE` pairs.
    pub env: &'a [(String, String)],
}

/// Docker's link variables for one link: `<P>_NAME`, `<P>_PORT*` and
/// `<P>_ENV_*`, where `<P>` is `prefix`.
pub fn docker_link_env(prefix: &str, linker: &str, alias: &str, target: TargetView<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    out.push((format!("{prefix}_NAME"), format!("/{linker}/{alias}")));
    if let Some(ip) = target.ip {
        port_env(&mut out, prefix, ip, target.ports);
    }
    for (key, value) in target.env {
        if NOT_CASCADED.contains(&key.as_str()) {
            continue;
        }
        out.push((format!("{prefix}_ENV_{key}"), value.clone()));
    }
    out
}

fn port_env(out: &mut Vec<(String, String)>, prefix: &str, ip: IpAddr, ports: &[Port]) {
    let Some(first) = ports.first() else { return };
    out.push((format!("{prefix}_PORT"), port_url(first.proto, ip, first.number)));
    let addr = ip.to_string();
    for p in ports {
        let base = format!("{prefix}_PORT_{}_{}", p.number, p.proto.as_str().to_ascii_uppercase());
        out.push((base.clone(), port_url(p.proto, ip, p.number)));
        out.push((format!("{base}_ADDR"), addr.clone()));
        out.push((format!("{base}_PORT"), p.number.to_string()));
        out.push((format!("{base}_PROTO"), p.proto.as_str().to_string()));
    }
    for run in runs(ports) {
        let (start, end) = (run[0], run[run.len() - 1]);
        let base = format!("{prefix}_PORT_{}_{}", start.number, start.proto.as_str().to_ascii_uppercase());
        out.push((format!("{base}_START"), port_url(start.proto, ip, start.number)));
        out.push((format!("{base}_PORT_START"), start.number.to_string()));
        out.push((format!("{base}_END"), port_url(end.proto, ip, end.number)));
        out.push((format!("{base}_PORT_END"), end.number.to_string()));
    }
}

/// Runs of two or more consecutive ports of one protocol, in the order given.
fn runs(ports: &[Port]) -> Vec<&[Port]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=ports.len() {
        let continues = i < ports.len()
            && ports[i].proto == ports[i - 1].proto
            && u32::from(ports[i].number) == u32::from(ports[i - 1].number) + 1;
        if !continues {
            if i - start > 1 {
                out.push(&ports[start..i]);
            }
            start = i;
        }
    }
    out
}

/// `<P>_PORTS`: every port's URL, in Docker's order, comma separated.
pub fn ports_list(ip: IpAddr, ports: &[Port]) -> String {
    ports
        .iter()
        .map(|p| port_url(p.proto, ip, p.number))
        .collect::<Vec<_>>()
        .join(",")
}
