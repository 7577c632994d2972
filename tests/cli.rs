//! linkshim's own commands at the binary level: `--version`.

use std::process::Command;

/// `linkshim --version`: the version and the commit the binary was built
/// from (HEAD of this checkout, when git can say).
#[test]
fn version_names_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_linkshim"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = String::from_utf8(out.stdout).unwrap();
    let prefix = format!("linkshim {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(v.starts_with(&prefix) && v.ends_with(")\n"), "{v:?}");
    let commit = &v[prefix.len()..v.len() - 2];
    assert!(!commit.is_empty() && !commit.contains(' '), "{v:?}");
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success());
    if let Some(head) = head {
        assert_eq!(commit, String::from_utf8_lossy(&head.stdout).trim());
    }
}
