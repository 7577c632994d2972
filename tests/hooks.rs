//! The binary as the poststart and poststop hooks it adds to containers,
//! and the hooks.d file that runs it as podman's precreate hook.

mod support;

use serde_json::{Value, json};
use support::{Fixture, run_with_stdin};

fn bundle_with(fx: &Fixture, annotations: Value, env: &[&str]) -> std::path::PathBuf {
    let b = fx.dir.path().join("bundle");
    std::fs::create_dir_all(&b).unwrap();
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = annotations;
    config["process"]["env"] = json!(env);
    for ns in config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!("/proc/self/ns/net");
        }
    }
    std::fs::write(b.join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    b
}

fn ls(fx: &Fixture) -> Vec<Value> {
    let out = fx.cmd(&["ls", "--json", "--show-env"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn poststart_registers_and_poststop_unregisters_idempotently() {
    let fx = Fixture::new();
    let b = bundle_with(
        &fx,
        json!({"io.linkshim.name": "db", "io.linkshim.expose": "5432 53/udp",
               "io.linkshim.internal.added-env": "[\"LINKSHIM_NAME\",\"X_PORT\"]"}),
        &[
            "PATH=/bin",
            "HOME=/root",
            "HOSTNAME=h",
            "PGPASS=a=b",
            "LINKSHIM_NAME=db",
            "X_PORT=tcp://1.2.3.4:1",
        ],
    );
    let state = json!({"ociVersion": "1.0.2", "id": "c0ffee", "status": "running",
                       "pid": std::process::id(), "bundle": b});
    let state = serde_json::to_vec(&state).unwrap();
    for _ in 0..2 {
        let out = run_with_stdin(fx.cmd(&["hook", "poststart"]), &state);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "hooks print nothing on stdout");
    }
    let all = ls(&fx);
    assert_eq!(all.len(), 1);
    let r = &all[0];
    assert_eq!(r["name"], "db");
    assert_eq!(r["id"], "c0ffee");
    assert_eq!(
        r["ports"],
        json!([{"number": 5432, "proto": "tcp"}, {"number": 53, "proto": "udp"}])
    );
    assert_eq!(
        r["env"],
        json!([["PGPASS", "a=b"]]),
        "only the container's own configured env"
    );

    let table = String::from_utf8(fx.cmd(&["ls"]).output().unwrap().stdout).unwrap();
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("db ") && l.contains("c0ffee") && l.contains("5432/tcp,53/udp")),
        "{table}"
    );

    let hosts = fx.state.join("hosts/0123456789abcdef0123456789abcdef");
    std::fs::write(&hosts, "x").unwrap();
    let stop =
        serde_json::to_vec(&json!({"ociVersion": "1.0.2", "id": "c0ffee", "status": "stopped"}))
            .unwrap();
    for _ in 0..2 {
        let out = run_with_stdin(
            fx.cmd(&[
                "hook",
                "poststop",
                "--token",
                "0123456789abcdef0123456789abcdef",
            ]),
            &stop,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(ls(&fx).is_empty());
    assert!(!hosts.exists());
}

#[test]
fn a_token_that_is_not_ours_names_no_file() {
    let fx = Fixture::new();
    std::fs::create_dir_all(&fx.state).unwrap();
    let victim = fx.dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let stop = serde_json::to_vec(&json!({"id": "x"})).unwrap();
    let out = run_with_stdin(
        fx.cmd(&["hook", "poststop", "--token", "../../victim"]),
        &stop,
    );
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
}

#[test]
fn a_name_held_by_a_running_container_is_refused() {
    let fx = Fixture::new();
    support::register_target(&fx, "other", "db", "", &[]);
    let b = bundle_with(&fx, json!({"io.linkshim.name": "db"}), &[]);
    let state =
        serde_json::to_vec(&json!({"id": "mine", "pid": std::process::id(), "bundle": b})).unwrap();
    let out = run_with_stdin(fx.cmd(&["hook", "poststart"]), &state);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already used by running container other"),
        "{err}"
    );
}

#[test]
fn the_hooks_d_file_runs_precreate_for_linkshim_annotations() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/linkshim.json");
    let hook: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(hook["version"], "1.0.0");
    assert_eq!(hook["hook"]["path"], "/usr/bin/linkshim");
    assert_eq!(
        hook["hook"]["args"],
        json!(["linkshim", "hook", "precreate"])
    );
    assert_eq!(hook["stages"], json!(["precreate"]));
    assert!(
        hook["hook"]["env"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "an explicit env"
    );
    let when = hook["when"]["annotations"].as_object().unwrap();
    assert_eq!(when.len(), 1);
    let (key, _) = when.iter().next().unwrap();
    assert_eq!(key, "^io\\.linkshim\\.");
}

#[test]
fn a_failed_create_frees_its_reserved_slot_at_poststop_and_orphans_are_swept() {
    let fx = Fixture::new();
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = json!({"io.linkshim.name": "r1", "io.linkshim.service": "web"});
    let input = serde_json::to_vec(&config).unwrap();
    let first = support::precreate(&fx, &input);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let prepared: Value = serde_json::from_slice(&first.stdout).unwrap();
    let env = prepared["process"]["env"].as_array().unwrap();
    assert!(
        env.contains(&json!("LINKSHIM_INDEX=1")) && env.contains(&json!("LINKSHIM_SERVICE=web")),
        "{env:?}"
    );
    let token = prepared["annotations"]["io.linkshim.internal.token"]
        .as_str()
        .unwrap()
        .to_string();

    assert!(
        ls(&fx).is_empty(),
        "a reserved slot is no running container"
    );

    // Another container asking for the same name meanwhile is told why not.
    let second = support::precreate(&fx, &input);
    assert_eq!(second.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("reserved by a container being created")
    );

    // An orphan hosts file of a create long gone, and a fresh one.
    let hosts = fx.state.join("hosts");
    let old = hosts.join("00000000000000000000000000000001");
    let fresh = hosts.join("00000000000000000000000000000002");
    for f in [&old, &fresh] {
        std::fs::write(f, "x").unwrap();
    }
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();

    // The create failed: the runtime runs the poststop hook it was given.
    let stop = serde_json::to_vec(&json!({"id": "never-started"})).unwrap();
    let out = run_with_stdin(fx.cmd(&["hook", "poststop", "--token", &token]), &stop);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = support::precreate(&fx, &input);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(!old.exists(), "an old orphan is swept");
    assert!(
        fresh.exists(),
        "a recent file may belong to a container being created"
    );
}

#[test]
fn doctor_reports_a_line_per_check_and_fails_on_a_missing_target() {
    let fx = Fixture::new();
    support::register_target(&fx, "0123456789abcdef0", "mysql_server", "3306", &[]);
    support::register_target(&fx, "c2", "quiet", "", &[]);
    let out = fx
        .cmd(&[
            "doctor",
            "--name",
            "web",
            "--links",
            "mysql_server:db quiet",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "PASS  link mysql_server:db: running container mysql_server (0123456789ab)",
        "PASS  link mysql_server:db: mysql_server (0123456789ab) has address 10.0.0.2",
        "PASS  link mysql_server:db: mysql_server (0123456789ab) exposes 3306/tcp",
        "WARN  link quiet: quiet (c2) exposes no ports",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    let out = fx
        .cmd(&["doctor", "--links", "nosuch:db mysql_server"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "FAIL  link nosuch:db: link \"nosuch:db\": could not get container for nosuch"
        ),
        "{text}"
    );
    assert!(
        text.contains("PASS  link mysql_server: running container"),
        "{text}"
    );
}

#[test]
fn a_container_that_already_exited_is_not_registered_and_is_no_error() {
    let fx = Fixture::new();
    let b = fx.dir.path().join("bundle");
    std::fs::create_dir_all(&b).unwrap();
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = json!({"io.linkshim.name": "quick"});
    std::fs::write(b.join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let state = serde_json::to_vec(&json!({"id": "quick1", "pid": pid, "bundle": b})).unwrap();
    let out = run_with_stdin(fx.cmd(&["hook", "poststart"]), &state);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ls(&fx).is_empty());
}
