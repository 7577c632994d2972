//! The graph in Graphviz's DOT language: clusters for scopes, a box per
//! container, a doubled box per service, a cylinder per resource, broken
//! links red and dashed.

use super::{BROKEN, Graph, Kind, colours};

/// A DOT string literal's content.
fn quote(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(['\n', '\r'], " ")
}

/// Render `g` as DOT.
pub fn render(g: &Graph) -> String {
    let mut out = String::from(
        "digraph linkshim {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=11];\n  edge [fontname=\"monospace\", fontsize=10, color=\"#555555\"];\n",
    );
    let scopes = g.scopes();
    let node = |i: usize, indent: &str| -> String {
        let n = &g.nodes[i];
        let (fill, stroke) = colours(n.kind);
        let mut label = quote(&n.name);
        for l in &n.lines {
            label.push_str("\\n");
            label.push_str(&quote(l));
        }
        let extra = match n.kind {
            Kind::Container => String::new(),
            Kind::Service => ", peripheries=2".into(),
            Kind::Resource => ", shape=cylinder, style=filled".into(),
            Kind::Missing => format!(", style=\"rounded,dashed\", fontcolor=\"{BROKEN}\""),
        };
        format!(
            "{indent}{} [label=\"{label}\", fillcolor=\"{fill}\", color=\"{stroke}\"{extra}];\n",
            Graph::key(i)
        )
    };
    for (c, s) in scopes.iter().enumerate() {
        out.push_str(&format!(
            "  subgraph cluster_{c} {{\n    label=\"scope {}\";\n    style=\"rounded,dashed\";\n    color=\"#9aa0a6\";\n",
            quote(s)
        ));
        for i in (0..g.nodes.len()).filter(|&i| g.cluster(i) == Some(*s)) {
            out.push_str(&node(i, "    "));
        }
        out.push_str("  }\n");
    }
    for i in (0..g.nodes.len()).filter(|&i| g.cluster(i).is_none()) {
        out.push_str(&node(i, "  "));
    }
    for e in &g.edges {
        let style = match &e.broken {
            None => String::new(),
            Some(why) => format!(
                ", color=\"{BROKEN}\", fontcolor=\"{BROKEN}\", style=dashed, tooltip=\"{}\"",
                quote(why)
            ),
        };
        out.push_str(&format!(
            "  {} -> {} [label=\"{}\"{style}];\n",
            Graph::key(e.from),
            Graph::key(e.to),
            quote(&e.label)
        ));
    }
    out.push_str("}\n");
    out
}
