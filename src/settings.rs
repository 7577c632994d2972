//! Where linkshim's settings come from: a flag, else an environment
//! variable, else the config file, else the default.
//!
//! The config file is TOML, `/etc/linkshim/linkshim.toml` unless
//! `LINKSHIM_CONFIG` names another:
//!
//! ```toml
//! state_dir = "/run/linkshim"   # the registry and hosts files
//! runtime = "/usr/sbin/runc"    # the real runtime the wrapper execs
//! persist_dir = "/var/lib/linkshim"  # resources added with --persist
//! share_env = "all"             # what targets may cascade: all, declared, none
//! lock_timeout = "5s"           # how long a start waits for the registry's lock
//! stop_lock_timeout = "2s"      # the same for poststop, which then gives up
//! ```
//!
//! A start (precreate, the wrapper, poststart) and the commands fail with
//! an error naming the lock when another process holds it for longer than
//! `lock_timeout`; a poststop that cannot have it within
//! `stop_lock_timeout` logs that and succeeds (the stop goes on; the
//! container's record is stale and cleared later, or by `linkshim gc`).
//!
//! The directories in the config file are the host's: they apply to root
//! alone. Any other user (a rootless podman's hooks included) gets private
//! directories of their own (see `crate::user`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::user::Owner;

pub const CONFIG_ENV: &str = "LINKSHIM_CONFIG";
pub const DEFAULT_CONFIG: &str = "/etc/linkshim/linkshim.toml";
pub const STATE_DIR_ENV: &str = "LINKSHIM_STATE_DIR";
pub const RUNTIME_ENV: &str = "LINKSHIM_RUNTIME";
pub const PERSIST_DIR_ENV: &str = "LINKSHIM_PERSIST_DIR";
/// Where `resource add --persist` keeps resources: configuration, not runtime state.
pub const DEFAULT_PERSIST_DIR: &str = crate::user::ROOT_PERSIST_DIR;

/// The config file's content.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub state_dir: Option<PathBuf>,
    pub persist_dir: Option<PathBuf>,
    pub runtime: Option<PathBuf>,
    /// What targets may cascade to their linkers as `<P>_ENV_*`.
    pub share_env: Option<crate::model::share::Policy>,
    #[serde(default, deserialize_with = "duration")]
    pub lock_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub stop_lock_timeout: Option<Duration>,
}

/// How long poststop waits for the registry's lock unless configured.
pub const DEFAULT_STOP_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

impl File {
    /// How long a start or a command waits for the registry's lock.
    pub fn lock_timeout(&self) -> Duration {
        self.lock_timeout.unwrap_or(crate::registry::DEFAULT_BUDGET)
    }

    /// How long poststop waits for the registry's lock.
    pub fn stop_lock_timeout(&self) -> Duration {
        self.stop_lock_timeout.unwrap_or(DEFAULT_STOP_LOCK_TIMEOUT)
    }
}

/// A duration written as humans do ("5s", "1500ms"), more than zero and
/// at most an hour.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    use serde::de::Error as _;
    let text = String::deserialize(d)?;
    let value = humantime::parse_duration(&text).map_err(|e| {
        D::Error::custom(format!("{text:?}: {e} (write it as \"5s\" or \"500ms\")"))
    })?;
    if value.is_zero() || value > Duration::from_secs(3600) {
        return Err(D::Error::custom(format!(
            "{text:?}: must be more than 0 and at most 1h"
        )));
    }
    Ok(Some(value))
}

