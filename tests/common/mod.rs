//! Shared harness for end-to-end tests that drive real container runtimes
//! (runc, crun, podman, containerd) on this machine.
//!
//! Every e2e test starts with `if !common::e2e_ready("name", &[tools]) { return; }`.
//! All waits are bounded; every resource (podman root, containerd, netns,
//! bridge, runtime container) is owned by an RAII guard that cleans up in Drop.
//!
//! Parallelism: everything here is safe to use from tests running in parallel
//! threads (cargo's default). Names, ids, subnets and host addresses are made
//! unique per process and per call; podman instances share only podman's
//! global state that podman itself locks (see [`Podman`]).
#![allow(dead_code)]

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, Weak};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

// ---------------------------------------------------------------------------
// Readiness, naming, waiting, running commands
// ---------------------------------------------------------------------------

/// True when the e2e prerequisites hold: effective uid 0 and every tool in
/// `tools` found on PATH. Otherwise, with `LINKSHIM_E2E=required` in the
/// environment this panics naming the missing prerequisite; without it, it
/// prints `SKIP <test>: <reason>` to stderr and returns false.
pub fn e2e_ready(test: &str, tools: &[&str]) -> bool {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root (effective uid 0)".to_string());
    }
    for tool in tools {
        if which(tool).is_none() {
            missing.push(format!("`{tool}` on PATH"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let reason = format!("missing {}", missing.join(", "));
    if std::env::var("LINKSHIM_E2E").as_deref() == Ok("required") {
        panic!("{test}: LINKSHIM_E2E=required but {reason}");
    }
    // Straight to fd 2: libtest captures eprintln! of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
    false
}

/// Effective uid is 0 (read from /proc/self/status, no libc needed).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Full path of an executable `tool` found on PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Path of the linkshim binary built by cargo for these tests.
pub fn linkshim_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_linkshim"))
}

/// A name unique in this machine for the life of this process:
/// `<prefix>-<pid>-<counter>`. Usable as container id / podman name.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `cond` every 20 ms until it is true (returns true) or `timeout`
/// passes (returns false). Never loops unboundedly.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` (stdin null, stdout/stderr captured) and returns its Output,
/// or None after killing it when it has not finished within `timeout`.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let t_err = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let mut status = None;
    wait_until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        // A grandchild may still hold the pipes; do not join the readers.
        return None;
    };
    Some(Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    })
}

