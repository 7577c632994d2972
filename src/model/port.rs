//! Exposed ports and their protocols, in Docker's order.

use std::fmt;

/// A transport protocol a port may be exposed on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    // Declared in Docker's order: the derived `Ord` is `sort_ports`'s.
    Tcp,
    Sctp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

/// An exposed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Port {
    pub number: u16,
    pub proto: Proto,
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number, self.proto.as_str())
    }
}

/// A port published on the container's host (`io.linkshim.publish`,
/// like the engine's `-p HOSTPORT:PORT/proto`): reached from other hosts
/// at the host's address and `host_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Published {
    pub port: Port,
    pub host_port: u16,
}

/// The number a client connects to for `port`: its published host port
/// when `published` maps it (a target reached through its host), else its
/// own.
pub fn reached_port(port: &Port, published: &[Published]) -> u16 {
    published
        .iter()
        .find(|p| p.port == *port)
        .map_or(port.number, |p| p.host_port)
}

/// Docker's port order: TCP first, then the other protocols by name (SCTP,
/// then UDP); by number within a protocol.
pub fn sort_ports(ports: &mut Vec<Port>) {
    ports.sort_by_key(|p| (p.proto, p.number));
    ports.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_order_tcp_then_sctp_then_udp_by_number() {
        let p = |number, proto| Port { number, proto };
        let mut ports = vec![
            p(9, Proto::Sctp),
            p(53, Proto::Udp),
            p(9000, Proto::Tcp),
            p(80, Proto::Tcp),
            p(80, Proto::Tcp),
            p(7, Proto::Udp),
            p(100, Proto::Sctp),
        ];
        sort_ports(&mut ports);
        assert_eq!(
            ports,
            vec![
                p(80, Proto::Tcp),
                p(9000, Proto::Tcp),
                p(9, Proto::Sctp),
                p(100, Proto::Sctp),
                p(7, Proto::Udp),
                p(53, Proto::Udp),
            ]
        );
    }
}
