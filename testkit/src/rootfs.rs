//! A busybox root filesystem for test containers, and the cgroup quirk
//! crun needs on this machine's hybrid layout.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::Duration;

use crate::process::{cmd, run_quiet};

/// Busybox applets linked into every test rootfs.
pub const APPLETS: &[&str] = &[
    "sh", "env", "cat", "true", "sleep", "ip", "hostname", "nc", "wget", "httpd", "echo", "ls",
    "grep",
];

/// The command line of the test targets: busybox's httpd in the
/// foreground on `port`, serving the rootfs's /www (`linkshim-ok`).
pub fn httpd(port: &str) -> [&str; 6] {
    ["httpd", "-f", "-p", port, "-h", "/www"]
}

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

/// Why [`busybox_rootfs`] cannot work here, if it cannot: `/bin/busybox` is
/// missing, or dynamically linked (it would not run in the bare rootfs).
pub fn busybox_unusable() -> Option<String> {
    let b = Path::new("/bin/busybox");
    if !b.is_file() {
        return Some("needs /bin/busybox (package busybox-static)".into());
    }
    let out = Command::new("file").arg("-L").arg(b).output().ok()?;
    (!String::from_utf8_lossy(&out.stdout).contains("statically linked"))
        .then(|| "/bin/busybox is not statically linked (package busybox-static)".into())
}