/// Runs `cmd` within `timeout`; panics (showing command, status, stdout and
/// stderr) on timeout or non-zero exit. Returns stdout as a String.
pub fn run_ok(cmd: &mut Command, timeout: Duration) -> String {
    let shown = format!("{cmd:?}");
    let out = output_within(cmd, timeout)
        .unwrap_or_else(|| panic!("timed out after {timeout:?}: {shown}"));
    if !out.status.success() {
        panic!(
            "failed ({}): {shown}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd` within `timeout`, ignoring failure (for cleanup paths).
pub fn run_quiet(cmd: &mut Command, timeout: Duration) -> bool {
    output_within(cmd, timeout).is_some_and(|o| o.status.success())
}

/// `Command::new(program).args(args)`, shorter to write in tests.
pub fn cmd<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// A busybox shell snippet (a subshell, so it composes with `&&`) that
/// retries `cmd` every 0.1 s, at most `tries` times, and exits 0 on its first
/// success, 1 otherwise: a bounded loop using only busybox builtins.
pub fn sh_retry(cmd: &str, tries: u32) -> String {
    format!(
        "(i=0; while [ $i -lt {tries} ]; do {cmd} && exit 0; i=$((i+1)); sleep 0.1; done; exit 1)"
    )
}

// ---------------------------------------------------------------------------
// Mount cleanup
// ---------------------------------------------------------------------------

/// Mount points at or under `dir`, deepest first (from /proc/self/mountinfo).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(&dir))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    v
}

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo octal.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(n) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(n);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts everything at or under `dir` (deepest first; lazy unmount as a
/// fallback), in at most a few passes. Returns true when nothing is left.
pub fn unmount_under(dir: &Path) -> bool {
    for _ in 0..4 {
        let mounts = mounts_under(dir);
        if mounts.is_empty() {
            return true;
        }
        for m in mounts {
            if !run_quiet(Command::new("umount").arg(&m), Duration::from_secs(10)) {
                run_quiet(
                    Command::new("umount").arg("-l").arg(&m),
                    Duration::from_secs(10),
                );
            }
        }
    }
    mounts_under(dir).is_empty()
}

/// Removes a temp dir only when no mount is left under it (removing a dir
/// that still has a bind mount under it would delete the mount's source);
/// otherwise keeps it and says so.
fn remove_tempdir_safely(dir: TempDir) {
    if unmount_under(dir.path()) {
        drop(dir);
    } else {
        let kept = dir.keep();
        eprintln!(
            "harness: mounts remain under {}, leaving it in place",
            kept.display()
        );
    }
}

// ---------------------------------------------------------------------------
// Root filesystem
// ---------------------------------------------------------------------------

/// Busybox applets linked into every test rootfs.
pub const APPLETS: &[&str] = &[
    "sh", "env", "cat", "true", "sleep", "ip", "hostname", "nc", "wget", "httpd", "echo", "ls",
    "grep",
];

/// Builds a busybox rootfs at `dir/rootfs` and returns its path:
/// `/bin/busybox` (Debian's busybox-static) plus the [`APPLETS`] symlinks,
/// dirs `proc sys dev etc tmp www`, `www/index.html` = `linkshim-ok`,
/// `/etc/hosts` (localhost only; runtimes bind-mount over it) and
/// `/etc/nsswitch.conf` = `hosts: files dns`.
///
/// Name resolution finding (checked with strace on Debian 12,
/// busybox 1:1.35.0-4+deb12u1, glibc 2.36): Debian's busybox-static is linked
/// statically against glibc, whose resolver goes through NSS. Since glibc
/// 2.34 the `files` and `dns` NSS modules are built into libc itself, so the
/// static binary resolves names from /etc/hosts WITHOUT libnss_files.so or
/// libc.so in the rootfs (strace shows it opens /etc/nsswitch.conf,
/// /etc/host.conf, /etc/resolv.conf, /etc/hosts and never dlopens anything).
/// Without nsswitch.conf glibc's built-in default also consults the hosts
/// file; we still write `hosts: files dns` so the order is explicit and the
/// hosts file wins before any DNS query is attempted (podman copies the host's
/// resolv.conf in). Do not list modules other than files/dns (e.g.
/// `myhostname`, `mdns`): those would need a dlopen that a static binary
/// cannot do reliably.
pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "www"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy /bin/busybox");
    for a in APPLETS {
        let link = root.join("bin").join(a);
        if link.symlink_metadata().is_err() {
            symlink("busybox", &link).unwrap();
        }
    }
    fs::write(root.join("www/index.html"), "linkshim-ok\n").unwrap();
    fs::write(root.join("etc/hosts"), "127.0.0.1\tlocalhost\n").unwrap();
    fs::write(root.join("etc/nsswitch.conf"), "hosts: files dns\n").unwrap();
    root
}

// ---------------------------------------------------------------------------
// cgroups (crun)
// ---------------------------------------------------------------------------

/// crun refuses to start on this hybrid cgroup layout while cgroup v2 holds a
/// controller ("cgroups in hybrid mode not supported"); podman's default
/// runtime here is crun, so podman needs this too. When
/// /sys/fs/cgroup/unified/cgroup.controllers is non-empty, mount hugetlb on
/// v1 (which moves it off v2). Idempotent; "already mounted" is ignored.
pub fn prepare_cgroups() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let ctl = Path::new("/sys/fs/cgroup/unified/cgroup.controllers");
        let busy = || {
            fs::read_to_string(ctl)
                .map(|s| !s.trim().is_empty())
                .unwrap_or(false)
        };
        if !busy() {
            return;
        }
        let _ = fs::create_dir_all("/sys/fs/cgroup/hugetlb");
        // Fails with "already mounted" when another process raced us: fine.
        run_quiet(
            &mut cmd(
                "mount",
                &[
                    "-t",
                    "cgroup",
                    "-o",
                    "hugetlb",
                    "cgroup",
                    "/sys/fs/cgroup/hugetlb",
                ],
            ),
            Duration::from_secs(10),
        );
        if busy() {
            eprintln!(
                "harness: {} still lists {:?}; crun may refuse to run",
                ctl.display(),
                fs::read_to_string(ctl).unwrap_or_default().trim()
            );
        }
    });
}

