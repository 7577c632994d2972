//! `exec` through the wrapper: a process started in a running linker (an
//! engine's `exec`, a healthcheck) gets the link variables the linker got
//! at create, as Docker's `exec` did.
//!
//! The engine builds an exec's process from its own copy of the
//! container's config, which never saw linkshim's edits, and hands it to
//! the runtime as `exec --process FILE ID`. The wrapper asks the real
//! runtime where the container's bundle is (`RUNTIME [--root R] state ID`,
//! the same answer for runc and crun), reads the variables linkshim added
//! there (the `io.linkshim.internal.added-env` keys, with the values the
//! config holds) and adds to FILE those the process does not set itself:
//! the exec's own `-e` wins, as the linker's own variables win at create.
//! FILE is replaced atomically and keeps every other field.
//!
//! A hooks.d precreate hook sees no exec, so this needs the wrapper.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, anyhow, bail};
use log::debug;
use serde_json::Value;

use crate::model::ContainerId;
use crate::model::vars;
use crate::modify;
use crate::oci::args::Invocation;
use crate::oci::config::{self, Config};

/// Add the linker's link variables to an exec's process file; the count
/// added (0 when this is no `exec --process`, or the container no linker).
pub fn merge_link_env(inv: &Invocation, real: &Path) -> anyhow::Result<usize> {
    let (Some("exec"), Some(process)) = (inv.subcommand.as_deref(), inv.process.as_deref()) else {
        return Ok(0);
    };
    let Some(id) = inv.id.as_deref() else {
        return Ok(0);
    };
    let id = ContainerId::parse(id)?;
    let bundle = bundle_of(real, inv.root.as_deref(), id.as_str())?;
    let path = bundle.join("config.json");
    let text = config::read_bounded(&path)?;
    if !text.contains(modify::ADDED_ENV) {
        debug!("exec in {id}: not a linker, process left alone");
        return Ok(0);
    }
    let config = Config::parse(&text, &path)?;
    let link_env = link_env(&config);
    let process_path = std::env::current_dir()
        .map(|cwd| cwd.join(process))
        .unwrap_or_else(|_| process.to_path_buf());
    let added = add_to_process(&process_path, &link_env)
        .with_context(|| format!("exec in container {id}"))?;
    debug!(
        "exec in {id}: {added} link variables added to {}",
        process_path.display()
    );
    Ok(added)
}

/// The `KEY=VALUE` entries of `config`'s env that linkshim added, the ones
/// a process may receive alone.
pub fn link_env(config: &Config) -> Vec<String> {
    let keys: HashSet<String> = modify::added_keys(config).into_iter().collect();
    config
        .env()
        .into_iter()
        .filter(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            keys.contains(k)
                && vars::check_pair(k, v).is_ok()
                && (k.starts_with("LINKSHIM_") || vars::denied(k).is_none())
        })
        .collect()
}

/// Add to the process file at `path` each of `link_env` whose key it does
/// not set; the count added. The file is replaced atomically (same mode).
pub fn add_to_process(path: &Path, link_env: &[String]) -> anyhow::Result<usize> {
    use std::os::unix::fs::PermissionsExt;
    let text = config::read_bounded(path)?;
    let mut process: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid OCI process", path.display()))?;
    let Some(obj) = process.as_object_mut() else {
        bail!("{}: not a valid OCI process (no object)", path.display());
    };
    let env = obj.entry("env").or_insert_with(|| Value::Array(Vec::new()));
    let Some(env) = env.as_array_mut() else {
        bail!("{}: its env is not a list", path.display());
    };
    let own: HashSet<String> = env
        .iter()
        .filter_map(Value::as_str)
        .map(|kv| modify::key_of(kv).to_string())
        .collect();
    let mut added = 0;
    for kv in link_env {
        if !own.contains(modify::key_of(kv)) {
            env.push(Value::String(kv.clone()));
            added += 1;
        }
    }
    if added > 0 {
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o600);
        let bytes = serde_json::to_vec(&process)?;
        config::write_file_atomic(path, &bytes, mode, false)
            .with_context(|| format!("{}: cannot be replaced", path.display()))?;
    }
    Ok(added)
}

/// The bundle of container `id`, from the real runtime's `state`.
fn bundle_of(real: &Path, root: Option<&Path>, id: &str) -> anyhow::Result<PathBuf> {
    let mut cmd = Command::new(real);
    if let Some(r) = root {
        cmd.arg("--root").arg(r);
    }
    let out = cmd
        .args(["state", id])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {} state {id}", real.display()))?;
    if !out.status.success() {
        bail!(
            "{} state {id}: {}: {}",
            real.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let state: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{} state {id}: not JSON", real.display()))?;
    state
        .get("bundle")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .filter(|b| b.is_absolute())
        .ok_or_else(|| anyhow!("{} state {id}: no absolute bundle", real.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_exec_keeps_its_own_and_gains_the_rest_of_the_links() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = json!({
            "process": { "env": [
                "PATH=/bin", "DB_PORT=tcp://10.0.0.2:80", "DB_NAME=/web/db",
                "LINKSHIM_NAME=web", "LD_PRELOAD=/evil.so", "OWN=1"
            ]},
            "annotations": { modify::ADDED_ENV:
                "[\"DB_PORT\",\"DB_NAME\",\"LINKSHIM_NAME\",\"LD_PRELOAD\",\"MISSING\"]" }
        });
        let config = Config::parse(&cfg.to_string(), Path::new("t")).unwrap();
        assert_eq!(
            link_env(&config),
            [
                "DB_PORT=tcp://10.0.0.2:80",
                "DB_NAME=/web/db",
                "LINKSHIM_NAME=web"
            ],
            "only added keys, never a denied one, never the container's own"
        );
        let p = dir.path().join("process.json");
        std::fs::write(
            &p,
            json!({"terminal": false, "env": ["PATH=/bin", "DB_PORT=mine"], "args": ["sh"], "x-unknown": 1})
                .to_string(),
        )
        .unwrap();
        let n = add_to_process(&p, &link_env(&config)).unwrap();
        assert_eq!(n, 2);
        let got: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(
            got,
            json!({"terminal": false, "env": ["PATH=/bin", "DB_PORT=mine", "DB_NAME=/web/db", "LINKSHIM_NAME=web"], "args": ["sh"], "x-unknown": 1})
        );
        assert_eq!(
            add_to_process(&p, &link_env(&config)).unwrap(),
            0,
            "again: nothing"
        );
        std::fs::write(&p, "[]").unwrap();
        assert!(add_to_process(&p, &link_env(&config)).is_err());
    }
}
