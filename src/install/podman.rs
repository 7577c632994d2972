//! podman: the hooks.d file where podman looks, and optionally
//! `linkshim-runtime` as the named runtime `linkshim` in containers.conf.
//!
//! As root, the hooks file goes to the last `hooks_dir` the containers.conf
//! files name, else to `/etc/containers/oci/hooks.d` (the admin's; podman
//! also reads the package's `/usr/share/containers/oci/hooks.d`). A
//! rootless user's goes to `~/.config/containers/oci/hooks.d`, added to
//! `hooks_dir` in the user's containers.conf (after the dirs podman read
//! before), with a state dir under `$XDG_RUNTIME_DIR`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use toml_edit::{Array, DocumentMut, Item, value};

use super::{Error, Plan, Target, parse_toml, read, table_at};

/// podman's hooks dirs when no containers.conf names any.
pub const DEFAULT_HOOKS_DIRS: &[&str] = &[
    "/usr/share/containers/oci/hooks.d",
    "/etc/containers/oci/hooks.d",
];

/// The system's containers.conf files, in the order podman reads them.
pub const SYSTEM_CONFS: &[&str] = &[
    "/usr/share/containers/containers.conf",
    "/etc/containers/containers.conf",
];

/// The hooks file's name in every hooks dir.
pub const HOOK_FILE: &str = "linkshim.json";

/// The runtime name under `[engine.runtimes]`.
pub const RUNTIME_NAME: &str = "linkshim";

/// The package's hooks.d file, the template of every one written here.
const TEMPLATE: &str = include_str!("../../hooks/linkshim.json");

/// Whose podman is configured.
#[derive(Debug, Clone)]
pub enum Scope {
    /// The system's (root's) podman.
    System,
    /// A rootless user's podman: their home, config home and runtime dir.
    User {
        config_home: PathBuf,
        runtime_dir: PathBuf,
    },
}

impl Scope {
    /// The user of this process, from `XDG_CONFIG_HOME` (else `HOME/.config`)
    /// and `XDG_RUNTIME_DIR` (else `/run/user/UID`).
    pub fn current_user() -> Result<Scope, Error> {
        let config_home = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty()).ok_or_else(
                || Error::Setup("neither XDG_CONFIG_HOME nor HOME is set: where is the user's containers.conf?".into()),
            )?)
            .join(".config"),
        };
        let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(format!("/run/user/{}", nix::unistd::geteuid().as_raw()))
            });
        for d in [&config_home, &runtime_dir] {
            if !d.is_absolute() {
                return Err(Error::Setup(format!(
                    "{} is not an absolute path (XDG_CONFIG_HOME, HOME or XDG_RUNTIME_DIR)",
                    d.display()
                )));
            }
        }
        Ok(Scope::User {
            config_home,
            runtime_dir,
        })
    }

    /// The containers.conf this scope writes.
    pub fn conf(&self) -> PathBuf {
        match self {
            Scope::System => PathBuf::from("/etc/containers/containers.conf"),
            Scope::User { config_home, .. } => config_home.join("containers/containers.conf"),
        }
    }

    /// The containers.conf files podman reads in this scope, in order.
    pub fn confs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = SYSTEM_CONFS.iter().map(PathBuf::from).collect();
        if let Scope::User { .. } = self {
            v.push(self.conf());
        }
        v
    }
}

/// What to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub scope: Scope,
    /// Also add (or, with `uninstall`, remove) the named runtime.
    pub named_runtime: bool,
    pub uninstall: bool,
}

/// The hooks dirs podman reads in `scope`: the last `engine.hooks_dir` of
/// its containers.conf files, else the defaults.
pub fn hooks_dirs(target: &Target, scope: &Scope) -> Result<Vec<PathBuf>, Error> {
    let mut dirs: Vec<PathBuf> = DEFAULT_HOOKS_DIRS.iter().map(PathBuf::from).collect();
    for conf in scope.confs() {
        if let Some(text) = read(target, &conf)? {
            let doc = parse_toml(&conf, &text)?;
            if let Some(list) = configured_hooks_dirs(&doc) {
                dirs = list;
            }
        }
    }
    Ok(dirs)
}

/// `engine.hooks_dir` of one containers.conf, when it sets one.
fn configured_hooks_dirs(doc: &DocumentMut) -> Option<Vec<PathBuf>> {
    let arr = doc.get("engine")?.get("hooks_dir")?.as_array()?;
    Some(
        arr.iter()
            .filter_map(|v| v.as_str().map(PathBuf::from))
            .collect(),
    )
}

/// The hooks file for `target` in `scope`, as JSON text.
pub fn hook_file(target: &Target, scope: &Scope) -> String {
    let mut hook: Value = serde_json::from_str(TEMPLATE).expect("hooks/linkshim.json is JSON");
    hook["hook"]["path"] = json!(target.bin);
    if let Scope::User { runtime_dir, .. } = scope {
        let args = hook["hook"]["args"]
            .as_array_mut()
            .expect("hooks/linkshim.json has hook.args");
        // Before the subcommand: `linkshim --state-dir DIR hook precreate`.
        args.insert(1, json!("--state-dir"));
        args.insert(2, json!(runtime_dir.join("linkshim")));
    }
    let mut text = serde_json::to_string_pretty(&hook).expect("JSON");
    text.push('\n');
    text
}

