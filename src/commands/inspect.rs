//! `linkshim inspect NAME`: one registered container or resource in full,
//! env values masked unless `--show-env`. The registry is only read.

use std::io::Write;
use std::path::Path;

use crate::graph::inspect;

/// Print the details of `name` to `out`.
pub fn run(
    state_dir: &Path,
    persist_dir: &Path,
    name: &str,
    scope: Option<&str>,
    json: bool,
    show_env: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let Some(d) = inspect::details(state_dir, Some(persist_dir), name, scope, show_env)? else {
        anyhow::bail!(
            "{name:?}: no running container (by name or id) or resource is registered under it (linkshim ls lists them)"
        );
    };
    if json {
        serde_json::to_writer_pretty(&mut *out, &d)?;
        writeln!(out)?;
    } else {
        out.write_all(inspect::render_text(&d).as_bytes())?;
    }
    Ok(())
}
