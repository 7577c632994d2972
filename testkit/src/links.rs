//! The link scenario's vocabulary: what a linker prints, the variables
//! Docker gives it, and the target's record as `ls --json` shows it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::process::sh_retry;

/// The command a linker runs: its env, `---`, its /etc/hosts, `---`, then
/// the served file fetched through the alias `alias` on `port` (retried,
/// bounded, in case the target's server is not listening yet).
pub fn linker_script(alias: &str, port: u16) -> String {
    format!(
        "env; echo ---; cat /etc/hosts; echo ---; {}",
        sh_retry(&format!("wget -q -O - http://{alias}:{port}/"), 50)
    )
}

/// What a linker running [`linker_script`] printed.
#[derive(Debug)]
pub struct LinkerOutput {
    pub env: BTreeMap<String, String>,
    pub hosts: String,
    pub fetched: String,
}

impl LinkerOutput {
    /// What the linker run `out` printed; the run must have succeeded
    /// (`context`: what else to show when it did not, engine logs).
    pub fn of_run(out: &std::process::Output, context: &str) -> LinkerOutput {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "linker failed: {}\nstdout: {stdout}\nstderr: {}\n{context}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
        );
        LinkerOutput::parse(&stdout)
    }

    /// Splits the linker's stdout at its two `---` lines.
    pub fn parse(stdout: &str) -> LinkerOutput {
        let parts: Vec<&str> = stdout.splitn(3, "---\n").collect();
        assert_eq!(
            parts.len(),
            3,
            "linker output lacks two `---` lines:\n{stdout}"
        );
        let env = parts[0]
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LinkerOutput {
            env,
            hosts: parts[1].to_string(),
            fetched: parts[2].to_string(),
        }
    }

    /// Asserts the `<prefix>_*` variables are exactly `want`. linkshim may add
    /// one variable Docker lacks, `<prefix>_PORTS` (every port URL, in
    /// Docker's order); when present it must equal `ports`.
    pub fn assert_link_env(&self, prefix: &str, want: &BTreeMap<String, String>, ports: &str) {
        let p = format!("{prefix}_");
        let extra = format!("{prefix}_PORTS");
        let got: BTreeMap<String, String> = self
            .env
            .iter()
            .filter(|(k, _)| k.starts_with(&p) && **k != extra)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let missing: Vec<String> = want
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}={v} (got {:?})", got.get(k)))
            .collect();
        let unexpected: Vec<String> = got
            .iter()
            .filter(|(k, _)| !want.contains_key(*k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert!(
            missing.is_empty() && unexpected.is_empty(),
            "link env differs from Docker's\nmissing or wrong: {missing:#?}\nunexpected: {unexpected:#?}\nwhole env: {:#?}",
            self.env
        );
        for k in ["PATH", "HOME", "HOSTNAME", "TERM", "container"] {
            let key = format!("{prefix}_ENV_{k}");
            assert!(!self.env.contains_key(&key), "{key} must not be passed on");
        }
        if let Some(v) = self.env.get(&extra) {
            assert_eq!(v, ports, "{extra}");
        }
    }

    /// Asserts /etc/hosts holds the exact line `<ip>\t<rest>` once.
    pub fn assert_hosts_line(&self, ip: &str, rest: &str) {
        let want = format!("{ip}\t{rest}");
        let n = self.hosts.lines().filter(|l| *l == want).count();
        assert_eq!(
            n, 1,
            "hosts line {want:?} expected once in:\n{}",
            self.hosts
        );
    }
}

/// The ports every link test's target exposes: `3306 33060/udp 7000-7002`.
pub const TARGET_EXPOSE: &str = "3306 33060/udp 7000-7002";

/// The variables Docker 20.10 gives a linker `linker` with `--link
/// <target>:<alias>` to a target at `ip` exposing [`TARGET_EXPOSE`] whose
/// own configured env (beyond HOME, PATH and the runtime's own) is
/// `target_env` (see /work/shared/LINKS-REFERENCE.md), and the
/// `<PREFIX>_PORTS` value linkshim adds.
pub fn docker_link_env(
    prefix: &str,
    linker: &str,
    alias: &str,
    ip: &str,
    target_env: &[(&str, &str)],
) -> (BTreeMap<String, String>, String) {
    let mut m = BTreeMap::new();
    let mut put = |k: String, v: String| {
        assert!(m.insert(k.clone(), v).is_none(), "{k} twice");
    };
    put(format!("{prefix}_NAME"), format!("/{linker}/{alias}"));
    put(format!("{prefix}_PORT"), format!("tcp://{ip}:3306"));
    // Docker's order: tcp first, then other protocols; by number.
    let ports = [
        (3306, "tcp"),
        (7000, "tcp"),
        (7001, "tcp"),
        (7002, "tcp"),
        (33060, "udp"),
    ];
    for (n, proto) in ports {
        let base = format!("{prefix}_PORT_{n}_{}", proto.to_uppercase());
        put(base.clone(), format!("{proto}://{ip}:{n}"));
        put(format!("{base}_ADDR"), ip.to_string());
        put(format!("{base}_PORT"), n.to_string());
        put(format!("{base}_PROTO"), proto.to_string());
    }
    let run = format!("{prefix}_PORT_7000_TCP");
    put(format!("{run}_START"), format!("tcp://{ip}:7000"));
    put(format!("{run}_PORT_START"), "7000".into());
    put(format!("{run}_END"), format!("tcp://{ip}:7002"));
    put(format!("{run}_PORT_END"), "7002".into());
    for (k, v) in target_env {
        put(format!("{prefix}_ENV_{k}"), v.to_string());
    }
    let list = ports
        .iter()
        .map(|(n, proto)| format!("{proto}://{ip}:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    (m, list)
}

/// Asserts the `ls --json` record of a link test's target: `name`, the
/// full `id`, `ip` first among its addresses, [`TARGET_EXPOSE`] in Docker's
/// order, and exactly `own_env` as its own configured env.
pub fn assert_target_record(rec: &Value, name: &str, id: &str, ip: &str, own_env: &[(&str, &str)]) {
    assert_eq!(rec["name"], name, "record: {rec:#}");
    assert_eq!(rec["id"], id, "record: {rec:#}");
    assert_eq!(rec["addrs"][0], ip, "record: {rec:#}");
    assert_eq!(
        rec["ports"],
        json!([
            {"number": 3306, "proto": "tcp"},
            {"number": 7000, "proto": "tcp"},
            {"number": 7001, "proto": "tcp"},
            {"number": 7002, "proto": "tcp"},
            {"number": 33060, "proto": "udp"},
        ]),
        "record: {rec:#}"
    );
    let env: Vec<Value> = own_env.iter().map(|(k, v)| json!([k, v])).collect();
    assert_eq!(rec["env"], json!(env), "record: {rec:#}");
}
