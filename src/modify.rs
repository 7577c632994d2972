//! Ordered, idempotent edits of a container's config.
//!
//! Each edit first removes what an earlier run of linkshim added, so
//! preparing a config twice gives the same config as preparing it once.

use std::path::Path;

use serde_json::{Value, json};

use crate::oci::config::Config;

/// Annotation listing the env keys linkshim added (a JSON array of strings).
pub const ADDED_ENV: &str = "io.linkshim.internal.added-env";
/// Annotation holding the container's token: it names its hosts file under
/// the state dir and its reserved replica slot.
pub const TOKEN: &str = "io.linkshim.internal.token";

/// The PATH linkshim's own hooks run with.
pub const HOOK_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `args[0..2]` of every hook linkshim adds: how its own hooks are known.
const HOOK_MARK: [&str; 2] = ["linkshim", "hook"];

/// Remove what an earlier run added: its env keys and its hooks. Linear
/// in the number of variables.
pub fn undo(config: &mut Config) {
    let added: std::collections::HashSet<String> = added_keys(config).into_iter().collect();
    if !added.is_empty() {
        let env = config
            .env()
            .into_iter()
            .filter(|kv| !added.contains(key_of(kv)))
            .collect();
        config.set_env(env);
    }
    config.set_annotation(ADDED_ENV, None);
    for stage in ["poststart", "poststop"] {
        config.hooks_mut(stage).retain(|h| !is_own_hook(h));
    }
}

/// The env keys an earlier run added, from the `ADDED_ENV` annotation.
pub fn added_keys(config: &Config) -> Vec<String> {
    config
        .annotations()
        .get(ADDED_ENV)
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default()
}

/// Remove linkshim's own hook of `stage`: the runtime wrapper registers a
/// container itself once `create` returns, so it needs no `poststart`.
pub fn drop_own_hook(config: &mut Config, stage: &str) {
    config.hooks_mut(stage).retain(|h| !is_own_hook(h));
}

fn is_own_hook(hook: &Value) -> bool {
    let args = hook.get("args").and_then(Value::as_array);
    args.is_some_and(|a| {
        a.len() >= 2 && a[0].as_str() == Some(HOOK_MARK[0]) && a[1].as_str() == Some(HOOK_MARK[1])
    })
}

/// The key of a `KEY=VALUE` string.
pub fn key_of(kv: &str) -> &str {
    kv.split_once('=').map_or(kv, |(k, _)| k)
}

/// Append the generated variables whose key the config does not set
/// already (the user's own value wins, and so does the first generated
/// one), and record which keys were added.
pub fn add_env(config: &mut Config, generated: &[(String, String)]) {
    let mut env = config.env();
    let mut keys: std::collections::HashSet<String> =
        env.iter().map(|kv| key_of(kv).to_string()).collect();
    let mut added = Vec::new();
    for (k, v) in generated {
        if keys.insert(k.clone()) {
            env.push(format!("{k}={v}"));
            added.push(k.as_str());
        }
    }
    config.set_env(env);
    config.set_annotation(
        ADDED_ENV,
        (!added.is_empty()).then(|| json!(added).to_string()),
    );
}

/// Mount `source` over /etc/hosts, read-only: replace the source of an
/// existing /etc/hosts mount, or add one.
pub fn mount_hosts(config: &mut Config, source: &Path) {
    let source = source.to_string_lossy().into_owned();
    let mounts = config.mounts_mut();
    let existing = mounts
        .iter_mut()
        .rev()
        .find(|m| m.get("destination").and_then(Value::as_str) == Some("/etc/hosts"));
    match existing {
        Some(m) => {
            m["source"] = Value::String(source);
            let options = m
                .as_object_mut()
                .expect("a mount with a destination is an object")
                .entry("options")
                .or_insert_with(|| json!([]));
            if let Some(opts) = options.as_array_mut() {
                opts.retain(|o| o.as_str() != Some("rw"));
                if !opts.iter().any(|o| o.as_str() == Some("ro")) {
                    opts.push(json!("ro"));
                }
            }
        }
        None => mounts.push(json!({
            "destination": "/etc/hosts",
            "type": "bind",
            "source": source,
            "options": ["rbind", "rprivate", "ro"],
        })),
    }
}

/// Add linkshim's poststart and poststop hooks: absolute path, explicit env.
pub fn add_hooks(
    config: &mut Config,
    exe: &Path,
    state_dir: &Path,
    persist_dir: Option<&Path>,
    token: &str,
) {
    let exe = exe.to_string_lossy();
    let state = state_dir.to_string_lossy();
    let mut env = vec![HOOK_PATH.to_string()];
    env.extend(crate::logging::for_hooks().map(|l| format!("{}={l}", crate::logging::LEVEL_ENV)));
    // The config file this prepare read, when not the default: the hooks
    // must use the same registry.
    env.extend(
        crate::settings::config_for_hooks().map(|c| format!("{}={c}", crate::settings::CONFIG_ENV)),
    );
    let hook = |stage: &str| {
        let mut args = vec![
            HOOK_MARK[0].to_string(),
            HOOK_MARK[1].to_string(),
            stage.to_string(),
            "--state-dir".to_string(),
            state.to_string(),
        ];
        if let Some(p) = persist_dir {
            args.extend([
                "--persist-dir".to_string(),
                p.to_string_lossy().into_owned(),
            ]);
        }
        if stage == "poststop" {
            args.extend(["--token".to_string(), token.to_string()]);
        }
        // No "timeout": crun 1.8 then waits for the hook with sigtimedwait
        // and can miss its exit when the container's process exits at the
        // same moment (a 30 s hang); without one it uses waitpid.
        json!({ "path": exe, "args": args, "env": env })
    };
    for stage in ["poststart", "poststop"] {
        let h = hook(stage);
        config.hooks_mut(stage).push(h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(env: &[String]) -> Config {
        let text = json!({ "process": { "env": env }, "annotations": {} }).to_string();
        Config::parse(&text, Path::new("t")).unwrap()
    }

    #[test]
    fn undo_removes_exactly_what_was_added_however_many() {
        // 100 000 generated variables over 1000 of the user's: the old
        // quadratic scan took minutes here; this must simply return.
        let own: Vec<String> = (0..1000).map(|i| format!("OWN_{i}=v")).collect();
        let mut c = config(&own);
        let generated: Vec<(String, String)> = (0..100_000)
            .map(|i| (format!("DB_PORT_{i}_TCP"), "x".to_string()))
            .chain([("OWN_7".to_string(), "generated".to_string())])
            .collect();
        add_env(&mut c, &generated);
        assert_eq!(c.env().len(), 101_000, "OWN_7 is the user's: it wins");
        undo(&mut c);
        assert_eq!(c.env(), own);
        assert!(!c.annotations().contains_key(ADDED_ENV));
        undo(&mut c);
        assert_eq!(c.env(), own, "undo twice is undo once");
    }
}
