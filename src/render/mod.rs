//! Pure renderers: resolved links -> environment variables and hosts lines.

pub mod env;
pub mod hosts;

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
