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
//!
//! The bounding set is left as it is. It only limits what an exec could
//! gain, and under no-new-privs an exec gains nothing: the kernel gives the
//! new program at most the permitted set it had (`cap_bprm_creds_from_file`),
//! root or set-uid alike. Lowering it would cost one `prctl` a capability
//! (41) on every hook start; the test below execs a program as root to
//! show what it is left with.

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
/// (effective and permitted; none inheritable or ambient). What is not held
/// is not gained, by an exec either.
pub fn keep_only(keep: &[Capability]) -> Result<(), Error> {
    nix::sys::prctl::set_no_new_privs().map_err(Error::NoNewPrivs)?;
    let keep: CapsHashSet = keep.iter().copied().collect();
    let err = |set| move |source| Error::Caps { set, source };
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

    const FIELDS: [&str; 5] = ["CapEff", "CapPrm", "CapInh", "CapAmb", "NoNewPrivs"];

    /// The `FIELDS` of a `/proc/.../status` text.
    fn fields(text: &str) -> [String; 5] {
        FIELDS.map(|field| {
            text.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .unwrap_or_else(|| panic!("no {field} in status"))
                .trim()
                .to_string()
        })
    }

    fn status() -> [String; 5] {
        fields(&std::fs::read_to_string("/proc/thread-self/status").unwrap())
    }

    /// Run `f` on a thread of its own (capabilities are per thread), then
    /// exec a program as root from that thread: the `FIELDS` of the thread,
    /// and of the program.
    fn after(f: fn() -> Result<(), Error>) -> ([String; 5], [String; 5]) {
        std::thread::spawn(move || {
            f().unwrap();
            let out = std::process::Command::new("cat")
                .arg("/proc/self/status")
                .output()
                .unwrap();
            assert!(out.status.success());
            (status(), fields(&String::from_utf8(out.stdout).unwrap()))
        })
        .join()
        .unwrap()
    }

    fn mask(caps: &[Capability]) -> String {
        format!("{:016x}", caps.iter().map(|c| c.bitmask()).sum::<u64>())
    }

    fn root() -> bool {
        let root = nix::unistd::geteuid().is_root();
        if !root {
            eprintln!("SKIP: capabilities need root");
        }
        root
    }

    #[test]
    fn a_program_execd_as_root_gets_every_capability_without_a_drop() {
        if !root() {
            return;
        }
        // The control for the tests below: what they prevent happens.
        let (_, [eff, prm, ..]) = after(|| Ok(()));
        assert_ne!(eff, mask(&[]));
        assert_ne!(prm, mask(&[]));
    }

    #[test]
    fn dropping_everything_leaves_nothing_not_even_to_an_exec() {
        if !root() {
            return;
        }
        let none = mask(&[]);
        let (thread, exec) = after(drop_all);
        let want = [&*none, &none, &none, &none, "1"];
        assert_eq!(thread, want, "the thread ({FIELDS:?})");
        assert_eq!(exec, want, "a program it execs as root ({FIELDS:?})");
        assert_ne!(status()[0], none, "other threads keep theirs");
    }

    #[test]
    fn keeping_some_keeps_exactly_those() {
        if !root() {
            return;
        }
        let kept = mask(&[Capability::CAP_SYS_ADMIN, Capability::CAP_SYS_PTRACE]);
        let none = mask(&[]);
        let (thread, exec) =
            after(|| keep_only(&[Capability::CAP_SYS_ADMIN, Capability::CAP_SYS_PTRACE]));
        let want = [&*kept, &kept, &none, &none, "1"];
        assert_eq!(thread, want, "the thread ({FIELDS:?})");
        assert_eq!(exec, want, "a program it execs as root ({FIELDS:?})");
        // Then dropping the rest, as poststart does once it has the addresses.
        let (thread, exec) = after(|| {
            keep_only(&[Capability::CAP_SYS_ADMIN])?;
            drop_all()
        });
        assert_eq!(thread[..2], [&*none, &none]);
        assert_eq!(exec[..2], [&*none, &none]);
    }
}
