//! podman with a bare `linkshim-runtime` symlink as `--runtime` and no
//! config file, as a user who followed the install notes would run it.
//!
//! podman calls the runtime's `kill` and `delete` with no `PATH` (and
//! `create` without the caller's environment), so the wrapper finds its real
//! runtime in the default search path and its state in the default state
//! directory. The whole life of a linked pair goes through it: run, exec,
//! stop, start, restart, rm, `run --rm`; afterwards no runtime lists any of
//! the containers and none of their processes is left.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use testkit::*;

const T: Duration = Duration::from_secs(60);

/// The state directory a bare wrapper uses: the default (no flag, no
/// environment reaches it, no config file).
const STATE: &str = "/run/linkshim";

/// The config file a bare wrapper would read; this case needs it absent.
const SYSTEM_CONFIG: &str = "/etc/linkshim/linkshim.toml";

/// The case.
pub fn podman_with_a_bare_symlink_runs_stops_restarts_and_removes() {
    assert!(
        !Path::new(SYSTEM_CONFIG).exists(),
        "{SYSTEM_CONFIG} exists: this case checks a wrapper with no config file"
    );
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let r = rootfs.to_str().unwrap();
    let wrapper = tmp.path().join("linkshim-runtime");
    symlink(linkshim_bin(), &wrapper).unwrap();
    let podman = Podman::new();
    // Dropped before the podman: whatever a broken wrapper stranded goes.
    let _sweep = Sweep(podman.dir().to_path_buf());
    let state = Path::new(STATE);
    let podman_cmd = |args: &[&str]| {
        let mut c = podman.cmd();
        c.arg("--runtime").arg(&wrapper).args(args);
        c
    };
    let run = |args: &[&str]| run_ok(&mut podman_cmd(args), T);
    let diagnostics = || {
        format!(
            "linkshim.log:\n{}\nrunc list:\n{}\ncrun list:\n{}",
            linkshim_log(state),
            runtime_list("runc"),
            runtime_list("crun")
        )
    };

    // Unique link names: the default state dir is the machine's.
    let target = unique_name("lsh-bare-db");
    let linker = unique_name("lsh-bare-web");
    run_ok(
        podman_cmd(&[]).args(httpd_target(&target, &target, "8080", r, &[])),
        T,
    );
    let id = run(&["inspect", "-f", "{{.Id}}", &target])
        .trim()
        .to_string();
    let mut pids = vec![pid_of(&run, &target)];
    assert!(
        ls_record(state, &target).is_some(),
        "target not registered\n{}",
        diagnostics()
    );

    // exec goes through the wrapper with podman's environment.
    let page = run(&["exec", &target, "cat", "/www/index.html"]);
    assert_eq!(page, "linkshim-ok\n");

    // A linked `run --rm`: create, start, and the delete after it exits.
    let links = format!("io.linkshim.links={target}:db");
    let linker_ann = format!("io.linkshim.name={linker}");
    let script = sh_retry("wget -q -O - http://db:8080/", 50);
    let out = run(&[
        "run",
        "--rm",
        "--name",
        &linker,
        "--annotation",
        &linker_ann,
        "--annotation",
        &links,
        "--rootfs",
        r,
        "sh",
        "-c",
        &format!("echo DB_PORT=$DB_PORT; {script}"),
    ]);
    assert!(out.contains("DB_PORT=tcp://"), "{out}");
    assert!(out.ends_with("linkshim-ok\n"), "{out}");

    // stop: kill and delete come with no PATH.
    run(&["stop", "-t", "2", &target]);
    assert_gone(pids[0], &diagnostics);
    assert!(
        wait_until(Duration::from_secs(10), || ls_record(state, &target)
            .is_none()),
        "a stopped target is still registered\n{}",
        diagnostics()
    );

    // start and restart: a new process each time, registered again.
    run(&["start", &target]);
    pids.push(pid_of(&run, &target));
    assert!(ls_record(state, &target).is_some(), "{}", diagnostics());
    run(&["restart", "-t", "2", &target]);
    pids.push(pid_of(&run, &target));
    assert_gone(pids[1], &diagnostics);
    assert!(ls_record(state, &target).is_some(), "{}", diagnostics());

    // rm of a running container: kill, then delete.
    run(&["rm", "-f", "-t", "2", &target]);
    for pid in &pids {
        assert_gone(*pid, &diagnostics);
    }
    let left = run(&["ps", "-a", "-q"]);
    assert_eq!(left.trim(), "", "podman still lists containers");
    for rt in ["runc", "crun"] {
        let list = runtime_list(rt);
        assert!(
            !list.contains(&id),
            "{rt} still has state for {id}:\n{list}"
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || ls_record(state, &target)
            .is_none()
            && ls_record(state, &linker).is_none()),
        "records left\n{}",
        diagnostics()
    );
    drop(podman);
}

/// The container's process id, as podman reports it (non-zero: running).
fn pid_of(run: &dyn Fn(&[&str]) -> String, name: &str) -> u32 {
    let pid: u32 = run(&["inspect", "-f", "{{.State.Pid}}", name])
        .trim()
        .parse()
        .expect("a pid");
    assert_ne!(pid, 0, "{name} is not running");
    pid
}

/// `pid` is gone (not merely a zombie of someone else's).
fn assert_gone(pid: u32, diagnostics: &dyn Fn() -> String) {
    let alive = || {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
    };
    assert!(
        wait_until(Duration::from_secs(10), || !alive()),
        "process {pid} is still running\n{}",
        diagnostics()
    );
}

/// `<runtime> list` at its default root ("" when the runtime is missing).
fn runtime_list(runtime: &str) -> String {
    let mut c = Command::new(runtime);
    c.arg("list");
    output_within(&mut c, Duration::from_secs(10))
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Kills and deletes, straight through runc and crun, every container
/// whose bundle is under its directory (a podman's): a failed case must
/// not strand containers on the machine.
struct Sweep(PathBuf);

impl Drop for Sweep {
    fn drop(&mut self) {
        for rt in ["runc", "crun"] {
            let Some(out) = output_within(&mut cmd(rt, &["list", "--format", "json"]), T) else {
                continue;
            };
            let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            for c in list.as_array().into_iter().flatten() {
                let (Some(id), Some(bundle)) = (c["id"].as_str(), c["bundle"].as_str()) else {
                    continue;
                };
                if Path::new(bundle).starts_with(&self.0) {
                    eprintln!("sweep: {rt} delete --force {id}");
                    run_quiet(&mut cmd(rt, &["delete", "--force", id]), T);
                }
            }
        }
    }
}
