//! config.json as JSON: read the few fields linkshim needs, edit in place,
//! write atomically. Every field linkshim does not touch is kept, unknown
//! ones included, in their order.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Why a config could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid OCI config")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what}: the config is not a JSON object")]
    NotObject { what: String },
    #[error(
        "{path}: is a symlink; linkshim replaces only a regular config.json (point the bundle at the file itself)"
    )]
    Symlink { path: PathBuf },
}

/// A config.json held as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Config(pub Value);

impl Config {
    /// Parse a config from text; `what` names it in errors.
    pub fn parse(text: &str, what: &Path) -> Result<Config, Error> {
        let value: Value = serde_json::from_str(text).map_err(|source| Error::Json {
            path: what.to_path_buf(),
            source,
        })?;
        if !value.is_object() {
            return Err(Error::NotObject {
                what: what.display().to_string(),
            });
        }
        Ok(Config(value))
    }

    /// Read `path`.
    pub fn read(path: &Path) -> Result<Config, Error> {
        let text = fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Replace `path` atomically: a temporary file in the same folder with
    /// the old file's mode, written, synced, then renamed over it.
    pub fn write_atomic(&self, path: &Path) -> Result<(), Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_vec(&self.0).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let meta = fs::symlink_metadata(path).map_err(io)?;
        if meta.file_type().is_symlink() {
            return Err(Error::Symlink {
                path: path.to_path_buf(),
            });
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777 & !0o022;
        write_file_atomic(path, &text, mode, true).map_err(io)
    }

    fn obj(&self) -> &Map<String, Value> {
        self.0.as_object().expect("checked at parse")
    }

    fn obj_mut(&mut self) -> &mut Map<String, Value> {
        self.0.as_object_mut().expect("checked at parse")
    }

    /// The string annotations of the config.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.obj()
            .get("annotations")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Set (or with None, remove) one annotation.
    pub fn set_annotation(&mut self, key: &str, value: Option<String>) {
        let ann = object_at(self.obj_mut(), "annotations");
        match value {
            Some(v) => {
                ann.insert(key.to_string(), Value::String(v));
            }
            None => {
                ann.remove(key);
            }
        }
    }

    pub fn hostname(&self) -> Option<&str> {
        self.obj().get("hostname").and_then(Value::as_str)
    }

    /// `process.env` as `KEY=VALUE` strings.
    pub fn env(&self) -> Vec<String> {
        self.obj()
            .get("process")
            .and_then(|p| p.get("env"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replace `process.env`.
    pub fn set_env(&mut self, env: Vec<String>) {
        let process = object_at(self.obj_mut(), "process");
        process.insert(
            "env".into(),
            Value::Array(env.into_iter().map(Value::String).collect()),
        );
    }

    /// The path of the network namespace the container joins, when the config names one.
    pub fn netns_path(&self) -> Option<PathBuf> {
        self.obj()
            .get("linux")?
            .get("namespaces")?
            .as_array()?
            .iter()
            .find(|ns| ns.get("type").and_then(Value::as_str) == Some("network"))?
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    }

    /// The rootfs path as the config gives it (relative to the bundle or absolute).
    pub fn root_path(&self) -> Option<&str> {
        self.obj().get("root")?.get("path")?.as_str()
    }

    /// The mounts array, created when missing.
    pub fn mounts_mut(&mut self) -> &mut Vec<Value> {
        let obj = self.obj_mut();
        let entry = obj
            .entry("mounts")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !entry.is_array() {
            *entry = Value::Array(Vec::new());
        }
        entry.as_array_mut().expect("just made an array")
    }

    /// The source of the mount on `destination`, when there is one.
    pub fn mount_source(&self, destination: &str) -> Option<&str> {
        self.obj()
            .get("mounts")?
            .as_array()?
            .iter()
            .rev()
            .find(|m| m.get("destination").and_then(Value::as_str) == Some(destination))?
            .get("source")
            .and_then(Value::as_str)
    }

    /// The hooks of one stage, created when missing.
    pub fn hooks_mut(&mut self, stage: &str) -> &mut Vec<Value> {
        let hooks = object_at(self.obj_mut(), "hooks");
        let entry = hooks
            .entry(stage.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !entry.is_array() {
            *entry = Value::Array(Vec::new());
        }
        entry.as_array_mut().expect("just made an array")
    }
}

/// The object at `key` of `obj`, created (or replaced when not an object).
fn object_at<'a>(obj: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = obj
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut().expect("just made an object")
}

/// Replace `path` atomically with `bytes`: temporary file in the same
/// folder, mode `mode`, fsync when `durable`, rename. A reader sees the old
/// file or the new one, never a part. Runtime state on a tmpfs needs no fsync.
pub fn write_file_atomic(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    durable: bool,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".linkshim-")
        .tempfile_in(dir)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
