//! The hooks on the etcd registry, on the binary: `registry = "etcd"` in
//! the config file is all it takes for precreate to resolve a link to a
//! container another host registered (env and hosts line as on one host);
//! with the cluster stopped, a linked create fails within `etcd_timeout`
//! with an error naming the container and etcd, printing nothing on
//! stdout, while a container that wants no links is left alone; a wrong
//! etcd setting fails with what to fix.
//!
//! Skipped (with a line on stderr) when `etcd` is not installed, unless
//! `LINKSHIM_E2E=required`.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use linkshim::registry::Store;
use linkshim::registry::etcd::{EtcdStore, Settings};
use serde_json::{Value, json};
use support::Fixture;
use testkit::{EtcdCluster, e2e_required, live_record};

fn cluster() -> Option<EtcdCluster> {
    if !EtcdCluster::available() {
        assert!(!e2e_required(), "etcd is not installed (scripts/setup.sh)");
        eprintln!("skipped: etcd is not installed");
        return None;
    }
    Some(EtcdCluster::start(1))
}

/// A config file for `host` on `endpoints`, with its own boot id file.
fn conf(fx: &Fixture, host: &str, endpoints: &[String], extra: &str) -> PathBuf {
    let boot = fx.dir.path().join(format!("{host}.boot"));
    std::fs::write(&boot, format!("boot-of-{host}\n")).unwrap();
    let path = fx.dir.path().join(format!("{host}.toml"));
    let eps: Vec<String> = endpoints.iter().map(|e| format!("{e:?}")).collect();
    std::fs::write(
        &path,
        format!(
            "registry = \"etcd\"\netcd_endpoints = [{}]\netcd_prefix = \"/hooks\"\nhost_id = \"{host}\"\nboot_id_file = {:?}\n{extra}",
            eps.join(", "),
            boot.display().to_string()
        ),
    )
    .unwrap();
    path
}

fn config_with(annotations: Value) -> Value {
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = annotations;
    config
}

fn precreate(fx: &Fixture, conf: &PathBuf, config: &Value) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linkshim"));
    cmd.arg("--state-dir")
        .arg(&fx.state)
        .args(["hook", "precreate"])
        .env("LINKSHIM_CONFIG", conf)
        .env_remove("LINKSHIM_STATE_DIR");
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A config error ends it before it reads stdin: a broken pipe is fine.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(config).unwrap());
    child.wait_with_output().unwrap()
}

#[test]
fn a_link_resolves_to_a_container_of_another_host() {
    let Some(c) = cluster() else { return };
    let fx = Fixture::new();
    let mut b = EtcdStore::open(&Settings {
        endpoints: c.endpoints(),
        prefix: "/hooks".into(),
        timeout: Duration::from_secs(2),
        ca_file: None,
        cert_file: None,
        key_file: None,
        host_id: "host-b".into(),
        boot_id: "boot-of-host-b".into(),
        advertise: None,
    })
    .unwrap();
    let target = live_record(
        "cid-db",
        "db",
        &["10.88.1.5".parse().unwrap()],
        "5432",
        &[("PGUSER", "app")],
    );
    b.register(&target, None).unwrap();
    let conf = conf(&fx, "host-a", &c.endpoints(), "");
    let out = precreate(
        &fx,
        &conf,
        &config_with(json!({"io.linkshim.name": "web", "io.linkshim.links": "db:pg"})),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prepared: Value = serde_json::from_slice(&out.stdout).unwrap();
    let env: Vec<&str> = prepared["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in [
        "PG_PORT=tcp://10.88.1.5:5432",
        "PG_NAME=/web/pg",
        "PG_ENV_PGUSER=app",
    ] {
        assert!(env.contains(&want), "{want} in {env:?}");
    }
    // Its hooks read the same config file, so the same registry.
    let want = format!("LINKSHIM_CONFIG={}", conf.display());
    for stage in ["poststart", "poststop"] {
        let env = prepared["hooks"][stage][0]["env"].to_string();
        assert!(env.contains(&want), "{stage}: {env}");
    }
    let token = prepared["annotations"]["io.linkshim.internal.token"]
        .as_str()
        .unwrap();
    let hosts = std::fs::read_to_string(fx.state.join("hosts").join(token)).unwrap();
    assert!(hosts.contains("10.88.1.5\tpg cid-db db\n"), "{hosts}");
    // The hosts file of this create is held on host A, in etcd.
    let keys = c.ctl(&[
        "get",
        "--prefix",
        "--keys-only",
        "/hooks/hosts/host-a/holds/",
    ]);
    assert!(keys.contains(token), "{keys}");
    // A name another host holds is refused here.
    let out = precreate(&fx, &conf, &config_with(json!({"io.linkshim.name": "db"})));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("already used by running container cid-db"),
        "{err}"
    );
}