// ---------------------------------------------------------------------------
// Podman
// ---------------------------------------------------------------------------

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
        let d = self.dir();
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--hooks-dir")
            .arg(d.join("hooks.d"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"]);
        c
    }

    /// The (initially empty) hooks dir passed with `--hooks-dir`.
    pub fn hooks_dir(&self) -> PathBuf {
        self.dir().join("hooks.d")
    }

    /// Runs `podman <args>` (bounded) and returns stdout; panics on failure.
    pub fn run_ok(&self, args: &[&str], timeout: Duration) -> String {
        run_ok(self.cmd().args(args), timeout)
    }
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

// ---------------------------------------------------------------------------
// Network: a test bridge and named network namespaces on it
// ---------------------------------------------------------------------------

const SUBNET_LOCK_DIR: &str = "/run/linkshim-e2e";

/// A host bridge `lsbrN` holding 10.231.N.1/24, N allocated across
/// processes via lock files in /run/linkshim-e2e (stale locks of dead pids
/// are reclaimed, with their bridge). 10.231/16 stays clear of podman's
/// 10.88/16. Shared by all [`NetNs`] of this process; deleted when the last
/// one is dropped.
pub struct Bridge {
    n: u8,
    name: String,
    next_host: AtomicU32,
    fw_rule: bool,
}

fn pid_alive(pid: &str) -> bool {
    !pid.is_empty() && Path::new("/proc").join(pid.trim()).exists()
}

impl Bridge {
    fn new() -> Bridge {
        fs::create_dir_all(SUBNET_LOCK_DIR).unwrap();
        let me = std::process::id().to_string();
        let host_addrs = run_ok(
            &mut cmd("ip", &["-4", "-o", "addr", "show"]),
            Duration::from_secs(10),
        );
        let links = run_ok(
            &mut cmd("ip", &["-o", "link", "show"]),
            Duration::from_secs(10),
        );
        for n in 1..=250u8 {
            let lock = Path::new(SUBNET_LOCK_DIR).join(format!("subnet-{n}"));
            let name = format!("lsbr{n}");
            let took = match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(_) => true,
                Err(_) => {
                    let owner = fs::read_to_string(&lock).unwrap_or_default();
                    if pid_alive(&owner) {
                        false
                    } else {
                        // Stale from a killed run: reclaim lock and bridge.
                        run_quiet(
                            &mut cmd("ip", &["link", "del", &name]),
                            Duration::from_secs(10),
                        );
                        true
                    }
                }
            };
            if !took {
                continue;
            }
            fs::write(&lock, &me).unwrap();
            if host_addrs.contains(&format!(" 10.231.{n}."))
                || links.contains(&format!(": {name}:"))
            {
                // In use by something outside this harness: leave it alone.
                let _ = fs::remove_file(&lock);
                continue;
            }
            let to = Duration::from_secs(10);
            run_ok(
                &mut cmd("ip", &["link", "add", &name, "type", "bridge"]),
                to,
            );
            run_ok(
                &mut cmd(
                    "ip",
                    &["addr", "add", &format!("10.231.{n}.1/24"), "dev", &name],
                ),
                to,
            );
            run_ok(&mut cmd("ip", &["link", "set", &name, "up"]), to);
            // br_netfilter is loaded here: bridged traffic crosses FORWARD,
            // whose policy becomes DROP once dockerd runs. Allow our bridge.
            let fw_rule = which("iptables").is_some()
                && run_quiet(
                    &mut cmd(
                        "iptables",
                        &[
                            "-w", "-I", "FORWARD", "1", "-i", &name, "-o", &name, "-j", "ACCEPT",
                        ],
                    ),
                    to,
                );
            return Bridge {
                n,
                name,
                next_host: AtomicU32::new(2),
                fw_rule,
            };
        }
        panic!("no free 10.231.N.0/24 test subnet");
    }

    /// The process-wide bridge, created on first use.
    pub fn shared() -> Arc<Bridge> {
        static SHARED: Mutex<Weak<Bridge>> = Mutex::new(Weak::new());
        let mut g = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = g.upgrade() {
            return b;
        }
        let b = Arc::new(Bridge::new());
        *g = Arc::downgrade(&b);
        b
    }

    /// Bridge interface name (`lsbrN`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bridge's own address, 10.231.N.1 (the host side).
    pub fn ipv4(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.n, 1)
    }

    fn alloc_host(&self) -> u8 {
        let h = self.next_host.fetch_add(1, Ordering::Relaxed);
        assert!(h <= 254, "bridge {} out of host addresses", self.name);
        h as u8
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let to = Duration::from_secs(10);
        if self.fw_rule {
            run_quiet(
                &mut cmd(
                    "iptables",
                    &[
                        "-w", "-D", "FORWARD", "-i", &self.name, "-o", &self.name, "-j", "ACCEPT",
                    ],
                ),
                to,
            );
        }
        run_quiet(&mut cmd("ip", &["link", "del", &self.name]), to);
        let _ = fs::remove_file(Path::new(SUBNET_LOCK_DIR).join(format!("subnet-{}", self.n)));
    }
}

