//! A container's addresses, read inside its network namespace.
//!
//! The namespace file is opened here, then one short-lived thread enters
//! only that network namespace, lists the addresses over netlink and ends:
//! the rest of the process never leaves the host's namespaces.

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns};

use crate::model::NetAddr;

/// Why a namespace's addresses could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network namespace {path}: cannot open")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "network namespace {path}: not a namespace file (a bind-mounted netns or /proc/PID/ns/net)"
    )]
    NotNamespace { path: PathBuf },
    #[error("network namespace {path}: cannot enter")]
    Enter {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("network namespace {path}: cannot list addresses")]
    List {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

/// The addresses a container is reached at, each with its subnet, from
/// the namespace file at `path` (a bind-mounted netns or
/// `/proc/<pid>/ns/net`): IPv4 first, then IPv6; loopback and link-local
/// addresses left out.
pub fn addresses(path: &Path) -> Result<Vec<NetAddr>, Error> {
    use std::os::fd::AsFd;
    let file = open(path)?;
    let owned = path.to_path_buf();
    let listed = std::thread::scope(|s| {
        s.spawn(|| -> Result<Vec<NetAddr>, Error> {
            setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|source| Error::Enter {
                path: owned.clone(),
                source,
            })?;
            let addrs = nix::ifaddrs::getifaddrs().map_err(|source| Error::List {
                path: owned.clone(),
                source,
            })?;
            Ok(addrs
                .filter_map(|ifa| {
                    let ip = ifa.address.and_then(|a| sockaddr_ip(&a))?;
                    let mask = ifa.netmask.and_then(|m| sockaddr_ip(&m));
                    NetAddr::new(ip, mask.map_or(0, prefix_len))
                })
                .collect())
        })
        .join()
        .expect("the namespace thread does not panic")
    })?;
    let ips = reachable(listed.iter().map(|n| n.ip).collect());
    Ok(ips
        .into_iter()
        .filter_map(|ip| listed.iter().find(|n| n.ip == ip).copied())
        .collect())
}

/// The prefix length of a netmask (its leading ones).
fn prefix_len(mask: IpAddr) -> u8 {
    let ones = match mask {
        IpAddr::V4(m) => u32::from(m).leading_ones(),
        IpAddr::V6(m) => u128::from(m).leading_ones(),
    };
    ones as u8
}

/// Open the namespace file at `path` without ever blocking: the path comes
/// from the container's config, and a FIFO there would hang the hook. Only
/// a regular file (what nsfs files look like to `stat`) is opened, and the
/// open file must be on nsfs.
pub fn open(path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let open_err = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let not_ns = || Error::NotNamespace {
        path: path.to_path_buf(),
    };
    // `/proc/PID/ns/net` is a symlink the kernel resolves: it is followed.
    if !std::fs::metadata(path).map_err(open_err)?.is_file() {
        return Err(not_ns());
    }
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(open_err)?;
    let on_nsfs = nix::sys::statfs::fstatfs(&file)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC);
    if !on_nsfs {
        return Err(not_ns());
    }
    Ok(file)
}

fn sockaddr_ip(a: &nix::sys::socket::SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

/// Keep the addresses another container can reach, IPv4 first, in the
/// order the kernel listed them, without duplicates.
pub fn reachable(addrs: Vec<IpAddr>) -> Vec<IpAddr> {
    let keep = |a: &IpAddr| match a {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
        IpAddr::V6(v6) => {
            !v6.is_loopback()
                && !v6.is_unspecified()
                && !v6.is_multicast()
                && !v6.is_unicast_link_local()
        }
    };
    let mut out: Vec<IpAddr> = Vec::new();
    for a in addrs
        .iter()
        .filter(|a| a.is_ipv4())
        .chain(addrs.iter().filter(|a| a.is_ipv6()))
    {
        if keep(a) && !out.contains(a) {
            out.push(*a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespace_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let regular = dir.path().join("regular");
        std::fs::write(&regular, "x").unwrap();
        // Run where a hang is seen: a blocked open would never answer.
        let (tx, rx) = std::sync::mpsc::channel();
        let paths = [fifo, regular, dir.path().to_path_buf()];
        std::thread::spawn(move || {
            for p in paths {
                tx.send((p.clone(), open(&p).map(|_| ()))).unwrap();
            }
        });
        for _ in 0..3 {
            let (p, got) = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("opening a namespace path must not block");
            assert!(
                matches!(got, Err(Error::NotNamespace { .. })),
                "{}: {got:?}",
                p.display()
            );
        }
        assert!(open(Path::new("/proc/self/ns/net")).is_ok());
        assert!(matches!(
            open(Path::new("/nonexistent/netns")),
            Err(Error::Open { .. })
        ));
    }

    #[test]
    fn a_netmask_gives_its_prefix_length() {
        for (mask, want) in [
            ("255.255.0.0", 16),
            ("255.255.255.0", 24),
            ("0.0.0.0", 0),
            ("255.255.255.255", 32),
            ("ffff:ffff:ffff:ffff::", 64),
        ] {
            assert_eq!(prefix_len(mask.parse().unwrap()), want, "{mask}");
        }
    }
}
