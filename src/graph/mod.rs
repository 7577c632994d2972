//! The link topology of the registry, as a graph: containers, services
//! (their replicas grouped under them), resources and targets that are
//! missing are nodes; links are edges labelled with their alias, broken
//! when their target is gone or not running. Scopes, when records have
//! them, group nodes into clusters.
//!
//! `build` reads the registry without writing (`registry::open_read_only`)
//! and resolves every link the way a container's create would now
//! (`resolve::resolve_each`); the renderers (`text`, `dot`, `mermaid`,
//! `svg`) are pure functions of the graph.

pub mod dot;
pub mod inspect;
mod layout;
pub mod mermaid;
pub mod svg;
pub mod text;

use std::collections::BTreeMap;
use std::path::Path;

use crate::links::resolve::{self, Target};
use crate::logging::mask_passwords;
use crate::model::LinkRequest;
use crate::registry::{self, Record, Registry, Resource, Store};

/// How `linkshim graph` prints the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A tree for a terminal.
    #[default]
    Text,
    /// Graphviz's DOT language.
    Dot,
    /// A Mermaid flowchart, for Markdown.
    Mermaid,
    /// A picture that opens in a browser.
    Svg,
}

/// Render `g` in `format` (`layout` only matters to svg).
pub fn render(g: &Graph, format: Format, layout: svg::Layout) -> anyhow::Result<String> {
    Ok(match format {
        Format::Text => text::render(g),
        Format::Dot => dot::render(g),
        Format::Mermaid => mermaid::render(g),
        Format::Svg => svg::render(g, layout)?,
    })
}

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Container,
    /// A service: its replicas are the node's lines.
    Service,
    Resource,
    /// A link's target that is not registered (gone, or not running yet).
    Missing,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Service => "service",
            Kind::Resource => "resource",
            Kind::Missing => "missing",
        }
    }
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub name: String,
    /// The scope it is registered in, once records carry one.
    pub scope: Option<String>,
    /// What is shown under the name: id, address and ports; one line per
    /// replica for a service; the URL (password masked) for a resource.
    pub lines: Vec<String>,
}

/// One link, from a linker (a container, or the service of a replica) to
/// its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// The alias, with `+convox` for a Convox-family link.
    pub label: String,
    /// Why the link does not resolve now.
    pub broken: Option<String>,
}

/// The whole topology.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The scopes nodes are in, in order, to draw as clusters: none when
    /// every node is in the default scope (or in none, as resources).
    pub fn scopes(&self) -> Vec<&str> {
        let mut s: Vec<&str> = self
            .nodes
            .iter()
            .filter_map(|n| n.scope.as_deref())
            .collect();
        s.sort_unstable();
        s.dedup();
        if s == [crate::model::DEFAULT_SCOPE] {
            return vec![];
        }
        s
    }

    /// The cluster node `i` is drawn in: its scope, when scopes are drawn.
    pub fn cluster(&self, i: usize) -> Option<&str> {
        let scope = self.nodes[i].scope.as_deref()?;
        self.scopes().contains(&scope).then_some(scope)
    }

    /// The part of the graph about `scope`: its nodes, and the nodes and
    /// links that connect them to others (targets elsewhere, resources,
    /// linkers from other scopes).
    pub fn of_scope(&self, scope: &str) -> Graph {
        let inside = |i: usize| self.nodes[i].scope.as_deref() == Some(scope);
        let edges: Vec<&Edge> = self
            .edges
            .iter()
            .filter(|e| inside(e.from) || inside(e.to))
            .collect();
        let keep: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| inside(i) || edges.iter().any(|e| e.from == i || e.to == i))
            .collect();
        let new = |old: usize| keep.iter().position(|&k| k == old).expect("kept");
        Graph {
            nodes: keep.iter().map(|&i| self.nodes[i].clone()).collect(),
            edges: edges
                .into_iter()
                .map(|e| Edge {
                    from: new(e.from),
                    to: new(e.to),
                    ..e.clone()
                })
                .collect(),
        }
    }

    /// A stable identifier of node `i` for the text formats (`n0`, `n1`, ...).
    pub fn key(i: usize) -> String {
        format!("n{i}")
    }
}

/// What one link of a record leads to now: a target, or why not.
#[derive(Debug, Clone)]
pub struct LinkState {
    pub request: LinkRequest,
    pub target: Result<Target, String>,
}

