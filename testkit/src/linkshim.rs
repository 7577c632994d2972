//! linkshim as the tests run it: the binary under test, its state dir,
//! the hooks.d file of the package, and what `ls --json` lists.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use crate::process::run_ok;

static BIN: OnceLock<PathBuf> = OnceLock::new();

/// Names the linkshim binary the kit runs: `env!("CARGO_BIN_EXE_linkshim")`
/// of the calling test or benchmark (cargo sets it only for those). Call it
/// once, before anything else of the kit; later calls must name the same
/// binary.
pub fn set_linkshim_bin(path: impl Into<PathBuf>) {
    let path = path.into();
    let set = BIN.get_or_init(|| path.clone());
    assert_eq!(*set, path, "two linkshim binaries named to the test kit");
}

/// The linkshim binary named with [`set_linkshim_bin`].
pub fn linkshim_bin() -> PathBuf {
    BIN.get()
        .expect("testkit::set_linkshim_bin was not called")
        .clone()
}

/// The repository's top directory (where hooks/, tests/ and docs/ are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the test kit lives one level below the repository")
        .to_path_buf()
}

/// A config file path that never exists: keeps a machine-wide
/// /etc/linkshim/linkshim.toml out of the tests.
pub const NO_CONFIG: &str = "/nonexistent/linkshim-test.toml";

/// `linkshim --state-dir <state>`, with no config file and no LINKSHIM_*
/// variables from the caller. Append the subcommand.
pub fn linkshim(state: &Path) -> Command {
    let mut c = Command::new(linkshim_bin());
    c.arg("--state-dir")
        .arg(state)
        .env("LINKSHIM_CONFIG", NO_CONFIG)
        .env_remove("LINKSHIM_STATE_DIR")
        .env_remove("LINKSHIM_RUNTIME");
    c
}

/// `linkshim ls --json --show-env` on `state`, parsed: one object per record.
pub fn linkshim_ls(state: &Path) -> Vec<Value> {
    let out = run_ok(
        linkshim(state).args(["ls", "--json", "--show-env"]),
        Duration::from_secs(20),
    );
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("`linkshim ls --json` is not JSON ({e}): {out:?}"));
    v.as_array()
        .unwrap_or_else(|| panic!("`linkshim ls --json` is not an array: {out}"))
        .clone()
}

/// The `ls --json` record named `name`, if registered.
pub fn ls_record(state: &Path, name: &str) -> Option<Value> {
    linkshim_ls(state).into_iter().find(|r| r["name"] == name)
}

/// Installs hooks/linkshim.json (the project's own file) into `hooks_dir`,
/// rewriting only `hook.path` to the built binary and appending
/// `--state-dir <state>` to `hook.args`.
pub fn install_hooks_d(hooks_dir: &Path, state: &Path) {
    install_hooks_d_with(hooks_dir, state, &[]);
}

/// [`install_hooks_d`], with `extra` arguments appended after `--state-dir`.
pub fn install_hooks_d_with(hooks_dir: &Path, state: &Path, extra: &[&str]) {
    let src = repo_root().join("hooks/linkshim.json");
    let mut hook: Value = serde_json::from_str(&fs::read_to_string(&src).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    hook["hook"]["path"] = json!(linkshim_bin());
    hook["hook"]["args"]
        .as_array_mut()
        .expect("hook.args")
        .extend(
            [json!("--state-dir"), json!(state)]
                .into_iter()
                .chain(extra.iter().map(|a| json!(a))),
        );
    fs::write(
        hooks_dir.join("linkshim.json"),
        serde_json::to_string_pretty(&hook).unwrap(),
    )
    .unwrap();
}

/// Files left in `<state>/hosts` (linkers' hosts files not yet removed).
pub fn hosts_files(state: &Path) -> Vec<PathBuf> {
    fs::read_dir(state.join("hosts"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// `<state>/linkshim.log`, the operator's log ("" when absent).
pub fn linkshim_log(state: &Path) -> String {
    fs::read_to_string(state.join("linkshim.log")).unwrap_or_default()
}
