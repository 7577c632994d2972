//! Pure renderers: resolved links -> environment variables and hosts lines.
//!
//! They see a link's target through [`Endpoint`], plain data of the model:
//! where it came from (registry, resource) is not their business.

pub mod env;
pub mod hosts;

use std::net::IpAddr;

use log::debug;

use crate::model::url::{self, Template};
use crate::model::{Family, LinkRequest, Port, Proto, primary_ip};

/// Everything linkshim adds to a linker for its links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Generated variables, in order; the first of a key wins.
    pub env: Vec<(String, String)>,
    pub hosts: Vec<hosts::Line>,
}

/// One link target as the renderers see it: a container, a resource seen
/// as a container, or one replica of a service.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// Its container id; empty for a resource.
    pub id: &'a str,
    pub name: &'a str,
    /// IPv4 first.
    pub addrs: &'a [IpAddr],
    /// In Docker's order.
    pub ports: &'a [Port],
    /// Its own configured environment.
    pub env: &'a [(String, String)],
    /// How clients should address it (`io.linkshim.url`).
    pub url: Option<&'a Template>,
}

/// What one link points at.
#[derive(Debug, Clone)]
pub enum To<'a> {
    /// A container, or a resource seen as one.
    One(Endpoint<'a>),
    /// The replicas of a service, each with its index.
    Replicas(Vec<(u32, Endpoint<'a>)>),
}

/// One link, resolved: what was asked and what it points at.
#[derive(Debug, Clone)]
pub struct Link<'a> {
    pub request: &'a LinkRequest,
    pub to: To<'a>,
}

/// Render every link of `linker`.
pub fn render_links(linker: &str, links: &[Link<'_>]) -> Rendered {
    let mut out = Rendered::default();
    for link in links {
        let alias = link.request.alias.as_str();
        let family = link.request.family;
        let prefix = crate::model::prefix(alias);
        match &link.to {
            To::One(target) => {
                debug!(
                    "{linker:?}: link {alias:?} -> {:?} (id {}) at {:?}",
                    target.name, target.id, target.addrs
                );
                one_target(&mut out, linker, alias, &prefix, family, target);
                out.hosts.extend(hosts::link_lines(
                    alias,
                    target.id,
                    target.name,
                    target.addrs,
                ));
            }
            To::Replicas(replicas) => {
                let mut urls = Vec::new();
                for (index, rec) in replicas {
                    debug!(
                        "{linker:?}: link {alias:?} -> replica {index} {:?} (id {}) at {:?}",
                        rec.name, rec.id, rec.addrs
                    );
                    let replica_alias = format!("{alias}-{index}");
                    let replica_prefix = format!("{prefix}_{index}");
                    if family == Family::Docker {
                        docker(&mut out, linker, &replica_alias, &replica_prefix, rec);
                    }
                    urls.extend(filled_url(rec, family));
                    for mut line in hosts::link_lines(&replica_alias, rec.id, rec.name, rec.addrs) {
                        line.names.insert(0, alias.to_string());
                        out.hosts.push(line);
                    }
                }
                if let Some(first) = urls.first() {
                    url_env(&mut out, &prefix, family, first);
                    out.env.push((format!("{prefix}_URLS"), urls.join(",")));
                }
            }
        }
    }
    out
}

/// The variables of one container (or resource) target, in `family`.
fn one_target(
    out: &mut Rendered,
    linker: &str,
    alias: &str,
    prefix: &str,
    family: Family,
    rec: &Endpoint<'_>,
) {
    if family == Family::Docker {
        docker(out, linker, alias, prefix, rec);
    }
    if let Some(u) = filled_url(rec, family) {
        url_env(out, prefix, family, &u);
    }
}

/// Docker's variables for one container target, plus `<P>_PORTS`.
fn docker(out: &mut Rendered, linker: &str, alias: &str, prefix: &str, rec: &Endpoint<'_>) {
    let ip = primary_ip(rec.addrs);
    let view = env::TargetView {
        ip,
        ports: rec.ports,
        env: rec.env,
    };
    out.env
        .extend(env::docker_link_env(prefix, linker, alias, view));
    if let Some(ip) = ip.filter(|_| !rec.ports.is_empty()) {
        out.env
            .push((format!("{prefix}_PORTS"), env::ports_list(ip, rec.ports)));
    }
}

/// The target's URL with its address and first port filled in: from its
/// `io.linkshim.url`, else (Convox family only) `tcp://<ip>:<first port>`.
fn filled_url(rec: &Endpoint<'_>, family: Family) -> Option<String> {
    let ip = primary_ip(rec.addrs);
    let port = rec.ports.first().map(|p| p.number);
    match rec.url {
        Some(t) => Some(t.fill(ip, port)),
        None if family == Family::Convox => {
            let ip = ip?;
            Some(match port {
                Some(p) => env::port_url(Proto::Tcp, ip, p),
                None => Template::parse("tcp://").ok()?.fill(Some(ip), None),
            })
        }
        None => None,
    }
}

/// `<P>_URL` and its parts. Docker's family keeps `<P>_PORT` for Docker's
/// meaning; Convox's sets it to the bare port number.
fn url_env(out: &mut Rendered, prefix: &str, family: Family, filled: &str) {
    let Ok(p) = url::parts(filled) else { return };
    let mut push = |k: &str, v: String| out.env.push((format!("{prefix}_{k}"), v));
    push("URL", p.url);
    push("SCHEME", p.scheme);
    push("HOST", p.host);
    if family == Family::Convox {
        push("PORT", p.port.map(|n| n.to_string()).unwrap_or_default());
    }
    push("PATH", p.path);
    push("USERNAME", p.username);
    push("PASSWORD", p.password);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::annotation::{parse_expose, parse_links};

    /// The data a test target owns; `ep` lends it as an [`Endpoint`].
    struct Rec {
        id: String,
        name: String,
        index: Option<u32>,
        addrs: Vec<IpAddr>,
        ports: Vec<Port>,
        env: Vec<(String, String)>,
        url: Option<Template>,
    }

    impl Rec {
        fn ep(&self) -> Endpoint<'_> {
            Endpoint {
                id: &self.id,
                name: &self.name,
                addrs: &self.addrs,
                ports: &self.ports,
                env: &self.env,
                url: self.url.as_ref(),
            }
        }
    }

    fn rec(id: &str, name: &str, ip: &str, expose: &str, url: Option<&str>) -> Rec {
        Rec {
            id: id.into(),
            name: name.into(),
            index: None,
            addrs: vec![ip.parse().unwrap()],
            ports: parse_expose(expose).unwrap(),
            env: vec![("WEBROOT".into(), "/login".into())],
            url: url.map(|u| Template::parse(u).unwrap()),
        }
    }

    fn replicas(recs: &[Rec]) -> To<'_> {
        To::Replicas(recs.iter().map(|r| (r.index.unwrap(), r.ep())).collect())
    }

    fn get<'a>(r: &'a Rendered, k: &str) -> Option<&'a str> {
        r.env
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    fn render_one(linker: &str, text: &str, to: To<'_>) -> Rendered {
        let request = parse_links(text).unwrap().remove(0);
        render_links(
            linker,
            &[Link {
                request: &request,
                to,
            }],
        )
    }

    #[test]
    fn service_replicas_get_indexed_prefixes_and_hosts() {
        let recs: Vec<Rec> = (1..=3)
            .map(|i| {
                let mut r = rec(
                    &format!("id{i}"),
                    &format!("web{i}"),
                    &format!("10.0.0.{i}"),
                    "80",
                    None,
                );
                r.index = Some(i);
                r
            })
            .collect();
        let r = render_one("proxy", "web", replicas(&recs));
        for i in 1..=3 {
            assert_eq!(
                get(&r, &format!("WEB_{i}_PORT")),
                Some(format!("tcp://10.0.0.{i}:80").as_str())
            );
            assert_eq!(
                get(&r, &format!("WEB_{i}_PORT_80_TCP_ADDR")),
                Some(format!("10.0.0.{i}").as_str())
            );
            assert_eq!(get(&r, &format!("WEB_{i}_ENV_WEBROOT")), Some("/login"));
            assert_eq!(
                get(&r, &format!("WEB_{i}_NAME")),
                Some(format!("/proxy/web-{i}").as_str())
            );
        }
        assert_eq!(
            get(&r, "WEB_PORT"),
            None,
            "a service has no unindexed Docker variables"
        );
        let hosts: Vec<String> = r
            .hosts
            .iter()
            .map(|l| format!("{} {}", l.ip, l.names.join(" ")))
            .collect();
        assert_eq!(
            hosts,
            vec![
                "10.0.0.1 web web-1 id1 web1",
                "10.0.0.2 web web-2 id2 web2",
                "10.0.0.3 web web-3 id3 web3"
            ]
        );
    }

    #[test]
    fn url_families() {
        let redis = || {
            rec(
                "r1",
                "redis",
                "172.17.0.2",
                "6379",
                Some("redis://:pass%2Fword@:6379/0"),
            )
        };
        struct Case {
            desc: &'static str,
            link: &'static str,
            target: Rec,
            want: &'static [(&'static str, Option<&'static str>)],
        }
        let cases = [
            Case {
                desc: "Docker family: URL parts, Docker's _PORT kept",
                link: "redis",
                target: redis(),
                want: &[
                    ("REDIS_URL", Some("redis://:pass%2Fword@172.17.0.2:6379/0")),
                    ("REDIS_SCHEME", Some("redis")),
                    ("REDIS_HOST", Some("172.17.0.2")),
                    ("REDIS_PORT", Some("tcp://172.17.0.2:6379")),
                    ("REDIS_PATH", Some("/0")),
                    ("REDIS_USERNAME", Some("")),
                    ("REDIS_PASSWORD", Some("pass/word")),
                    ("REDIS_PORTS", Some("tcp://172.17.0.2:6379")),
                ],
            },
            Case {
                desc: "Convox family: _PORT is the bare number, no Docker variables",
                link: "redis:cache+convox",
                target: redis(),
                want: &[
                    ("CACHE_URL", Some("redis://:pass%2Fword@172.17.0.2:6379/0")),
                    ("CACHE_PORT", Some("6379")),
                    ("CACHE_PASSWORD", Some("pass/word")),
                    ("CACHE_NAME", None),
                    ("CACHE_PORT_6379_TCP", None),
                ],
            },
            Case {
                desc: "Convox family without a declared URL: tcp://ip:first port",
                link: "api+convox",
                target: rec("a1", "api", "10.1.1.1", "8080 9090", None),
                want: &[
                    ("API_URL", Some("tcp://10.1.1.1:8080")),
                    ("API_PORT", Some("8080")),
                ],
            },
            Case {
                desc: "Docker family without a declared URL: no URL variables",
                link: "api",
                target: rec("a1", "api", "10.1.1.1", "8080", None),
                want: &[("API_URL", None), ("API_PORT", Some("tcp://10.1.1.1:8080"))],
            },
            Case {
                desc: "empty port in the URL: the first exposed port",
                link: "pg",
                target: rec(
                    "p1",
                    "pg",
                    "10.2.2.2",
                    "5432 9187",
                    Some("postgres://u:p@/db"),
                ),
                want: &[("PG_URL", Some("postgres://u:p@10.2.2.2:5432/db"))],
            },
        ];
        for c in cases {
            let r = render_one("app", c.link, To::One(c.target.ep()));
            for (k, v) in c.want {
                assert_eq!(get(&r, k), *v, "{}: {k}", c.desc);
            }
        }
    }

    #[test]
    fn service_urls_point_at_replica_one_and_list_all() {
        let recs: Vec<Rec> = (1..=2)
            .map(|i| {
                let mut r = rec(
                    &format!("id{i}"),
                    &format!("w{i}"),
                    &format!("10.0.0.{i}"),
                    "80",
                    Some("http://:80/"),
                );
                r.index = Some(i);
                r
            })
            .collect();
        let r = render_one("p", "web", replicas(&recs));
        assert_eq!(get(&r, "WEB_URL"), Some("http://10.0.0.1:80/"));
        assert_eq!(
            get(&r, "WEB_URLS"),
            Some("http://10.0.0.1:80/,http://10.0.0.2:80/")
        );
    }
}
