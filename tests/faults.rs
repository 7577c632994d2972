//! The binary under faults and races: hooks that run at once against one
//! linker, a container between its create and its start while others stop,
//! directories given relative to a current directory the hooks do not share.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::{Fixture, run_with_stdin};

/// A config from the runc fixture with these annotations, in the test's
/// own network namespace.
fn config_with(annotations: Value) -> Value {
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = annotations;
    for ns in config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!("/proc/self/ns/net");
        }
    }
    config
}

/// A bundle named `name` holding `config`.
fn bundle(fx: &Fixture, name: &str, config: &Value) -> PathBuf {
    let b = fx.dir.path().join("bundles").join(name);
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("config.json"), serde_json::to_vec(config).unwrap()).unwrap();
    b
}

/// The state a runtime gives a hook of container `id` (this process).
fn state(id: &str, bundle: &Path) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"ociVersion": "1.0.2", "id": id, "status": "running",
                                "pid": std::process::id(), "bundle": bundle}),
    )
    .unwrap()
}

fn succeeded(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `linkshim hook precreate` on `config`: the prepared config.
fn precreate(fx: &Fixture, config: &Value) -> Value {
    let out = support::precreate(fx, &serde_json::to_vec(config).unwrap());
    succeeded(&out, "precreate");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn token_of(prepared: &Value) -> String {
    prepared["annotations"]["io.linkshim.internal.token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn relative_state_and_persist_dirs_reach_the_hooks_absolute() {
    let fx = Fixture::new();
    let config = config_with(json!({"io.linkshim.name": "solo"}));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linkshim"));
    cmd.current_dir(fx.dir.path())
        .args([
            "--state-dir",
            "rel/state",
            "--persist-dir",
            "./rel/persist",
            "hook",
            "precreate",
        ])
        .env("LINKSHIM_CONFIG", fx.dir.path().join("no-config.toml"))
        .env_remove("LINKSHIM_STATE_DIR")
        .env_remove("LINKSHIM_PERSIST_DIR");
    let out = run_with_stdin(cmd, &serde_json::to_vec(&config).unwrap());
    succeeded(&out, "precreate");
    let prepared: Value = serde_json::from_slice(&out.stdout).unwrap();
    let base = std::fs::canonicalize(fx.dir.path()).unwrap();
    let mut seen = 0;
    for stage in ["poststart", "poststop"] {
        for hook in prepared["hooks"][stage].as_array().unwrap() {
            let args: Vec<&str> = hook["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            if args.first() != Some(&"linkshim") {
                continue;
            }
            seen += 1;
            let after = |flag: &str| {
                let i = args.iter().position(|a| *a == flag).unwrap();
                PathBuf::from(args[i + 1])
            };
            let (state, persist) = (after("--state-dir"), after("--persist-dir"));
            assert!(state.is_absolute() && persist.is_absolute(), "{args:?}");
            assert_eq!(
                std::fs::canonicalize(&state).unwrap(),
                base.join("rel/state"),
                "the state dir precreate used, wherever the hook runs: {args:?}"
            );
            assert_eq!(
                persist.strip_prefix(fx.dir.path()).ok(),
                Some(Path::new("rel/persist")),
                "{args:?}"
            );
        }
    }
    assert_eq!(seen, 2, "one poststart and one poststop hook of linkshim's");
}

/// Targets that start (and stop) at once, all linked by one running
/// linker: every one of them is in its hosts file at the end.
#[test]
fn parallel_poststarts_against_one_linker_keep_every_line() {
    const TARGETS: usize = 12;
    let fx = Fixture::new();
    let names: Vec<String> = (1..=TARGETS).map(|i| format!("t{i}")).collect();
    let targets: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| {
            let b = bundle(&fx, n, &config_with(json!({"io.linkshim.name": n})));
            (format!("cid-{n}"), state(&format!("cid-{n}"), &b))
        })
        .collect();
    for (id, st) in &targets {
        succeeded(&run_with_stdin(fx.cmd(&["hook", "poststart"]), st), id);
    }
    // The linker: prepared with every target up, then started.
    let prepared = precreate(
        &fx,
        &config_with(json!({"io.linkshim.name": "web", "io.linkshim.links": names.join(" ")})),
    );
    let hosts = fx.state.join("hosts").join(token_of(&prepared));
    let b = bundle(&fx, "web", &prepared);
    succeeded(
        &run_with_stdin(fx.cmd(&["hook", "poststart"]), &state("cid-web", &b)),
        "linker",
    );
    let lines_for = |text: &str| -> Vec<String> {
        names
            .iter()
            .filter(|n| {
                text.lines()
                    .any(|l| !l.starts_with('#') && l.split_whitespace().nth(1) == Some(n))
            })
            .cloned()
            .collect()
    };
    let text = std::fs::read_to_string(&hosts).unwrap();
    assert_eq!(
        lines_for(&text),
        names,
        "the targets have addresses in this namespace: {text}"
    );

    let at_once = |stage: &str| {
        let children: Vec<_> = targets
            .iter()
            .map(|(id, st)| {
                let mut c = fx.cmd(&["hook", stage]);
                let mut child = c
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                std::io::Write::write_all(&mut child.stdin.take().unwrap(), st).unwrap();
                (id, child)
            })
            .collect();
        for (id, child) in children {
            succeeded(&child.wait_with_output().unwrap(), id);
        }
    };
    for round in 0..3 {
        at_once("poststop");
        let text = std::fs::read_to_string(&hosts).unwrap();
        assert_eq!(
            lines_for(&text),
            Vec::<String>::new(),
            "round {round}: every stopped target left: {text}"
        );
        at_once("poststart");
        let text = std::fs::read_to_string(&hosts).unwrap();
        assert_eq!(
            lines_for(&text),
            names,
            "round {round}: every started target is there: {text}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(fx.state.join("hosts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        left.iter().all(|f| f.starts_with(&token_of(&prepared))),
        "only the linker's hosts file and its lock: {left:?}"
    );
}

/// Backdate `path` by an hour: older than any sweep age.
fn age(path: &Path) {
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
}

/// A container created long ago and not started yet keeps its hosts file
/// through other containers' poststops; a file no one holds, or that only
/// a dead container held, goes.
#[test]
fn the_sweep_removes_only_what_the_registry_proves_dead() {
    let fx = Fixture::new();
    let b = bundle(&fx, "db", &config_with(json!({"io.linkshim.name": "db"})));
    succeeded(
        &run_with_stdin(fx.cmd(&["hook", "poststart"]), &state("cid-db", &b)),
        "target",
    );
    let hosts_of = |name: &str| {
        let prepared = precreate(
            &fx,
            &config_with(json!({"io.linkshim.name": name, "io.linkshim.links": "db"})),
        );
        let file = fx.state.join("hosts").join(token_of(&prepared));
        assert!(file.exists(), "{name}: precreate wrote its hosts file");
        (prepared, file)
    };
    // Created, not started: in the gap between create and start.
    let (_, waiting) = hosts_of("waiting");
    // Started, then its process died with no poststop.
    let (prepared, dead) = hosts_of("crashed");
    let b = bundle(&fx, "crashed", &prepared);
    let mut child = Command::new("true").spawn().unwrap();
    let gone_pid = child.id();
    child.wait().unwrap();
    let crashed = serde_json::to_vec(&json!({"ociVersion": "1.0.2", "id": "cid-crashed",
        "status": "running", "pid": gone_pid, "bundle": b}))
    .unwrap();
    succeeded(
        &run_with_stdin(fx.cmd(&["hook", "poststart"]), &crashed),
        "crashed",
    );
    // Left by a create whose runtime never ran a hook.
    let orphan = fx.state.join("hosts/00000000000000000000000000000001");
    std::fs::write(&orphan, "x").unwrap();
    for f in [&waiting, &dead, &orphan] {
        age(f);
    }
    let conn = rusqlite::Connection::open(fx.state.join("registry.db")).unwrap();
    assert_eq!(
        conn.execute("UPDATE holds SET created = created - 3600", [])
            .unwrap(),
        1,
        "one hold: the container still being created"
    );

    // Any container's poststop sweeps.
    let stop = serde_json::to_vec(&json!({"id": "someone-else"})).unwrap();
    succeeded(
        &run_with_stdin(fx.cmd(&["hook", "poststop"]), &stop),
        "poststop",
    );
    assert!(
        waiting.exists(),
        "a container between create and start keeps its hosts file"
    );
    assert!(!orphan.exists(), "a file no one holds is swept");
    assert!(!dead.exists(), "a file only a dead container held is swept");

    // Its start takes the hold over; its stop removes the file.
    let token = waiting.file_name().unwrap().to_str().unwrap().to_string();
    let prepared = config_with(
        json!({"io.linkshim.name": "waiting", "io.linkshim.links": "db",
        "io.linkshim.internal.token": token}),
    );
    let b = bundle(&fx, "waiting", &prepared);
    succeeded(
        &run_with_stdin(fx.cmd(&["hook", "poststart"]), &state("cid-waiting", &b)),
        "start",
    );
    succeeded(
        &run_with_stdin(fx.cmd(&["hook", "poststop"]), &stop),
        "poststop",
    );
    assert!(waiting.exists(), "a running container keeps its hosts file");
    let own = serde_json::to_vec(&json!({"id": "cid-waiting"})).unwrap();
    succeeded(
        &run_with_stdin(fx.cmd(&["hook", "poststop", "--token", &token]), &own),
        "own poststop",
    );
    assert!(!waiting.exists());
}

/// A hosts file left torn (by a crash of an older linkshim between its
/// write and its truncate: a cut line and a stray END after the block) is
/// whole again after the next refresh, on the same inode.
#[test]
fn a_torn_hosts_file_is_repaired_by_the_next_refresh() {
    use std::os::unix::fs::MetadataExt;
    let fx = Fixture::new();
    let b = bundle(&fx, "db", &config_with(json!({"io.linkshim.name": "db"})));
    let db = state("cid-db", &b);
    succeeded(&run_with_stdin(fx.cmd(&["hook", "poststart"]), &db), "db");
    let prepared = precreate(
        &fx,
        &config_with(json!({"io.linkshim.name": "web", "io.linkshim.links": "db"})),
    );
    let hosts = fx.state.join("hosts").join(token_of(&prepared));
    let b = bundle(&fx, "web", &prepared);
    succeeded(
        &run_with_stdin(fx.cmd(&["hook", "poststart"]), &state("cid-web", &b)),
        "linker",
    );
    let whole = std::fs::read_to_string(&hosts).unwrap();
    let line = whole
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("db"))
        .unwrap_or_else(|| panic!("db has an address in this namespace: {whole}"))
        .to_string();
    let ino = std::fs::metadata(&hosts).unwrap().ino();
    let torn = format!("{whole}{}\n# END linkshim links\n", &line[3..]);
    std::fs::write(&hosts, &torn).unwrap();
    assert_eq!(std::fs::metadata(&hosts).unwrap().ino(), ino);

    // The target stops and starts again: two refreshes of the linker.
    let stop = serde_json::to_vec(&json!({"id": "cid-db"})).unwrap();
    succeeded(
        &run_with_stdin(fx.cmd(&["hook", "poststop"]), &stop),
        "stop",
    );
    let without = std::fs::read_to_string(&hosts).unwrap();
    assert!(
        !without.contains(&line[3..]) && !without.contains("# END"),
        "no line of db, no block: {without}"
    );
    succeeded(
        &run_with_stdin(fx.cmd(&["hook", "poststart"]), &db),
        "start",
    );
    assert_eq!(std::fs::read_to_string(&hosts).unwrap(), whole);
    assert_eq!(std::fs::metadata(&hosts).unwrap().ino(), ino, "same inode");

    // Torn again, and refreshed with no change in the registry.
    std::fs::write(&hosts, &torn).unwrap();
    succeeded(
        &run_with_stdin(fx.cmd(&["hook", "poststart"]), &db),
        "again",
    );
    assert_eq!(std::fs::read_to_string(&hosts).unwrap(), whole);
}
