//! The `poststop` stage: the container leaves the registry and its hosts
//! file is removed. Works with no pid; stopping twice is harmless.

use std::path::Path;

use anyhow::Context as _;

use crate::oci::state::State;
use crate::registry::Registry;

/// Run the poststop stage on the state read from stdin.
pub fn run(state_dir: &Path, token: Option<&str>) -> anyhow::Result<()> {
    let state =
        State::parse(&super::read_stdin()?).context("reading the container state from stdin")?;
    let mut errors = Vec::new();
    if Registry::db_path(state_dir).exists() {
        match Registry::open(state_dir).and_then(|mut r| r.unregister(&state.id)) {
            Ok(_) => {}
            Err(e) => errors.push(format!("container {}: {e}", state.id)),
        }
    }
    if let Some(file) = token.and_then(|t| crate::state_dir::hosts_file(state_dir, t)) {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errors.push(format!("container {}: {}: {e}", state.id, file.display())),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(errors.join("; "))
    }
}
