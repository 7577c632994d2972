//! `linkshim graph` and `linkshim inspect` on a fixed registry, through the
//! binary: golden outputs for every graph format (`UPDATE_GOLDEN=1`
//! rewrites them), the svg read back as XML, and inspect's masking.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use linkshim::model::{Name, Template};
use linkshim::registry::Record;
use support::{Fixture, snapshot};

/// A fixed topology: a service `web` of two replicas linking to `db`, a
/// `proxy` linking to the service, to a URL target (`cache`), to a resource
/// (`pg`) and to a container that is not running (`ghost`).
struct Topology {
    fx: Fixture,
    persist: PathBuf,
}

fn live(id: &str, name: &str, ip: &str, expose: &str, links: &str) -> Record {
    Record {
        links: linkshim::links::annotation::parse_links(links).unwrap(),
        ..testkit::live_record(
            id,
            name,
            &[ip.parse().unwrap()],
            expose,
            &[("SECRET", "hunter2")],
        )
    }
}

impl Topology {
    fn new() -> Topology {
        let fx = Fixture::new();
        let persist = fx.dir.path().join("persist");
        let db = live("d0d0d0d0d0d0d0d0", "db", "10.88.0.5", "5432", "");
        let mut cache = live("c4c4c4c4c4c4c4c4", "cache", "10.88.0.7", "6379", "");
        cache.url = Some(Template::parse("redis://:s3cret@:6379/0").unwrap());
        let replica = |id: &str, name: &str, ip: &str| Record {
            service: Some(Name::parse("t", "web").unwrap()),
            ..live(id, name, ip, "80", "db")
        };
        let proxy = live(
            "9a9a9a9a9a9a9a9a",
            "proxy",
            "10.88.0.9",
            "443",
            "web cache:kv+convox pg ghost",
        );
        for r in [
            &db,
            &cache,
            &replica("a1a1a1a1a1a1a1a1", "web-a", "10.88.0.11"),
            &replica("b2b2b2b2b2b2b2b2", "web-b", "10.88.0.12"),
            &proxy,
        ] {
            testkit::register(&fx.state, r);
        }
        let t = Topology { fx, persist };
        let out = t
            .cmd(&[
                "resource",
                "add",
                "pg",
                "--url",
                "postgres://app:p%40ss@192.0.2.10:5432/appdb",
                "--env",
                "PGSSLMODE=require",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        t
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self
            .fx
            .cmd(&["--persist-dir", self.persist.to_str().unwrap()]);
        c.args(args);
        c
    }

    /// Run and give stdout; the command must succeed.
    fn stdout(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "linkshim {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Compare `got` with the golden file `name` (rewritten with UPDATE_GOLDEN=1).
fn golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        got == want,
        "{name} differs from its golden file (UPDATE_GOLDEN=1 rewrites it):\n--- want\n{want}\n--- got\n{got}"
    );
}

#[test]
fn every_graph_format_matches_its_golden_output() {
    let t = Topology::new();
    golden("graph.txt", &t.stdout(&["graph"]));
    golden("graph.dot", &t.stdout(&["graph", "--format", "dot"]));
    golden("graph.mmd", &t.stdout(&["graph", "--format", "mermaid"]));
    golden(
        "graph.svg",
        &t.stdout(&["graph", "--format", "svg", "--layout", "builtin"]),
    );
}

#[test]
fn the_svg_is_xml_that_names_every_node_and_draws_the_broken_link_red() {
    let t = Topology::new();
    let svg = t.stdout(&["graph", "--format", "svg", "--layout", "builtin"]);
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}:\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    for name in ["db", "cache", "web", "proxy", "pg", "ghost"] {
        assert!(texts.contains(&name), "no text names {name}: {texts:?}");
    }
    for replica in ["web-a", "web-b"] {
        assert!(
            texts.iter().any(|t| t.contains(replica)),
            "the service lists {replica}: {texts:?}"
        );
    }
    let nodes = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("node ")))
        .count();
    assert_eq!(nodes, 6, "one node each: db, cache, web, proxy, pg, ghost");
    let broken: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("edge broken"))
        .collect();
    assert_eq!(broken.len(), 1, "only the link to ghost is broken");
    let path = broken[0]
        .children()
        .find(|c| c.has_tag_name("path"))
        .unwrap();
    assert_eq!(path.attribute("stroke"), Some("#d93025"));
    assert!(path.attribute("stroke-dasharray").is_some(), "dashed");
    assert!(
        !svg.contains("s3cret") && !svg.contains("p%40ss"),
        "no password"
    );
}

