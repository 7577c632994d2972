//! The graph as a tree for a terminal: each node, its lines, and under it
//! the links it makes; a broken link says why.

use super::{Graph, Kind};

/// Render `g` as text.
pub fn render(g: &Graph) -> String {
    let mut out = String::new();
    // Each scope under its heading, then what is in none (resources).
    let mut groups: Vec<Option<&str>> = g.scopes().into_iter().map(Some).collect();
    groups.push(None);
    let mut first = true;
    for scope in groups {
        let indent = if scope.is_some() { "  " } else { "" };
        if let Some(s) = scope {
            if !first {
                out.push('\n');
            }
            first = false;
            out.push_str(&format!("scope {s}:\n"));
        }
        for (i, n) in g.nodes.iter().enumerate() {
            // A missing target shows as the broken links that lead to it.
            if n.kind == Kind::Missing || g.cluster(i) != scope {
                continue;
            }
            if !first && !out.ends_with(":\n") {
                out.push('\n');
            }
            first = false;
            let edges: Vec<_> = g.edges.iter().filter(|e| e.from == i).collect();
            let title = match n.kind {
                Kind::Service => format!("service, {} replicas", n.lines.len()),
                k => k.as_str().to_string(),
            };
            out.push_str(&format!("{indent}{} ({title})\n", n.name));
            let bar = if edges.is_empty() { " " } else { "│" };
            for l in &n.lines {
                out.push_str(&format!("{indent}{bar}   {l}\n"));
            }
            for (k, e) in edges.iter().enumerate() {
                let branch = if k + 1 == edges.len() {
                    "└──"
                } else {
                    "├──"
                };
                let to = &g.nodes[e.to];
                match &e.broken {
                    None => out.push_str(&format!(
                        "{indent}{branch} {} ──▶ {} ({})\n",
                        e.label,
                        to.name,
                        to.kind.as_str()
                    )),
                    Some(why) => out.push_str(&format!(
                        "{indent}{branch} {} ╌╌▶ {} BROKEN: {why}\n",
                        e.label, to.name
                    )),
                }
            }
        }
    }
    out
}