/// A named network namespace (`ip netns add`) with `eth0` (a veth whose
/// host end is enslaved to the shared test [`Bridge`]) holding
/// 10.231.N.H/24, and `lo` up. No default route: traffic can only reach the
/// bridge subnet. Dropping it deletes the netns (and its veth).
pub struct NetNs {
    name: String,
    host_veth: String,
    ip: Ipv4Addr,
    bridge: Arc<Bridge>,
}

impl NetNs {
    /// Creates `lsh-<hint>-<pid>-<n>` on the process's shared bridge.
    pub fn new(name_hint: &str) -> NetNs {
        let bridge = Bridge::shared();
        let h = bridge.alloc_host();
        let name = unique_name(&format!("lsh-{name_hint}"));
        let host_veth = format!("lsv{}x{}", bridge.n, h); // <= 15 chars
        let tmp_peer = format!("lsp{}x{}", bridge.n, h);
        let ip = Ipv4Addr::new(10, 231, bridge.n, h);
        let to = Duration::from_secs(10);
        run_ok(&mut cmd("ip", &["netns", "add", &name]), to);
        let ns = NetNs {
            name,
            host_veth,
            ip,
            bridge,
        };
        let n = ns.name.as_str();
        run_ok(
            &mut cmd(
                "ip",
                &[
                    "link",
                    "add",
                    &ns.host_veth,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &tmp_peer,
                    "netns",
                    n,
                ],
            ),
            to,
        );
        run_ok(
            &mut cmd(
                "ip",
                &[
                    "link",
                    "set",
                    &ns.host_veth,
                    "master",
                    ns.bridge.name(),
                    "up",
                ],
            ),
            to,
        );
        run_ok(
            &mut cmd("ip", &["-n", n, "link", "set", &tmp_peer, "name", "eth0"]),
            to,
        );
        run_ok(
            &mut cmd(
                "ip",
                &["-n", n, "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
            ),
            to,
        );
        run_ok(&mut cmd("ip", &["-n", n, "link", "set", "eth0", "up"]), to);
        run_ok(&mut cmd("ip", &["-n", n, "link", "set", "lo", "up"]), to);
        ns
    }

    /// Netns name as given to `ip netns`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`, for `linux.namespaces[type=network].path`.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// The address of `eth0` inside the namespace.
    pub fn ipv4(&self) -> Ipv4Addr {
        self.ip
    }

    /// The bridge this namespace hangs on.
    pub fn bridge(&self) -> &Arc<Bridge> {
        &self.bridge
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let to = Duration::from_secs(10);
        run_quiet(&mut cmd("ip", &["netns", "del", &self.name]), to);
        // Gone with the netns unless a process still pins it.
        run_quiet(&mut cmd("ip", &["link", "del", &self.host_veth]), to);
    }
}

// ---------------------------------------------------------------------------
// OCI bundles for runc / crun
// ---------------------------------------------------------------------------

/// Writes `dir/config.json` from `runc spec --rootless=false` (run in a temp
/// dir) with: process.args = `args`, process.terminal = false, root.path =
/// absolute `rootfs`, root.readonly = false, `annotations`, hostname = the
/// bundle dir's name, and, when `netns` is given, the path of the network
/// namespace entry. Returns `dir`.
pub fn runc_bundle(
    dir: &Path,
    rootfs: &Path,
    args: &[&str],
    annotations: &[(&str, &str)],
    netns: Option<&Path>,
) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let spec_dir = tempfile::tempdir().unwrap();
    run_ok(
        cmd("runc", &["spec", "--rootless=false"]).current_dir(spec_dir.path()),
        Duration::from_secs(10),
    );
    let mut cfg: Value =
        serde_json::from_str(&fs::read_to_string(spec_dir.path().join("config.json")).unwrap())
            .unwrap();
    cfg["process"]["args"] = json!(args);
    cfg["process"]["terminal"] = json!(false);
    cfg["root"]["path"] = json!(rootfs.canonicalize().expect("rootfs exists"));
    cfg["root"]["readonly"] = json!(false);
    cfg["hostname"] = json!(dir.file_name().unwrap().to_string_lossy());
    let ann: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    cfg["annotations"] = Value::Object(ann);
    if let Some(ns) = netns {
        let list = cfg["linux"]["namespaces"]
            .as_array_mut()
            .expect("linux.namespaces");
        match list.iter_mut().find(|n| n["type"] == "network") {
            Some(n) => n["path"] = json!(ns),
            None => list.push(json!({"type": "network", "path": ns})),
        }
    }
    write_config(dir, &cfg);
    dir.to_path_buf()
}

