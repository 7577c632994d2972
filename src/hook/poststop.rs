//! The `poststop` stage: the container leaves the registry (its record,
//! its reservation, its hold) and its hosts file is removed: only the
//! record it registered itself (its id under its token) and only a hosts
//! file the registry then holds nowhere (`Store::token_held`). Works
//! with no pid; stopping twice is harmless. It also sweeps hosts files
//! whose container never started (a failed create runs no poststop of its
//! own), by the same rule.
//!
//! It never holds a stop up: when the registry's lock is not free within
//! `stop_lock_timeout`, it logs that and succeeds, and leaves the hosts
//! file (the registry could not say whose it is) to a later sweep or
//! `linkshim gc`.

use std::path::Path;

use anyhow::Context as _;
use log::{debug, info, warn};

use crate::hosts_file;
use crate::oci::state::State;
use crate::registry::{self, Store};
use crate::state_dir;

/// Run the poststop stage on the state read from stdin.
pub fn run(state_dir: &Path, persist_dir: &Path, token: Option<&str>) -> anyhow::Result<()> {
    let state =
        State::parse(&super::read_stdin()?).context("reading the container state from stdin")?;
    stopped(state_dir, persist_dir, token, &state)
}

/// Unregister the stopped container `state` describes, under `token`, and
/// refresh its linkers. The calling thread ends with no capability left.
pub fn stopped(
    state_dir: &Path,
    persist_dir: &Path,
    token: Option<&str>,
    state: &State,
) -> anyhow::Result<()> {
    // The registry and hosts files are root's own: no capability is needed.
    crate::privilege::drop_all()?;
    let mut errors = Vec::new();
    let mut registry = None;
    // A token of the wrong form names no hosts file and no slot.
    let token = token.filter(|t| state_dir::is_token(t));
    // An id runc would refuse was never registered (poststart refuses it);
    // its hosts file and slot still go.
    let id = match crate::model::ContainerId::parse(&state.id) {
        Ok(id) => Some(id),
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    };
    let mut held_by_other = false;
    // The registry could not be asked in time whose the token is.
    let mut unanswered = false;
    if registry::exists(state_dir) {
        let opened = registry::open(state_dir).and_then(|mut r| {
            let gone = match &id {
                Some(id) => r.unregister(id.as_str(), token)?,
                None => {
                    r.unregister("", token)?;
                    None
                }
            };
            held_by_other = match token {
                Some(t) => r.token_held(t)?,
                None => false,
            };
            Ok((r, gone))
        });
        match opened {
            Ok((mut r, gone)) => {
                // Its linkers' hosts files lose it.
                match &gone {
                    Some(g) => debug!(
                        "container {:?} (id {}): unregistered",
                        g.name.as_str(),
                        g.id
                    ),
                    None => debug!(
                        "container {}: was not registered (under token {token:?})",
                        crate::model::escape_id(&state.id)
                    ),
                }
                if let Some(gone) = gone {
                    errors.extend(crate::refresh::linkers_of(
                        state_dir,
                        Some(persist_dir),
                        &mut *r,
                        &gone,
                    ));
                }
                registry = Some(r);
            }
            // A stop must not wait on a stuck lock holder: the record of a
            // stopped container is stale, and is cleared later; so is its
            // hosts file, once the registry can prove it no one's.
            Err(registry::Error::Storage(e)) if e.is_timeout() => {
                unanswered = true;
                warn!(
                    "container {}: not unregistered: {e}; its record is stale now that it has stopped, and is cleared (with its hosts file) by a later start or `linkshim gc`",
                    crate::model::escape_id(&state.id)
                )
            }
            Err(e) => errors.push(format!(
                "container {}: {e}",
                crate::model::escape_id(&state.id)
            )),
        }
    }
    if held_by_other {
        info!(
            "container {}: its hosts token is another container's, its hosts file is left alone",
            crate::model::escape_id(&state.id)
        );
    }
    if let Some(hosts) = token
        .filter(|_| !held_by_other && !unanswered)
        .and_then(|t| state_dir::hosts_file(state_dir, t))
    {
        for file in [hosts_file::lock_path(&hosts), hosts] {
            match std::fs::remove_file(&file) {
                Ok(()) => debug!(
                    "container {}: {} removed",
                    crate::model::escape_id(&state.id),
                    file.display()
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => errors.push(format!(
                    "container {}: {}: {e}",
                    crate::model::escape_id(&state.id),
                    file.display()
                )),
            }
        }
    }
    if let Some(reg) = &registry {
        sweep_orphans(state_dir, &**reg);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(errors.join("; "))
    }
}

/// Remove the hosts files (and their lock files) that the registry proves
/// unused, by the rule `gc` sweeps with too (`Store::sweep_hosts_files`).
/// Best effort: what cannot be read or removed is left for the next sweep.
fn sweep_orphans(dir: &Path, reg: &dyn Store) {
    let (removed, errors) = reg.sweep_hosts_files(dir);
    for path in removed {
        info!(
            "orphan {} removed (the registry holds its token nowhere)",
            path.display()
        );
    }
    for e in errors {
        debug!("orphan sweep: {e}; left for the next sweep");
    }
}
