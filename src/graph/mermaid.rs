//! The graph as a Mermaid flowchart (GitHub and GitLab draw it in
//! Markdown): subgraphs for scopes, a class per kind of node, broken links
//! dotted and red.

use super::{BROKEN, Graph, Kind, colours};

/// Mermaid label text, inside double quotes.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Render `g` as Mermaid.
pub fn render(g: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let node = |i: usize, indent: &str| -> String {
        let n = &g.nodes[i];
        let mut label = quote(&n.name);
        for l in &n.lines {
            label.push_str("<br/>");
            label.push_str(&quote(l));
        }
        let (open, close) = match n.kind {
            Kind::Container | Kind::Missing => ("[", "]"),
            Kind::Service => ("[[", "]]"),
            Kind::Resource => ("[(", ")]"),
        };
        format!(
            "{indent}{}{open}\"{label}\"{close}:::{}\n",
            Graph::key(i),
            n.kind.as_str()
        )
    };
    for (c, s) in g.scopes().iter().enumerate() {
        out.push_str(&format!("  subgraph scope{c} [\"scope {}\"]\n", quote(s)));
        for i in (0..g.nodes.len()).filter(|&i| g.cluster(i) == Some(*s)) {
            out.push_str(&node(i, "    "));
        }
        out.push_str("  end\n");
    }
    for i in (0..g.nodes.len()).filter(|&i| g.cluster(i).is_none()) {
        out.push_str(&node(i, "  "));
    }
    let mut broken = Vec::new();
    for (k, e) in g.edges.iter().enumerate() {
        let arrow = if e.broken.is_some() {
            broken.push(k.to_string());
            "-.->"
        } else {
            "-->"
        };
        out.push_str(&format!(
            "  {} {arrow}|\"{}\"| {}\n",
            Graph::key(e.from),
            quote(&e.label),
            Graph::key(e.to)
        ));
    }
    for kind in [
        Kind::Container,
        Kind::Service,
        Kind::Resource,
        Kind::Missing,
    ] {
        let (fill, stroke) = colours(kind);
        let dash = if kind == Kind::Missing {
            format!(",stroke-dasharray:5 5,color:{BROKEN}")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  classDef {} fill:{fill},stroke:{stroke}{dash}\n",
            kind.as_str()
        ));
    }
    if !broken.is_empty() {
        out.push_str(&format!(
            "  linkStyle {} stroke:{BROKEN},color:{BROKEN}\n",
            broken.join(",")
        ));
    }
    out
}
