//! The binary as podman's precreate hook, on fixture configs captured from
//! real podman 4.3, `runc spec` and `crun spec`.

mod support;

use serde_json::{Value, json};
use support::{Fixture, precreate, register_target};

const FIXTURES: &[&str] = &[
    "podman-4.3-config.json",
    "runc-1.1-spec.json",
    "crun-1.8-spec.json",
];

/// Paths linkshim may change; everything else must come back as it went in.
fn without_touched(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("hooks");
    o.remove("mounts");
    o.remove("annotations");
    if let Some(p) = o.get_mut("process").and_then(Value::as_object_mut) {
        p.remove("env");
    }
    v
}

#[test]
fn no_linkshim_annotation_is_passed_through_byte_for_byte() {
    let fx = Fixture::new();
    for name in FIXTURES {
        let text = Fixture::read(name);
        let out = precreate(&fx, text.as_bytes());
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == text.as_bytes(),
            "{name}: the output differs from the input"
        );
    }
}

#[test]
fn links_are_added_and_every_other_field_is_kept() {
    let fx = Fixture::new();
    register_target(
        &fx,
        "tgt-0123456789abcdef",
        "mysql_server",
        "3306,33060/udp,7000-7002",
        &[("MYSQL_ROOT_PASSWORD", "secret")],
    );
    for name in FIXTURES {
        let mut config: Value = serde_json::from_str(&Fixture::read(name)).unwrap();
        // Fields no OCI version defines yet, at the top and nested, must survive.
        config["org.example.future"] = json!({"keep": [1, {"deep": true}]});
        config["process"]["org.example.nested"] = json!("kept");
        config["linux"]["org.example.linux"] = json!(42);
        let ann = config["annotations"].as_object_mut().map(|_| ()).is_some();
        if !ann {
            config["annotations"] = json!({});
        }
        config["annotations"]["io.linkshim.name"] = json!("webapp");
        config["annotations"]["io.linkshim.links"] = json!("mysql_server:db");
        config["annotations"]["org.example.other"] = json!("untouched");
        config["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("DB_PORT=user-wins"));
        let input = serde_json::to_vec(&config).unwrap();
        let out = precreate(&fx, &input);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).expect("stdout is only JSON");
        assert_eq!(
            without_touched(got.clone()),
            without_touched(config.clone()),
            "{name}"
        );

        // Keys keep their order: what we did not touch is where it was.
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        let mut want_keys = keys(&config);
        if !want_keys.contains(&"hooks".to_string()) {
            want_keys.push("hooks".into());
        }
        if !want_keys.contains(&"mounts".to_string()) {
            want_keys.push("mounts".into());
        }
        assert_eq!(keys(&got), want_keys, "{name}");

        let env: Vec<&str> = got["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for want in [
            "DB_NAME=/webapp/db",
            "DB_PORT=user-wins",
            "DB_PORT_3306_TCP_ADDR=10.0.0.2",
            "DB_PORT_7000_TCP_PORT_END=7002",
            "DB_PORT_33060_UDP=udp://10.0.0.2:33060",
            "DB_ENV_MYSQL_ROOT_PASSWORD=secret",
            "LINKSHIM_NAME=webapp",
        ] {
            assert!(env.contains(&want), "{name}: {want} missing from {env:?}");
        }
        assert_eq!(
            env.iter().filter(|e| e.starts_with("DB_PORT=")).count(),
            1,
            "{name}: the user's value wins"
        );
        for e in config["process"]["env"].as_array().unwrap() {
            assert!(
                env.contains(&e.as_str().unwrap()),
                "{name}: the user's {e} is kept"
            );
        }
        assert_eq!(got["annotations"]["org.example.other"], "untouched");

        // Hooks: absolute path, explicit env, the state dir passed on.
        for stage in ["poststart", "poststop"] {
            let hooks = got["hooks"][stage].as_array().unwrap();
            let own: Vec<&Value> = hooks
                .iter()
                .filter(|h| h["args"][0] == "linkshim")
                .collect();
            assert_eq!(own.len(), 1, "{name}: one {stage} hook");
            let h = own[0];
            assert!(h["path"].as_str().unwrap().starts_with('/'), "{name}");
            assert!(
                h["env"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e.as_str().unwrap().starts_with("PATH=/"))
            );
            assert!(
                h["args"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(fx.state.to_str().unwrap()))
            );
        }

        // /etc/hosts: one mount, on a file under the state dir, with the Docker line.
        let hosts: Vec<&Value> = got["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["destination"] == "/etc/hosts")
            .collect();
        assert_eq!(hosts.len(), 1, "{name}");
        let source = hosts[0]["source"].as_str().unwrap();
        assert!(
            source.starts_with(fx.state.to_str().unwrap()),
            "{name}: {source}"
        );
        let text = std::fs::read_to_string(source).unwrap();
        assert!(
            text.contains("10.0.0.2\tdb tgt-01234567 mysql_server\n"),
            "{name}: {text}"
        );
        assert!(text.contains("localhost"), "{name}: {text}");
    }
}

#[test]
fn preparing_twice_is_the_same_as_once() {
    let fx = Fixture::new();
    register_target(&fx, "t1", "redis", "6379", &[]);
    let mut config: Value = serde_json::from_str(&Fixture::read("podman-4.3-config.json")).unwrap();
    config["annotations"]["io.linkshim.name"] = json!("webapp");
    config["annotations"]["io.linkshim.links"] = json!("redis");
    let once = precreate(&fx, &serde_json::to_vec(&config).unwrap());
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stderr)
    );
    let twice = precreate(&fx, &once.stdout);
    assert!(twice.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&once.stdout).unwrap(),
        serde_json::from_slice::<Value>(&twice.stdout).unwrap()
    );
    let hosts_files = std::fs::read_dir(fx.state.join("hosts")).unwrap().count();
    assert_eq!(hosts_files, 1);
}

