//! A linker created before its target: `?optional` starts without it,
//! `?wait=N` waits for it to register (and no longer than N), the
//! default fails as before. The binary as podman's precreate hook.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Fixture, precreate, register_target};

fn linker(links: &str) -> Vec<u8> {
    let mut config: Value = serde_json::from_str(&Fixture::read("podman-4.3-config.json")).unwrap();
    config["annotations"]["io.linkshim.name"] = json!("webapp");
    config["annotations"]["io.linkshim.links"] = json!(links);
    serde_json::to_vec(&config).unwrap()
}

fn env_of(stdout: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(stdout).unwrap();
    v["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
}

/// The linker's hosts file, from the config precreate printed.
fn hosts_of(stdout: &[u8]) -> String {
    let v: Value = serde_json::from_slice(stdout).unwrap();
    let m = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/etc/hosts")
        .expect("a hosts mount")
        .clone();
    std::fs::read_to_string(m["source"].as_str().unwrap()).unwrap()
}

#[test]
fn a_waiting_link_goes_on_when_its_target_registers() {
    let fx = Fixture::new();
    let input = linker("mysql:db?wait=30s");
    let child = {
        let cmd = fx.cmd(&["hook", "precreate"]);
        std::thread::spawn(move || support::run_with_stdin(cmd, &input))
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(!child.is_finished(), "it waits for mysql");
    register_target(&fx, "0123456789ab", "mysql", "3306", &[]);
    let out = child.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = env_of(&out.stdout);
    assert!(
        env.contains(&"DB_PORT=tcp://10.0.0.2:3306".to_string()),
        "{env:?}"
    );
    assert!(hosts_of(&out.stdout).contains("10.0.0.2\tdb "));
}

#[test]
fn a_waiting_link_fails_at_its_bound_and_says_what_to_do() {
    let fx = Fixture::new();
    let start = Instant::now();
    let out = precreate(&fx, &linker("mysql:db?wait=300ms"));
    assert!(start.elapsed() >= Duration::from_millis(300), "it waited");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "container \"webapp\"",
        "link \"mysql:db?wait=300ms\"",
        "within the 300ms it waits",
        "?optional",
    ] {
        assert!(err.contains(want), "{want} not in {err}");
    }
}

#[test]
fn an_optional_link_starts_without_its_target_and_keeps_the_others() {
    let fx = Fixture::new();
    register_target(&fx, "0123456789ab", "redis", "6379", &[]);
    let out = precreate(&fx, &linker("mysql:db?optional redis:cache"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = env_of(&out.stdout);
    assert!(!env.iter().any(|e| e.starts_with("DB_")), "{env:?}");
    assert!(env.contains(&"CACHE_PORT=tcp://10.0.0.2:6379".to_string()));
    let hosts = hosts_of(&out.stdout);
    assert!(
        hosts.contains("\tcache ") && !hosts.contains("\tdb "),
        "{hosts}"
    );

    // The default is still Docker's: a missing target fails the create.
    let out = precreate(&fx, &linker("mysql:db redis:cache"));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn explain_never_waits_and_says_what_a_create_would_wait_for() {
    let fx = Fixture::new();
    let path = fx.dir.path().join("config.json");
    std::fs::write(&path, linker("mysql:db?wait=60s")).unwrap();
    let start = Instant::now();
    let out = fx
        .cmd(&["explain", "--config", path.to_str().unwrap()])
        .env("LINKSHIM_LOG", "info")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        start.elapsed() < Duration::from_secs(50),
        "no 60 s wait in a dry run"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a create would wait up to 60s"), "{err}");
}