/// Reads `bundle/config.json`.
pub fn read_config(bundle: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(bundle.join("config.json")).unwrap()).unwrap()
}

/// Writes `bundle/config.json` (pretty).
pub fn write_config(bundle: &Path, cfg: &Value) {
    fs::write(
        bundle.join("config.json"),
        serde_json::to_string_pretty(cfg).unwrap(),
    )
    .unwrap();
}

/// Appends a bind mount `source` -> `destination` to the bundle's mounts
/// (the way linkshim injects a generated /etc/hosts).
pub fn bundle_add_bind(bundle: &Path, source: &Path, destination: &str, readonly: bool) {
    let mut cfg = read_config(bundle);
    let opts = if readonly {
        json!(["rbind", "ro"])
    } else {
        json!(["rbind", "rw"])
    };
    cfg["mounts"].as_array_mut().expect("mounts").push(json!({
        "destination": destination, "type": "bind", "source": source, "options": opts
    }));
    write_config(bundle, &cfg);
}

/// Guard for a container started with an OCI runtime (`runc`, `crun`, or
/// linkshim): Drop runs `<runtime> delete --force <id>` (best effort).
pub struct OciContainer {
    pub runtime: PathBuf,
    /// Arguments put before the runtime's own (e.g. linkshim's
    /// `--state-dir D runtime --runtime R --`); empty for a bare runtime.
    pub pre_args: Vec<std::ffi::OsString>,
    pub id: String,
}

impl OciContainer {
    /// Guard for container `id` of `runtime` (program name or path).
    pub fn new(runtime: impl Into<PathBuf>, id: &str) -> OciContainer {
        OciContainer {
            runtime: runtime.into(),
            pre_args: Vec::new(),
            id: id.to_string(),
        }
    }

    /// Guard for container `id` run through linkshim's wrapper:
    /// `linkshim --state-dir <state> runtime --runtime <real> -- ARGS`, with
    /// no config file and no LINKSHIM_* variables from the caller.
    pub fn wrapped(state: &Path, real: &Path, id: &str) -> OciContainer {
        OciContainer {
            runtime: linkshim_bin(),
            pre_args: vec![
                "--state-dir".into(),
                state.into(),
                "runtime".into(),
                "--runtime".into(),
                real.into(),
                "--".into(),
            ],
            id: id.to_string(),
        }
    }

    /// The runtime (or wrapper) command, before the runtime's own arguments.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.runtime);
        c.args(&self.pre_args);
        if !self.pre_args.is_empty() {
            c.env("LINKSHIM_CONFIG", "/nonexistent/linkshim-test.toml")
                .env_remove("LINKSHIM_STATE_DIR")
                .env_remove("LINKSHIM_RUNTIME");
        }
        c
    }

    /// `<runtime> run -d --bundle <bundle> <id>` with stdio null (a detached
    /// container inherits the caller's stdio; piping it would block us).
    pub fn run_detached(&self, bundle: &Path) {
        let st = self
            .command()
            .args(["run", "-d", "--bundle"])
            .arg(bundle)
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn runtime");
        assert!(
            st.success(),
            "{} run -d {}: {st}",
            self.runtime.display(),
            self.id
        );
    }

    /// `<runtime> run --bundle <bundle> <id>` in the foreground, bounded.
    pub fn run_fg(&self, bundle: &Path, timeout: Duration) -> Option<Output> {
        output_within(
            self.command()
                .args(["run", "--bundle"])
                .arg(bundle)
                .arg(&self.id),
            timeout,
        )
    }
}

impl Drop for OciContainer {
    fn drop(&mut self) {
        run_quiet(
            self.command().args(["delete", "--force", &self.id]),
            Duration::from_secs(20),
        );
    }
}

// ---------------------------------------------------------------------------
// containerd
// ---------------------------------------------------------------------------

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

