//! A test bridge on the host and named network namespaces hanging on it.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::process::{cmd, run_ok, run_quiet, unique_name, which};

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
