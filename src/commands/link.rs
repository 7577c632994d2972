//! `linkshim link CONTAINER TARGET[:ALIAS]` and `linkshim unlink CONTAINER
//! ALIAS`: change a running linker's links, as Docker's `rm --link` did.
//!
//! The linker's record takes the new list (checked as its annotation
//! would be) and its hosts file is rendered again at once. Its variables
//! cannot change: a running process keeps the environment it started with.
//! A container created without links has no linkshim hosts file, so
//! there is nothing to change in it.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};

use crate::links::{annotation, wait};
use crate::model::{LinkRequest, default_scope};
use crate::registry::{self, Record, Registry, Store};

/// Add `link` (`[scope/]target[:alias][+convox][?policy]`) to `container`.
pub fn link(
    state_dir: &Path,
    persist_dir: &Path,
    container: &str,
    link: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (mut reg, rec, token) = open(state_dir, container)?;
    let new = LinkRequest::parse(link)
        .map_err(|why| anyhow!("container {:?}: link {link:?}: {why}", rec.name.as_str()))?;
    let text: Vec<String> = rec
        .links
        .iter()
        .chain([&new])
        .map(ToString::to_string)
        .collect();
    let links = annotation::parse_links(&text.join(" "))
        .with_context(|| format!("container {:?}", rec.name.as_str()))?;
    let found = wait::resolve_at_start(
        &mut *reg,
        Some(state_dir),
        &rec.name,
        &rec.scope,
        std::slice::from_ref(&new),
        Some(persist_dir),
    )
    .with_context(|| format!("container {:?}", rec.name.as_str()))?;
    let stored = store(&mut *reg, &rec, &token, &links)?;
    crate::refresh::linker_file(state_dir, Some(persist_dir), &mut *reg, &stored, &token)
        .map_err(|e| anyhow!("{e}"))?;
    writeln!(
        out,
        "{:?}: linked to {} as {}{}; its /etc/hosts has changed; its variables cannot (a running process keeps the environment it started with)",
        rec.name.as_str(),
        new.target,
        new.alias,
        if found.is_empty() {
            " (not running: its hosts line comes when it starts)"
        } else {
            ""
        }
    )?;
    Ok(())
}

/// Remove the link of `container` whose alias is `alias`.
pub fn unlink(
    state_dir: &Path,
    persist_dir: &Path,
    container: &str,
    alias: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (mut reg, rec, token) = open(state_dir, container)?;
    let Some(gone) = rec.links.iter().find(|l| l.alias.as_str() == alias) else {
        let aliases: Vec<&str> = rec.links.iter().map(|l| l.alias.as_str()).collect();
        bail!(
            "container {:?} has no link with the alias {alias:?} (its aliases: {})",
            rec.name.as_str(),
            if aliases.is_empty() {
                "none".to_string()
            } else {
                aliases.join(", ")
            }
        );
    };
    let links: Vec<LinkRequest> = rec
        .links
        .iter()
        .filter(|l| l.alias.as_str() != alias)
        .cloned()
        .collect();
    let stored = store(&mut *reg, &rec, &token, &links)?;
    crate::refresh::linker_file(state_dir, Some(persist_dir), &mut *reg, &stored, &token)
        .map_err(|e| anyhow!("{e}"))?;
    writeln!(
        out,
        "{:?}: link {gone} removed; its /etc/hosts has changed; its variables cannot (a running process keeps the environment it started with)",
        rec.name.as_str()
    )?;
    Ok(())
}

/// The registry, the running container named `container` (`[scope/]name`,
/// or its id) and its hosts token; an error when it has no hosts file.
fn open(state_dir: &Path, container: &str) -> anyhow::Result<(Box<dyn Store>, Record, String)> {
    let present = match registry::backend() {
        registry::Backend::Sqlite => Registry::db_path(state_dir)
            .try_exists()
            .with_context(|| format!("registry in {}", state_dir.display()))?,
        _ => registry::exists(state_dir),
    };
    if !present {
        bail!(
            "no running container {container:?}: nothing is registered in {}",
            state_dir.display()
        );
    }
    let mut reg = registry::open(state_dir)?;
    let (scope, name) = match container.split_once('/') {
        Some((s, n)) => (s.to_string(), n),
        None => (default_scope().to_string(), container),
    };
    let rec = match reg.lookup(&scope, name)? {
        Some(r) => Some(r),
        None if !container.contains('/') => reg.get(container)?,
        None => None,
    }
    .ok_or_else(|| {
        anyhow!("no running container named {name:?} in scope {scope:?}, and none with that id (see linkshim ls)")
    })?;
    let (rec, token) = reg
        .get_with_token(rec.id.as_str())?
        .ok_or_else(|| anyhow!("container {:?} stopped meanwhile", rec.name.as_str()))?;
    let token = token
        .filter(|t| {
            crate::state_dir::hosts_file(state_dir, t)
                .is_some_and(|f| std::fs::symlink_metadata(f).is_ok())
        })
        .ok_or_else(|| {
            anyhow!(
                "container {:?} was created without links: it has no linkshim hosts file to change (give it io.linkshim.links at create, a ?optional link will do)",
                rec.name.as_str()
            )
        })?;
    Ok((reg, rec, token))
}

/// Store `links` as the links of `rec`, running under `token`.
fn store(
    reg: &mut dyn Store,
    rec: &Record,
    token: &str,
    links: &[LinkRequest],
) -> anyhow::Result<Record> {
    reg.set_links(rec.id.as_str(), token, links)?
        .ok_or_else(|| anyhow!("container {:?} stopped meanwhile", rec.name.as_str()))
}
