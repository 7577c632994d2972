//! Pure renderers: resolved links -> environment variables and hosts lines.

pub mod env;
pub mod hosts;

use crate::links::resolve::{Resolved, Target};
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
        let prefix = env::prefix(alias);
        match &link.target {
            Target::Container(rec) => {
                container(&mut out, linker, alias, &prefix, rec);
                out.hosts
                    .extend(hosts::link_lines(alias, &rec.id, rec.name.as_str(), &rec.addrs));
            }
            Target::Service { replicas, .. } => {
                for rec in replicas {
                    let index = rec.index.unwrap_or(0);
                    let replica_alias = format!("{alias}-{index}");
                    container(&mut out, linker, &replica_alias, &format!("{prefix}_{index}"), rec);
                    for mut line in hosts::link_lines(&replica_alias, &rec.id, rec.name.as_str(), &rec.addrs) {
                        line.names.insert(0, alias.to_string());
                        out.hosts.push(line);
                    }
                }
            }
            Target::Resource(_) => {}
        }
    }
    out
}

/// Docker's variables for one container target, plus `<P>_PORTS`.
fn container(out: &mut Rendered, linker: &str, alias: &str, prefix: &str, rec: &Record) {
    let ip = rec.primary_ip();
    let view = env::TargetView {
        ip,
        ports: &rec.ports,
        env: &rec.env,
    };
    out.env.extend(env::docker_link_env(prefix, linker, alias, view));
    if let Some(ip) = ip.filter(|_| !rec.ports.is_empty()) {
        out.env.push((format!("{prefix}_PORTS"), env::ports_list(ip, &rec.ports)));
    }
}
