//! End to end on plain runc and crun through linkshim's runtime wrapper
//! (`linkshim --state-dir D runtime --runtime R -- run ...`), on busybox
//! bundles in network namespaces the test creates.
//!
//! Run: `LINKSHIM_E2E=required cargo test --test e2e_runtimes` (root).

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use common::*;

const T: Duration = Duration::from_secs(30);

fn timed(test: &str, start: Instant) {
    eprintln!("TIME {test}: {:.2}s", start.elapsed().as_secs_f64());
}

/// Ids listed by `<runtime> list`.
fn listed(runtime: &Path) -> Vec<String> {
    run_ok(&mut cmd(runtime.to_str().unwrap(), &["list"]), T)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn links_through_wrapper(test: &str, runtime: &str) {
    let start = Instant::now();
    let real = which(runtime).unwrap_or_else(|| panic!("{runtime} on PATH"));
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let state = tmp.path().join("state");
    let tgt_ns = NetNs::new("tgt");
    let lnk_ns = NetNs::new("lnk");
    let ip = tgt_ns.ipv4().to_string();

    // The target: name, expose and env annotations; fields linkshim does
    // not know, which must survive its edit of config.json.
    let expose = if runtime == "runc" {
        TARGET_EXPOSE.to_string()
    } else {
        TARGET_EXPOSE.replace(' ', ",")
    };
    let tgt_bundle = runc_bundle(
        &tmp.path().join("mysql"),
        &rootfs,
        &["httpd", "-f", "-p", "3306", "-h", "/www"],
        &[
            ("io.linkshim.name", "mysql_server"),
            ("io.linkshim.expose", &expose),
        ],
        Some(&tgt_ns.path()),
    );
    let mut cfg = read_config(&tgt_bundle);
    let env = cfg["process"]["env"].as_array_mut().unwrap();
    for kv in [
        "MYSQL_ROOT_PASSWORD=secret",
        "DSN=user=a;pw=b",
        "HOME=/root",
        "HOSTNAME=mysql",
        "container=oci",
    ] {
        env.push(json!(kv));
    }
    cfg["org.example.unknown"] = json!({"keep": [1, "two", {"three": null}]});
    cfg["process"]["x-unknown"] = json!("kept");
    cfg["linux"]["x-unknown"] = json!(true);
    write_config(&tgt_bundle, &cfg);
    let before = cfg;

    let tgt = OciContainer::wrapped(&state, &real, &short_unique_id());
    tgt.run_detached(&tgt_bundle);

    // Its config.json was edited (hooks added) and kept everything else.
    let after = read_config(&tgt_bundle);
    assert_eq!(after["org.example.unknown"], before["org.example.unknown"]);
    assert_eq!(after["process"]["x-unknown"], "kept");
    assert_eq!(after["linux"]["x-unknown"], true);
    for key in ["ociVersion", "root", "mounts", "hostname"] {
        assert_eq!(after[key], before[key], "{key} changed");
    }
    for (k, v) in before["linux"].as_object().unwrap() {
        assert_eq!(&after["linux"][k], v, "linux.{k} changed");
    }
    let after_env = after["process"]["env"].as_array().unwrap();
    for kv in before["process"]["env"].as_array().unwrap() {
        assert!(after_env.contains(kv), "process.env lost {kv}");
    }
    for stage in ["poststart", "poststop"] {
        let hooks = after["hooks"][stage]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert!(
            hooks.iter().any(|h| h["path"] == json!(linkshim_bin())),
            "no linkshim {stage} hook in {:#}",
            after["hooks"]
        );
    }

    let own_env = [("MYSQL_ROOT_PASSWORD", "secret"), ("DSN", "user=a;pw=b")];
    let rec = ls_record(&state, "mysql_server").unwrap_or_else(|| {
        panic!(
            "target not registered once started: {:#?}",
            linkshim_ls(&state)
        )
    });
    assert_target_record(&rec, "mysql_server", &tgt.id, &ip, &own_env);

    // The linker.
    let lnk_bundle = runc_bundle(
        &tmp.path().join("webapp"),
        &rootfs,
        &["sh", "-c", &linker_script("db", 3306)],
        &[
            ("io.linkshim.name", "webapp"),
            ("io.linkshim.links", "mysql_server:db"),
        ],
        Some(&lnk_ns.path()),
    );
    let lnk = OciContainer::wrapped(&state, &real, &short_unique_id());
    let out = lnk.run_fg(&lnk_bundle, T).expect("linker timed out");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "linker failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = LinkerOutput::parse(&stdout);
    let (want, ports) = docker_link_env("DB", "webapp", "db", &ip, &own_env);
    seen.assert_link_env("DB", &want, &ports);
    assert!(tgt.id.len() < 12);
    seen.assert_hosts_line(&ip, &format!("db {} mysql_server", tgt.id));
    assert!(
        seen.hosts.lines().next() == Some("127.0.0.1\tlocalhost"),
        "hosts base:\n{}",
        seen.hosts
    );
    assert_eq!(seen.fetched, "linkshim-ok\n", "wget through the alias `db`");
    // `run` in the foreground deletes the linker when it exits (poststop):
    // its hosts file goes.
    assert!(
        wait_until(Duration::from_secs(10), || hosts_files(&state).is_empty()),
        "hosts files left after the linker was deleted: {:?}",
        hosts_files(&state)
    );
    drop(lnk);

    // A link to a missing target: config.json untouched, runtime never run.
    let orphan_bundle = runc_bundle(
        &tmp.path().join("orphan"),
        &rootfs,
        &["sh", "-c", "echo STARTED"],
        &[
            ("io.linkshim.name", "orphan"),
            ("io.linkshim.links", "nosuch:db"),
        ],
        Some(&lnk_ns.path()),
    );
    let orphan_cfg = fs::read(orphan_bundle.join("config.json")).unwrap();
    let orphan = OciContainer::wrapped(&state, &real, &short_unique_id());
    let out = orphan.run_fg(&orphan_bundle, T).expect("orphan timed out");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("STARTED"),
        "a link to a missing target must fail: {}\nstderr: {stderr}",
        out.status
    );
    for n in [
        "link \"nosuch:db\"",
        "container \"orphan\"",
        "could not get container for nosuch",
    ] {
        assert!(
            stderr.contains(n),
            "{n:?} not in the wrapper's stderr:\n{stderr}"
        );
        assert!(
            linkshim_log(&state).contains(n),
            "{n:?} not in linkshim.log"
        );
    }
    assert_eq!(
        fs::read(orphan_bundle.join("config.json")).unwrap(),
        orphan_cfg,
        "config.json of a failed create changed"
    );
    assert!(
        !listed(&real).contains(&orphan.id),
        "{runtime} knows the orphan: the runtime ran"
    );
    drop(orphan);

    // Killing and deleting the target takes it out of the registry.
    run_ok(
        &mut cmd(real.to_str().unwrap(), &["kill", &tgt.id, "KILL"]),
        T,
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            run_quiet(&mut cmd(real.to_str().unwrap(), &["delete", &tgt.id]), T)
        }),
        "{runtime} delete {} did not succeed",
        tgt.id
    );
    assert!(!listed(&real).contains(&tgt.id));
    assert!(
        ls_record(&state, "mysql_server").is_none(),
        "deleted target still listed: {:#?}",
        linkshim_ls(&state)
    );
    assert_eq!(linkshim_ls(&state), Vec::<serde_json::Value>::new());

    drop((tgt, tgt_ns, lnk_ns));
    timed(test, start);
}

#[test]
fn runc_wrapper_links() {
    if !e2e_ready("runc_wrapper_links", &["runc", "ip"]) {
        return;
    }
    links_through_wrapper("runc_wrapper_links", "runc");
}

#[test]
fn crun_wrapper_links() {
    if !e2e_ready("crun_wrapper_links", &["crun", "runc", "ip"]) {
        return;
    }
    prepare_cgroups();
    links_through_wrapper("crun_wrapper_links", "crun");
}
