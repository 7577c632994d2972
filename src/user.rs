//! Who linkshim runs for, and that user's default directories.
//!
//! Rootless podman runs its hooks (and the runtime) as uid 0 inside a user
//! namespace whose uid 0 maps to the user who started it, so `getuid()`
//! alone cannot tell root from a user. The uid map can: the user is the
//! outer uid that the current uid maps to (`/proc/self/uid_map`, read in
//! the namespace linkshim runs in, names the ids of its parent namespace).
//!
//! Root keeps `/run/linkshim` and `/var/lib/linkshim` (or the config
//! file's). Any other user gets private directories of their own:
//! `$XDG_RUNTIME_DIR/linkshim`, else `/run/user/<uid>/linkshim`, for the
//! registry, the hosts files and the log, and `$XDG_DATA_HOME/linkshim`,
//! else `~/.local/share/linkshim`, for persisted resources. The hooks
//! podman runs get no environment, so they use `/run/user/<uid>`, which is
//! where a login session puts `XDG_RUNTIME_DIR` too.

use std::path::PathBuf;

/// Root's state directory (tmpfs: it empties at reboot, like the containers).
pub const ROOT_STATE_DIR: &str = "/run/linkshim";
/// Root's persistent directory: where `resource add --persist` keeps
/// resources (configuration, not runtime state).
pub const ROOT_PERSIST_DIR: &str = "/var/lib/linkshim";

/// The user linkshim acts for, seen from outside any user namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The outer uid: 0 for real root.
    pub uid: u32,
}

impl Owner {
    /// The user this process acts for: its uid mapped through
    /// `/proc/self/uid_map` (the plain uid when the map is unreadable).
    pub fn current() -> Owner {
        let uid = nix::unistd::getuid().as_raw();
        let map = crate::proc_file::read_to_string("/proc/self/uid_map").unwrap_or_default();
        Owner {
            uid: outer_uid(&map, uid).unwrap_or(uid),
        }
    }

    /// True for real root: uid 0 outside every user namespace.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// The default state directory (registry, hosts files, log).
    pub fn state_dir(&self) -> PathBuf {
        if self.is_root() {
            return PathBuf::from(ROOT_STATE_DIR);
        }
        absolute_env("XDG_RUNTIME_DIR")
            .unwrap_or_else(|| PathBuf::from(format!("/run/user/{}", self.uid)))
            .join("linkshim")
    }

    /// The default directory of persisted resources.
    pub fn persist_dir(&self) -> PathBuf {
        if self.is_root() {
            return PathBuf::from(ROOT_PERSIST_DIR);
        }
        absolute_env("XDG_DATA_HOME")
            .or_else(|| self.home().map(|h| h.join(".local/share")))
            .map(|d| d.join("linkshim"))
            .unwrap_or_else(|| self.state_dir().join("persist"))
    }

    /// `$HOME`, else the user's home in the password database.
    fn home(&self) -> Option<PathBuf> {
        absolute_env("HOME").or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(self.uid))
                .ok()
                .flatten()
                .map(|u| u.dir)
                .filter(|d| d.is_absolute())
        })
    }
}

/// An environment variable naming an absolute path (the XDG rule: a
/// relative one is ignored).
fn absolute_env(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// The outer uid that `uid` maps to in a uid map (`inside outside count`
/// per line), or None when no line covers it.
pub fn outer_uid(map: &str, uid: u32) -> Option<u32> {
    map.lines().find_map(|line| {
        let mut f = line.split_whitespace().map(str::parse::<u64>);
        let (Some(Ok(inside)), Some(Ok(outside)), Some(Ok(count))) = (f.next(), f.next(), f.next())
        else {
            return None;
        };
        let uid = u64::from(uid);
        (uid >= inside && uid - inside < count)
            .then(|| outside + (uid - inside))
            .and_then(|o| u32::try_from(o).ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outer_uid_comes_from_the_line_that_covers_the_uid() {
        for (map, uid, want, why) in [
            ("         0          0 4294967295\n", 0, Some(0), "the host"),
            (
                "         0          0 4294967295\n",
                1001,
                Some(1001),
                "a user on the host",
            ),
            (
                "0 1001 1\n1 100000 65536\n",
                0,
                Some(1001),
                "rootless podman's root",
            ),
            (
                "0 1001 1\n1 100000 65536\n",
                1,
                Some(100000),
                "its first subordinate uid",
            ),
            (
                "0 1001 1\n1 100000 65536\n",
                65536,
                Some(165535),
                "its last",
            ),
            ("0 1001 1\n1 100000 65536\n", 65537, None, "unmapped"),
            ("", 0, None, "no map"),
            ("0 x 1\n", 0, None, "garbage"),
            ("0 4294967295 2\n", 1, None, "past u32"),
        ] {
            assert_eq!(outer_uid(map, uid), want, "{why}");
        }
    }

    #[test]
    fn root_keeps_the_system_directories_and_a_user_gets_private_ones() {
        let root = Owner { uid: 0 };
        assert_eq!(root.state_dir(), PathBuf::from("/run/linkshim"));
        assert_eq!(root.persist_dir(), PathBuf::from("/var/lib/linkshim"));
        let user = Owner { uid: 4242 };
        let state = user.state_dir();
        assert!(
            state.ends_with("linkshim") && state != root.state_dir(),
            "{state:?}"
        );
        match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
            Some(x) if x.is_absolute() => assert_eq!(state, x.join("linkshim")),
            _ => assert_eq!(state, PathBuf::from("/run/user/4242/linkshim")),
        }
        let persist = user.persist_dir();
        assert!(
            persist.ends_with("linkshim") && persist != root.persist_dir(),
            "{persist:?}"
        );
    }
}
