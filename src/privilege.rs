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

use caps::{CapSet, Capability};

/// Why privileges could not be dropped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot drop capabilities ({set:?})")]
    Caps {
        set: CapSet,
        #[source]
        source: caps::errors::CapsError,
    },
    #[error("cannot change this thread's capabilities (capget/capset)")]
    Sets(#[source] std::io::Error),
    #[error("cannot set no-new-privs")]
    NoNewPrivs(#[source] nix::Error),
}

/// Set no-new-privs and keep only `keep` of this thread's capabilities
/// (effective and permitted; none inheritable or ambient). What is not held
/// is not gained, by an exec either.
pub fn keep_only(keep: &[Capability]) -> Result<(), Error> {
    nix::sys::prctl::set_no_new_privs().map_err(Error::NoNewPrivs)?;
    caps::clear(None, CapSet::Ambient).map_err(|source| Error::Caps {
        set: CapSet::Ambient,
        source,
    })?;
    let keep = keep.iter().fold(0u64, |m, c| m | c.bitmask());
    let held = sets::get().map_err(Error::Sets)?;
    sets::set(sets::Sets {
        effective: held.effective & keep,
        permitted: held.permitted & keep,
        inheritable: 0,
    })
    .map_err(Error::Sets)
}

/// This thread's effective, permitted and inheritable sets, read and
/// written whole: one capget(2) and one capset(2) for what the `caps`
/// crate, a set at a time, took seven calls.
mod sets {
    /// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, in two 32-bit halves.
    const VERSION_3: u32 = 0x2008_0522;

    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }

    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }

    pub struct Sets {
        pub effective: u64,
        pub permitted: u64,
        pub inheritable: u64,
    }

    pub fn get() -> std::io::Result<Sets> {
        let mut header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let mut data = [Data::default(); 2];
        #[allow(unsafe_code)]
        // SAFETY: capget reads the header and writes two `Data` (the
        // version-3 layout) through pointers to these locals, which live
        // for the whole call.
        let rc = unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let whole = |f: fn(&Data) -> u32| u64::from(f(&data[0])) | u64::from(f(&data[1])) << 32;
        Ok(Sets {
            effective: whole(|d| d.effective),
            permitted: whole(|d| d.permitted),
            inheritable: whole(|d| d.inheritable),
        })
    }

    pub fn set(sets: Sets) -> std::io::Result<()> {
        let mut header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let half = |v: u64, high: bool| (if high { v >> 32 } else { v }) as u32;
        let data = [false, true].map(|high| Data {
            effective: half(sets.effective, high),
            permitted: half(sets.permitted, high),
            inheritable: half(sets.inheritable, high),
        });
        #[allow(unsafe_code)]
        // SAFETY: capset reads the header and two `Data` (the version-3
        // layout) through pointers to these locals, which live for the
        // whole call.
        let rc = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
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
    fn the_sets_read_whole_are_what_the_kernel_reports() {
        let (thread, read) = std::thread::spawn(|| {
            // One capability above bit 31 kept, so both halves are seen.
            if nix::unistd::geteuid().is_root() {
                keep_only(&[Capability::CAP_SYS_ADMIN, Capability::CAP_BPF]).unwrap();
            }
            (status(), sets::get().unwrap())
        })
        .join()
        .unwrap();
        let hex = |v: u64| format!("{v:016x}");
        assert_eq!(
            [
                hex(read.effective),
                hex(read.permitted),
                hex(read.inheritable)
            ],
            [&*thread[0], &thread[1], &thread[2]]
        );
        if nix::unistd::geteuid().is_root() {
            assert_eq!(
                thread[0],
                mask(&[Capability::CAP_SYS_ADMIN, Capability::CAP_BPF])
            );
        }
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
