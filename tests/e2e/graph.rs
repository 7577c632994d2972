//! `linkshim graph` and `inspect` of a running topology on real podman: a
//! service of two replicas, a proxy linking to it, to a URL target, to a
//! resource, and to a container that has stopped since (a broken link).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use testkit::*;

const T: Duration = Duration::from_secs(60);

/// A long-running busybox container with `annotations`.
fn start(podman: &Podman, rootfs: &str, name: &str, annotations: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    for a in annotations {
        args.extend(["--annotation", a]);
    }
    args.extend(["--rootfs", rootfs]);
    args.extend(httpd("80"));
    podman.run_ok(&args, T);
}

pub fn a_running_topology_with_a_broken_link() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path()).to_str().unwrap().to_string();
    let podman = Podman::new();
    let state = tmp.path().join("state");
    let persist: PathBuf = tmp.path().join("persist");
    let persist_arg = persist.to_str().unwrap().to_string();
    install_hooks_d_with(
        &podman.hooks_dir(),
        &state,
        &["--persist-dir", &persist_arg],
    );
    let linkshim = |args: &[&str]| {
        run_ok(
            testkit::linkshim(&state)
                .arg("--persist-dir")
                .arg(&persist)
                .args(args),
            T,
        )
    };
    let r = rootfs.as_str();

    linkshim(&[
        "resource",
        "add",
        "pg",
        "--url",
        "postgres://app:p%40ss@192.0.2.10:5432/appdb",
    ]);
    let replicas = [unique_name("web-a"), unique_name("web-b")];
    for n in &replicas {
        start(
            &podman,
            r,
            n,
            &["io.linkshim.service=web", "io.linkshim.expose=80"],
        );
    }
    let cache = unique_name("cache");
    start(
        &podman,
        r,
        &cache,
        &[
            "io.linkshim.name=cache",
            "io.linkshim.expose=6379",
            "io.linkshim.url=redis://:s3cret@:6379/0",
        ],
    );
    let doomed = unique_name("doomed");
    start(
        &podman,
        r,
        &doomed,
        &["io.linkshim.name=doomed", "io.linkshim.expose=80"],
    );
    let proxy = unique_name("proxy");
    start(
        &podman,
        r,
        &proxy,
        &[
            "io.linkshim.name=proxy",
            "io.linkshim.links=web cache:kv+convox pg doomed:old",
        ],
    );
    // The target goes: the proxy's link to it is broken from now on.
    podman.run_ok(&["rm", "-f", "-t", "0", &doomed], T);

    let text = linkshim(&["graph"]);
    let has = |s: &str| assert!(text.contains(s), "no {s:?} in:\n{text}");
    has("proxy (container)");
    has("web (service, 2 replicas)");
    has("├── web ──▶ web (service)");
    has("├── kv+convox ──▶ cache (container)");
    has("├── pg ──▶ pg (resource)");
    has("└── old ╌╌▶ doomed BROKEN:");
    has("pg (resource)");
    let short_ids: Vec<String> = replicas
        .iter()
        .map(|n| podman.run_ok(&["inspect", "-f", "{{.Id}}", n], T)[..12].to_string())
        .collect();
    for (i, id) in short_ids.iter().enumerate() {
        // A replica answers to its hostname, podman's short id: shown once.
        let line = format!("    web-{}  {id}  ", i + 1);
        assert!(
            text.lines().any(|l| l.starts_with(&line)),
            "replica {id} listed as {line:?}:\n{text}"
        );
    }

    let dot = linkshim(&["graph", "--format", "dot"]);
    assert!(dot.starts_with("digraph linkshim {"), "{dot}");
    assert_eq!(
        dot.matches("style=dashed").count(),
        1,
        "one broken link:\n{dot}"
    );

    let svg = linkshim(&["graph", "--format", "svg", "--layout", "builtin"]);
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}:\n{svg}"));
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    for name in ["proxy", "web", "cache", "pg", "doomed"] {
        assert!(texts.contains(&name), "the svg names {name}: {texts:?}");
    }
    assert!(!svg.contains("s3cret") && !svg.contains("p%40ss"));

    let inspect: Value = serde_json::from_str(&linkshim(&["inspect", "proxy", "--json"])).unwrap();
    let broken: Vec<&str> = inspect["links_to"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["broken"].is_string())
        .map(|l| l["alias"].as_str().unwrap())
        .collect();
    assert_eq!(broken, vec!["old"], "{inspect}");
    let web: Value =
        serde_json::from_str(&linkshim(&["inspect", &short_ids[0], "--json"])).unwrap();
    assert_eq!(web["service"], "web");
    assert_eq!(web["linked_by"][0]["name"], "proxy", "{web}");
}
