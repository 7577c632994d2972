//! An isolated podman: private storage, run root, hooks dir and
//! containers.conf in a temp dir.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::mounts::remove_tempdir_safely;
use crate::process::{run_ok, run_quiet};
use crate::rootfs::prepare_cgroups;

/// An isolated podman: private `--root`, `--runroot`, `--hooks-dir` and
/// containers.conf in a temp dir. Containers run with `--rootfs DIR`.
///
/// Machine facts (podman 4.3.1): no systemd, so podman already picks
/// cgroupfs + file events; we pass `--cgroup-manager cgroupfs
/// --events-backend file` anyway so a systemd host behaves the same. The
/// default OCI runtime is crun, so `new()` calls [`prepare_cgroups`]. The
/// network backend is netavark (installed alongside the CNI plugins) on the
/// default `podman` network 10.88.0.0/16, bridge `podman0`.
///
/// Parallel instances work: their roots are private, and what stays shared
/// is podman's own locked global state: IPAM (/run/containers/networks/
/// ipam.db, so addresses never collide), the netavark lock in
/// /etc/containers/networks, the shm lock table and the tmp dir /run/libpod.
/// `--tmpdir` is deliberately NOT made private: a fresh tmp dir makes podman
/// believe the machine rebooted and "refresh", which frees the shared shm
/// locks of other running instances. Use unique container names
/// ([`unique_name`]) since the containers share the podman network.
pub struct Podman {
    dir: Option<TempDir>,
}

impl Podman {
    /// Creates the temp dir with `root/ runroot/ hooks.d/` and a
    /// containers.conf raising default ulimits to 20000 (this machine's hard
    /// limit; podman's defaults fail with `setrlimit ... not permitted`).
    #[allow(
        clippy::new_without_default,
        reason = "it makes directories; a Default would hide that"
    )]
    pub fn new() -> Podman {
        prepare_cgroups();
        let dir = tempfile::Builder::new()
            .prefix("lsh-podman-")
            .tempdir()
            .unwrap();
        for d in ["root", "runroot", "hooks.d"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        fs::write(
            dir.path().join("containers.conf"),
            "[containers]\n\
             default_ulimits = [\"nofile=20000:20000\", \"nproc=20000:20000\"]\n",
        )
        .unwrap();
        Podman { dir: Some(dir) }
    }

    /// The temp dir holding root/, runroot/, hooks.d/, containers.conf.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// `podman --root .. --runroot .. --hooks-dir .. --cgroup-manager cgroupfs
    /// --events-backend file` with CONTAINERS_CONF set. Append the subcommand.
    pub fn cmd(&self) -> Command {
        self.cmd_with_hooks(&self.hooks_dir())
    }

    /// [`Podman::cmd`] with `hooks` as its `--hooks-dir` instead of its own.
    pub fn cmd_with_hooks(&self, hooks: &Path) -> Command {
        let mut c = self.cmd_default_hooks();
        c.arg("--hooks-dir").arg(hooks);
        c
    }

    /// [`Podman::cmd`] with no `--hooks-dir`: podman reads its default
    /// hooks dirs, the machine's (`/usr/share/containers/oci/hooks.d`,
    /// `/etc/containers/oci/hooks.d`), as a packaged install is used.
    pub fn cmd_default_hooks(&self) -> Command {
        let d = self.dir();
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"]);
        c
    }

    /// The (initially empty) hooks dir passed with `--hooks-dir`.
    pub fn hooks_dir(&self) -> PathBuf {
        self.dir().join("hooks.d")
    }

    /// Runs `podman <args>` (bounded) and returns stdout; panics on failure.
    pub fn run_ok<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], timeout: Duration) -> String {
        run_ok(self.cmd().args(args), timeout)
    }
}

/// The arguments of `podman run -d` for a link target: container `name`,
/// linked to as `link_name`, exposing and serving busybox's httpd on
/// `port` from `rootfs`; `extra` (networks, ...) before the annotations.
pub fn httpd_target(
    name: &str,
    link_name: &str,
    port: &str,
    rootfs: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = ["run", "-d", "--name", name].map(String::from).to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend([
        "--annotation".to_string(),
        format!("io.linkshim.name={link_name}"),
        "--annotation".to_string(),
        format!("io.linkshim.expose={port}"),
        "--rootfs".to_string(),
        rootfs.to_string(),
    ]);
    args.extend(crate::httpd(port).map(String::from));
    args
}

impl Drop for Podman {
    fn drop(&mut self) {
        run_quiet(
            self.cmd().args(["rm", "-af", "-t", "0"]),
            Duration::from_secs(60),
        );
        // podman leaves the overlay home bind mount and per-container shm.
        if let Some(dir) = self.dir.take() {
            remove_tempdir_safely(dir);
        }
    }
}
