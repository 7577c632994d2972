//! Docker: a runtime `linkshim` in daemon.json (`docker run --runtime
//! linkshim`, or `"default-runtime": "linkshim"` by hand).
//!
//! daemon.json is JSON: every other key stays, in its order; the file is
//! written back pretty-printed.

use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::{Error, Plan, Target, read};

/// Docker's daemon configuration.
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// The runtime's name.
pub const RUNTIME_NAME: &str = "linkshim";

/// What to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// daemon.json (engine path).
    pub config: PathBuf,
    pub uninstall: bool,
}

/// The plan for Docker.
pub fn plan(target: &Target, opts: &Options) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    let path = &opts.config;
    let before = read(target, path)?;
    let mut doc: Map<String, Value> = match before.as_deref().map(str::trim) {
        None | Some("") => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(Error::Config {
                    path: path.clone(),
                    why: "not a JSON object".into(),
                });
            }
            Err(e) => {
                return Err(Error::Config {
                    path: path.clone(),
                    why: format!("not valid JSON: {e}"),
                });
            }
        },
    };
    let want = json!({ "path": target.runtime });
    let runtimes = doc
        .entry("runtimes")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(runtimes) = runtimes.as_object_mut() else {
        return Err(Error::Config {
            path: path.clone(),
            why: "\"runtimes\" is not an object".into(),
        });
    };
    let changed = if opts.uninstall {
        runtimes.remove(RUNTIME_NAME).is_some()
    } else if runtimes.get(RUNTIME_NAME) != Some(&want) {
        runtimes.insert(RUNTIME_NAME.to_string(), want);
        true
    } else {
        false
    };
    if runtimes.is_empty() {
        doc.remove("runtimes");
    }
    if changed {
        // Nothing left (what an install made, undone): no file.
        let after = (!(opts.uninstall && doc.is_empty())).then(|| {
            let mut text = serde_json::to_string_pretty(&Value::Object(doc)).expect("JSON");
            text.push('\n');
            text
        });
        plan.change(path, before, after);
    }
    if !opts.uninstall && !plan.changes.is_empty() {
        plan.notes.push(format!(
            "reload dockerd (`systemctl reload docker`), then `docker run --runtime {RUNTIME_NAME} --annotation io.linkshim.name=... IMAGE`"
        ));
    }
    Ok(plan)
}