/// Resolve every link of `rec` as a create would now, each on its own.
pub fn link_states(
    reg: &mut dyn Store,
    rec: &Record,
    persist_dir: Option<&Path>,
) -> Result<Vec<LinkState>, registry::Error> {
    let each = resolve::resolve_each(reg, &rec.name, &rec.scope, &rec.links, persist_dir)?;
    Ok(rec
        .links
        .iter()
        .zip(each)
        .map(|(request, r)| LinkState {
            request: request.clone(),
            target: r.map(|r| r.target).map_err(|e| match e {
                resolve::Error::Missing { .. } => {
                    "no running container, service or resource of that name".to_string()
                }
                e => e.to_string(),
            }),
        })
        .collect())
}

/// The resources of the state directory's registry, then those of the
/// persistent one it lacks.
pub fn all_resources(
    reg: &dyn Store,
    persist_dir: Option<&Path>,
) -> Result<Vec<Resource>, registry::Error> {
    let mut all = reg.resources()?;
    if let Some(dir) = persist_dir.filter(|d| Registry::db_path(d).exists()) {
        for r in Registry::open_read_only(dir)?.resources()? {
            if !all.iter().any(|a| a.name == r.name) {
                all.push(r);
            }
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// The graph of the registry in `state_dir`, which is only read; of
/// `scope` alone (and what links it to others) when given.
pub fn build(
    state_dir: &Path,
    persist_dir: Option<&Path>,
    scope: Option<&str>,
) -> Result<Graph, registry::Error> {
    let mut reg = registry::open_read_only(state_dir)?;
    let records = reg.list()?;
    let resources = all_resources(&*reg, persist_dir)?;
    let mut links = Vec::with_capacity(records.len());
    for rec in &records {
        links.push(link_states(&mut *reg, rec, persist_dir)?);
    }
    let g = from_parts(&records, &resources, &links);
    Ok(match scope {
        Some(s) => g.of_scope(s),
        None => g,
    })
}

/// The graph of `records` (with the state of each one's links, in the same
/// order) and `resources`: pure.
pub fn from_parts(records: &[Record], resources: &[Resource], links: &[Vec<LinkState>]) -> Graph {
    let mut b = Builder::default();
    for rec in records {
        b.record(rec);
    }
    for res in resources {
        b.resource(res);
    }
    for (rec, states) in records.iter().zip(links) {
        let from = b.record(rec);
        for s in states {
            let label = match s.request.family {
                crate::model::Family::Docker => s.request.alias.to_string(),
                crate::model::Family::Convox => format!("{}+convox", s.request.alias),
            };
            let (to, broken) = match &s.target {
                Ok(Target::Container(r)) => (b.record(r), None),
                Ok(Target::Service { replicas, name }) => match replicas.first() {
                    Some(r) => (b.record(r), None),
                    None => (
                        b.missing(name.as_str(), target_scope(rec, &s.request)),
                        Some("no replica".into()),
                    ),
                },
                Ok(Target::Resource { resource, .. }) => (b.resource(resource), None),
                Err(why) => (
                    b.missing(s.request.target.as_str(), target_scope(rec, &s.request)),
                    Some(why.clone()),
                ),
            };
            let edge = Edge {
                from,
                to,
                label,
                broken,
            };
            if !b.graph.edges.contains(&edge) {
                b.graph.edges.push(edge);
            }
        }
    }
    b.finish()
}

/// The scope of a record.
fn scope_of(rec: &Record) -> Option<String> {
    Some(rec.scope.to_string())
}

/// The scope a link of `rec` looks its target up in.
fn target_scope(rec: &Record, link: &LinkRequest) -> Option<String> {
    Some(link.scope.as_ref().unwrap_or(&rec.scope).to_string())
}

/// A record's node line: short id, addresses, ports.
fn detail(rec: &Record) -> String {
    let mut parts = vec![rec.id.short().to_string()];
    if !rec.addrs.is_empty() {
        parts.push(join(rec.addrs.iter()));
    }
    if !rec.ports.is_empty() {
        parts.push(join(rec.ports.iter()));
    }
    parts.join("  ")
}

fn join<T: ToString>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// Builds nodes once each, keyed by what they stand for.
#[derive(Default)]
struct Builder {
    graph: Graph,
    /// (kind, scope, name) -> node; a container is keyed by its id.
    index: BTreeMap<(Kind, Option<String>, String), usize>,
    /// Replicas already listed on their service's node, by id.
    replicas: BTreeMap<String, usize>,
}

impl Builder {
    fn node(&mut self, kind: Kind, scope: Option<String>, key: &str, name: &str) -> (usize, bool) {
        let k = (kind, scope.clone(), key.to_string());
        if let Some(&i) = self.index.get(&k) {
            return (i, false);
        }
        self.graph.nodes.push(Node {
            kind,
            name: name.to_string(),
            scope,
            lines: vec![],
        });
        let i = self.graph.nodes.len() - 1;
        self.index.insert(k, i);
        (i, true)
    }

    /// The node of a record: its own, or its service's.
    fn record(&mut self, rec: &Record) -> usize {
        let scope = scope_of(rec);
        match (&rec.service, rec.index) {
            (Some(service), index) => {
                let (i, _) = self.node(Kind::Service, scope, service.as_str(), service.as_str());
                if !self.replicas.contains_key(rec.id.as_str()) {
                    self.replicas.insert(rec.id.to_string(), i);
                    let slot = index.map_or("?".to_string(), |n| n.to_string());
                    // A replica without a name of its own answers to its hostname,
                    // most often its short id: shown once.
                    let line = if rec.name.as_str() == rec.id.short() {
                        format!("{service}-{slot}  {}", detail(rec))
                    } else {
                        format!("{service}-{slot}  {}  {}", rec.name, detail(rec))
                    };
                    self.graph.nodes[i].lines.push(line);
                }
                i
            }
            (None, _) => {
                let (i, new) =
                    self.node(Kind::Container, scope, rec.id.as_str(), rec.name.as_str());
                if new {
                    self.graph.nodes[i].lines.push(detail(rec));
                }
                i
            }
        }
    }

    fn resource(&mut self, res: &Resource) -> usize {
        let (i, new) = self.node(Kind::Resource, None, res.name.as_str(), res.name.as_str());
        if new {
            self.graph.nodes[i].lines.push(mask_passwords(&res.url));
        }
        i
    }

    fn missing(&mut self, name: &str, scope: Option<String>) -> usize {
        let (i, new) = self.node(Kind::Missing, scope, name, name);
        if new {
            self.graph.nodes[i].lines.push("not running".into());
        }
        i
    }

    /// Nodes in order (scope, name, kind; no scope last), services'
    /// replicas by index;
    /// edges renumbered and in order.
    fn finish(mut self) -> Graph {
        let g = &mut self.graph;
        for n in g.nodes.iter_mut().filter(|n| n.kind == Kind::Service) {
            n.lines.sort_by_key(|l| replica_slot(l));
        }
        let mut order: Vec<usize> = (0..g.nodes.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&g.nodes[a], &g.nodes[b]);
            // What is in no scope (resources) last.
            let key = |n: &Node| (n.scope.is_none(), n.scope.clone(), n.name.clone(), n.kind);
            key(x).cmp(&key(y))
        });
        let mut new_of = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_of[old] = new;
        }
        let nodes = order.iter().map(|&i| g.nodes[i].clone()).collect();
        let mut edges: Vec<Edge> = g
            .edges
            .iter()
            .map(|e| Edge {
                from: new_of[e.from],
                to: new_of[e.to],
                ..e.clone()
            })
            .collect();
        // By linker; each linker's links in the order it wrote them.
        edges.sort_by_key(|e| e.from);
        Graph { nodes, edges }
    }
}

