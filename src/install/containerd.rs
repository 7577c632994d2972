//! containerd: CRI's runc runtime runs `linkshim-runtime` (its `BinaryName`).
//!
//! `ctr run` does not read this (it takes `--runc-binary`); CRI clients
//! (kubelet, crictl) and nerdctl's default runtime do.
//!
//! When config.toml imports a directory of drop-ins (`imports =
//! ["/etc/containerd/conf.d/*.toml"]`), the setting goes to
//! `linkshim.toml` there and config.toml stays as it is. containerd 1.x
//! (config version 2) replaces a whole plugin's section with an imported
//! one, so that drop-in carries a copy of config.toml's CRI section with
//! `BinaryName` set; containerd 2.x (version 3) merges, so it carries the
//! one key. Otherwise config.toml itself is edited (toml_edit: every other
//! line and comment stays). Uninstalling removes the drop-in, or sets
//! `BinaryName` back to `""` (containerd's default: `runc` on PATH).

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, value};

use super::{Error, Plan, Target, owned_header, parse_toml, read, set_value, table_at};

/// containerd's config file.
pub const CONFIG: &str = "/etc/containerd/config.toml";

/// The drop-in's name in an imported directory.
pub const DROP_IN: &str = "linkshim.toml";

/// runc's runtime type in CRI.
const RUNC_V2: &str = "io.containerd.runc.v2";

/// What to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// config.toml (engine path).
    pub config: PathBuf,
    pub uninstall: bool,
}

/// The CRI plugin whose runtimes hold runc, by config version.
fn cri_plugin(path: &Path, version: i64) -> Result<&'static str, Error> {
    match version {
        2 => Ok("io.containerd.grpc.v1.cri"),
        3 => Ok("io.containerd.cri.v1.runtime"),
        v => Err(Error::Config {
            path: path.to_path_buf(),
            why: format!(
                "config version {v}: linkshim knows versions 2 (containerd 1.x) and 3 (containerd 2.x); migrate it with `containerd config migrate`"
            ),
        }),
    }
}

/// The keys from the CRI plugin's table down to runc's options.
const RUNC_OPTIONS: &[&str] = &["containerd", "runtimes", "runc", "options"];

/// The config's version (a file with none is version 1, as containerd reads it).
fn version(doc: &DocumentMut) -> i64 {
    doc.get("version").and_then(Item::as_integer).unwrap_or(1)
}

/// The directory of drop-ins config.toml imports (`DIR/*.toml`), if any.
pub fn drop_in_dir(doc: &DocumentMut) -> Option<PathBuf> {
    doc.get("imports")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str())
        .find_map(|p| {
            p.strip_suffix("/*.toml")
                .filter(|d| d.starts_with('/'))
                .map(PathBuf::from)
        })
}

/// `BinaryName` of CRI's runc in `doc`, if set.
pub fn binary_name(doc: &DocumentMut) -> Option<String> {
    let plugin = cri_plugin(Path::new(""), version(doc)).ok()?;
    let mut item = doc.get("plugins")?.get(plugin)?;
    for key in RUNC_OPTIONS {
        item = item.get(key)?;
    }
    item.get("BinaryName")?.as_str().map(str::to_string)
}

/// Sets CRI's runc `BinaryName` to `binary` in `doc`; a runc runtime made
/// here gets runc's runtime type (containerd 1.x would otherwise replace
/// the default entry with a typeless one).
fn set_binary_name(doc: &mut DocumentMut, plugin: &str, binary: &str) {
    let runtimes = table_at(
        doc.as_table_mut(),
        &["plugins", plugin, "containerd", "runtimes"],
    );
    if !runtimes.contains_key("runc") {
        let mut runc = Table::new();
        runc.insert("runtime_type", value(RUNC_V2));
        runtimes.insert("runc", Item::Table(runc));
    }
    let options = table_at(runtimes, &["runc", "options"]);
    if options.get("BinaryName").and_then(Item::as_str) != Some(binary) {
        set_value(options, "BinaryName", binary);
    }
}

/// True when `name` is linkshim's wrapper (any install of it).
fn is_wrapper(name: &str) -> bool {
    Path::new(name)
        .file_name()
        .is_some_and(|n| n == "linkshim-runtime")
}

/// The plan for containerd.
pub fn plan(target: &Target, opts: &Options) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    let path = &opts.config;
    let before = read(target, path)?;
    let mut doc = match &before {
        Some(text) => parse_toml(path, text)?,
        None => {
            // containerd runs on its defaults without a file: a new one is version 2.
            let mut d = DocumentMut::new();
            d.insert("version", value(2));
            d
        }
    };
    let v = version(&doc);
    let plugin = cri_plugin(path, v)?;
    let runtime = target.runtime.display().to_string();

    if let Some(dir) = drop_in_dir(&doc) {
        let drop_in = dir.join(DROP_IN);
        let old = read(target, &drop_in)?;
        let new = if opts.uninstall {
            None
        } else {
            let mut d = DocumentMut::new();
            d.insert("version", value(v));
            if v == 2 {
                // A copy of config.toml's CRI section, replaced whole by 1.x.
                if let Some(cri) = doc.get("plugins").and_then(|p| p.get(plugin)) {
                    table_at(d.as_table_mut(), &["plugins"]).insert(plugin, cri.clone());
                }
            }
            set_binary_name(&mut d, plugin, &runtime);
            let mut text = owned_header("containerd");
            text.push_str(&format!(
                "# CRI's runc runs {runtime}.{}\n",
                if v == 2 {
                    " containerd 1.x replaces a plugin's whole section with an imported one,\n# so this is config.toml's CRI section with BinaryName set: edit both together."
                } else {
                    ""
                }
            ));
            text.push_str(&d.to_string());
            Some(text)
        };
        // A rerun with the same config.toml writes the same text: no change.
        plan.change(&drop_in, old, new);
        if binary_name(&doc).is_some_and(|b| is_wrapper(&b)) && opts.uninstall {
            set_binary_name(&mut doc, plugin, "");
            plan.change(path, before.clone(), Some(doc.to_string()));
        }
    } else {
        let current = binary_name(&doc);
        if opts.uninstall {
            if current.as_deref().is_some_and(is_wrapper) {
                set_binary_name(&mut doc, plugin, "");
            }
        } else {
            set_binary_name(&mut doc, plugin, &runtime);
        }
        let after = doc.to_string();
        if before.is_some() || !opts.uninstall {
            plan.change(path, before, Some(after));
        }
    }
    if !opts.uninstall && !plan.changes.is_empty() {
        plan.notes.push(
            "restart containerd to apply it (`systemctl restart containerd`); `ctr run` takes the wrapper with --runc-binary instead".to_string(),
        );
    }
    Ok(plan)
}
