//! Build script: the commit linkshim is built from, for `--version`; and
//! a new link when the layout of its hot functions changes
//! (`scripts/hot-symbols.txt`, which `scripts/build-release.sh` hands the
//! linker).
//!
//! `LINKSHIM_COMMIT` in the build's environment wins (a distribution
//! building from a release tarball, with no git history, sets it); else
//! `git rev-parse` in the source tree; else `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LINKSHIM_COMMIT");
    println!("cargo:rerun-if-changed=scripts/hot-symbols.txt");
    let commit = std::env::var("LINKSHIM_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=LINKSHIM_COMMIT={}", commit.trim());
}

/// `git rev-parse --short=12 HEAD`, and the files that change with it (so
/// the next commit rebuilds the version string, and nothing else does).
fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let git_dir = PathBuf::from(git(&["rev-parse", "--git-dir"])?);
    let common_dir = PathBuf::from(git(&["rev-parse", "--git-common-dir"])?);
    let mut watched = vec![git_dir.join("HEAD"), common_dir.join("packed-refs")];
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common_dir.join(head_ref));
    }
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(commit)
}

/// One line of git's output, run in the crate's directory.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(Path::new(&dir))
        .output()
        .ok()?;
    let line = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !line.is_empty()).then_some(line)
}
