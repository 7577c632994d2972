//! End to end on a private containerd: `ctr run --runc-binary` pointing at
//! linkshim's wrapper, reached as a bare `linkshim-runtime` symlink (how a
//! containerd `BinaryName` calls it), in network namespaces the test
//! creates (`--with-ns network:/run/netns/X`).
//!
//! The wrapper's settings travel in containerd's environment
//! (LINKSHIM_STATE_DIR, LINKSHIM_RUNTIME, LINKSHIM_CONFIG): containerd
//! passes its environment to the runc shim, and the shim to the runtime.
//!
//! Run: `LINKSHIM_E2E=required cargo test --test e2e_containerd` (root).

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(30);
const NS: &str = "lsh";

fn timed(test: &str, start: Instant) {
    eprintln!("TIME {test}: {:.2}s", start.elapsed().as_secs_f64());
}

#[test]
fn containerd_wrapper_links() {
    if !e2e_ready(
        "containerd_wrapper_links",
        &["containerd", "ctr", "runc", "podman", "tar", "ip"],
    ) {
        return;
    }
    let start = Instant::now();
    let runc = which("runc").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let state = tmp.path().join("state");
    let bin = tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("linkshim-runtime");
    symlink(linkshim_bin(), &wrapper).unwrap();
    let tgt_ns = NetNs::new("ctgt");
    let lnk_ns = NetNs::new("clnk");
    let ip = tgt_ns.ipv4().to_string();

    let ctrd = Containerd::start_with_env(&[
        ("LINKSHIM_STATE_DIR", state.as_os_str()),
        ("LINKSHIM_RUNTIME", runc.as_os_str()),
        ("LINKSHIM_CONFIG", OsStr::new(NO_CONFIG)),
    ]);
    let image = ctrd.import_busybox(&rootfs, NS);
    let with_ns = |ns: &NetNs| format!("network:{}", ns.path().display());
    let run = |args: &[&str]| {
        let mut c = ctrd.ctr();
        c.args(["-n", NS, "run", "--runc-binary"])
            .arg(&wrapper)
            .args(args);
        c
    };

    // The target (ctr passes --annotation values whole: commas are fine).
    let tgt = unique_name("lsh-ctgt");
    run_ok(
        &mut run(&[
            "-d",
            "--with-ns",
            &with_ns(&tgt_ns),
            "--annotation",
            "io.linkshim.name=mysql_server",
            "--annotation",
            "io.linkshim.expose=3306,33060/udp,7000-7002",
            "--env",
            "MYSQL_ROOT_PASSWORD=secret",
            &image,
            &tgt,
            "httpd",
            "-f",
            "-p",
            "3306",
            "-h",
            "/www",
        ]),
        T,
    );
    let own_env = [("MYSQL_ROOT_PASSWORD", "secret")];
    let rec = ls_record(&state, "mysql_server").unwrap_or_else(|| {
        panic!(
            "target not registered once started: {:#?}\nlinkshim.log: {}\ncontainerd log:\n{}",
            linkshim_ls(&state),
            linkshim_log(&state),
            ctrd.log()
        )
    });
    assert_target_record(&rec, "mysql_server", &tgt, &ip, &own_env);

    // The linker.
    let lnk = unique_name("lsh-clnk");
    let out = run_ok(
        &mut run(&[
            "--rm",
            "--with-ns",
            &with_ns(&lnk_ns),
            "--annotation",
            "io.linkshim.name=webapp",
            "--annotation",
            "io.linkshim.links=mysql_server:db",
            &image,
            &lnk,
            "sh",
            "-c",
            &linker_script("db", 3306),
        ]),
        T,
    );
    let seen = LinkerOutput::parse(&out);
    let (want, ports) = docker_link_env("DB", "webapp", "db", &ip, &own_env);
    seen.assert_link_env("DB", &want, &ports);
    assert!(tgt.len() > 12, "the id {tgt} is cut to 12 characters");
    seen.assert_hosts_line(&ip, &format!("db {} mysql_server", short_id(&tgt)));
    assert_eq!(seen.fetched, "linkshim-ok\n", "wget through the alias `db`");
    assert!(
        wait_until(Duration::from_secs(10), || hosts_files(&state).is_empty()),
        "hosts files left after the linker was deleted: {:?}",
        hosts_files(&state)
    );

    // A link to a missing target fails `ctr run`, with linkshim's message.
    let orphan = unique_name("lsh-corph");
    let out = output_within(
        &mut run(&[
            "--rm",
            "--with-ns",
            &with_ns(&lnk_ns),
            "--annotation",
            "io.linkshim.name=orphan",
            "--annotation",
            "io.linkshim.links=nosuch:db",
            &image,
            &orphan,
            "sh",
            "-c",
            "echo STARTED",
        ]),
        T,
    )
    .expect("ctr run of the orphan timed out");
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
        assert!(stderr.contains(n), "{n:?} not in ctr's stderr:\n{stderr}");
        assert!(
            linkshim_log(&state).contains(n),
            "{n:?} not in linkshim.log"
        );
    }
    assert!(ls_record(&state, "orphan").is_none());

    // Killing and deleting the target's task takes it out of the registry.
    run_ok(
        ctrd.ctr()
            .args(["-n", NS, "tasks", "kill", "-s", "SIGKILL", &tgt]),
        T,
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            run_quiet(ctrd.ctr().args(["-n", NS, "tasks", "delete", &tgt]), T)
        }),
        "ctr tasks delete {tgt} did not succeed"
    );
    assert!(
        wait_until(Duration::from_secs(10), || ls_record(
            &state,
            "mysql_server"
        )
        .is_none()),
        "deleted target still listed: {:#?}",
        linkshim_ls(&state)
    );
    assert_eq!(linkshim_ls(&state), Vec::<serde_json::Value>::new());

    drop(ctrd);
    drop((tgt_ns, lnk_ns));
    timed("containerd_wrapper_links", start);
}
