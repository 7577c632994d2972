//! `linkshim ls`: every registered container, as a table or JSON, by
//! scope and name.

use std::io::Write;
use std::path::Path;

use crate::registry::Record;

/// Print the registry to `out`. The table never shows env values; the JSON
/// shows them (and URL passwords) only with `show_env`.
pub fn run(
    state_dir: &Path,
    json: bool,
    show_env: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let records = match super::existing_store(state_dir)? {
        Some(mut reg) => reg.list()?,
        None => Vec::new(),
    };
    if json {
        let mut list = serde_json::to_value(&records)?;
        if !show_env {
            crate::mask::records(&mut list);
        }
        serde_json::to_writer_pretty(&mut *out, &list)?;
        writeln!(out)?;
        return Ok(());
    }
    let rows: Vec<[String; 6]> = records.iter().map(row).collect();
    let header = ["NAME", "SCOPE", "ID", "ADDRESSES", "PORTS", "LINKS"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

/// One table row. An id from an old registry row that runc would refuse
/// is shown escaped, so it cannot break the table.
fn row(r: &Record) -> [String; 6] {
    let join = |v: Vec<String>| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(",")
        }
    };
    let name = match (&r.service, r.index) {
        (Some(s), Some(i)) => format!("{} ({s}-{i})", r.name),
        _ => r.name.to_string(),
    };
    let id = if r.id.is_valid() {
        r.id.short().to_string()
    } else {
        crate::model::escape_id(r.id.as_str())
    };
    [
        name,
        r.scope.to_string(),
        id,
        join(r.addrs.iter().map(ToString::to_string).collect()),
        join(r.ports.iter().map(ToString::to_string).collect()),
        join(r.links.iter().map(ToString::to_string).collect()),
    ]
}