#[test]
fn a_stopped_cluster_fails_a_linked_create_in_time_and_leaves_others_alone() {
    let Some(mut c) = cluster() else { return };
    let fx = Fixture::new();
    let conf = conf(&fx, "host-a", &c.endpoints(), "etcd_timeout = \"1s\"\n");
    c.stop();
    let start = Instant::now();
    let out = precreate(
        &fx,
        &conf,
        &config_with(json!({"io.linkshim.name": "web", "io.linkshim.links": "db"})),
    );
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        out.stdout.is_empty(),
        "only JSON on stdout, and none on failure"
    );
    assert!(
        err.contains("\"web\"")
            && err.contains("etcd registry")
            && err.contains("no answer within 1s"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "bounded: {took:?}");
    // A container that asks nothing of linkshim is passed through untouched.
    let plain = config_with(json!({"org.example": "x"}));
    let out = precreate(&fx, &conf, &plain);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(back, plain);
}

#[test]
fn a_wrong_etcd_setting_says_what_to_fix() {
    let fx = Fixture::new();
    for (extra, want) in [
        ("etcd_prefix = \"no-slash\"\n", "etcd_prefix"),
        ("etcd_timeout = \"0s\"\n", "etcd_timeout"),
    ] {
        let conf = conf(&fx, "host-a", &["http://127.0.0.1:1".to_string()], extra);
        let out = precreate(&fx, &conf, &config_with(json!({"io.linkshim.name": "w"})));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(want),
            "{extra}: {err}"
        );
    }
    let conf = conf(&fx, "host-a", &["ftp://x".to_string()], "");
    let out = precreate(&fx, &conf, &config_with(json!({"io.linkshim.name": "w"})));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("etcd_endpoints"),
        "{err}"
    );
    let path = fx.dir.path().join("empty.toml");
    std::fs::write(&path, "registry = \"etcd\"\n").unwrap();
    let out = precreate(&fx, &path, &config_with(json!({"io.linkshim.name": "w"})));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("needs etcd_endpoints"),
        "{err}"
    );
}

/// A store of `host` on `c` under the hooks' prefix, with its boot id as
/// `conf` writes it.
fn host_store(c: &EtcdCluster, host: &str, advertise: Option<&str>) -> EtcdStore {
    EtcdStore::open(&Settings {
        endpoints: c.endpoints(),
        prefix: "/hooks".into(),
        timeout: Duration::from_secs(2),
        ca_file: None,
        cert_file: None,
        key_file: None,
        host_id: host.into(),
        boot_id: format!("boot-of-{host}"),
        advertise: advertise.map(|a| a.parse().unwrap()),
    })
    .unwrap()
}

#[test]
fn watch_renders_a_linkers_hosts_file_when_its_target_changes_on_another_host() {
    let Some(c) = cluster() else { return };
    let fx = Fixture::new();
    let conf = conf(&fx, "host-a", &c.endpoints(), "");
    // A linker on A, running with a hosts file, linked to `late` (not there yet).
    let mut a = host_store(&c, "host-a", None);
    let token = "00112233445566778899aabbccddeeff";
    let linker = linkshim::registry::Record {
        links: vec![linkshim::model::LinkRequest::parse("late").unwrap()],
        ..live_record("cid-app", "app", &["10.201.0.2".parse().unwrap()], "", &[])
    };
    a.register(&linker, Some(token)).unwrap();
    let hosts = fx.state.join("hosts").join(token);
    std::fs::create_dir_all(hosts.parent().unwrap()).unwrap();
    // A stale line the watch's catch-up removes (`late` is not running).
    std::fs::write(
        &hosts,
        "127.0.0.1\tlocalhost\n# BEGIN linkshim links\n10.9.9.9\tlate\n# END linkshim links\n",
    )
    .unwrap();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_linkshim"))
        .arg("--state-dir")
        .arg(&fx.state)
        .arg("watch")
        .env("LINKSHIM_CONFIG", &conf)
        .env_remove("LINKSHIM_STATE_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let watch_guard = Kill(watch);
    let shows = |want: &str| std::fs::read_to_string(&hosts).unwrap().contains(want);
    // The watch has caught up (rendered the file once) before B's start.
    assert!(
        testkit::wait_until(Duration::from_secs(10), || !shows("10.9.9.9")),
        "{}",
        std::fs::read_to_string(&hosts).unwrap()
    );
    // `late` starts on B, publishing its port 80 as 18080 on 192.0.2.2.
    let mut b = host_store(&c, "host-b", Some("192.0.2.2"));
    let late = linkshim::registry::Record {
        publish: linkshim::links::annotation::parse_publish("18080:80").unwrap(),
        ..live_record(
            "cid-late",
            "late",
            &["10.202.0.2".parse().unwrap()],
            "80",
            &[],
        )
    };
    let start = Instant::now();
    b.register(&late, None).unwrap();
    assert!(
        testkit::wait_until(Duration::from_secs(10), || shows(
            "192.0.2.2\tlate cid-late\n"
        )),
        "{}",
        std::fs::read_to_string(&hosts).unwrap()
    );
    eprintln!(
        "TIME register on B until A's hosts file shows it: {:?}",
        start.elapsed()
    );
    // It stops: the line goes.
    b.unregister("cid-late", None).unwrap();
    assert!(testkit::wait_until(Duration::from_secs(10), || !shows(
        "late"
    )));
    drop(watch_guard);
    watch = Command::new(env!("CARGO_BIN_EXE_linkshim"))
        .arg("--state-dir")
        .arg(&fx.state)
        .arg("watch")
        .env("LINKSHIM_CONFIG", fx.dir.path().join("none.toml"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = watch.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("registry = \"etcd\""),
        "{err}"
    );
}