/// Pids whose NUL-separated-as-space command line satisfies `pred`.
pub fn pids_with_cmdline(pred: impl Fn(&str) -> bool) -> Vec<u32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| pred(&String::from_utf8_lossy(&b).replace('\0', " ")))
                .unwrap_or(false)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Serialisation (not needed so far)
// ---------------------------------------------------------------------------

/// A process-wide lock for tests that must not overlap with each other
/// (e.g. ones that change machine-wide state). The harness itself does not
/// need it: parallel Podman/NetNs/Containerd instances were verified to work.
pub fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// linkshim: state dir, hooks.d file, wrapper, and the link assertions
// ---------------------------------------------------------------------------

/// A config file path that never exists: keeps a machine-wide
/// /etc/linkshim/linkshim.toml out of the tests.
pub const NO_CONFIG: &str = "/nonexistent/linkshim-test.toml";

/// `linkshim --state-dir <state>`, with no config file and no LINKSHIM_*
/// variables from the caller. Append the subcommand.
pub fn linkshim(state: &Path) -> Command {
    let mut c = Command::new(linkshim_bin());
    c.arg("--state-dir")
        .arg(state)
        .env("LINKSHIM_CONFIG", NO_CONFIG)
        .env_remove("LINKSHIM_STATE_DIR")
        .env_remove("LINKSHIM_RUNTIME");
    c
}

/// `linkshim ls --json` on `state`, parsed: one object per record.
pub fn linkshim_ls(state: &Path) -> Vec<Value> {
    let out = run_ok(
        linkshim(state).args(["ls", "--json"]),
        Duration::from_secs(20),
    );
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("`linkshim ls --json` is not JSON ({e}): {out:?}"));
    v.as_array()
        .unwrap_or_else(|| panic!("`linkshim ls --json` is not an array: {out}"))
        .clone()
}

/// The `ls --json` record named `name`, if registered.
pub fn ls_record(state: &Path, name: &str) -> Option<Value> {
    linkshim_ls(state).into_iter().find(|r| r["name"] == name)
}

/// Installs hooks/linkshim.json (the project's own file) into `hooks_dir`,
/// rewriting only `hook.path` to the built binary and appending
/// `--state-dir <state>` to `hook.args`.
pub fn install_hooks_d(hooks_dir: &Path, state: &Path) {
    install_hooks_d_with(hooks_dir, state, &[]);
}

/// [`install_hooks_d`], with `extra` arguments appended after `--state-dir`.
pub fn install_hooks_d_with(hooks_dir: &Path, state: &Path, extra: &[&str]) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/linkshim.json");
    let mut hook: Value = serde_json::from_str(&fs::read_to_string(&src).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    hook["hook"]["path"] = json!(linkshim_bin());
    hook["hook"]["args"]
        .as_array_mut()
        .expect("hook.args")
        .extend(
            [json!("--state-dir"), json!(state)]
                .into_iter()
                .chain(extra.iter().map(|a| json!(a))),
        );
    fs::write(
        hooks_dir.join("linkshim.json"),
        serde_json::to_string_pretty(&hook).unwrap(),
    )
    .unwrap();
}

/// A container id shorter than 12 characters, unique on this machine for
/// the life of this process (`t<pid>x<n>`), so hosts lines carry it whole.
pub fn short_unique_id() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let id = format!(
        "t{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    assert!(id.len() <= 12, "{id} is longer than a short id");
    id
}

/// The first 12 characters of a container id (Docker's short id).
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

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
    pub env: std::collections::BTreeMap<String, String>,
    pub hosts: String,
    pub fetched: String,
}

impl LinkerOutput {
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
    pub fn assert_link_env(
        &self,
        prefix: &str,
        want: &std::collections::BTreeMap<String, String>,
        ports: &str,
    ) {
        let p = format!("{prefix}_");
        let extra = format!("{prefix}_PORTS");
        let got: std::collections::BTreeMap<String, String> = self
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
) -> (std::collections::BTreeMap<String, String>, String) {
    let mut m = std::collections::BTreeMap::new();
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

/// Files left in `<state>/hosts` (linkers' hosts files not yet removed).
pub fn hosts_files(state: &Path) -> Vec<PathBuf> {
    fs::read_dir(state.join("hosts"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// `<state>/linkshim.log`, the operator's log ("" when absent).
pub fn linkshim_log(state: &Path) -> String {
    fs::read_to_string(state.join("linkshim.log")).unwrap_or_default()
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
