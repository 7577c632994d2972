//! `linkshim refresh [NAME...]`: read the running containers' addresses
//! again and render the hosts files that name them. podman runs no hook on
//! `network connect` or `disconnect`, so nothing else learns of the change;
//! run this after one (or from `podman events`).

use std::io::Write;
use std::path::Path;

use crate::registry;

/// Refresh every running container, or those named `names`; print one line
/// per container whose addresses changed. Fails when any step failed (the
/// rest is done all the same).
pub fn run(
    state_dir: &Path,
    persist_dir: &Path,
    names: &[String],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if !registry::exists(state_dir) {
        return Ok(());
    }
    let mut reg = registry::open(state_dir)?;
    let (changed, errors) =
        crate::refresh::addresses(state_dir, Some(persist_dir), &mut *reg, names);
    for rec in &changed {
        let addrs: Vec<String> = rec.addrs.iter().map(ToString::to_string).collect();
        writeln!(out, "{}\t{}", rec.name.as_str(), addrs.join(","))?;
    }
    if !errors.is_empty() {
        anyhow::bail!("refresh: {}", errors.join("; "));
    }
    Ok(())
}
