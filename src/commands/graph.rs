//! `linkshim graph`: the link topology of the registry, as text, DOT,
//! Mermaid or SVG. The registry is only read.

use std::io::Write;
use std::path::Path;

use crate::graph::{self, Format, svg::Layout};

/// Print the graph of the registry to `out`.
pub fn run(
    state_dir: &Path,
    persist_dir: &Path,
    format: Format,
    layout: Layout,
    scope: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let g = graph::build(state_dir, Some(persist_dir), scope)?;
    out.write_all(graph::render(&g, format, layout)?.as_bytes())?;
    Ok(())
}
