//! config.json as JSON: read the few fields linkshim needs, edit in place,
//! write atomically. Every field linkshim does not touch is kept, unknown
//! ones included, in their order.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use std::cell::OnceCell;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::model::limits::MAX_CONFIG;

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
    #[error(
        "{path}: is a symlink; linkshim replaces only a regular config.json (point the bundle at the file itself)"
    )]
    Symlink { path: PathBuf },
    #[error("{path}: is larger than the {MAX_CONFIG} bytes linkshim reads")]
    TooLarge { path: PathBuf },
    #[error("{path}: not a regular file; a bundle's config must be one")]
    NotRegular { path: PathBuf },
}

/// The text of `path`, at most [`MAX_CONFIG`] bytes (a larger file is an
/// error, never read whole).
pub fn read_bounded(path: &Path) -> Result<String, Error> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    fs::File::open(path)
        .map_err(io)?
        .take(MAX_CONFIG + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_CONFIG {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(text)
}

/// One top-level field: kept as the text it came in until linkshim reads
/// it, parsed at most once then. Most of a config (seccomp, capabilities,
/// devices) is never parsed into a tree, only copied through.
#[derive(Debug, Clone)]
enum Field {
    Raw {
        text: Box<RawValue>,
        tree: OnceCell<Value>,
    },
    /// An object kept as the text of each member: `linux`, whose
    /// `namespaces` linkshim reads, is gone through once, not a second
    /// time past its seccomp filter to find them.
    Members {
        members: IndexMap<String, Box<RawValue>>,
        tree: OnceCell<Value>,
    },
    Parsed(Value),
}

impl Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Raw { text, .. } => text.serialize(s),
            Field::Members { members, .. } => members.serialize(s),
            Field::Parsed(v) => v.serialize(s),
        }
    }
}

impl PartialEq for Field {
    fn eq(&self, other: &Field) -> bool {
        self.value() == other.value()
    }
}

impl Field {
    fn raw(text: Box<RawValue>) -> Field {
        Field::Raw {
            text,
            tree: OnceCell::new(),
        }
    }

    /// The tree of a field that is still text.
    fn parse(&self) -> Value {
        let text = |t: &RawValue| serde_json::from_str(t.get()).unwrap_or(Value::Null);
        match self {
            Field::Raw { text: t, .. } => text(t),
            Field::Members { members, .. } => {
                Value::Object(members.iter().map(|(k, v)| (k.clone(), text(v))).collect())
            }
            Field::Parsed(v) => v.clone(),
        }
    }

    /// The field as a tree (parsed on the first read when it is still text).
    fn value(&self) -> &Value {
        match self {
            Field::Raw { tree, .. } | Field::Members { tree, .. } => {
                tree.get_or_init(|| self.parse())
            }
            Field::Parsed(v) => v,
        }
    }

    /// The field as a tree to edit.
    fn value_mut(&mut self) -> &mut Value {
        if let Field::Raw { tree, .. } | Field::Members { tree, .. } = self {
            let tree = tree.take().unwrap_or_else(|| self.parse());
            *self = Field::Parsed(tree);
        }
        match self {
            Field::Parsed(v) => v,
            _ => unreachable!("just parsed"),
        }
    }
}

/// A config's top-level fields, read in one pass: each kept as its text,
/// `linux` as the text of each of its members (`null` as it is).
struct TopLevel(IndexMap<String, Field>);

