//! `linkshim gc`: remove what no running container holds, and with
//! `--repair` replace a damaged registry (see `registry::gc`). One line per
//! thing done, so that a second run shows there is nothing left.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use crate::registry::{self, Backend, Carried, Repaired};

/// Collect (and with `repair`, repair first) the registry in `state_dir`,
/// printing what was done to `out`.
pub fn run(state_dir: &Path, repair: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut say = |line: String| writeln!(out, "{line}").context("writing the report");
    if repair && matches!(registry::backend(), Backend::Etcd(_)) {
        say("registry: on etcd, nothing to move aside (this host's keys that cannot be read are removed below)".into())?;
    } else if repair {
        match registry::repair(state_dir, registry::lock_budget())? {
            Repaired::Missing => {}
            Repaired::Sound => say("registry: sound, kept".into())?,
            Repaired::Replaced {
                aside,
                why,
                carried,
                lost,
            } => {
                say(format!("registry: damaged ({why})"))?;
                say(format!("registry: moved aside to {}", aside.display()))?;
                let Carried {
                    containers,
                    reservations,
                    holds,
                    resources,
                } = carried;
                say(format!(
                    "registry: new one holds {containers} running container(s), {reservations} reservation(s), {holds} hold(s) on hosts files, {resources} resource(s) carried over"
                ))?;
                for what in lost {
                    say(format!("registry: lost {what}"))?;
                }
            }
        }
    }
    if !registry::exists(state_dir) {
        say(format!(
            "registry: none in {}, nothing to collect",
            state_dir.display()
        ))?;
        return Ok(());
    }
    let mut reg = registry::open(state_dir)?;
    let collected = reg.collect(repair)?;
    for (id, name) in &collected.stale {
        say(format!(
            "removed stale record {name:?} (container {id}: its process is gone)"
        ))?;
    }
    if collected.reservations > 0 {
        say(format!(
            "removed {} expired reservation(s)",
            collected.reservations
        ))?;
    }
    if collected.holds > 0 {
        say(format!(
            "removed {} hold(s) of a previous boot",
            collected.holds
        ))?;
    }
    for why in &collected.unreadable {
        say(format!("removed unreadable row: {why}"))?;
    }
    let (removed, errors) = reg.sweep_hosts_files(state_dir);
    for file in &removed {
        let what = match file.extension().is_some_and(|e| e == "lock") {
            true => "lock file",
            false => "hosts file",
        };
        say(format!(
            "removed orphan {what} {} (no running container and no container being created holds it)",
            file.display()
        ))?;
    }
    if collected.stale.is_empty()
        && collected.reservations == 0
        && collected.holds == 0
        && collected.unreadable.is_empty()
        && removed.is_empty()
    {
        say("nothing to collect".into())?;
    }
    if !errors.is_empty() {
        anyhow::bail!("could not remove: {}", errors.join("; "));
    }
    Ok(())
}
