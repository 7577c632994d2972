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
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const CONFIG_ENV: &str = "LINKSHIM_CONFIG";
pub const DEFAULT_CONFIG: &str = "/etc/linkshim/linkshim.toml";
pub const STATE_DIR_ENV: &str = "LINKSHIM_STATE_DIR";
pub const RUNTIME_ENV: &str = "LINKSHIM_RUNTIME";
pub const PERSIST_DIR_ENV: &str = "LINKSHIM_PERSIST_DIR";
/// Where `resource add --persist` keeps resources: configuration, not runtime state.
pub const DEFAULT_PERSIST_DIR: &str = "/var/lib/linkshim";

/// The config file's content.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub state_dir: Option<PathBuf>,
    pub persist_dir: Option<PathBuf>,
    pub runtime: Option<PathBuf>,
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

/// The state directory: flag, `LINKSHIM_STATE_DIR`, config file, default.
pub fn state_dir(flag: Option<&Path>, file: &File) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os(STATE_DIR_ENV).map(PathBuf::from))
        .or_else(|| file.state_dir.clone())
        .unwrap_or_else(|| PathBuf::from(crate::state_dir::DEFAULT))
}

/// The persistent directory: flag, `LINKSHIM_PERSIST_DIR`, config file, default.
pub fn persist_dir(flag: Option<&Path>, file: &File) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os(PERSIST_DIR_ENV).map(PathBuf::from))
        .or_else(|| file.persist_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PERSIST_DIR))
}
