//! End to end on real podman: a target and a linker started with linkshim's
//! annotations, first through the hooks.d file of `hooks/` (precreate
//! stage), then through the runtime wrapper given as `podman --runtime`.
//!
//! Run: `LINKSHIM_E2E=required cargo test --test e2e_podman` (root).
//!
//! Why the wrapper is reached through a small script rather than the bare
//! `linkshim-runtime` symlink: podman (4.3) and conmon call the runtime with
//! an environment of their own (PATH, HOME, XDG_RUNTIME_DIR, CONTAINERS_CONF,
//! a few `_CONTAINERS_*`/`_OCI_*` variables), so neither LINKSHIM_STATE_DIR,
//! LINKSHIM_RUNTIME nor LINKSHIM_CONFIG set on the podman command reaches
//! it; only the machine-wide config file would, which a test must not
//! write. The script passes `--state-dir` and `--runtime` as flags.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(30);

fn timed(test: &str, start: Instant) {
    eprintln!("TIME {test}: {:.2}s", start.elapsed().as_secs_f64());
}

/// podman with (or without) `--runtime <wrapper>`; removes every container
/// with the same `--runtime` when dropped (before [`Podman`]'s own cleanup).
struct Engine<'a> {
    podman: &'a Podman,
    runtime: Option<PathBuf>,
}

impl Engine<'_> {
    fn cmd(&self) -> Command {
        let mut c = self.podman.cmd();
        if let Some(r) = &self.runtime {
            c.arg("--runtime").arg(r);
        }
        c
    }

    fn run_ok(&self, args: &[&str]) -> String {
        run_ok(self.cmd().args(args), T)
    }
}

impl Drop for Engine<'_> {
    fn drop(&mut self) {
        run_quiet(
            self.cmd().args(["rm", "-af", "-t", "0"]),
            Duration::from_secs(60),
        );
    }
}

