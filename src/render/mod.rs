//! Pure renderers: resolved links -> environment variables and hosts lines.
//!
//! They see a link's target through [`Endpoint`], plain data of the model:
//! where it came from (registry, resource) is not their business.

pub mod env;
pub mod hosts;

use std::net::IpAddr;

use log::{debug, warn};

use crate::model::limits::{MAX_ENV_BYTES, MAX_ENV_VARS};
use crate::model::share::Policy;
use crate::model::url::{self, Template};
use crate::model::{Family, LinkRequest, Port, Proto, Published, primary_ip, reached_port, vars};

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
    /// Its configured hostname, when it has one.
    pub hostname: Option<&'a str>,
    pub name: &'a str,
    /// IPv4 first.
    pub addrs: &'a [IpAddr],
    /// In Docker's order.
    pub ports: &'a [Port],
    /// Reached through its host: each port's host port (else empty).
    pub published: &'a [Published],
    /// What it shares of its own configured environment.
    pub env: &'a [(String, String)],
    /// How `env` was chosen (see [`Policy::admits`]).
    pub shared: Policy,
    /// How clients should address it (`io.linkshim.url`).
    pub url: Option<&'a Template>,
}

/// Why a linker's variables could not be rendered; the caller names the linker.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error(
        "link \"{link}\": it would give the linker {key}, which linkshim never sets: {why} (rename the alias)"
    )]
    Denied {
        link: String,
        key: String,
        why: &'static str,
    },
    #[error(
        "link \"{link}\": with it the linker would receive {count} variables ({bytes} bytes), over linkshim's cap of {MAX_ENV_VARS} variables and {MAX_ENV_BYTES} bytes per container (expose fewer ports on {target:?}, or link to fewer targets)"
    )]
    TooMany {
        link: String,
        target: String,
        count: usize,
        bytes: usize,
    },
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

