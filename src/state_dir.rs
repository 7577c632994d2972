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
        let meta = fs::symlink_metadata(&d).map_err(io)?;
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
