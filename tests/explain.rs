//! `linkshim explain` on the captured podman, runc and crun configs: what
//! it reports, that it matches what a real precreate then does, and that
//! the registry and the state directory are left byte for byte as they were.

mod support;

use std::path::Path;

use linkshim::model::Name;
use linkshim::registry::Record;
use serde_json::{Value, json};
use support::{Fixture, precreate, register_target, run_with_stdin, snapshot};

const FIXTURES: [&str; 3] = [
    "podman-4.3-config.json",
    "runc-1.1-spec.json",
    "crun-1.8-spec.json",
];

/// A registry with a target, a service replica and a stale record (which
/// a writer would clear, and a dry run must not).
fn registry(fx: &Fixture) {
    register_target(
        fx,
        "tgt-0123456789abcdef",
        "mysql_server",
        "3306,33060/udp",
        &[("MYSQL_ROOT_PASSWORD", "secret")],
    );
    let replica = Record {
        service: Some(Name::parse("t", "web").unwrap()),
        ..testkit::live_record("rep-1", "web-a", &["10.0.0.3".parse().unwrap()], "80", &[])
    };
    testkit::register(&fx.state, &replica);
    let mut stale = testkit::live_record("old-1", "old", &[], "", &[]);
    stale.boot_id = "another-boot".into();
    testkit::register(&fx.state, &stale);
}

/// `name` annotated as a replica of `workers` linking to the target and the service.
fn config(name: &str) -> Value {
    let mut config: Value = serde_json::from_str(&Fixture::read(name)).unwrap();
    if !config["annotations"].is_object() {
        config["annotations"] = json!({});
    }
    config["annotations"]["io.linkshim.name"] = json!("webapp");
    config["annotations"]["io.linkshim.links"] = json!("mysql_server:db web");
    config["annotations"]["io.linkshim.service"] = json!("workers");
    config
}

fn explain(fx: &Fixture, persist: &Path, args: &[&str], stdin: &[u8]) -> String {
    let mut cmd = fx.cmd(&["--persist-dir", persist.to_str().unwrap(), "explain"]);
    cmd.args(args);
    let out = run_with_stdin(cmd, stdin);
    assert!(
        out.status.success(),
        "explain {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn explain_reports_every_change_and_writes_nothing() {
    for name in FIXTURES {
        let fx = Fixture::new();
        let persist = fx.dir.path().join("persist");
        registry(&fx);
        let bundle = fx.dir.path().join("bundle");
        std::fs::create_dir(&bundle).unwrap();
        let text = serde_json::to_vec_pretty(&config(name)).unwrap();
        std::fs::write(bundle.join("config.json"), &text).unwrap();
        let before = snapshot(fx.dir.path());

        let file = bundle.join("config.json");
        let outs = [
            explain(&fx, &persist, &["--config", file.to_str().unwrap()], b""),
            explain(&fx, &persist, &["--config", "-"], &text),
            explain(&fx, &persist, &["--bundle", bundle.to_str().unwrap()], b""),
        ];
        for out in &outs {
            let has = |s: &str| assert!(out.contains(s), "{name}: no {s:?} in:\n{out}");
            has(
                "link mysql_server as db: container mysql_server (tgt-01234567) at 10.0.0.2 3306/tcp,33060/udp, docker variables",
            );
            has(
                "link web as web: service web, 1 replica(s): web-1 web-a at 10.0.0.3 80/tcp, docker variables",
            );
            has("+      \"DB_PORT=tcp://10.0.0.2:3306\",");
            has("+      \"DB_ENV_MYSQL_ROOT_PASSWORD=***\",");
            has("+      \"WEB_1_PORT_80_TCP_ADDR=10.0.0.3\",");
            has("+      \"LINKSHIM_INDEX=1\",");
            has("+      \"LINKSHIM_SERVICE=workers\",");
            has("\"destination\": \"/etc/hosts\"");
            has("\"poststart\"");
            has("mounted read-only at /etc/hosts:");
            assert!(
                out.lines().any(|l| l.starts_with("    10.0.0.2\tdb ")),
                "{name}: the hosts line of db:\n{out}"
            );
            assert!(
                !out.contains("secret"),
                "{name}: a masked value shows:\n{out}"
            );
        }
        assert_eq!(
            snapshot(fx.dir.path()),
            before,
            "{name}: the registry, the state directory and the config are unchanged"
        );
        let shown = explain(
            &fx,
            &persist,
            &["--config", file.to_str().unwrap(), "--show-env"],
            b"",
        );
        assert!(
            shown.contains("\"DB_ENV_MYSQL_ROOT_PASSWORD=secret\""),
            "{shown}"
        );

        // What explain said is what a real create then does.
        let real = precreate(&fx, &text);
        assert!(
            real.status.success(),
            "{}",
            String::from_utf8_lossy(&real.stderr)
        );
        let got: Value = serde_json::from_slice(&real.stdout).unwrap();
        let added: Vec<&str> = got["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .filter(|kv| {
                kv.starts_with("DB_") || kv.starts_with("WEB_") || kv.starts_with("LINKSHIM_")
            })
            .collect();
        assert!(added.len() > 10, "{added:?}");
        for kv in added {
            assert!(
                shown.contains(&format!("+      \"{kv}\"")),
                "{name}: precreate added {kv:?}, explain did not say so:\n{shown}"
            );
        }
    }
}

#[test]
fn a_broken_link_fails_explain_by_name_and_writes_nothing() {
    let fx = Fixture::new();
    let persist = fx.dir.path().join("persist");
    registry(&fx);
    let mut config = config("runc-1.1-spec.json");
    config["annotations"]["io.linkshim.links"] = json!("ghost:g");
    let before = snapshot(fx.dir.path());
    let mut cmd = fx.cmd(&[
        "--persist-dir",
        persist.to_str().unwrap(),
        "explain",
        "--config",
        "-",
    ]);
    cmd.env("LINKSHIM_LOG", "off");
    let out = run_with_stdin(cmd, &serde_json::to_vec(&config).unwrap());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("webapp") && err.contains("ghost"), "{err}");
    assert_eq!(snapshot(fx.dir.path()), before);
}

#[test]
fn a_config_without_annotations_is_left_as_it_is() {
    let fx = Fixture::new();
    let out = run_with_stdin(
        fx.cmd(&["explain", "--config", "-"]),
        Fixture::read("crun-1.8-spec.json").as_bytes(),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("leaves this config as it is"));
    assert!(!fx.state.exists(), "no state directory is created");
}
