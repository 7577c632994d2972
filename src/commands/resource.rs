//! `linkshim resource add|rm|ls`: things that are not containers, linked
//! like containers. Kept in the state directory's registry (gone at
//! reboot), or with `--persist` in the persistent directory's.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, bail};

use crate::cli::ResourceAction;
use crate::model::{Name, Template};
use crate::registry::{self, Registry, Resource, Store};

/// Run one resource action.
pub fn run(
    state_dir: &Path,
    persist_dir: &Path,
    action: ResourceAction,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match action {
        ResourceAction::Add {
            name,
            url,
            env,
            persist,
        } => {
            let name = Name::parse("resource name", &name)?;
            if crate::model::url::has_encoded_nul(&url) {
                bail!("resource {name}: --url: a percent-decoded part holds a NUL byte (%00)");
            }
            let template = Template::parse(&url)
                .map_err(|why| anyhow::anyhow!("resource {name}: --url {url:?}: {why}"))?;
            if !template.has_host() {
                bail!(
                    "resource {name}: --url {url:?} names no host (a resource's URL is complete)"
                );
            }
            let env = env
                .iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => match crate::model::vars::check_pair(k, v) {
                        Ok(()) => Ok((k.to_string(), v.to_string())),
                        Err(why) => bail!("resource {name}: --env {k:?}: {why}"),
                    },
                    None => bail!("resource {name}: --env {kv:?} is not KEY=VALUE"),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let dir = if persist { persist_dir } else { state_dir };
            crate::state_dir::ensure(dir)?;
            open(dir, persist)?
                .put_resource(&Resource {
                    name,
                    addrs: crate::links::resolve::resolve_host(&url),
                    url,
                    env,
                })
                .with_context(|| format!("registry in {}", dir.display()))?;
            Ok(())
        }
        ResourceAction::Rm { name } => {
            let mut removed = false;
            for (dir, persist) in [(state_dir, false), (persist_dir, true)] {
                let found = match persist {
                    true => super::existing_registry(dir)?.map(|r| Box::new(r) as Box<dyn Store>),
                    false => super::existing_store(dir)?,
                };
                if let Some(mut reg) = found {
                    removed |= reg.remove_resource(&name)?;
                }
            }
            if !removed {
                bail!("resource {name:?}: there is no such resource");
            }
            Ok(())
        }
        ResourceAction::Ls { json, show_env } => {
            let mut all = Vec::new();
            for (dir, kept) in [(state_dir, "runtime"), (persist_dir, "persistent")] {
                let found = match kept == "persistent" {
                    true => super::existing_registry(dir)?.map(|r| Box::new(r) as Box<dyn Store>),
                    false => super::existing_store(dir)?,
                };
                if let Some(reg) = found {
                    all.extend(reg.resources()?.into_iter().map(|r| (r, kept)));
                }
            }
            if json {
                let mut v: serde_json::Value = all
                    .iter()
                    .map(|(r, kept)| serde_json::json!({"name": r.name, "url": r.url, "env": r.env, "addrs": r.addrs, "kept": kept}))
                    .collect();
                if !show_env {
                    crate::mask::records(&mut v);
                }
                serde_json::to_writer_pretty(&mut *out, &v)?;
                writeln!(out)?;
            } else {
                writeln!(out, "NAME\tURL\tKEPT")?;
                for (r, kept) in all {
                    let url = match show_env {
                        true => r.url.clone(),
                        false => crate::logging::mask_passwords(&r.url),
                    };
                    writeln!(out, "{}\t{url}\t{kept}", r.name)?;
                }
            }
            Ok(())
        }
    }
}

/// The registry resources are kept in: the configured one for the state
/// directory, always the SQLite database of the persistent directory
/// (configuration of this host, not runtime state).
fn open(dir: &Path, persist: bool) -> Result<Box<dyn Store>, registry::Error> {
    match persist {
        true => Ok(Box::new(Registry::open(dir)?)),
        false => registry::open(dir),
    }
}
