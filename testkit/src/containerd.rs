//! A private containerd with its own root, state and sockets.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::mounts::remove_tempdir_safely;
use crate::podman::Podman;
use crate::process::{
    cmd, output_within, pids_with_cmdline, run_ok, run_quiet, unique_name, wait_until,
};

/// A private containerd: own root, state, grpc/ttrpc sockets and opt dir in
/// a temp dir, CRI plugin disabled, started with `containerd --config FILE`.
/// Log in `<dir>/containerd.log`. Drop deletes all tasks and containers in
/// all its namespaces, stops containerd, kills leftover shims started by it
/// (found by its socket address in their command line) and unmounts.
pub struct Containerd {
    dir: Option<TempDir>,
    child: Child,
    sock: PathBuf,
}

impl Containerd {
    /// Starts containerd and waits (at most 30 s) for `ctr version`.
    pub fn start() -> Containerd {
        Containerd::start_with_env(&[])
    }

    /// [`Containerd::start`] with `env` added to containerd's environment,
    /// which its shims, and the runtime they call, inherit.
    pub fn start_with_env(env: &[(&str, &OsStr)]) -> Containerd {
        let dir = tempfile::Builder::new()
            .prefix("lsh-ctrd-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let sock = d.join("containerd.sock");
        let conf = format!(
            "version = 2\n\
             root = \"{root}\"\n\
             state = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n\
             [ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [debug]\n  address = \"\"\n\
             [metrics]\n  address = \"\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = sock.display(),
            opt = d.join("opt").display(),
        );
        fs::write(d.join("config.toml"), conf).unwrap();
        let log = fs::File::create(d.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .envs(env.iter().copied())
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        let c = Containerd {
            dir: Some(dir),
            child,
            sock,
        };
        let up = wait_until(Duration::from_secs(30), || {
            run_quiet(c.ctr().arg("version"), Duration::from_secs(5))
        });
        if !up {
            panic!("containerd did not come up; log:\n{}", c.log());
        }
        c
    }

    /// The temp dir (root/, state/, config.toml, containerd.log, sockets).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// The grpc socket.
    pub fn socket(&self) -> &Path {
        &self.sock
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr --address SOCK`; add `-n NS` and the subcommand.
    pub fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(&self.sock);
        c
    }

    /// Makes an image from `rootfs` without a registry (tar -> isolated
    /// `podman import` -> `podman save` docker-archive -> `ctr image import`
    /// into `namespace`) and returns its ref, `localhost/lsh-bb:<tag>`.
    pub fn import_busybox(&self, rootfs: &Path, namespace: &str) -> String {
        let to = Duration::from_secs(120);
        let tag = unique_name("t");
        let image = format!("localhost/lsh-bb:{tag}");
        let tar = self.dir().join(format!("rootfs-{tag}.tar"));
        let img_tar = self.dir().join(format!("image-{tag}.tar"));
        run_ok(
            cmd("tar", &["-C"])
                .arg(rootfs)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
            to,
        );
        {
            let podman = Podman::new();
            run_ok(podman.cmd().arg("import").arg(&tar).arg(&image), to);
            run_ok(
                podman.cmd().args(["save", "-o"]).arg(&img_tar).arg(&image),
                to,
            );
        }
        run_ok(
            self.ctr()
                .args(["-n", namespace, "image", "import"])
                .arg(&img_tar),
            to,
        );
        let list = run_ok(self.ctr().args(["-n", namespace, "image", "ls", "-q"]), to);
        assert!(
            list.lines().any(|l| l == image),
            "imported image {image} not listed by ctr: {list:?}"
        );
        let _ = fs::remove_file(tar);
        let _ = fs::remove_file(img_tar);
        image
    }

    fn ctr_lines(&self, args: &[&str]) -> Vec<String> {
        output_within(self.ctr().args(args), Duration::from_secs(20))
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let to = Duration::from_secs(20);
        for ns in self.ctr_lines(&["namespaces", "ls", "-q"]) {
            for t in self.ctr_lines(&["-n", &ns, "tasks", "ls", "-q"]) {
                run_quiet(
                    self.ctr()
                        .args(["-n", &ns, "tasks", "kill", "-s", "SIGKILL", &t]),
                    to,
                );
                wait_until(Duration::from_secs(5), || {
                    run_quiet(self.ctr().args(["-n", &ns, "tasks", "delete", &t]), to)
                });
            }
            for c in self.ctr_lines(&["-n", &ns, "containers", "ls", "-q"]) {
                run_quiet(self.ctr().args(["-n", &ns, "containers", "delete", &c]), to);
            }
        }
        run_quiet(
            &mut cmd("kill", &["-TERM", &self.child.id().to_string()]),
            to,
        );
        if !wait_until(Duration::from_secs(10), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Shims outlive containerd; kill the ones ours started, by pid.
        let addr = self.sock.to_string_lossy().into_owned();
        for pid in pids_with_cmdline(|c| c.contains("containerd-shim") && c.contains(&addr)) {
            run_quiet(&mut cmd("kill", &["-KILL", &pid.to_string()]), to);
        }
        if let Some(dir) = self.dir.take() {
            remove_tempdir_safely(dir);
        }
    }
}
