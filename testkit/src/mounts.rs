//! Mount points under a directory, and removing a temp dir only once
//! nothing is mounted below it.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::run_quiet;

/// Mount points at or under `dir`, deepest first (from /proc/self/mountinfo).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(&dir))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    v
}

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo octal.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(n) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(n);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts everything at or under `dir` (deepest first; lazy unmount as a
/// fallback), in at most a few passes. Returns true when nothing is left.
pub fn unmount_under(dir: &Path) -> bool {
    for _ in 0..4 {
        let mounts = mounts_under(dir);
        if mounts.is_empty() {
            return true;
        }
        for m in mounts {
            if !run_quiet(Command::new("umount").arg(&m), Duration::from_secs(10)) {
                run_quiet(
                    Command::new("umount").arg("-l").arg(&m),
                    Duration::from_secs(10),
                );
            }
        }
    }
    mounts_under(dir).is_empty()
}

/// Removes a temp dir only when no mount is left under it (removing a dir
/// that still has a bind mount under it would delete the mount's source);
/// otherwise keeps it and says so.
pub fn remove_tempdir_safely(dir: TempDir) {
    if unmount_under(dir.path()) {
        drop(dir);
    } else {
        let kept = dir.keep();
        eprintln!(
            "harness: mounts remain under {}, leaving it in place",
            kept.display()
        );
    }
}

/// A temp dir named `<prefix>-XXXX` that, when dropped, unmounts what is
/// mounted below it before removing it (see [`remove_tempdir_safely`]).
pub struct Scratch(Option<TempDir>);

impl Scratch {
    pub fn new(prefix: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir()
            .expect("a temp dir");
        Scratch(Some(dir))
    }

    pub fn path(&self) -> &Path {
        self.0.as_ref().expect("alive until dropped").path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            remove_tempdir_safely(dir);
        }
    }
}
