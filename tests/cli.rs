//! linkshim's own commands at the binary level: `--version`, `doctor`
//! with no arguments (the host), and what `ls`, `resource ls` and `doctor`
//! say to a user who cannot read the state dir.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

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

/// A state dir with a registry in it (made by `resource add`), mode 0700,
/// in a directory anyone may traverse.
fn state_with_registry() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    let out = linkshim(&state)
        .args([
            "resource",
            "add",
            "pg",
            "--url",
            "postgres://192.0.2.10:5432/db",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, state)
}

/// `linkshim --state-dir STATE` with no config file.
fn linkshim(state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linkshim"));
    c.arg("--state-dir")
        .arg(state)
        .env("LINKSHIM_CONFIG", "/nonexistent/linkshim.toml")
        .env("LINKSHIM_PERSIST_DIR", "/nonexistent/persist")
        .env("HOME", "/nonexistent/home")
        .env_remove("LINKSHIM_STATE_DIR");
    c
}

/// `cmd` as a user who cannot read `state`: nobody (uid 65534) when we are
/// root, else ourselves with the dir's mode 000.
fn as_outsider(cmd: &mut Command, state: &Path) -> Output {
    if nix::unistd::geteuid().is_root() {
        // As root, std drops the supplementary groups along with the uid.
        cmd.uid(65534).gid(65534);
        cmd.output().unwrap()
    } else {
        fs::set_permissions(state, fs::Permissions::from_mode(0o000)).unwrap();
        let out = cmd.output().unwrap();
        fs::set_permissions(state, fs::Permissions::from_mode(0o700)).unwrap();
        out
    }
}

#[test]
fn ls_resource_ls_and_doctor_say_so_when_the_state_dir_is_unreadable() {
    let (_dir, state) = state_with_registry();
    // As its owner: the resource is listed.
    let out = linkshim(&state).args(["resource", "ls"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("pg"));
    let cases: &[&[&str]] = &[
        &["ls"],
        &["ls", "--json"],
        &["resource", "ls"],
        &["resource", "ls", "--json"],
        &["doctor", "--links", "pg"],
    ];
    for args in cases {
        let out = as_outsider(linkshim(&state).args(*args), &state);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}\n{stderr}");
        assert!(
            stderr.contains(&format!("state directory {}", state.display()))
                && stderr.contains("run as its owner"),
            "{args:?}: {stderr}"
        );
        assert!(
            !stdout.contains("NAME"),
            "{args:?}: an empty table: {stdout}"
        );
        assert!(!stdout.contains("[]"), "{args:?}: an empty list: {stdout}");
    }
    // doctor on the host: a FAIL line that says whose the dir is.
    let out = as_outsider(linkshim(&state).arg("doctor"), &state);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains(&state.display().to_string())),
        "{stdout}"
    );
}

/// doctor's line that starts with `verdict` and holds `text`.
fn has_line(report: &str, verdict: &str, text: &str) -> bool {
    report
        .lines()
        .any(|l| l.starts_with(verdict) && l.contains(text))
}

#[test]
fn doctor_with_no_arguments_checks_the_host() {
    let (dir, state) = state_with_registry();
    // A copy of the binary, with the wrapper link beside it.
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy(env!("CARGO_BIN_EXE_linkshim"), bin.join("linkshim")).unwrap();
    std::os::unix::fs::symlink("linkshim", bin.join("linkshim-runtime")).unwrap();
    let doctor = || {
        let mut cmd = Command::new(bin.join("linkshim"));
        cmd.arg("--state-dir")
            .arg(&state)
            .arg("doctor")
            .env("LINKSHIM_CONFIG", "/nonexistent/linkshim.toml");
        // A test thread forking while the copy was open for writing holds
        // it a moment longer (ETXTBSY): try again.
        let mut tries = 0;
        let out = loop {
            match cmd.output() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other.unwrap(),
            }
        };
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };

    let (code, report) = doctor();
    let s = state.display().to_string();
    assert!(
        has_line(&report, "PASS", "linkshim 0.1.0 (commit "),
        "{report}"
    );
    assert!(
        has_line(&report, "PASS", "linkshim-runtime is there"),
        "{report}"
    );
    assert!(report.lines().any(|l| l.contains("podman:")), "{report}");
    assert!(
        has_line(&report, "PASS", &format!("state dir {s} is ours, mode 700")),
        "{report}"
    );
    assert!(has_line(&report, "PASS", "integrity ok"), "{report}");
    assert!(has_line(&report, "PASS", "linkshim.log"), "{report}");
    // The wrapper with an empty environment: runc or crun in the default path.
    let installed = ["runc", "crun"].iter().any(|n| {
        linkshim::runtime::DEFAULT_PATH
            .split(':')
            .any(|d| Path::new(d).join(n).exists())
    });
    if installed {
        assert!(
            has_line(&report, "PASS", "with an empty environment it runs"),
            "{report}"
        );
    } else {
        assert!(
            has_line(&report, "FAIL", "with an empty environment"),
            "{report}"
        );
    }
    assert!(
        report
            .lines()
            .filter(|l| !l.starts_with("PASS"))
            .all(|l| l.contains("(fix: ")),
        "a line that is not a PASS without its fix:\n{report}"
    );
    // Exit status 1 exactly when a line fails (podman's and containerd's
    // lines depend on this machine).
    let failed = report.lines().any(|l| l.starts_with("FAIL"));
    assert_eq!(code, Some(i32::from(failed)), "{report}");

    // Break things, one by one.
    fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
    let (code, report) = doctor();
    assert_eq!(code, Some(1), "{report}");
    assert!(
        has_line(&report, "FAIL", &format!("chmod 700 {s}")),
        "{report}"
    );
    fs::set_permissions(&state, fs::Permissions::from_mode(0o700)).unwrap();

    fs::write(
        state.join("registry.db"),
        b"this is not a database, it is text, long enough to be read as a header of one",
    )
    .unwrap();
    for f in ["registry.db-wal", "registry.db-shm"] {
        let _ = fs::remove_file(state.join(f));
    }
    let (code, report) = doctor();
    assert_eq!(code, Some(1), "{report}");
    assert!(has_line(&report, "FAIL", "registry"), "{report}");

    fs::remove_file(bin.join("linkshim-runtime")).unwrap();
    let (_, report) = doctor();
    assert!(has_line(&report, "WARN", "no wrapper"), "{report}");
}