/// The plan for podman.
pub fn plan(target: &Target, opts: &Options) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    let dirs = hooks_dirs(target, &opts.scope)?;
    let want = hook_file(target, &opts.scope);
    let own_dir = match &opts.scope {
        Scope::System => dirs
            .iter()
            .rev()
            .find(|d| !d.starts_with("/usr/share"))
            .or(dirs.last())
            .cloned()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HOOKS_DIRS[1])),
        Scope::User { config_home, .. } => config_home.join("containers/oci/hooks.d"),
    };
    let own_file = own_dir.join(HOOK_FILE);
    let own_before = read(target, &own_file)?;

    if opts.uninstall {
        if own_before.as_deref().is_some_and(is_linkshim_hook) {
            plan.change(&own_file, own_before.clone(), None);
        }
        for d in dirs.iter().filter(|d| **d != own_dir) {
            let f = d.join(HOOK_FILE);
            if read(target, &f)?.is_some_and(|t| is_linkshim_hook(&t)) {
                plan.notes.push(format!(
                    "{} stays: it belongs to the linkshim package (remove the package to remove it)",
                    f.display()
                ));
            }
        }
    } else {
        // Already there, the same, in a dir podman reads: nothing to do
        // (the package's file, for one).
        let mut present = false;
        for d in &dirs {
            if read(target, &d.join(HOOK_FILE))?.is_some_and(|t| same_json(&t, &want)) {
                present = true;
            }
        }
        if !present || own_before.as_deref().is_some_and(|t| !same_json(t, &want)) {
            plan.change(&own_file, own_before.clone(), Some(want));
        }
    }

    // containers.conf: the user's hooks_dir, the named runtime.
    let conf = opts.scope.conf();
    let conf_before = read(target, &conf)?;
    let mut doc = match &conf_before {
        Some(text) => parse_toml(&conf, text)?,
        None => DocumentMut::new(),
    };
    if let Scope::User { .. } = &opts.scope {
        let system_dirs = hooks_dirs(target, &Scope::System)?;
        edit_user_hooks_dir(&mut doc, &own_dir, &system_dirs, opts.uninstall);
    }
    if opts.uninstall {
        if let Some(runtimes) = doc
            .get_mut("engine")
            .and_then(|e| e.get_mut("runtimes"))
            .and_then(Item::as_table_like_mut)
        {
            runtimes.remove(RUNTIME_NAME);
        }
    } else if opts.named_runtime {
        let runtimes = table_at(doc.as_table_mut(), &["engine", "runtimes"]);
        let mut paths = Array::new();
        paths.push(target.runtime.display().to_string());
        let same = runtimes
            .get(RUNTIME_NAME)
            .and_then(Item::as_array)
            .is_some_and(|a| {
                a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>()
                    == [target.runtime.display().to_string()]
            });
        if !same {
            runtimes.insert(RUNTIME_NAME, value(paths));
        }
        plan.notes.push(format!(
            "run containers with `podman --runtime {RUNTIME_NAME} ...`"
        ));
    }
    let conf_after = doc.to_string();
    // Nothing left but empty tables (what an install made, undone): no file.
    let blank = conf_after
        .lines()
        .all(|l| l.trim().is_empty() || (l.starts_with('[') && l.trim_end().ends_with(']')));
    let conf_after = match &conf_before {
        None if blank => None,
        Some(_) if blank && opts.uninstall => None,
        _ => Some(conf_after),
    };
    plan.change(&conf, conf_before, conf_after);
    Ok(plan)
}

/// Adds (or removes) `own` to the user's `engine.hooks_dir`, starting from
/// the dirs the system would give podman (setting the key replaces them).
fn edit_user_hooks_dir(doc: &mut DocumentMut, own: &Path, system: &[PathBuf], uninstall: bool) {
    let own = own.display().to_string();
    let engine = table_at(doc.as_table_mut(), &["engine"]);
    let current: Option<Vec<String>> = engine.get("hooks_dir").and_then(Item::as_array).map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    });
    if uninstall {
        let Some(current) = current else { return };
        let rest: Vec<String> = current.into_iter().filter(|d| *d != own).collect();
        let system: Vec<String> = system.iter().map(|d| d.display().to_string()).collect();
        if rest == system {
            engine.remove("hooks_dir");
        } else {
            engine.insert("hooks_dir", value(rest.into_iter().collect::<Array>()));
        }
        return;
    }
    let mut dirs =
        current.unwrap_or_else(|| system.iter().map(|d| d.display().to_string()).collect());
    if !dirs.contains(&own) {
        dirs.push(own);
        engine.insert("hooks_dir", value(dirs.into_iter().collect::<Array>()));
    }
}

/// The hooks file runs linkshim's precreate.
fn is_linkshim_hook(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|v| {
        v["hook"]["args"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "precreate"))
            && v["hook"]["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("linkshim"))
    })
}

/// Two JSON texts with the same value.
fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
