//! Least privilege for the hook stages. A hook runs as root on every
//! container start and stop, fed with what the container's creator wrote;
//! once its input is parsed it keeps only the capabilities its next step
//! needs, and sets no-new-privs so that nothing it could ever exec gains
//! any back.
//!
//! Capabilities belong to a thread: these calls change the calling thread
//! and the threads it starts afterwards. The hooks call them from the main
//! thread before starting any other. The runtime wrapper never calls them:
//! the runtime it becomes needs its capabilities.
//!
//! Without CAP_DAC_OVERRIDE, root still reads and writes the files it owns
//! (the state dir is root's, mode 0700): the owner's permission bits apply.

use caps::{CapSet, Capability, CapsHashSet};

/// Why privileges could not be dropped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot drop capabilities ({set:?})")]
    Caps {
        set: CapSet,
        #[source]
        source: caps::errors::CapsError,
    },
    #[error("cannot set no-new-privs")]
    NoNewPrivs(#[source] nix::Error),
}

/// Set no-new-privs and keep only `keep` of this thread's capabilities
/// (effective and permitted; none inheritable or ambient; the bounding set
/// too when this thread may change it). What is not held is not gained.
pub fn keep_only(keep: &[Capability]) -> Result<(), Error> {
    nix::sys::prctl::set_no_new_privs().map_err(Error::NoNewPrivs)?;
    let keep: CapsHashSet = keep.iter().copied().collect();
    let err = |set| move |source| Error::Caps { set, source };
    // Lowering the bounding set needs CAP_SETPCAP, so it goes first.
    // Each is dropped without reading it first (dropping one that is not
    // held succeeds): one call per capability instead of two. One this
    // kernel does not know cannot be dropped, and is not held either.
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        for cap in caps::all() {
            if keep.contains(&cap) {
                continue;
            }
            if let Err(source) = caps::drop(None, CapSet::Bounding, cap)
                && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
            {
                return Err(err(CapSet::Bounding)(source));
            }
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(err(CapSet::Ambient))?;
    caps::clear(None, CapSet::Inheritable).map_err(err(CapSet::Inheritable))?;
    for set in [CapSet::Effective, CapSet::Permitted] {
        let held = caps::read(None, set).map_err(err(set))?;
        let kept: CapsHashSet = held.intersection(&keep).copied().collect();
        caps::set(None, set, &kept).map_err(err(set))?;
    }
    Ok(())
}

/// What reading the addresses of the network namespace at `netns` needs
/// (`/proc/<pid>/ns/net` when `None`): entering it, CAP_SYS_ADMIN; opening
/// `/proc/PID/ns/net` of a process holding capabilities this one lacks,
/// CAP_SYS_PTRACE too (a bind-mounted netns file, as podman's
/// `/run/netns/...`, does not). A pod member's, or `--network
/// container:X`'s, is another process's `/proc/PID/ns/net`.
pub fn netns_caps(netns: Option<&std::path::Path>) -> &'static [Capability] {
    match netns {
        Some(p) if !p.starts_with("/proc") => &[Capability::CAP_SYS_ADMIN],
        _ => &[Capability::CAP_SYS_ADMIN, Capability::CAP_SYS_PTRACE],
    }
}

/// Set no-new-privs and drop every capability of this thread.
pub fn drop_all() -> Result<(), Error> {
    keep_only(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field of this thread's `/proc/thread-self/status`.
    fn status(field: &str) -> String {
        let text = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {field} in status"))
            .trim()
            .to_string()
    }

    /// Run `f` on a thread of its own (capabilities are per thread) and
    /// return that thread's CapEff, CapPrm, CapBnd, CapAmb and NoNewPrivs after it.
    fn after(f: fn() -> Result<(), Error>) -> [String; 5] {
        std::thread::spawn(move || {
            f().unwrap();
            ["CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs"].map(status)
        })
        .join()
        .unwrap()
    }

    fn mask(caps: &[Capability]) -> String {
        format!("{:016x}", caps.iter().map(|c| c.bitmask()).sum::<u64>())
    }

    #[test]
    fn dropping_everything_leaves_nothing_and_sets_no_new_privs() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: capabilities need root");
            return;
        }
        assert_ne!(
            status("CapEff"),
            mask(&[]),
            "the test starts with capabilities"
        );
        let [eff, prm, bnd, amb, nnp] = after(drop_all);
        assert_eq!(eff, mask(&[]));
        assert_eq!(prm, mask(&[]));
        assert_eq!(bnd, mask(&[]));
        assert_eq!(amb, mask(&[]));
        assert_eq!(nnp, "1");
        assert_ne!(status("CapEff"), mask(&[]), "other threads keep theirs");
    }

    #[test]
    fn keeping_some_keeps_exactly_those() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: capabilities need root");
            return;
        }
        let kept = [Capability::CAP_SYS_ADMIN, Capability::CAP_SYS_PTRACE];
        let [eff, prm, bnd, _, nnp] =
            after(|| keep_only(&[Capability::CAP_SYS_ADMIN, Capability::CAP_SYS_PTRACE]));
        assert_eq!(eff, mask(&kept));
        assert_eq!(prm, mask(&kept));
        assert_eq!(bnd, mask(&kept));
        assert_eq!(nnp, "1");
        // Then dropping the rest, as poststart does once it has the addresses.
        let [eff, prm, ..] = after(|| {
            keep_only(&[Capability::CAP_SYS_ADMIN])?;
            drop_all()
        });
        assert_eq!(eff, mask(&[]));
        assert_eq!(prm, mask(&[]));
    }
}