/// The index in a replica line (`web-2  name ...`), for sorting.
fn replica_slot(line: &str) -> u32 {
    line.split_whitespace()
        .next()
        .and_then(|s| s.rsplit('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

/// Escape text for XML (SVG) content and attribute values.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The colours of each kind of node: fill, stroke.
pub(crate) fn colours(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Container => ("#e8f0fe", "#3367d6"),
        Kind::Service => ("#e6f4ea", "#188038"),
        Kind::Resource => ("#fef7e0", "#b06000"),
        Kind::Missing => ("#ffffff", "#d93025"),
    }
}

/// The colour of a broken link.
pub(crate) const BROKEN: &str = "#d93025";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Name;

    fn rec(id: &str, name: &str, links: &str) -> Record {
        Record {
            addrs: vec!["10.0.0.2".parse().unwrap()],
            links: crate::links::annotation::parse_links(links).unwrap(),
            ..Record::new(id, Name::parse("t", name).unwrap())
        }
    }

    #[test]
    fn scopes_are_clusters_only_when_there_is_more_than_the_default() {
        let mut a = rec("a1", "api", "db shop/db:shopdb");
        a.scope = Name::parse("t", "team").unwrap();
        let db = rec("d1", "db", "");
        let ok = |r: &Record, l: &str| LinkState {
            request: LinkRequest::parse(l).unwrap(),
            target: Ok(Target::Container(r.clone())),
        };
        let missing = LinkState {
            request: LinkRequest::parse("shop/db:shopdb").unwrap(),
            target: Err("gone".into()),
        };
        let only_default = from_parts(std::slice::from_ref(&db), &[], &[vec![]]);
        assert!(only_default.scopes().is_empty());
        assert!(!dot::render(&only_default).contains("subgraph"));

        let g = from_parts(
            &[a.clone(), db.clone()],
            &[],
            &[vec![ok(&db, "db"), missing], vec![]],
        );
        assert_eq!(g.scopes(), vec!["default", "shop", "team"]);
        let dot = dot::render(&g);
        for (c, scope) in ["default", "shop", "team"].iter().enumerate() {
            assert!(
                dot.contains(&format!(
                    "subgraph cluster_{c} {{\n    label=\"scope {scope}\""
                )),
                "{dot}"
            );
        }
        let missing = g
            .nodes
            .iter()
            .position(|n| n.kind == Kind::Missing)
            .unwrap();
        assert_eq!(
            g.cluster(missing),
            Some("shop"),
            "a missing target is in the scope it was looked up in"
        );
        let team = g.of_scope("team");
        let names: Vec<&str> = team.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["db", "db", "api"],
            "team's node and what it links to"
        );
        assert_eq!(team.edges.len(), 2);
        assert!(g.of_scope("nosuch").nodes.is_empty());
        let svg = svg::builtin(&g);
        assert_eq!(svg.matches("<g class=\"scope\">").count(), 3, "{svg}");
        assert!(mermaid::render(&g).contains("subgraph scope2 [\"scope team\"]"));
        assert!(
            text::render(&g).contains("scope team:\n  api (container)\n"),
            "{}",
            text::render(&g)
        );
    }

    #[test]
    fn replicas_are_one_node_and_a_missing_target_a_broken_edge() {
        let mut w1 = rec("w1", "front-a", "db");
        w1.service = Some(Name::parse("t", "web").unwrap());
        w1.index = Some(2);
        let mut w2 = rec("w2", "front-b", "db");
        w2.service = w1.service.clone();
        w2.index = Some(1);
        let db = rec("d1", "db", "");
        let proxy = rec("p1", "proxy", "web ghost");
        let records = vec![w1.clone(), w2.clone(), db.clone(), proxy.clone()];
        let to_db = LinkState {
            request: LinkRequest::parse("db").unwrap(),
            target: Ok(Target::Container(db.clone())),
        };
        let links = vec![
            vec![to_db.clone()],
            vec![to_db],
            vec![],
            vec![
                LinkState {
                    request: LinkRequest::parse("web").unwrap(),
                    target: Ok(Target::Service {
                        name: Name::parse("t", "web").unwrap(),
                        replicas: vec![w2, w1],
                    }),
                },
                LinkState {
                    request: LinkRequest::parse("ghost").unwrap(),
                    target: Err("gone".into()),
                },
            ],
        ];
        let g = from_parts(&records, &[], &links);
        let names: Vec<(&str, Kind)> = g.nodes.iter().map(|n| (n.name.as_str(), n.kind)).collect();
        assert_eq!(
            names,
            vec![
                ("db", Kind::Container),
                ("ghost", Kind::Missing),
                ("proxy", Kind::Container),
                ("web", Kind::Service)
            ]
        );
        assert_eq!(
            g.nodes[3].lines,
            vec![
                "web-1  front-b  w2  10.0.0.2".to_string(),
                "web-2  front-a  w1  10.0.0.2".to_string()
            ],
            "replicas by index"
        );
        let edges: Vec<(usize, usize, &str, bool)> = g
            .edges
            .iter()
            .map(|e| (e.from, e.to, e.label.as_str(), e.broken.is_some()))
            .collect();
        assert_eq!(
            edges,
            vec![
                (2, 3, "web", false),
                (2, 1, "ghost", true),
                (3, 0, "db", false)
            ],
            "the replicas' two links to db are one edge"
        );
    }
}