#[test]
fn inspect_shows_both_directions_and_masks_env_unless_asked() {
    let t = Topology::new();
    let text = t.stdout(&["inspect", "db"]);
    assert!(text.contains("SECRET=***"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    for linker in ["web-a", "web-b"] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("{linker} (")) && l.ends_with("as db")),
            "{linker} links to db:\n{text}"
        );
    }
    let shown = t.stdout(&["inspect", "db", "--show-env"]);
    assert!(shown.contains("SECRET=hunter2"), "{shown}");

    let v: serde_json::Value =
        serde_json::from_str(&t.stdout(&["inspect", "proxy", "--json"])).unwrap();
    assert_eq!(v["id"], "9a9a9a9a9a9a9a9a");
    assert_eq!(v["env"], serde_json::json!([["SECRET", "***"]]));
    let links: Vec<(String, String, bool)> = v["links_to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["alias"].as_str().unwrap().to_string(),
                l["kind"].as_str().unwrap().to_string(),
                l["broken"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        links,
        vec![
            ("web".into(), "service".into(), false),
            ("kv".into(), "container".into(), false),
            ("pg".into(), "resource".into(), false),
            ("ghost".into(), "missing".into(), true),
        ]
    );
    let web: Vec<&str> = v["links_to"][0]["reaches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(web, vec!["web-a", "web-b"], "both replicas, by index");

    let cache: serde_json::Value =
        serde_json::from_str(&t.stdout(&["inspect", "cache", "--json"])).unwrap();
    assert_eq!(cache["url"], "redis://:***@:6379/0");
    assert_eq!(cache["linked_by"][0]["alias"], "kv");
    let pg: serde_json::Value =
        serde_json::from_str(&t.stdout(&["inspect", "pg", "--json"])).unwrap();
    assert_eq!(pg["kind"], "resource");
    assert_eq!(pg["url"], "postgres://app:***@192.0.2.10:5432/appdb");
    assert_eq!(pg["linked_by"][0]["name"], "proxy");

    // A second db, in another scope: the name alone is ambiguous.
    let mut other = live("e0e0e0e0e0e0e0e0", "db", "10.89.0.5", "5432", "");
    other.scope = Name::parse("t", "shop").unwrap();
    testkit::register(&t.fx.state, &other);
    let out = t.cmd(&["inspect", "db"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--scope") && err.contains("shop"), "{err}");
    let shop: serde_json::Value =
        serde_json::from_str(&t.stdout(&["inspect", "db", "--scope", "shop", "--json"])).unwrap();
    assert_eq!(shop["id"], "e0e0e0e0e0e0e0e0");
    assert_eq!(shop["scope"], "shop");
    let graph = t.stdout(&["graph", "--scope", "shop"]);
    assert!(
        graph.starts_with("scope shop:\n  db (container)\n"),
        "{graph}"
    );
    assert!(!graph.contains("proxy"), "only shop: {graph}");

    let out = t.cmd(&["inspect", "nosuch"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"nosuch\""));
}

#[test]
fn graph_and_inspect_write_nothing() {
    let t = Topology::new();
    let before = snapshot(&t.fx.state);
    t.stdout(&["graph", "--format", "svg", "--layout", "builtin"]);
    t.stdout(&["inspect", "proxy"]);
    assert_eq!(snapshot(&t.fx.state), before);
    // And with no registry at all, an empty graph, and still nothing written.
    let empty = Fixture::new();
    let out = empty.cmd(&["graph"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(!empty.state.exists(), "no state directory is created");
}
