//! Pure renderers: resolved links -> environment variables and hosts lines.

pub mod env;
pub mod hosts;

use log::debug;

use crate::links::annotation::Family;
use crate::links::resolve::{Resolved, Target};
use crate::links::url::{self, Template};
use crate::registry::Record;

/// Everything linkshim adds to a linker for its links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Generated variables, in order; the first of a key wins.
    pub env: Vec<(String, String)>,
    pub hosts: Vec<hosts::Line>,
}

/// Render every link of `linker`.
pub fn render_links(linker: &str, links: &[Resolved]) -> Rendered {
    let mut out = Rendered::default();
    for link in links {
        let alias = link.request.alias.as_str();
        let family = link.request.family;
        let prefix = env::prefix(alias);
        match &link.target {
            Target::Container(rec) | Target::Resource { record: rec, .. } => {
                debug!(
                    "{linker:?}: link {alias:?} -> {:?} (id {}) at {:?}",
                    rec.name.as_str(),
                    rec.id,
                    rec.addrs
                );
                one_target(&mut out, linker, alias, &prefix, family, rec);
                out.hosts.extend(hosts::link_lines(
                    alias,
                    &rec.id,
                    rec.name.as_str(),
                    &rec.addrs,
                ));
            }
            Target::Service { replicas, .. } => {
                let mut urls = Vec::new();
                for rec in replicas {
                    let index = rec.index.unwrap_or(0);
                    debug!(
                        "{linker:?}: link {alias:?} -> replica {index} {:?} (id {}) at {:?}",
                        rec.name.as_str(),
                        rec.id,
                        rec.addrs
                    );
                    let replica_alias = format!("{alias}-{index}");
                    let replica_prefix = format!("{prefix}_{index}");
                    if family == Family::Docker {
                        docker(&mut out, linker, &replica_alias, &replica_prefix, rec);
                    }
                    urls.extend(filled_url(rec, family));
                    for mut line in
                        hosts::link_lines(&replica_alias, &rec.id, rec.name.as_str(), &rec.addrs)
                    {
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
    rec: &Record,
) {
    if family == Family::Docker {
        docker(out, linker, alias, prefix, rec);
    }
    if let Some(u) = filled_url(rec, family) {
        url_env(out, prefix, family, &u);
    }
}

/// Docker's variables for one container target, plus `<P>_PORTS`.
fn docker(out: &mut Rendered, linker: &str, alias: &str, prefix: &str, rec: &Record) {
    let ip = rec.primary_ip();
    let view = env::TargetView {
        ip,
        ports: &rec.ports,
        env: &rec.env,
    };
    out.env
        .extend(env::docker_link_env(prefix, linker, alias, view));
    if let Some(ip) = ip.filter(|_| !rec.ports.is_empty()) {
        out.env
            .push((format!("{prefix}_PORTS"), env::ports_list(ip, &rec.ports)));
    }
}

/// The target's URL with its address and first port filled in: from its
/// `io.linkshim.url`, else (Convox family only) `tcp://<ip>:<first port>`.
fn filled_url(rec: &Record, family: Family) -> Option<String> {
    let ip = rec.primary_ip();
    let port = rec.ports.first().map(|p| p.number);
    match rec.url.as_deref().map(Template::parse) {
        Some(Ok(t)) => Some(t.fill(ip, port)),
        Some(Err(_)) => None,
        None if family == Family::Convox => {
            let ip = ip?;
            Some(match port {
                Some(p) => env::port_url(crate::links::annotation::Proto::Tcp, ip, p),
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
    use crate::links::annotation::{Name, parse_expose, parse_links};
    use crate::registry::Resource;

    fn rec(id: &str, name: &str, ip: &str, expose: &str, url: Option<&str>) -> Record {
        Record {
            addrs: vec![ip.parse().unwrap()],
            ports: parse_expose(expose).unwrap(),
            env: vec![("WEBROOT".into(), "/login".into())],
            url: url.map(String::from),
            ..Record::new(id, Name::parse("t", name).unwrap())
        }
    }

    fn get<'a>(r: &'a Rendered, k: &str) -> Option<&'a str> {
        r.env
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    fn link(text: &str, target: Target) -> Resolved {
        Resolved {
            request: parse_links(text).unwrap().remove(0),
            target,
        }
    }

    #[test]
    fn service_replicas_get_indexed_prefixes_and_hosts() {
        let replicas: Vec<Record> = (1..=3)
            .map(|i| {
                let mut r = rec(
                    &format!("id{i}"),
                    &format!("web{i}"),
                    &format!("10.0.0.{i}"),
                    "80",
                    None,
                );
                r.service = Some(Name::parse("t", "web").unwrap());
                r.index = Some(i);
                r
            })
            .collect();
        let target = Target::Service {
            name: Name::parse("t", "web").unwrap(),
            replicas,
        };
        let r = render_links("proxy", &[link("web", target)]);
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
            target: Record,
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
            let r = render_links("app", &[link(c.link, Target::Container(c.target))]);
            for (k, v) in c.want {
                assert_eq!(get(&r, k), *v, "{}: {k}", c.desc);
            }
        }
    }

    #[test]
    fn service_urls_point_at_replica_one_and_list_all() {
        let replicas: Vec<Record> = (1..=2)
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
        let target = Target::Service {
            name: Name::parse("t", "web").unwrap(),
            replicas,
        };
        let r = render_links("p", &[link("web", target)]);
        assert_eq!(get(&r, "WEB_URL"), Some("http://10.0.0.1:80/"));
        assert_eq!(
            get(&r, "WEB_URLS"),
            Some("http://10.0.0.1:80/,http://10.0.0.2:80/")
        );
    }

    #[test]
    fn resources_link_like_containers() {
        let resource = Resource {
            name: Name::parse("t", "pg").unwrap(),
            url: "postgres://app:pw@192.0.2.10:5433/appdb".into(),
            env: vec![("PGSSLMODE".into(), "require".into())],
            addrs: vec!["192.0.2.10".parse().unwrap()],
        };
        let record = crate::links::resolve::resource_record(&resource);
        let r = render_links(
            "web",
            &[link("pg:db", Target::Resource { resource, record })],
        );
        assert_eq!(get(&r, "DB_PORT"), Some("tcp://192.0.2.10:5433"));
        assert_eq!(
            get(&r, "DB_URL"),
            Some("postgres://app:pw@192.0.2.10:5433/appdb")
        );
        assert_eq!(get(&r, "DB_PASSWORD"), Some("pw"));
        assert_eq!(get(&r, "DB_ENV_PGSSLMODE"), Some("require"));
        assert_eq!(r.hosts.len(), 1);
        assert_eq!(r.hosts[0].names, vec!["db", "pg"]);
    }
}
