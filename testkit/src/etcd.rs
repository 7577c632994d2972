//! A real etcd cluster for tests: `n` members of Debian's `etcd` on
//! loopback ports picked free, each with its data under a temporary
//! directory; members can be killed and the whole cluster stopped; every
//! member is killed when the cluster is dropped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{unique_name, wait_until, which};

/// A running cluster.
pub struct EtcdCluster {
    members: Vec<Member>,
    _dir: tempfile::TempDir,
}

struct Member {
    name: String,
    client: u16,
    child: Option<Child>,
}

/// A port free on 127.0.0.1 now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl EtcdCluster {
    /// True when the etcd server binary is on PATH.
    pub fn available() -> bool {
        which("etcd").is_some()
    }

    /// Start `n` members and wait until the cluster has a leader.
    pub fn start(n: usize) -> EtcdCluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let token = unique_name("lsetcd");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        let mut members = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let name = format!("m{i}");
            let data = dir.path().join(&name);
            let log =
                std::fs::File::create(dir.path().join(format!("{name}.log"))).expect("a log file");
            let child = Command::new("etcd")
                .args(["--name", &name])
                .arg("--data-dir")
                .arg(&data)
                .args([
                    "--listen-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                    "--advertise-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                    "--listen-peer-urls",
                    &format!("http://127.0.0.1:{peer}"),
                    "--initial-advertise-peer-urls",
                    &format!("http://127.0.0.1:{peer}"),
                    "--initial-cluster",
                    &initial.join(","),
                    "--initial-cluster-state",
                    "new",
                    "--initial-cluster-token",
                    &token,
                    "--heartbeat-interval",
                    "50",
                    "--election-timeout",
                    "500",
                ])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("a log file"))
                .stderr(log)
                .spawn()
                .expect("etcd starts");
            members.push(Member {
                name,
                client: *client,
                child: Some(child),
            });
        }
        let cluster = EtcdCluster { members, _dir: dir };
        assert!(
            wait_until(Duration::from_secs(30), || cluster.healthy()),
            "etcd cluster of {n} did not become healthy; logs: {}",
            cluster.logs()
        );
        cluster
    }

    /// The client URLs of every member, started or not.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client))
            .collect()
    }

    /// True when every running member reports itself healthy.
    pub fn healthy(&self) -> bool {
        let eps: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| format!("http://127.0.0.1:{}", m.client))
            .collect();
        !eps.is_empty()
            && Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .args(["--endpoints", &eps.join(","), "endpoint", "health"])
                .args(["--command-timeout", "2s"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    /// Kill member `i` (SIGKILL) and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kill every member.
    pub fn stop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }

    /// `etcdctl` on the running members with `args`: its stdout.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.endpoints().join(",")])
            .args(args)
            .output()
            .expect("etcdctl runs");
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The members' logs, for a failure message.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let path = self._dir.path().join(format!("{}.log", m.name));
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(5).collect();
                format!("{}: {}", m.name, tail.join(" | "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Where the members keep their data and logs.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
