//! Pure: resolved links -> environment variables.
//!
//! Docker's legacy `--link` variables, exactly as Docker made them, with one
//! fix: every character of the prefix outside `[A-Z0-9_]` becomes `_`.

use std::net::IpAddr;

use crate::model::{NOT_CASCADED, Port, Proto, Published, reached_port};

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
    /// When it is reached through its host: each port's host port (the
    /// variables keep the container's port in their names, as Docker's
    /// links through an ambassador did); empty otherwise.
    pub published: &'a [Published],
    /// The target's own configured environment, `KEY=VALUE` pairs.
    pub env: &'a [(String, String)],
}

/// Docker's link variables for one link: `<P>_NAME`, `<P>_PORT*` and
/// `<P>_ENV_*`, where `<P>` is `prefix`.
pub fn docker_link_env(
    prefix: &str,
    linker: &str,
    alias: &str,
    target: TargetView<'_>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    out.push((format!("{prefix}_NAME"), format!("/{linker}/{alias}")));
    if let Some(ip) = target.ip {
        port_env(&mut out, prefix, ip, target.ports, target.published);
    }
    for (key, value) in target.env {
        if NOT_CASCADED.contains(&key.as_str()) {
            continue;
        }
        out.push((format!("{prefix}_ENV_{key}"), value.clone()));
    }
    out
}

