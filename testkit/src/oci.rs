//! OCI bundles for runc and crun, and a guard for a container started with
//! an OCI runtime, bare or through linkshim's wrapper.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::linkshim::{NO_CONFIG, linkshim_bin};
use crate::process::{cmd, output_within, run_ok, run_quiet};

/// Writes `dir/config.json` from `runc spec --rootless=false` (run in a temp
/// dir) with: process.args = `args`, process.terminal = false, root.path =
/// absolute `rootfs`, root.readonly = false, `annotations`, hostname = the
/// bundle dir's name, and, when `netns` is given, the path of the network
/// namespace entry. Returns `dir`.
pub fn runc_bundle(
    dir: &Path,
    rootfs: &Path,
    args: &[&str],
    annotations: &[(&str, &str)],
    netns: Option<&Path>,
) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let spec_dir = tempfile::tempdir().unwrap();
    run_ok(
        cmd("runc", &["spec", "--rootless=false"]).current_dir(spec_dir.path()),
        Duration::from_secs(10),
    );
    let mut cfg: Value =
        serde_json::from_str(&fs::read_to_string(spec_dir.path().join("config.json")).unwrap())
            .unwrap();
    cfg["process"]["args"] = json!(args);
    cfg["process"]["terminal"] = json!(false);
    cfg["root"]["path"] = json!(rootfs.canonicalize().expect("rootfs exists"));
    cfg["root"]["readonly"] = json!(false);
    cfg["hostname"] = json!(dir.file_name().unwrap().to_string_lossy());
    let ann: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    cfg["annotations"] = Value::Object(ann);
    if let Some(ns) = netns {
        let list = cfg["linux"]["namespaces"]
            .as_array_mut()
            .expect("linux.namespaces");
        match list.iter_mut().find(|n| n["type"] == "network") {
            Some(n) => n["path"] = json!(ns),
            None => list.push(json!({"type": "network", "path": ns})),
        }
    }
    write_config(dir, &cfg);
    dir.to_path_buf()
}

/// Reads `bundle/config.json`.
pub fn read_config(bundle: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(bundle.join("config.json")).unwrap()).unwrap()
}

/// Writes `bundle/config.json` (pretty).
pub fn write_config(bundle: &Path, cfg: &Value) {
    fs::write(
        bundle.join("config.json"),
        serde_json::to_string_pretty(cfg).unwrap(),
    )
    .unwrap();
}

/// Appends a bind mount `source` -> `destination` to the bundle's mounts
/// (the way linkshim injects a generated /etc/hosts).
pub fn bundle_add_bind(bundle: &Path, source: &Path, destination: &str, readonly: bool) {
    let mut cfg = read_config(bundle);
    let opts = if readonly {
        json!(["rbind", "ro"])
    } else {
        json!(["rbind", "rw"])
    };
    cfg["mounts"].as_array_mut().expect("mounts").push(json!({
        "destination": destination, "type": "bind", "source": source, "options": opts
    }));
    write_config(bundle, &cfg);
}

/// Guard for a container started with an OCI runtime (`runc`, `crun`, or
/// linkshim): Drop runs `<runtime> delete --force <id>` (best effort).
pub struct OciContainer {
    pub runtime: PathBuf,
    /// Arguments put before the runtime's own (e.g. linkshim's
    /// `--state-dir D runtime --runtime R --`); empty for a bare runtime.
    pub pre_args: Vec<std::ffi::OsString>,
    pub id: String,
}

impl OciContainer {
    /// Guard for container `id` of `runtime` (program name or path).
    pub fn new(runtime: impl Into<PathBuf>, id: &str) -> OciContainer {
        OciContainer {
            runtime: runtime.into(),
            pre_args: Vec::new(),
            id: id.to_string(),
        }
    }

    /// Guard for container `id` run through linkshim's wrapper:
    /// `linkshim --state-dir <state> runtime --runtime <real> -- ARGS`, with
    /// no config file and no LINKSHIM_* variables from the caller.
    pub fn wrapped(state: &Path, real: &Path, id: &str) -> OciContainer {
        OciContainer {
            runtime: linkshim_bin(),
            pre_args: vec![
                "--state-dir".into(),
                state.into(),
                "runtime".into(),
                "--runtime".into(),
                real.into(),
                "--".into(),
            ],
            id: id.to_string(),
        }
    }

    /// The runtime (or wrapper) command, before the runtime's own arguments.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.runtime);
        c.args(&self.pre_args);
        if !self.pre_args.is_empty() {
            c.env("LINKSHIM_CONFIG", NO_CONFIG)
                .env_remove("LINKSHIM_STATE_DIR")
                .env_remove("LINKSHIM_RUNTIME");
        }
        c
    }

    /// `<runtime> run -d --bundle <bundle> <id>` with stdio null (a detached
    /// container inherits the caller's stdio; piping it would block us).
    pub fn run_detached(&self, bundle: &Path) {
        let st = self
            .command()
            .args(["run", "-d", "--bundle"])
            .arg(bundle)
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn runtime");
        assert!(
            st.success(),
            "{} run -d {}: {st}",
            self.runtime.display(),
            self.id
        );
    }

    /// `<runtime> run --bundle <bundle> <id>` in the foreground, bounded.
    pub fn run_fg(&self, bundle: &Path, timeout: Duration) -> Option<Output> {
        output_within(
            self.command()
                .args(["run", "--bundle"])
                .arg(bundle)
                .arg(&self.id),
            timeout,
        )
    }
}

impl Drop for OciContainer {
    fn drop(&mut self) {
        run_quiet(
            self.command().args(["delete", "--force", &self.id]),
            Duration::from_secs(20),
        );
    }
}
