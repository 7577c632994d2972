//! CRI-O: a runtime handler `linkshim` in a drop-in under `crio.conf.d`,
//! chosen per pod by a RuntimeClass whose `handler` is `linkshim`.
//!
//! The drop-in is linkshim's own file (`99-linkshim.conf`, read after the
//! others); crio.conf and the other drop-ins stay as they are.

use std::path::PathBuf;

use toml_edit::{DocumentMut, value};

use super::{Error, Plan, Target, owned_header, read, table_at};

/// CRI-O's drop-in directory.
pub const DROP_IN_DIR: &str = "/etc/crio/crio.conf.d";

/// linkshim's drop-in there.
pub const DROP_IN: &str = "99-linkshim.conf";

/// The runtime handler's name.
pub const HANDLER: &str = "linkshim";

/// What to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The drop-in directory (engine path).
    pub dir: PathBuf,
    pub uninstall: bool,
}

/// The drop-in's text.
pub fn drop_in(target: &Target) -> String {
    let mut doc = DocumentMut::new();
    let rt = table_at(
        doc.as_table_mut(),
        &["crio", "runtime", "runtimes", HANDLER],
    );
    rt.insert("runtime_path", value(target.runtime.display().to_string()));
    rt.insert("runtime_type", value("oci"));
    // The wrapper passes --root on to runc, whose state stays where it is.
    rt.insert("runtime_root", value("/run/runc"));
    let mut text = owned_header("crio");
    text.push_str("# Pods choose it with a RuntimeClass whose handler is \"linkshim\".\n");
    text.push_str(&doc.to_string());
    text
}

/// The plan for CRI-O.
pub fn plan(target: &Target, opts: &Options) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    let path = opts.dir.join(DROP_IN);
    let before = read(target, &path)?;
    let after = (!opts.uninstall).then(|| drop_in(target));
    plan.change(&path, before, after);
    if !opts.uninstall && !plan.changes.is_empty() {
        plan.notes.push(format!(
            "reload CRI-O (`systemctl reload crio`), then create a RuntimeClass with handler: {HANDLER}"
        ));
    }
    Ok(plan)
}