/// Render every link of `linker`; a target's own variables are cascaded
/// only when the host's `policy` admits how they were chosen. A variable no
/// process can receive (a NUL, a bad key) is dropped with a log line; a key
/// on the deny list (`model::vars`), or more variables than the caps allow,
/// is an error naming the link.
pub fn render_links(linker: &str, links: &[Link<'_>], policy: Policy) -> Result<Rendered, Error> {
    let mut out = Rendered::default();
    let mut bytes = 0;
    for link in links {
        let start = out.env.len();
        render_one(&mut out, linker, link, policy);
        bytes += check(&mut out.env, start, linker, link)?;
        if out.env.len() > MAX_ENV_VARS || bytes > MAX_ENV_BYTES {
            return Err(Error::TooMany {
                link: link.request.to_string(),
                target: link.request.target.to_string(),
                count: out.env.len(),
                bytes,
            });
        }
    }
    Ok(out)
}

/// Check the variables of `link`, `env[start..]`: drop those no process
/// can receive, refuse a denied key. Returns the bytes of what is kept.
fn check(
    env: &mut Vec<(String, String)>,
    start: usize,
    linker: &str,
    link: &Link<'_>,
) -> Result<usize, Error> {
    let mut kept = Vec::with_capacity(env.len() - start);
    let mut bytes = 0;
    for (k, v) in env.drain(start..) {
        if let Err(why) = vars::check_pair(&k, &v) {
            warn!(
                "{linker:?}: link \"{}\": variable {k:?} dropped: {why}",
                link.request
            );
            continue;
        }
        if let Some(why) = vars::denied(&k) {
            return Err(Error::Denied {
                link: link.request.to_string(),
                key: k,
                why,
            });
        }
        bytes += k.len() + v.len() + 2;
        kept.push((k, v));
    }
    env.extend(kept);
    Ok(bytes)
}

/// Only the hosts lines of every link of `linker` (a live refresh needs no variables).
pub fn hosts_lines(linker: &str, links: &[Link<'_>]) -> Vec<hosts::Line> {
    let mut out = Rendered::default();
    for link in links {
        render_one(&mut out, linker, link, Policy::None);
    }
    out.hosts
}

/// The variables and hosts lines of one link, unchecked.
fn render_one(out: &mut Rendered, linker: &str, link: &Link<'_>, policy: Policy) {
    let alias = link.request.alias.as_str();
    let family = link.request.family;
    let prefix = crate::model::prefix(alias);
    match &link.to {
        To::One(target) => {
            debug!(
                "{linker:?}: link {alias:?} -> {:?} (id {}) at {:?}",
                target.name, target.id, target.addrs
            );
            one_target(out, linker, alias, &prefix, family, target, policy);
            out.hosts.extend(hosts::link_lines(
                alias,
                hosts::host_name(target.id, target.hostname),
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
                    docker(out, linker, &replica_alias, &replica_prefix, rec, policy);
                }
                urls.extend(filled_url(rec, family));
                let host = hosts::host_name(rec.id, rec.hostname);
                for mut line in hosts::link_lines(&replica_alias, host, rec.name, rec.addrs) {
                    line.names.insert(0, alias.to_string());
                    out.hosts.push(line);
                }
            }
            if let Some(first) = urls.first() {
                url_env(out, &prefix, family, first);
                out.env.push((format!("{prefix}_URLS"), urls.join(",")));
            }
        }
    }
}

/// The variables of one container (or resource) target, in `family`.
fn one_target(
    out: &mut Rendered,
    linker: &str,
    alias: &str,
    prefix: &str,
    family: Family,
    rec: &Endpoint<'_>,
    policy: Policy,
) {
    if family == Family::Docker {
        docker(out, linker, alias, prefix, rec, policy);
    }
    if let Some(u) = filled_url(rec, family) {
        url_env(out, prefix, family, &u);
    }
}

/// Docker's variables for one container target, plus `<P>_PORTS`; its
/// own variables only when `policy` admits how they were chosen.
fn docker(
    out: &mut Rendered,
    linker: &str,
    alias: &str,
    prefix: &str,
    rec: &Endpoint<'_>,
    policy: Policy,
) {
    let ip = primary_ip(rec.addrs);
    let view = env::TargetView {
        ip,
        ports: rec.ports,
        published: rec.published,
        env: if policy.admits(rec.shared) {
            rec.env
        } else {
            &[]
        },
    };
    out.env
        .extend(env::docker_link_env(prefix, linker, alias, view));
    if let Some(ip) = ip.filter(|_| !rec.ports.is_empty()) {
        out.env.push((
            format!("{prefix}_PORTS"),
            env::ports_list(ip, rec.ports, rec.published),
        ));
    }
}

/// The target's URL with its address and first port filled in: from its
/// `io.linkshim.url`, else (Convox family only) `tcp://<ip>:<first port>`.
fn filled_url(rec: &Endpoint<'_>, family: Family) -> Option<String> {
    let ip = primary_ip(rec.addrs);
    let port = rec.ports.first().map(|p| reached_port(p, rec.published));
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
    use crate::links::annotation::parse_expose;

    /// The data a test target owns; `ep` lends it as an [`Endpoint`].
    struct Rec {
        id: String,
        name: String,
        index: Option<u32>,
        addrs: Vec<IpAddr>,
        ports: Vec<Port>,
        env: Vec<(String, String)>,
        shared: Policy,
        url: Option<Template>,
    }

    impl Rec {
        fn ep(&self) -> Endpoint<'_> {
            Endpoint {
                id: &self.id,
                hostname: None,
                name: &self.name,
                addrs: &self.addrs,
                ports: &self.ports,
                published: &[],
                env: &self.env,
                shared: self.shared,
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
            shared: Policy::All,
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
        try_render(linker, text, to, Policy::All).unwrap()
    }

    fn try_render(linker: &str, text: &str, to: To<'_>, policy: Policy) -> Result<Rendered, Error> {
        let request = LinkRequest::parse(text).unwrap();
        render_links(
            linker,
            &[Link {
                request: &request,
                to,
            }],
            policy,
        )
    }

    #[test]
    fn the_host_policy_admits_what_a_row_shares() {
        use Policy::{All, Declared};
        for (policy, mark, want) in [
            (All, All, Some("/login")),
            (All, Declared, Some("/login")),
            (Declared, All, None),
            (Declared, Declared, Some("/login")),
            (Policy::None, Declared, None),
        ] {
            let mut target = rec("i", "web", "10.0.0.1", "80", Option::None);
            target.shared = mark;
            let r = try_render("p", "web", To::One(target.ep()), policy).unwrap();
            assert_eq!(get(&r, "WEB_ENV_WEBROOT"), want, "{policy:?} / {mark:?}");
            assert_eq!(get(&r, "WEB_PORT"), Some("tcp://10.0.0.1:80"));
        }
    }

    #[test]
    fn denied_keys_are_refused_with_the_link_and_the_key() {
        // Requests made without the annotation parser (which refuses these
        // aliases first): the renderer checks every key it makes on its own.
        let replica = rec("i", "w", "10.0.0.1", "80", Some("http://:80/"));
        let err = try_render("p", "w:ld_x", To::One(replica.ep()), Policy::All);
        assert!(
            matches!(err, Err(Error::Denied { ref key, .. }) if key == "LD_X_NAME"),
            "{err:?}"
        );
        let err = try_render("p", "api:docker", To::One(replica.ep()), Policy::All)
            .unwrap_err()
            .to_string();
        assert!(err.contains("DOCKER_HOST"), "{err}");
        assert!(err.contains("link \"api:docker\""), "{err}");
    }

    #[test]
    fn malformed_variables_are_dropped() {
        let mut target = rec("i", "db", "10.0.0.1", "", Some("redis://:p%00w@:6379/0"));
        target.env = vec![
            ("OK".into(), "1".into()),
            ("NUL".into(), "a\0b".into()),
            ("A\nB".into(), "x".into()),
        ];
        let r = try_render("p", "db", To::One(target.ep()), Policy::All).unwrap();
        assert_eq!(get(&r, "DB_ENV_OK"), Some("1"));
        assert_eq!(get(&r, "DB_ENV_NUL"), Option::None);
        assert!(
            !r.env
                .iter()
                .any(|(k, v)| k.contains('\n') || v.contains('\0')),
            "{r:?}"
        );
        assert_eq!(
            get(&r, "DB_PASSWORD"),
            Option::None,
            "p%00w is never passed on"
        );
        assert_eq!(get(&r, "DB_URL"), Some("redis://:p%00w@10.0.0.1:6379/0"));
    }

    #[test]
    fn a_linker_receives_at_most_the_caps() {
        // 1000 ports give ~4000 variables a link: two links fit, three do not.
        let targets: Vec<Rec> = (1..=3)
            .map(|i| {
                rec(
                    &format!("i{i}"),
                    &format!("t{i}"),
                    "10.0.0.1",
                    "1-1000",
                    Option::None,
                )
            })
            .collect();
        let requests: Vec<LinkRequest> = (1..=3)
            .map(|i| LinkRequest::parse(&format!("t{i}")).unwrap())
            .collect();
        let links: Vec<Link<'_>> = requests
            .iter()
            .zip(&targets)
            .map(|(request, t)| Link {
                request,
                to: To::One(t.ep()),
            })
            .collect();
        let two = render_links("p", &links[..2], Policy::All).unwrap();
        assert!(
            two.env.len() > 8000 && two.env.len() <= MAX_ENV_VARS,
            "{}",
            two.env.len()
        );
        let err = render_links("p", &links, Policy::All).unwrap_err();
        assert!(
            matches!(&err, Error::TooMany { link, count, .. } if link == "t3" && *count > MAX_ENV_VARS),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("\"t3\"") && msg.contains("8192"), "{msg}");
        let mut big = rec("b", "big", "10.0.0.1", "", Option::None);
        big.env = (0..3)
            .map(|i| (format!("V{i}"), "x".repeat(400 << 10)))
            .collect();
        let err = try_render("p", "big", To::One(big.ep()), Policy::All).unwrap_err();
        assert!(
            matches!(err, Error::TooMany { ref link, bytes, .. } if link == "big" && bytes > MAX_ENV_BYTES),
            "{err:?}"
        );
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
