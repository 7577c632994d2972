//! An unprivileged user made for one test, running rootless podman: its
//! own home, subordinate ids, runtime dir and podman storage; removed
//! (processes, containers, files, the account) when dropped.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::mounts::Scratch;
use crate::process::{output_within, run_ok, run_quiet};
use crate::rootfs::busybox_rootfs;

const T: Duration = Duration::from_secs(90);

/// A user made with `useradd` for one test; its files live in a scratch
/// dir (home, podman's root and runroot, a hooks dir, a busybox rootfs,
/// linkshim's binary) and its runtime dir is `/run/user/<uid>`, made here
/// as logind would.
pub struct RootlessUser {
    pub name: String,
    pub uid: u32,
    dir: Scratch,
}

impl RootlessUser {
    /// Make the user `name` (at most 32 characters); panics when it
    /// cannot be made. The hooks dir holds the package's hooks file,
    /// pointed at a copy of linkshim the user can run, with no state
    /// directory (the user's default applies).
    pub fn new(name: &str) -> RootlessUser {
        let dir = Scratch::new("lsh-rootless");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.path().join("home");
        run_ok(
            Command::new("useradd")
                .args(["-M", "-s", "/usr/sbin/nologin", "-d"])
                .arg(&home)
                .arg(name),
            T,
        );
        let uid: u32 = run_ok(Command::new("id").args(["-u", name]), T)
            .trim()
            .parse()
            .unwrap();
        let user = RootlessUser {
            name: name.to_string(),
            uid,
            dir,
        };
        // useradd gives subordinate ids on Debian; give them when it did not.
        for (file, flag) in [("/etc/subuid", "-v"), ("/etc/subgid", "-w")] {
            let listed = fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .any(|l| l.starts_with(&format!("{name}:")));
            if !listed {
                let start = 1_000_000 + u64::from(uid) * 65_536;
                run_ok(
                    Command::new("usermod")
                        .arg(flag)
                        .arg(format!("{start}-{}", start + 65_535))
                        .arg(name),
                    T,
                );
            }
        }
        for d in ["home", "home/.config", "root", "runroot", "hooks.d", "bin"] {
            fs::create_dir_all(user.dir.path().join(d)).unwrap();
        }
        busybox_rootfs(user.dir.path());
        // linkshim's own copy: the build tree may not be open to others.
        let exe = user.dir.path().join("bin/linkshim");
        fs::copy(crate::linkshim_bin(), &exe).unwrap();
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
        let src = crate::repo_root().join("hooks/linkshim.json");
        let mut hook: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(src).unwrap()).unwrap();
        hook["hook"]["path"] = serde_json::json!(exe);
        fs::write(
            user.dir.path().join("hooks.d/linkshim.json"),
            hook.to_string(),
        )
        .unwrap();
        for d in ["home", "root", "runroot", "rootfs"] {
            chown_tree(&user.dir.path().join(d), uid);
        }
        let run = user.runtime_dir();
        fs::create_dir_all(&run).unwrap();
        chown(&run, Some(uid), Some(uid)).unwrap();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
        user
    }

    /// `/run/user/<uid>`.
    pub fn runtime_dir(&self) -> PathBuf {
        PathBuf::from(format!("/run/user/{}", self.uid))
    }

    /// The busybox rootfs the user's containers run.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// linkshim's copy the user runs.
    pub fn linkshim(&self) -> PathBuf {
        self.dir.path().join("bin/linkshim")
    }

    /// `PROGRAM` as this user, with a login's environment alone.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("runuser");
        c.current_dir(self.dir.path())
            .args(["-u", &self.name, "--", "env", "-i"])
            .arg(format!("HOME={}", self.dir.path().join("home").display()))
            .arg(format!("XDG_RUNTIME_DIR={}", self.runtime_dir().display()))
            .arg(format!("USER={}", self.name))
            .arg("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .arg(program);
        c
    }

    /// Rootless podman as this user, on its own storage, with the hooks dir.
    pub fn podman(&self) -> Command {
        let d = self.dir.path();
        let mut c = self.command(Path::new("podman"));
        c.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--hooks-dir")
            .arg(d.join("hooks.d"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"]);
        c
    }

    /// `podman ARGS` as this user; stdout, panics on failure.
    pub fn podman_ok(&self, args: &[&str]) -> String {
        run_ok(self.podman().args(args), T)
    }

    /// `podman ARGS` as this user, whatever its outcome.
    pub fn podman_out(&self, args: &[&str]) -> Output {
        output_within(self.podman().args(args), T).expect("podman within its bound")
    }

    /// The processes this user runs (podman's pause process, conmon,
    /// containers), by pid.
    fn pids(&self) -> Vec<i32> {
        let Ok(rd) = fs::read_dir("/proc") else {
            return vec![];
        };
        rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == self.uid))
            .collect()
    }
}

/// `chown -R uid:uid` without following symlinks.
fn chown_tree(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
    if p.symlink_metadata().unwrap().is_dir() {
        for e in fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path(), uid);
        }
    }
}

impl Drop for RootlessUser {
    fn drop(&mut self) {
        run_quiet(self.podman().args(["rm", "-af", "-t", "0"]), T);
        run_quiet(self.podman().args(["network", "prune", "-f"]), T);
        for pid in self.pids() {
            run_quiet(Command::new("kill").args(["-KILL", &pid.to_string()]), T);
        }
        crate::wait_until(Duration::from_secs(10), || self.pids().is_empty());
        // podman's storage holds files of subordinate ids the user may not
        // remove itself; as root, everything goes.
        let _ = fs::remove_dir_all(self.runtime_dir());
        run_quiet(Command::new("userdel").arg(&self.name), T);
        for file in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(text) = fs::read_to_string(file) {
                let kept: String = text
                    .lines()
                    .filter(|l| !l.starts_with(&format!("{}:", self.name)))
                    .map(|l| format!("{l}\n"))
                    .collect();
                if kept != text {
                    let _ = fs::write(file, kept);
                }
            }
        }
    }
}

/// `/dev/net/tun` open to every user (slirp4netns needs it for rootless
/// networks) while this lives; its old mode comes back when dropped.
pub struct TunForAll {
    old: Option<u32>,
}

impl TunForAll {
    #[allow(
        clippy::new_without_default,
        reason = "it changes a device's mode; a Default would hide that"
    )]
    pub fn new() -> TunForAll {
        let p = Path::new("/dev/net/tun");
        let mode = fs::metadata(p).expect("/dev/net/tun").mode() & 0o7777;
        if mode & 0o006 == 0o006 {
            return TunForAll { old: None };
        }
        fs::set_permissions(p, fs::Permissions::from_mode(mode | 0o666)).unwrap();
        TunForAll { old: Some(mode) }
    }
}

impl Drop for TunForAll {
    fn drop(&mut self) {
        if let Some(mode) = self.old {
            let _ = fs::set_permissions("/dev/net/tun", fs::Permissions::from_mode(mode));
        }
    }
}