impl<'de> serde::Deserialize<'de> for TopLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TopLevel, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = TopLevel;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TopLevel, A::Error> {
                let mut fields = IndexMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    let field = if key == "linux" {
                        match map.next_value::<Option<IndexMap<String, Box<RawValue>>>>()? {
                            Some(members) => Field::Members {
                                members,
                                tree: OnceCell::new(),
                            },
                            None => Field::Parsed(Value::Null),
                        }
                    } else {
                        Field::raw(map.next_value()?)
                    };
                    // A key given twice: the last value, in the first place.
                    fields.insert(key, field);
                }
                Ok(TopLevel(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// One entry of `linux.namespaces`: the fields linkshim reads.
#[derive(Debug, Clone, serde::Deserialize)]
struct Namespace {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    path: Option<String>,
}

/// A config.json held as JSON, its top-level fields in their order.
#[derive(Debug, Clone)]
pub struct Config {
    fields: IndexMap<String, Field>,
    /// `linux.namespaces`, read once (linkshim never edits `linux`).
    namespaces: OnceCell<Option<Vec<Namespace>>>,
}

impl PartialEq for Config {
    fn eq(&self, other: &Config) -> bool {
        self.fields == other.fields
    }
}

impl Config {
    /// Parse a config from text; `what` names it in errors.
    pub fn parse(text: &str, what: &Path) -> Result<Config, Error> {
        let TopLevel(fields) = serde_json::from_str(text).map_err(|source| Error::Json {
            path: what.to_path_buf(),
            source,
        })?;
        Ok(Config {
            namespaces: OnceCell::new(),
            fields,
        })
    }

    /// Read `path`.
    pub fn read(path: &Path) -> Result<Config, Error> {
        Config::parse(&read_bounded(path)?, path)
    }

    /// The text of a bundle's config at `path`, which must be a regular
    /// file and not a symlink, at most [`MAX_CONFIG`] bytes. Opened without blocking (a FIFO there must
    /// not hang the start) and checked on the open file itself.
    pub fn read_regular(path: &Path) -> Result<String, Error> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = fs::File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => Error::Symlink {
                    path: path.to_path_buf(),
                },
                _ => io(e),
            })?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(Error::NotRegular {
                path: path.to_path_buf(),
            });
        }
        // Room for the whole file and one byte more: two reads, where
        // growing from nothing took one a doubling.
        let mut text = String::with_capacity(meta.len().min(MAX_CONFIG) as usize + 1);
        file.take(MAX_CONFIG + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        if text.len() as u64 > MAX_CONFIG {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
            });
        }
        Ok(text)
    }

    /// The config as JSON text.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(&self.fields).expect("a JSON tree always serializes")
    }

    /// The whole config as a tree (for tests and tools; the hot path never needs it).
    pub fn to_value(&self) -> Value {
        serde_json::from_slice(&self.to_vec()).expect("linkshim writes valid JSON")
    }

    /// Replace `path` atomically: a temporary file in the same folder with
    /// the old file's mode (never group- or world-writable), written,
    /// synced, then renamed over it. A symlinked config.json is refused.
    pub fn write_atomic(&self, path: &Path) -> Result<(), Error> {
        use std::os::unix::fs::PermissionsExt;
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = fs::symlink_metadata(path).map_err(io)?;
        if meta.file_type().is_symlink() {
            return Err(Error::Symlink {
                path: path.to_path_buf(),
            });
        }
        let mode = meta.permissions().mode() & 0o7777 & !0o022;
        write_file_atomic(path, &self.to_vec(), mode, true).map_err(io)
    }

    /// A top-level field as a tree.
    fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key).map(Field::value)
    }

    /// A top-level field as a tree to edit, created (`{}`) when missing.
    fn get_mut(&mut self, key: &str) -> &mut Value {
        if key == "linux" {
            self.namespaces = OnceCell::new();
        }
        self.fields
            .entry(key.to_string())
            .or_insert_with(|| Field::Parsed(Value::Object(Map::new())))
            .value_mut()
    }

    /// The object at `key`, created (or replaced when not an object).
    fn object_mut(&mut self, key: &str) -> &mut Map<String, Value> {
        let v = self.get_mut(key);
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        v.as_object_mut().expect("just made an object")
    }

    /// The string annotations of the config.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let Some(ann) = self.get("annotations") else {
            return BTreeMap::new();
        };
        ann.as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Set (or with None, remove) one annotation.
    pub fn set_annotation(&mut self, key: &str, value: Option<String>) {
        let ann = self.object_mut("annotations");
        match value {
            Some(v) => {
                ann.insert(key.to_string(), Value::String(v));
            }
            None => {
                ann.remove(key);
            }
        }
    }

    pub fn hostname(&self) -> Option<String> {
        self.get("hostname")?.as_str().map(String::from)
    }

    /// `process.env` as `KEY=VALUE` strings.
    pub fn env(&self) -> Vec<String> {
        let Some(process) = self.get("process") else {
            return Vec::new();
        };
        process
            .get("env")
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
        let process = self.object_mut("process");
        process.insert(
            "env".into(),
            Value::Array(env.into_iter().map(Value::String).collect()),
        );
    }

    /// `linux.namespaces`, None when the config has none. Read from the
    /// field's text through a minimal typed view while it is still text:
    /// `linux` holds the seccomp profile, which is skipped, never built
    /// into a tree.
    fn namespaces(&self) -> Option<&[Namespace]> {
        self.namespaces
            .get_or_init(|| self.read_namespaces())
            .as_deref()
    }

    fn read_namespaces(&self) -> Option<Vec<Namespace>> {
        #[derive(serde::Deserialize)]
        struct Linux {
            namespaces: Option<Vec<Namespace>>,
        }
        match self.fields.get("linux")? {
            Field::Members { members, tree } if tree.get().is_none() => {
                serde_json::from_str(members.get("namespaces")?.get()).ok()
            }
            Field::Raw { text, tree } if tree.get().is_none() => {
                serde_json::from_str::<Linux>(text.get()).ok()?.namespaces
            }
            field => serde_json::from_value(field.value().get("namespaces")?.clone()).ok(),
        }
    }

    /// The path of the network namespace the container joins, when the config names one.
    pub fn netns_path(&self) -> Option<PathBuf> {
        self.namespaces()?
            .iter()
            .find(|ns| ns.kind == "network")?
            .path
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    }

    /// True when the container joins no network namespace of its own or
    /// another's: it runs in the host's (`--network host`).
    pub fn host_network(&self) -> bool {
        self.namespaces()
            .is_none_or(|namespaces| !namespaces.iter().any(|ns| ns.kind == "network"))
    }

    /// The rootfs path as the config gives it (relative to the bundle or absolute).
    pub fn root_path(&self) -> Option<String> {
        self.get("root")?.get("path")?.as_str().map(String::from)
    }

    /// The mounts array, created when missing.
    pub fn mounts_mut(&mut self) -> &mut Vec<Value> {
        let v = self
            .fields
            .entry("mounts".to_string())
            .or_insert_with(|| Field::Parsed(Value::Array(Vec::new())))
            .value_mut();
        if !v.is_array() {
            *v = Value::Array(Vec::new());
        }
        v.as_array_mut().expect("just made an array")
    }

    /// The source of the mount on `destination`, when there is one.
    pub fn mount_source(&self, destination: &str) -> Option<String> {
        self.get("mounts")?
            .as_array()?
            .iter()
            .rev()
            .find(|m| m.get("destination").and_then(Value::as_str) == Some(destination))?
            .get("source")
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// The hooks of one stage, created when missing.
    pub fn hooks_mut(&mut self, stage: &str) -> &mut Vec<Value> {
        let hooks = self.object_mut("hooks");
        let entry = hooks
            .entry(stage.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !entry.is_array() {
            *entry = Value::Array(Vec::new());
        }
        entry.as_array_mut().expect("just made an array")
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: &Value) -> Result<Config, Error> {
        Config::parse(&v.to_string(), Path::new("t"))
    }

    #[test]
    fn linux_is_read_once_and_copied_through_whole() {
        let net = |p: &str| json!({"type": "network", "path": p});
        let cases = [
            // What a runtime writes: the namespaces after a long filter,
            // and a key named so deeper down, which is not them.
            (
                json!({"ociVersion": "1.0.2", "linux": {
                    "seccomp": {"syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]},
                    "sysctl": {"namespaces": "not these"},
                    "namespaces": [{"type": "pid"}, net("/run/netns/a")],
                    "maskedPaths": ["/proc/kcore"]}}),
                Some("/run/netns/a"),
            ),
            (
                json!({"linux": {"namespaces": [{"type": "network"}]}}),
                None,
            ),
            (json!({"linux": {"namespaces": null}}), None),
            (json!({"linux": {"namespaces": "a string"}}), None),
            (json!({"linux": {}}), None),
            (json!({"linux": null}), None),
            (json!({"process": {}}), None),
        ];
        for (config, netns) in cases {
            let parsed = parse(&config).unwrap();
            assert_eq!(
                parsed.netns_path().as_deref(),
                netns.map(Path::new),
                "{config}"
            );
            let out: Value = serde_json::from_slice(&parsed.to_vec()).unwrap();
            assert_eq!(out, config, "copied through unchanged");
            assert_eq!(parsed.to_value(), config);
        }
        // Given twice, the last is the one (as a runtime reads it).
        let twice = r#"{"linux": {"namespaces": [{"type": "network", "path": "/first"}]},
                        "linux": {"namespaces": [{"type": "network", "path": "/last"}]}}"#;
        let parsed = Config::parse(twice, Path::new("t")).unwrap();
        assert_eq!(parsed.netns_path().as_deref(), Some(Path::new("/last")));
        // Not an object: no runtime takes it, neither does linkshim.
        for bad in [json!({"linux": 5}), json!({"linux": ["a"]}), json!([1])] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }
}