/// `<dir>/linkshim-runtime`: a shell script running the wrapper with this
/// test's state dir and crun (podman's own default runtime here).
fn wrapper_script(dir: &Path, state: &Path) -> PathBuf {
    let crun = which("crun").expect("crun on PATH");
    let path = dir.join("linkshim-runtime");
    fs::write(
        &path,
        format!(
            "#!/bin/sh\nLINKSHIM_CONFIG={NO_CONFIG} exec {} --state-dir {} runtime --runtime {} -- \"$@\"\n",
            linkshim_bin().display(),
            state.display(),
            crun.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The whole scenario; `wrapper` picks the way in.
fn podman_links(test: &str, wrapper: bool) {
    let start = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let r = rootfs.to_str().unwrap();
    let state = tmp.path().join("state");
    let podman = Podman::new();
    let runtime = if wrapper {
        Some(wrapper_script(tmp.path(), &state))
    } else {
        install_hooks_d(&podman.hooks_dir(), &state);
        None
    };
    let engine = Engine {
        podman: &podman,
        runtime,
    };

    // The target. podman 4.3 splits --annotation values at commas unless
    // the value is quoted as CSV: the wrapper run uses that comma form, the
    // hooks.d run the white-space form.
    let expose = if wrapper {
        "\"io.linkshim.expose=3306,33060/udp,7000-7002\"".to_string()
    } else {
        format!("io.linkshim.expose={TARGET_EXPOSE}")
    };
    let target = unique_name("lsh-mysql");
    let id = engine.run_ok(&[
        "run",
        "-d",
        "--name",
        &target,
        "--annotation",
        "io.linkshim.name=mysql_server",
        "--annotation",
        &expose,
        "-e",
        "MYSQL_ROOT_PASSWORD=secret",
        "--rootfs",
        r,
        "httpd",
        "-f",
        "-p",
        "3306",
        "-h",
        "/www",
    ]);
    let id = id.trim().to_string();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "podman run -d printed {id:?}"
    );
    let ip = engine.run_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &target]);
    let ip = ip.trim().to_string();
    assert!(ip.starts_with("10.88."), "podman address {ip:?}");
    let own_env = [("MYSQL_ROOT_PASSWORD", "secret")];
    let rec = ls_record(&state, "mysql_server").unwrap_or_else(|| {
        panic!(
            "target not registered once started: {:#?}",
            linkshim_ls(&state)
        )
    });
    assert_target_record(&rec, "mysql_server", &id, &ip, &own_env);

    // The linker.
    let linker = unique_name("lsh-webapp");
    let out = engine.run_ok(&[
        "run",
        "--rm",
        "--name",
        &linker,
        "--annotation",
        "io.linkshim.name=webapp",
        "--annotation",
        "io.linkshim.links=mysql_server:db",
        "--rootfs",
        r,
        "sh",
        "-c",
        &linker_script("db", 3306),
    ]);
    let seen = LinkerOutput::parse(&out);
    let (want, ports) = docker_link_env("DB", "webapp", "db", &ip, &own_env);
    seen.assert_link_env("DB", &want, &ports);
    seen.assert_hosts_line(&ip, &format!("db {} mysql_server", short_id(&id)));
    // podman's own hosts file is the base: its lines are kept.
    assert!(
        seen.hosts
            .lines()
            .any(|l| l.ends_with("host.containers.internal"))
            && seen.hosts.contains(&linker),
        "podman's hosts lines lost:\n{}",
        seen.hosts
    );
    assert_eq!(seen.fetched, "linkshim-ok\n", "wget through the alias `db`");
    // The linker's hosts file goes when it stops (poststop).
    assert!(
        wait_until(Duration::from_secs(10), || hosts_files(&state).is_empty()),
        "hosts files left after the linker stopped: {:?}",
        hosts_files(&state)
    );

    // A link to a missing target fails the start and says why.
    let orphan = unique_name("lsh-orphan");
    let out = output_within(
        engine.cmd().args([
            "run",
            "--rm",
            "--name",
            &orphan,
            "--annotation",
            "io.linkshim.name=orphan",
            "--annotation",
            "io.linkshim.links=nosuch:db",
            "--rootfs",
            r,
            "sh",
            "-c",
            "echo STARTED",
        ]),
        T,
    )
    .expect("podman run of the orphan timed out");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stdout.contains("STARTED"),
        "a link to a missing target must fail the start: {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let needles = [
        "link \"nosuch:db\"",
        "container \"orphan\"",
        "could not get container for nosuch",
    ];
    let log = linkshim_log(&state);
    for n in needles {
        assert!(
            log.contains(n),
            "{n:?} not in {}:\n{log}",
            state.join("linkshim.log").display()
        );
    }
    if wrapper {
        for n in needles {
            assert!(
                stderr.contains(n),
                "{n:?} not in podman's stderr:\n{stderr}"
            );
        }
    }
    assert!(
        ls_record(&state, "orphan").is_none(),
        "the orphan registered"
    );

    // Stopping the target takes it out of the registry.
    engine.run_ok(&["stop", "-t", "0", &target]);
    assert!(
        wait_until(Duration::from_secs(10), || ls_record(
            &state,
            "mysql_server"
        )
        .is_none()),
        "stopped target still listed: {:#?}",
        linkshim_ls(&state)
    );
    assert_eq!(linkshim_ls(&state), Vec::<serde_json::Value>::new());

    drop(engine);
    drop(podman);
    timed(test, start);
}

#[test]
fn podman_hooks_d_links() {
    if !e2e_ready("podman_hooks_d_links", &["podman", "crun"]) {
        return;
    }
    podman_links("podman_hooks_d_links", false);
}

#[test]
fn podman_runtime_wrapper_links() {
    if !e2e_ready("podman_runtime_wrapper_links", &["podman", "crun"]) {
        return;
    }
    podman_links("podman_runtime_wrapper_links", true);
}
