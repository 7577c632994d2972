//! The state directory: created private to its owner (root's, or a
//! user's: see `crate::user`), never through a symlink.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The default state directory (root's; see `crate::user` for a user's).
pub const DEFAULT: &str = crate::user::ROOT_STATE_DIR;

/// Why the state directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("state directory {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "state directory {path}: {why} (remove it, or choose another with --state-dir or LINKSHIM_STATE_DIR)"
    )]
    Unsafe { path: PathBuf, why: &'static str },
    #[error(
        "state directory {path}: cannot create it as uid {uid} (a user's is under their runtime directory /run/user/{uid}, made at login: log in through a session (systemd-logind, or `loginctl enable-linger`), set XDG_RUNTIME_DIR, or choose a directory with --state-dir or LINKSHIM_STATE_DIR)"
    )]
    Create {
        path: PathBuf,
        uid: u32,
        #[source]
        source: std::io::Error,
    },
}

/// Make sure `dir` and `dir/hosts` exist as real directories owned by us,
/// mode 0700; tighten a looser mode.
pub fn ensure(dir: &Path) -> Result<(), Error> {
    for d in [dir.to_path_buf(), hosts_dir(dir)] {
        let io = |source| Error::Io {
            path: d.clone(),
            source,
        };
        // Looked at first: on every start but the first it is there, and
        // one lstat says all (creating first cost a mkdir and two stats).
        let meta = match fs::symlink_metadata(&d) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match fs::DirBuilder::new().mode(0o700).recursive(true).create(&d) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::NotFound
                        ) =>
                    {
                        return Err(Error::Create {
                            path: d,
                            uid: crate::user::Owner::current().uid,
                            source: e,
                        });
                    }
                    Err(e) => return Err(io(e)),
                }
                fs::symlink_metadata(&d).map_err(io)?
            }
            Err(e) => return Err(io(e)),
        };
        if meta.file_type().is_symlink() || !meta.is_dir() {
            return Err(Error::Unsafe {
                path: d,
                why: "it is not a directory (a symlink is refused)",
            });
        }
        if meta.uid() != nix::unistd::geteuid().as_raw() {
            return Err(Error::Unsafe {
                path: d,
                why: "it is owned by another user",
            });
        }
        if meta.mode() & 0o077 != 0 {
            fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
    }
    Ok(())
}

/// Where the linkers' hosts files live.
pub fn hosts_dir(dir: &Path) -> PathBuf {
    dir.join("hosts")
}

/// The hosts file of `token`, or None when the token is not linkshim's
/// (only hex digits, 16 to 64 of them, so it can never name another path).
pub fn hosts_file(dir: &Path, token: &str) -> Option<PathBuf> {
    is_token(token).then(|| hosts_dir(dir).join(token))
}

/// True when `token` has the form of a linkshim hosts token: 16 to 64 hex
/// digits.
pub fn is_token(token: &str) -> bool {
    (16..=64).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A new random hosts token.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(std::io::Error::from)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn ensure_makes_tightens_and_refuses() {
        let top = tempfile::tempdir().unwrap();
        // Missing, parents too: made, 0700, with hosts/.
        let fresh = top.path().join("a/b/state");
        ensure(&fresh).unwrap();
        assert_eq!((mode(&fresh), mode(&hosts_dir(&fresh))), (0o700, 0o700));
        // There, too open: tightened; there already: left as it is.
        fs::set_permissions(&fresh, fs::Permissions::from_mode(0o755)).unwrap();
        ensure(&fresh).unwrap();
        ensure(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        // A symlink to a good directory, a file, a symlink as hosts/: refused.
        let link = top.path().join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        let file = top.path().join("file");
        fs::write(&file, "").unwrap();
        let bad_hosts = top.path().join("bad-hosts");
        fs::create_dir(&bad_hosts).unwrap();
        std::os::unix::fs::symlink(top.path(), hosts_dir(&bad_hosts)).unwrap();
        for bad in [&link, &file, &bad_hosts] {
            let err = ensure(bad).unwrap_err();
            assert!(
                matches!(err, Error::Unsafe { .. }),
                "{}: {err}",
                bad.display()
            );
        }
    }
}
