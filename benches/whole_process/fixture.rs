//! What the benchmarked containers are: the linker's config as podman gives
//! it to a precreate hook, its links, and the records of its targets and of
//! the filler containers of large registries.

use std::fs;
use std::net::IpAddr;
use std::path::Path;

use linkshim::registry::{Record, Registry, Store};
use serde_json::Value;

/// The proposed config podman 4.3.1 gave a precreate hook (captured with a
/// `tee` hook), its run and storage roots replaced by `@DIR@`.
const PODMAN_CONFIG: &str = include_str!("fixtures/podman-4.3.1-precreate.json");

/// The links of the benchmarked linker, as podman passes them (podman 4
/// splits `--annotation` values at commas, so they are space separated).
pub const LINKS: &str = "db redis:cache api";

/// Record `n` of a registry: an id like an engine's (64 hex digits,
/// distinct in the first 12) and an address of its own, live while this
/// process runs.
pub fn record(n: usize, name: &str, expose: &str, env: &[(&str, &str)]) -> Record {
    let (hi, lo) = (n / 250, n % 250 + 1);
    let ip: IpAddr = format!("10.{}.{}.{lo}", 88 + hi / 256, hi % 256)
        .parse()
        .expect("an address");
    let h = (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let id = format!("{h:016x}{n:048x}");
    testkit::live_record(&id, name, &[ip], expose, env)
}

/// Registers the 3 link targets of the benchmarked linker.
pub fn register_targets(reg: &mut dyn Store) {
    let targets = [
        record(
            0,
            "db",
            "5432",
            &[("POSTGRES_DB", "app"), ("POSTGRES_USER", "app")],
        ),
        record(1, "redis", "6379", &[("REDIS_VERSION", "7.2.4")]),
        record(2, "api", "8080 8443", &[("API_MODE", "prod")]),
    ];
    for t in &targets {
        reg.register(t, None).expect("register a link target");
    }
}

/// A registry in `state` holding the 3 targets and `size - 3` fillers.
pub fn fill_registry(state: &Path, size: usize) {
    linkshim::state_dir::ensure(state).expect("state dir");
    let mut reg = Registry::open(state).expect("open the registry");
    register_targets(&mut reg);
    for i in 3..size {
        let rec = record(i, &format!("filler-{i:06}"), "80", &[("ROLE", "filler")]);
        reg.register(&rec, None).expect("register a record");
    }
}

/// The podman config of the linker, its run root under `dir`, and the hosts
/// file podman would have written there (linkshim starts from it).
pub fn precreate_config(dir: &Path) -> String {
    let config = PODMAN_CONFIG.replace("@DIR@", &dir.to_string_lossy());
    let parsed: Value = serde_json::from_str(&config).expect("the fixture is JSON");
    let hosts = parsed["mounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["destination"] == "/etc/hosts"))
        .and_then(|m| m["source"].as_str())
        .expect("the fixture mounts /etc/hosts");
    fs::create_dir_all(Path::new(hosts).parent().expect("a folder")).expect("mkdir");
    fs::write(
        hosts,
        "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.88.0.1\thost.containers.internal\n10.88.0.49\t8edbb8b43fe6 web\n",
    )
    .expect("write podman's hosts file");
    config
}
