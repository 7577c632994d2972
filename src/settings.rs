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
//!
//! registry = "etcd"             # default "sqlite": the database in state_dir
//! etcd_endpoints = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
//! etcd_prefix = "/linkshim"     # every key starts with it
//! etcd_timeout = "2s"           # the most a call to etcd waits
//! etcd_ca_file = "/etc/linkshim/etcd-ca.pem"       # TLS (the etcd-tls feature)
//! etcd_cert_file = "/etc/linkshim/etcd-client.pem"
//! etcd_key_file = "/etc/linkshim/etcd-client-key.pem"
//! host_id = "web-1"             # default: /etc/machine-id
//! boot_id_file = "/proc/sys/kernel/random/boot_id"  # what says this boot
//! advertise_address = "192.0.2.10"  # where other hosts reach this one's published ports
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
    /// Where the registry lives: `sqlite` (default) or `etcd`.
    pub registry: Option<RegistryKind>,
    pub etcd_endpoints: Option<Vec<String>>,
    pub etcd_prefix: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    pub etcd_timeout: Option<Duration>,
    pub etcd_ca_file: Option<PathBuf>,
    pub etcd_cert_file: Option<PathBuf>,
    pub etcd_key_file: Option<PathBuf>,
    /// This host's id in a shared registry; default /etc/machine-id.
    pub host_id: Option<String>,
    /// The file whose content says this boot; default the kernel's boot id.
    pub boot_id_file: Option<PathBuf>,
    /// The address other hosts reach this one at, for their links to its
    /// containers' published ports (a shared registry only).
    pub advertise_address: Option<std::net::IpAddr>,
}

/// The registry backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistryKind {
    Sqlite,
    Etcd,
}

/// Where the host id comes from unless `host_id` is configured.
pub const MACHINE_ID: &str = "/etc/machine-id";
/// Where the boot id comes from unless `boot_id_file` is configured.
pub const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

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

impl File {
    /// The registry backend the file configures, checked: every etcd
    /// setting is valid, the host id and boot id can be read.
    pub fn backend(&self) -> anyhow::Result<crate::registry::Backend> {
        use crate::registry::{Backend, etcd};
        use anyhow::{Context as _, bail};
        let etcd_set = self.etcd_endpoints.is_some()
            || self.etcd_prefix.is_some()
            || self.etcd_timeout.is_some()
            || self.advertise_address.is_some();
        if self.registry != Some(RegistryKind::Etcd) {
            if etcd_set {
                bail!(
                    "etcd_* settings or advertise_address are given but registry is not \"etcd\" (add registry = \"etcd\")"
                );
            }
            return Ok(Backend::Sqlite);
        }
        let endpoints = self.etcd_endpoints.clone().unwrap_or_default();
        if endpoints.is_empty() {
            bail!("registry = \"etcd\" needs etcd_endpoints (e.g. [\"http://127.0.0.1:2379\"])");
        }
        for ep in &endpoints {
            let ok = url::Url::parse(ep).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.username().is_empty()
            });
            if !ok {
                bail!(
                    "etcd_endpoints: {ep:?} is no http:// or https:// endpoint (write it as \"http://HOST:PORT\")"
                );
            }
        }
        let prefix = self
            .etcd_prefix
            .clone()
            .unwrap_or_else(|| etcd::DEFAULT_PREFIX.to_string());
        if !etcd::is_prefix(&prefix) {
            bail!(
                "etcd_prefix {prefix:?}: write it as /WORD[/WORD...] of letters, digits, '_', '.', '-'"
            );
        }
        let host_id = match &self.host_id {
            Some(h) => h.clone(),
            None => std::fs::read_to_string(MACHINE_ID)
                .map(|s| s.trim().to_string())
                .with_context(|| format!("{MACHINE_ID} (or set host_id)"))?,
        };
        if !etcd::is_host_id(&host_id) {
            bail!("host id {host_id:?}: 1 to 64 letters, digits, '_', '.', '-' (set host_id)");
        }
        let boot_file = self.boot_id_file.as_deref().unwrap_or(Path::new(BOOT_ID));
        let boot_id = crate::proc_file::read_to_string(boot_file)
            .map(|s| s.trim().to_string())
            .with_context(|| format!("boot id file {}", boot_file.display()))?;
        if boot_id.is_empty() || boot_id.len() > 128 {
            bail!("boot id file {}: empty or too long", boot_file.display());
        }
        Ok(Backend::Etcd(etcd::Settings {
            endpoints,
            prefix,
            timeout: self.etcd_timeout.unwrap_or(etcd::DEFAULT_TIMEOUT),
            ca_file: self.etcd_ca_file.clone(),
            cert_file: self.etcd_cert_file.clone(),
            key_file: self.etcd_key_file.clone(),
            host_id,
            boot_id,
            advertise: self.advertise_address,
        }))
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

/// The config file named by `LINKSHIM_CONFIG`, for the hooks linkshim
/// adds (they must read the registry settings this process read): an
/// existing file at an absolute path of UTF-8 without control characters,
/// else none (the hooks then read the default file, as does a process
/// whose `LINKSHIM_CONFIG` names no file).
pub fn config_for_hooks() -> Option<String> {
    let path = std::env::var(CONFIG_ENV).ok()?;
    let usable = Path::new(&path).is_absolute()
        && !path.chars().any(char::is_control)
        && Path::new(&path).is_file();
    usable.then_some(path)
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