impl File {
    /// Load the config file; a missing one is empty, a broken one an error.
    pub fn load() -> anyhow::Result<File> {
        let path = std::env::var_os(CONFIG_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }
}

/// True when a setting the config file could give is given neither by a
/// flag nor by the environment (the runtime is asked for apart).
pub fn file_needed(state_flag: Option<&Path>, persist_flag: Option<&Path>) -> bool {
    (state_flag.is_none() && std::env::var_os(STATE_DIR_ENV).is_none())
        || (persist_flag.is_none() && std::env::var_os(PERSIST_DIR_ENV).is_none())
}

/// The state directory: flag, `LINKSHIM_STATE_DIR`, config file (for
/// root alone: it names the host's directories), the owner's default;
/// absolute (see [`absolute`]).
pub fn state_dir(flag: Option<&Path>, file: &File, owner: &Owner) -> PathBuf {
    absolute(
        flag.map(Path::to_path_buf)
            .or_else(|| std::env::var_os(STATE_DIR_ENV).map(PathBuf::from))
            .or_else(|| file.state_dir.clone().filter(|_| owner.is_root()))
            .unwrap_or_else(|| owner.state_dir()),
    )
}

/// The persistent directory: flag, `LINKSHIM_PERSIST_DIR`, config file
/// (for root alone), the owner's default; absolute (see [`absolute`]).
pub fn persist_dir(flag: Option<&Path>, file: &File, owner: &Owner) -> PathBuf {
    absolute(
        flag.map(Path::to_path_buf)
            .or_else(|| std::env::var_os(PERSIST_DIR_ENV).map(PathBuf::from))
            .or_else(|| file.persist_dir.clone().filter(|_| owner.is_root()))
            .unwrap_or_else(|| owner.persist_dir()),
    )
}

/// `dir` under the current directory when it is relative: the hooks
/// linkshim adds carry it, and run with the bundle as their current
/// directory. Symlinks are left as they are (the state directory refuses
/// them itself). An empty path, or one with no current directory to be
/// under, stays as it is and fails where it is used.
pub fn absolute(dir: PathBuf) -> PathBuf {
    std::path::absolute(&dir).unwrap_or(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_env_is_one_of_three_words() {
        use crate::model::share::Policy;
        for (text, want) in [
            ("share_env = \"all\"", Some(Policy::All)),
            ("share_env = \"declared\"", Some(Policy::Declared)),
            ("share_env = \"none\"", Some(Policy::None)),
            ("", None),
        ] {
            let f: File = toml::from_str(text).unwrap();
            assert_eq!(f.share_env, want, "{text}");
        }
        let err = toml::from_str::<File>("share_env = \"some\"").unwrap_err();
        assert!(err.to_string().contains("declared"), "{err}");
    }

    #[test]
    fn a_relative_directory_is_made_absolute() {
        let cwd = std::env::current_dir().unwrap();
        let file = File {
            state_dir: Some("rel/state".into()),
            persist_dir: Some("./rel/persist".into()),
            runtime: None,
            share_env: None,
            ..File::default()
        };
        let root = Owner { uid: 0 };
        assert_eq!(
            state_dir(Some(Path::new("s")), &file, &root),
            cwd.join("s"),
            "a flag"
        );
        assert_eq!(
            persist_dir(Some(Path::new("/abs/p")), &file, &root),
            Path::new("/abs/p")
        );
        if std::env::var_os(STATE_DIR_ENV).is_none() && std::env::var_os(PERSIST_DIR_ENV).is_none()
        {
            assert_eq!(
                state_dir(None, &file, &root),
                cwd.join("rel/state"),
                "the config file"
            );
            assert!(persist_dir(None, &file, &root).is_absolute());
            assert!(persist_dir(None, &file, &root).ends_with("rel/persist"));
            let user = Owner { uid: 4242 };
            assert_eq!(
                state_dir(None, &file, &user),
                user.state_dir(),
                "a user: the config file's directories are root's"
            );
            assert_eq!(persist_dir(None, &file, &user), user.persist_dir());
        }
        assert_eq!(
            absolute(PathBuf::new()),
            PathBuf::new(),
            "left to fail where used"
        );
    }

    #[test]
    fn lock_timeouts_are_read_as_durations_and_bounded() {
        let f: File =
            toml::from_str("lock_timeout = \"1500ms\"\nstop_lock_timeout = \"1s\"").unwrap();
        assert_eq!(f.lock_timeout(), Duration::from_millis(1500));
        assert_eq!(f.stop_lock_timeout(), Duration::from_secs(1));
        let none = File::default();
        assert_eq!(none.lock_timeout(), Duration::from_secs(5));
        assert_eq!(none.stop_lock_timeout(), Duration::from_secs(2));
        for bad in ["\"0s\"", "\"2h\"", "\"soon\"", "5"] {
            let err = toml::from_str::<File>(&format!("lock_timeout = {bad}")).unwrap_err();
            assert!(err.to_string().contains("lock_timeout"), "{bad}: {err}");
        }
    }
}
