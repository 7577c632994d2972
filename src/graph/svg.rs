//! The graph as an SVG picture that opens in any browser. Graphviz's `dot`
//! draws it when it is installed (and `--layout` allows); otherwise, or
//! when `dot` fails, the built-in layered layout (`layout`) does, with no
//! other program.

use std::io::Write;
use std::process::{Command, Stdio};

use super::layout::{self, Pos, Size};
use super::{BROKEN, Graph, Kind, colours, xml_escape};

/// Who lays the picture out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Layout {
    /// Graphviz when `dot` is installed, else the built-in layout.
    #[default]
    Auto,
    /// The built-in layout, always (the same picture on every machine).
    Builtin,
    /// Graphviz's `dot`; fails when it is missing.
    Graphviz,
}

/// Render `g` as SVG.
pub fn render(g: &Graph, how: Layout) -> anyhow::Result<String> {
    match how {
        Layout::Builtin => Ok(builtin(g)),
        Layout::Graphviz => graphviz(g),
        Layout::Auto => Ok(graphviz(g).unwrap_or_else(|e| {
            log::debug!("graphviz: {e:#}; the built-in layout draws the graph");
            builtin(g)
        })),
    }
}

/// Run `dot -Tsvg` on the graph's DOT text.
fn graphviz(g: &Graph) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running Graphviz's dot (is graphviz installed?)")?;
    let dot = super::dot::render(g);
    let mut stdin = child.stdin.take().expect("piped");
    // The writer runs beside the reader, so a large graph cannot deadlock.
    let writer = std::thread::spawn(move || stdin.write_all(dot.as_bytes()));
    let out = child.wait_with_output().context("waiting for dot")?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writing to dot"))?
        .context("writing to dot")?;
    if !out.status.success() {
        anyhow::bail!(
            "dot failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).context("dot wrote no UTF-8")
}

/// The width of one character of the monospace font, and line heights.
const CHAR: f64 = 7.2;
const NAME_LINE: f64 = 18.0;
const LINE: f64 = 15.0;
const PAD_X: f64 = 10.0;
const PAD_Y: f64 = 8.0;

fn size(n: &super::Node) -> Size {
    let longest = std::iter::once(n.name.chars().count() as f64 * 1.1)
        .chain(n.lines.iter().map(|l| l.chars().count() as f64))
        .fold(0.0, f64::max);
    Size {
        w: (longest * CHAR + 2.0 * PAD_X).max(80.0).round(),
        h: (NAME_LINE + LINE * n.lines.len() as f64 + 2.0 * PAD_Y).round(),
    }
}

/// The picture, laid out by the built-in layout.
pub fn builtin(g: &Graph) -> String {
    let scopes = g.scopes();
    let sizes: Vec<Size> = g.nodes.iter().map(size).collect();
    let groups: Vec<Option<usize>> = (0..g.nodes.len())
        .map(|i| {
            g.cluster(i)
                .and_then(|s| scopes.iter().position(|x| *x == s))
        })
        .collect();
    let edges: Vec<(usize, usize)> = g.edges.iter().map(|e| (e.from, e.to)).collect();
    let (pos, frames, total) = layout::layout(&sizes, &groups, &edges);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"12\" xml:space=\"preserve\" style=\"white-space:pre\">\n<title>linkshim link graph</title>\n",
        w = total.w.round(),
        h = total.h.round()
    );
    out.push_str("<defs>\n");
    for (id, colour) in [("arrow", "#555555"), ("arrow-broken", BROKEN)] {
        out.push_str(&format!(
            "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{colour}\"/></marker>\n"
        ));
    }
    out.push_str("</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    for (k, f) in &frames {
        out.push_str(&format!(
            "<g class=\"scope\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"10\" fill=\"#f8f9fa\" stroke=\"#9aa0a6\" stroke-dasharray=\"6 4\"/><text x=\"{}\" y=\"{}\" fill=\"#5f6368\">scope {}</text></g>\n",
            f.x,
            f.y,
            f.w,
            f.h,
            f.x + 10.0,
            f.y + 16.0,
            xml_escape(scopes[*k])
        ));
    }
    for e in &g.edges {
        out.push_str(&edge(g, e, &pos, &sizes));
    }
    for (i, n) in g.nodes.iter().enumerate() {
        out.push_str(&node(i, n, pos[i], sizes[i]));
    }
    out.push_str("</svg>\n");
    out
}