#[test]
fn a_missing_target_fails_with_a_clear_message_and_nothing_on_stdout() {
    let fx = Fixture::new();
    let mut config: Value = serde_json::from_str(&Fixture::read("podman-4.3-config.json")).unwrap();
    config["annotations"]["io.linkshim.name"] = json!("webapp");
    config["annotations"]["io.linkshim.links"] = json!("nosuch:db");
    let out = precreate(&fx, &serde_json::to_vec(&config).unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "container \"webapp\"",
        "link \"nosuch:db\"",
        "could not get container for nosuch",
    ] {
        assert!(err.contains(want), "{want} not in {err}");
    }
    let log = std::fs::read_to_string(fx.state.join("linkshim.log")).unwrap();
    assert!(log.contains("could not get container for nosuch"), "{log}");
    assert!(
        !fx.state.join("hosts").exists()
            || std::fs::read_dir(fx.state.join("hosts")).unwrap().count() == 0
    );
}

#[test]
fn bad_annotations_name_the_annotation_the_container_and_the_text() {
    let fx = Fixture::new();
    let cases = [
        ("io.linkshim.links", "db:", "alias"),
        ("io.linkshim.expose", "80/icmp", "unknown protocol"),
        ("io.linkshim.expose", "70000", "1 to 65535"),
        ("io.linkshim.name", "bad name", "only letters"),
    ];
    for (key, value, why) in cases {
        let mut config: Value =
            serde_json::from_str(&Fixture::read("podman-4.3-config.json")).unwrap();
        config["annotations"][key] = json!(value);
        let out = precreate(&fx, &serde_json::to_vec(&config).unwrap());
        assert_eq!(out.status.code(), Some(1), "{key}={value}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(key) && err.contains(why),
            "{key}={value}: {err}"
        );
        let shown = value.split(',').next().unwrap();
        assert!(
            err.contains(shown),
            "{key}={value}: the text is shown: {err}"
        );
        assert!(err.contains("container \""), "{err}");
    }
}

#[test]
fn garbage_on_stdin_is_refused_without_output() {
    let fx = Fixture::new();
    let out = precreate(&fx, b"{not json");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid OCI config"));
}

#[test]
fn a_target_env_key_with_a_comma_cannot_strip_the_linkers_env() {
    let fx = Fixture::new();
    register_target(&fx, "t1", "evil", "", &[("A,PATH", "x")]);
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = json!({"io.linkshim.links": "evil"});
    let once = precreate(&fx, &serde_json::to_vec(&config).unwrap());
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stderr)
    );
    let twice = precreate(&fx, &once.stdout);
    let got: Value = serde_json::from_slice(&twice.stdout).unwrap();
    let env: Vec<&str> = got["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.iter().any(|e| e.starts_with("PATH=/")),
        "the linker's PATH is kept: {env:?}"
    );
    assert_eq!(
        env.iter()
            .filter(|e| e.starts_with("EVIL_ENV_A,PATH="))
            .count(),
        1,
        "{env:?}"
    );
}

/// A create whose hosts file cannot be written fails whole: the replica
/// slot it reserved before is not kept (the name's check, the slot and the
/// hold are one registry transaction).
#[test]
fn a_failed_create_keeps_no_slot_it_reserved() {
    use linkshim::registry::Registry;
    let fx = Fixture::new();
    register_target(&fx, "tgt-db", "db", "5432", &[]);
    // A carried token is used when nothing holds it; a directory (not
    // empty) where its hosts file goes cannot be replaced by a file.
    let token = "0123456789abcdef0123456789abcdef";
    std::fs::create_dir_all(fx.state.join("hosts").join(token).join("x")).unwrap();
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = json!({
        "io.linkshim.name": "web-1",
        "io.linkshim.service": "web",
        "io.linkshim.links": "db",
        "io.linkshim.internal.token": token,
    });
    let out = precreate(&fx, &serde_json::to_vec(&config).unwrap());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("hosts file"), "{err}");
    let reg = Registry::open(&fx.state).unwrap();
    assert!(
        !reg.token_held(token).unwrap(),
        "a slot or hold of the failed create was kept"
    );
    // And the same create goes through once the path is free.
    std::fs::remove_dir_all(fx.state.join("hosts").join(token)).unwrap();
    let out = precreate(&fx, &serde_json::to_vec(&config).unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(reg.token_held(token).unwrap());
}
