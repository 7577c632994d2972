//! Part 6: `linkshim hook precreate` with 3 links on the etcd registry (a
//! three-member cluster on loopback, `registry = "etcd"` in the config
//! file) against the same precreate on the embedded SQLite registry (10
//! records), and `cat` of the same config, alternating. Each etcd
//! precreate asks the cluster three times (the name, the targets, the
//! hold on its hosts file, the last a write through raft).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use linkshim::registry::etcd::{EtcdStore, Settings};
use serde_json::Value;
use testkit::{EtcdCluster, Scratch, which};

use crate::Opts;
use crate::fixture::{fill_registry, precreate_config, register_targets};
use crate::measure::{alternate, check, run_timed, stats};
use crate::report::{Report, Row, ms};

const WHAT: &str = "`hook precreate`, 3 links, registry on etcd (3 members, loopback)";

pub fn bench(opts: &Opts, report: &mut Report) {
    if which("etcd").is_none() || which("etcdctl").is_none() {
        report.skip(
            "etcd",
            "etcd or etcdctl is not installed (scripts/setup.sh)",
            &[(WHAT, "—")],
        );
        return;
    }
    let cat = which("/usr/bin/cat")
        .or_else(|| which("/bin/cat"))
        .expect("cat");
    let scratch = Scratch::new("linkshim-bench-etcd");
    let dir = scratch.path();
    let config = precreate_config(dir);
    let sqlite_state = dir.join("state-sqlite");
    fill_registry(&sqlite_state, 10);
    let cluster = EtcdCluster::start(3);
    let host = "bench-host";
    let mut store = EtcdStore::open(&Settings {
        endpoints: cluster.endpoints(),
        prefix: "/bench".into(),
        timeout: Duration::from_secs(2),
        ca_file: None,
        cert_file: None,
        key_file: None,
        host_id: host.into(),
        boot_id: linkshim::registry::boot_id(),
        advertise: None,
    })
    .expect("an etcd store");
    register_targets(&mut store);
    let etcd_state = dir.join("state-etcd");
    let conf = dir.join("etcd.toml");
    let eps: Vec<String> = cluster
        .endpoints()
        .iter()
        .map(|e| format!("{e:?}"))
        .collect();
    fs::write(
        &conf,
        format!(
            "registry = \"etcd\"\netcd_endpoints = [{}]\netcd_prefix = \"/bench\"\nhost_id = \"{host}\"\n",
            eps.join(", ")
        ),
    )
    .expect("write the config file");
    let hook = |state: &Path, conf: Option<&Path>| {
        let mut cmd = opts.linkshim(dir);
        if let Some(c) = conf {
            cmd.env("LINKSHIM_CONFIG", c);
        }
        let (t, o) = run_timed(
            cmd.args(["hook", "precreate", "--state-dir"]).arg(state),
            Some(config.as_bytes()),
        );
        check("linkshim hook precreate", &o);
        let _ = fs::remove_dir_all(state.join("hosts"));
        (t, o)
    };
    let floor = || {
        let (t, o) = run_timed(
            Command::new(&cat).env_clear().env("PATH", "/usr/bin:/bin"),
            Some(config.as_bytes()),
        );
        check("cat", &o);
        t
    };
    for _ in 0..3 {
        let (_, o) = hook(&etcd_state, Some(&conf));
        let v: Value = serde_json::from_slice(&o.stdout).expect("precreate prints JSON");
        let env = v["process"]["env"].to_string();
        assert!(
            env.contains("DB_PORT=tcp://10.88.0.1:5432"),
            "the etcd precreate did not link: {env}"
        );
        hook(&sqlite_state, None);
        floor();
    }
    let n = opts.precreate_n;
    println!(
        "etcd: 3 links, {n} rounds of (cat, precreate on SQLite, precreate on etcd), rotating"
    );
    let mut f = floor;
    let mut s = || hook(&sqlite_state, None).0;
    let mut e = || hook(&etcd_state, Some(&conf)).0;
    let res = alternate(n, &mut [&mut f, &mut s, &mut e]);
    let (fl, sq, et) = (stats(&res[0]), stats(&res[1]), stats(&res[2]));
    println!(
        "  cat {} | SQLite {} | etcd {} (medians; etcd p95 {})",
        ms(fl.median),
        ms(sq.median),
        ms(et.median),
        ms(et.p95)
    );
    report.rows.push(
        Row::new(WHAT, et, ("same, embedded SQLite, 10 records".into(), sq)).detail(format!(
            "`cat`: {}; +{} over SQLite",
            ms(fl.median),
            ms(et.median - sq.median)
        )),
    );
    report.notes.push(
        "The etcd cluster of part 6 runs on this machine (three `etcd` 3.4 processes on loopback, \
         sharing its CPUs with the hooks): a network between hosts adds its round trips, three per precreate."
            .into(),
    );
    drop(cluster);
}