fn node(i: usize, n: &super::Node, p: Pos, s: Size) -> String {
    let (fill, stroke) = colours(n.kind);
    let dash = if n.kind == Kind::Missing {
        " stroke-dasharray=\"5 4\""
    } else {
        ""
    };
    let rx = match n.kind {
        Kind::Resource => 14.0,
        _ => 6.0,
    };
    let mut out = format!(
        "<g class=\"node {kind}\" id=\"{key}\"><title>{name} ({kind})</title>\n<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"{dash}/>\n",
        kind = n.kind.as_str(),
        key = Graph::key(i),
        name = xml_escape(&n.name),
        x = p.x,
        y = p.y,
        w = s.w,
        h = s.h,
    );
    if n.kind == Kind::Service {
        // A second outline: a service stands for several containers.
        out.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"4\" fill=\"none\" stroke=\"{stroke}\"/>\n",
            p.x + 3.0,
            p.y + 3.0,
            s.w - 6.0,
            s.h - 6.0
        ));
    }
    let name_colour = if n.kind == Kind::Missing {
        BROKEN
    } else {
        "#202124"
    };
    out.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" font-weight=\"bold\" font-size=\"13\" fill=\"{name_colour}\">{}</text>\n",
        p.x + PAD_X,
        p.y + PAD_Y + 13.0,
        xml_escape(&n.name)
    ));
    for (k, l) in n.lines.iter().enumerate() {
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" fill=\"#3c4043\">{}</text>\n",
            p.x + PAD_X,
            p.y + PAD_Y + NAME_LINE + LINE * (k as f64 + 1.0) - 3.0,
            xml_escape(l)
        ));
    }
    out.push_str("</g>\n");
    out
}

fn edge(g: &Graph, e: &super::Edge, pos: &[Pos], sizes: &[Size]) -> String {
    let (a, b) = (pos[e.from], pos[e.to]);
    let (sa, sb) = (sizes[e.from], sizes[e.to]);
    // Forward: right side to left side. Otherwise a loop under both boxes.
    let (p0, c1, c2, p3) = if b.x > a.x + sa.w {
        let p0 = (a.x + sa.w, a.y + sa.h / 2.0);
        let p3 = (b.x, b.y + sb.h / 2.0);
        let dx = (p3.0 - p0.0) / 2.0;
        (p0, (p0.0 + dx, p0.1), (p3.0 - dx, p3.1), p3)
    } else {
        let p0 = (a.x + sa.w / 2.0, a.y + sa.h);
        let p3 = (b.x + sb.w / 2.0, b.y + sb.h);
        let drop = 40.0;
        (p0, (p0.0, p0.1 + drop), (p3.0, p3.1 + drop), p3)
    };
    // The label sits past the middle, where links that fan out from one
    // node have parted.
    let t = 0.62f64;
    let (u, bez) = (1.0 - t, |a: f64, b: f64, c: f64, d: f64| (a, b, c, d));
    let at = |(a, b, c, d): (f64, f64, f64, f64)| {
        u * u * u * a + 3.0 * u * u * t * b + 3.0 * u * t * t * c + t * t * t * d
    };
    let mid = (
        at(bez(p0.0, c1.0, c2.0, p3.0)),
        at(bez(p0.1, c1.1, c2.1, p3.1)),
    );
    let (colour, marker, dash) = match e.broken {
        None => ("#555555", "arrow", ""),
        Some(_) => (BROKEN, "arrow-broken", " stroke-dasharray=\"6 4\""),
    };
    let title = match &e.broken {
        None => format!(
            "{} → {} as {}",
            g.nodes[e.from].name, g.nodes[e.to].name, e.label
        ),
        Some(why) => format!(
            "{} → {} as {}: BROKEN: {why}",
            g.nodes[e.from].name, g.nodes[e.to].name, e.label
        ),
    };
    let label_w = e.label.chars().count() as f64 * CHAR + 8.0;
    format!(
        "<g class=\"edge{broken}\"><title>{title}</title>\n<path d=\"M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"{dash} marker-end=\"url(#{marker})\"/>\n<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{label_w:.1}\" height=\"16\" rx=\"3\" fill=\"#ffffff\" fill-opacity=\"0.9\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{colour}\">{label}</text></g>\n",
        p0.0,
        p0.1,
        c1.0,
        c1.1,
        c2.0,
        c2.1,
        p3.0,
        p3.1,
        mid.0 - label_w / 2.0,
        mid.1 - 9.0,
        mid.0,
        mid.1 + 3.5,
        broken = if e.broken.is_some() { " broken" } else { "" },
        title = xml_escape(&title),
        label = xml_escape(&e.label),
    )
}