fn port_env(
    out: &mut Vec<(String, String)>,
    prefix: &str,
    ip: IpAddr,
    ports: &[Port],
    published: &[Published],
) {
    let Some(first) = ports.first() else { return };
    let at = |p: &Port| reached_port(p, published);
    out.push((
        format!("{prefix}_PORT"),
        port_url(first.proto, ip, at(first)),
    ));
    let addr = ip.to_string();
    for p in ports {
        let base = format!(
            "{prefix}_PORT_{}_{}",
            p.number,
            p.proto.as_str().to_ascii_uppercase()
        );
        out.push((base.clone(), port_url(p.proto, ip, at(p))));
        out.push((format!("{base}_ADDR"), addr.clone()));
        out.push((format!("{base}_PORT"), at(p).to_string()));
        out.push((format!("{base}_PROTO"), p.proto.as_str().to_string()));
    }
    // A run is consecutive on the host too only when nothing is mapped.
    for run in runs(ports).into_iter().filter(|_| published.is_empty()) {
        let (start, end) = (run[0], run[run.len() - 1]);
        let base = format!(
            "{prefix}_PORT_{}_{}",
            start.number,
            start.proto.as_str().to_ascii_uppercase()
        );
        out.push((
            format!("{base}_START"),
            port_url(start.proto, ip, start.number),
        ));
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
pub fn ports_list(ip: IpAddr, ports: &[Port], published: &[Published]) -> String {
    ports
        .iter()
        .map(|p| port_url(p.proto, ip, reached_port(p, published)))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::annotation::parse_expose;
    use crate::model::prefix;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
        v.sort();
        v
    }

    /// The Docker 20.10 example of LINKS-REFERENCE.md, variable for variable.
    #[test]
    fn docker_reference_example() {
        let ports = parse_expose("3306,33060/udp,7000-7002").unwrap();
        let own = env(&[
            ("MYSQL_ROOT_PASSWORD", "secret"),
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
        ]);
        let got = docker_link_env(
            &prefix("db"),
            "webapp",
            "db",
            TargetView {
                published: &[],
                ip: Some("172.17.0.2".parse().unwrap()),
                ports: &ports,
                env: &own,
            },
        );
        let mut want = vec![
            ("DB_NAME", "/webapp/db"),
            ("DB_PORT", "tcp://172.17.0.2:3306"),
            ("DB_ENV_MYSQL_ROOT_PASSWORD", "secret"),
            ("DB_PORT_7000_TCP_START", "tcp://172.17.0.2:7000"),
            ("DB_PORT_7000_TCP_PORT_START", "7000"),
            ("DB_PORT_7000_TCP_END", "tcp://172.17.0.2:7002"),
            ("DB_PORT_7000_TCP_PORT_END", "7002"),
        ];
        let per_port = [
            ("3306", "TCP", "tcp"),
            ("7000", "TCP", "tcp"),
            ("7001", "TCP", "tcp"),
            ("7002", "TCP", "tcp"),
            ("33060", "UDP", "udp"),
        ];
        let mut owned = Vec::new();
        for (n, up, lo) in per_port {
            owned.push((
                format!("DB_PORT_{n}_{up}"),
                format!("{lo}://172.17.0.2:{n}"),
            ));
            owned.push((format!("DB_PORT_{n}_{up}_ADDR"), "172.17.0.2".to_string()));
            owned.push((format!("DB_PORT_{n}_{up}_PORT"), n.to_string()));
            owned.push((format!("DB_PORT_{n}_{up}_PROTO"), lo.to_string()));
        }
        let mut want: Vec<(String, String)> = want
            .drain(..)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(owned)
            .collect();
        want.sort();
        assert_eq!(sorted(got), want);
    }

    #[test]
    fn table() {
        struct Case {
            desc: &'static str,
            alias: &'static str,
            expose: &'static str,
            env: &'static [(&'static str, &'static str)],
            want_has: &'static [(&'static str, &'static str)],
            want_not: &'static [&'static str],
            count: usize,
        }
        let cases = [
            Case {
                desc: "no exposed ports: only _NAME and _ENV_",
                alias: "cache",
                expose: "",
                env: &[
                    ("A", "1"),
                    ("HOSTNAME", "x"),
                    ("TERM", "xterm"),
                    ("container", "podman"),
                ],
                want_has: &[("CACHE_NAME", "/web/cache"), ("CACHE_ENV_A", "1")],
                want_not: &[
                    "CACHE_PORT",
                    "CACHE_ENV_HOSTNAME",
                    "CACHE_ENV_TERM",
                    "CACHE_ENV_container",
                ],
                count: 2,
            },
            Case {
                desc: "dashes and dots in the alias become underscores",
                alias: "my-db.v2",
                expose: "5432",
                env: &[],
                want_has: &[
                    ("MY_DB_V2_NAME", "/web/my-db.v2"),
                    ("MY_DB_V2_PORT", "tcp://10.0.0.5:5432"),
                ],
                want_not: &[],
                count: 6,
            },
            Case {
                desc: "udp only: _PORT is the udp URL",
                alias: "dns",
                expose: "53/udp",
                env: &[],
                want_has: &[
                    ("DNS_PORT", "udp://10.0.0.5:53"),
                    ("DNS_PORT_53_UDP_PROTO", "udp"),
                ],
                want_not: &["DNS_PORT_53_TCP"],
                count: 6,
            },
            Case {
                desc: "tcp sorts before udp even with a lower udp number",
                alias: "x",
                expose: "9000,53/udp",
                env: &[],
                want_has: &[("X_PORT", "tcp://10.0.0.5:9000")],
                want_not: &[],
                count: 10,
            },
            Case {
                desc: "a value keeps its '=' whole",
                alias: "x",
                expose: "",
                env: &[("DSN", "a=b=c")],
                want_has: &[("X_ENV_DSN", "a=b=c")],
                want_not: &[],
                count: 2,
            },
            Case {
                desc: "two runs of one protocol, split by a gap",
                alias: "r",
                expose: "80-81,83-84",
                env: &[],
                want_has: &[
                    ("R_PORT_80_TCP_PORT_END", "81"),
                    ("R_PORT_83_TCP_PORT_END", "84"),
                ],
                want_not: &["R_PORT_81_TCP_START", "R_PORT_82_TCP"],
                count: 2 + 4 * 4 + 8,
            },
            Case {
                desc: "consecutive numbers of different protocols are no run",
                alias: "m",
                expose: "5000,5001/udp",
                env: &[],
                want_has: &[],
                want_not: &["M_PORT_5000_TCP_START", "M_PORT_5001_UDP_START"],
                count: 10,
            },
            Case {
                desc: "no tcp: sctp before udp, whatever the numbers",
                alias: "s",
                expose: "7/udp,8/sctp",
                env: &[],
                want_has: &[
                    ("S_PORT", "sctp://10.0.0.5:8"),
                    ("S_PORT_7_UDP", "udp://10.0.0.5:7"),
                ],
                want_not: &[],
                count: 10,
            },
        ];
        for c in cases {
            let ports = parse_expose(c.expose).unwrap();
            let own = env(c.env);
            let got = docker_link_env(
                &prefix(c.alias),
                "web",
                c.alias,
                TargetView {
                    published: &[],
                    ip: Some("10.0.0.5".parse().unwrap()),
                    ports: &ports,
                    env: &own,
                },
            );
            for (k, v) in c.want_has {
                assert!(
                    got.iter().any(|(gk, gv)| gk == k && gv == v),
                    "{}: want {k}={v} in {got:?}",
                    c.desc
                );
            }
            for k in c.want_not {
                assert!(
                    !got.iter().any(|(gk, _)| gk == k),
                    "{}: {k} must not be set",
                    c.desc
                );
            }
            assert_eq!(got.len(), c.count, "{}: {got:?}", c.desc);
        }
    }

    #[test]
    fn ipv6_urls_are_bracketed() {
        let ports = parse_expose("80").unwrap();
        let got = docker_link_env(
            "W",
            "l",
            "w",
            TargetView {
                published: &[],
                ip: Some("fd00::5".parse().unwrap()),
                ports: &ports,
                env: &[],
            },
        );
        assert!(got.contains(&("W_PORT".into(), "tcp://[fd00::5]:80".into())));
        assert!(got.contains(&("W_PORT_80_TCP_ADDR".into(), "fd00::5".into())));
    }

    #[test]
    fn ports_list_in_docker_order() {
        let ports = parse_expose("33060/udp,3306,9/sctp").unwrap();
        assert_eq!(
            ports_list("172.17.0.5".parse().unwrap(), &ports, &[]),
            "tcp://172.17.0.5:3306,sctp://172.17.0.5:9,udp://172.17.0.5:33060"
        );
    }

    #[test]
    fn a_target_reached_through_its_host_keeps_its_port_names_and_gets_host_ports() {
        let ports = parse_expose("80 5432").unwrap();
        let published = [crate::model::Published {
            port: ports[0],
            host_port: 18080,
        }];
        let out = docker_link_env(
            "WEB",
            "app",
            "web",
            TargetView {
                ip: Some("192.0.2.20".parse().unwrap()),
                ports: &ports[..1],
                published: &published,
                env: &[],
            },
        );
        let want = env(&[
            ("WEB_NAME", "/app/web"),
            ("WEB_PORT", "tcp://192.0.2.20:18080"),
            ("WEB_PORT_80_TCP", "tcp://192.0.2.20:18080"),
            ("WEB_PORT_80_TCP_ADDR", "192.0.2.20"),
            ("WEB_PORT_80_TCP_PORT", "18080"),
            ("WEB_PORT_80_TCP_PROTO", "tcp"),
        ]);
        assert_eq!(sorted(out), sorted(want));
        assert_eq!(
            ports_list("192.0.2.20".parse().unwrap(), &ports[..1], &published),
            "tcp://192.0.2.20:18080"
        );
    }
}
