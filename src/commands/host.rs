//! `linkshim doctor` with no arguments: is this host set up to run
//! linkshim? One PASS, WARN or FAIL line per check, the fix on every line
//! that is not a PASS:
//!
//! - the binary, and the `linkshim-runtime` link beside it;
//! - podman: a hooks file in a hooks dir podman reads (its default dirs or
//!   the configured `hooks_dir`), whose binary exists;
//! - the wrapper finds its real runtime with an empty environment (as
//!   podman calls `kill` and `delete`);
//! - containerd's config names the wrapper as CRI's runc `BinaryName`;
//! - the state dir exists, is ours, and is mode 0700;
//! - the registry opens and passes SQLite's integrity check;
//! - the log is writable.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::install::{self, Target, containerd, podman};
use crate::registry::Registry;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    pub verdict: Verdict,
    pub text: String,
}

fn pass(text: impl Into<String>) -> Check {
    Check {
        verdict: Verdict::Pass,
        text: text.into(),
    }
}

fn warn(text: impl Into<String>, fix: &str) -> Check {
    Check {
        verdict: Verdict::Warn,
        text: format!("{} (fix: {fix})", text.into()),
    }
}

fn fail(text: impl Into<String>, fix: &str) -> Check {
    Check {
        verdict: Verdict::Fail,
        text: format!("{} (fix: {fix})", text.into()),
    }
}

/// Check the host; print one line per check; the number of failures.
pub fn run(state_dir: &Path, out: &mut dyn Write) -> anyhow::Result<usize> {
    let exe = std::env::current_exe().context("cannot find linkshim's own path")?;
    let checks = checks(&exe, state_dir);
    for c in &checks {
        let v = match c.verdict {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        writeln!(out, "{v:<4}  {}", c.text).context("writing the report")?;
    }
    Ok(checks.iter().filter(|c| c.verdict == Verdict::Fail).count())
}

/// Every check, for the binary `exe` and the state dir `state_dir`.
pub fn checks(exe: &Path, state_dir: &Path) -> Vec<Check> {
    let mut v = vec![pass(format!(
        "linkshim {} at {}",
        crate::cli::VERSION,
        exe.display()
    ))];
    let runtime = exe.with_file_name("linkshim-runtime");
    let wrapper = runtime.exists();
    v.push(if wrapper {
        pass(format!("wrapper {} is there", runtime.display()))
    } else {
        warn(
            format!("no wrapper {}", runtime.display()),
            &format!(
                "ln -s linkshim {} (the package installs it)",
                runtime.display()
            ),
        )
    });
    v.push(podman_hooks(exe));
    if wrapper {
        v.push(wrapper_finds_runtime(&runtime));
    }
    v.extend(containerd_config(&runtime));
    v.extend(state(state_dir));
    v
}

/// A hooks file podman reads that runs an existing linkshim.
fn podman_hooks(exe: &Path) -> Check {
    let target = Target {
        root: PathBuf::from("/"),
        bin: exe.to_path_buf(),
        runtime: exe.with_file_name("linkshim-runtime"),
    };
    let scope = if nix::unistd::geteuid().is_root() {
        podman::Scope::System
    } else {
        match podman::Scope::current_user() {
            Ok(s) => s,
            Err(e) => return warn(format!("podman: {e}"), "set HOME"),
        }
    };
    let dirs = match podman::hooks_dirs(&target, &scope) {
        Ok(d) => d,
        Err(e) => return fail(format!("podman: {e}"), "repair containers.conf"),
    };
    let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    // The last dir with the file wins, as in podman.
    let Some(file) = dirs
        .iter()
        .rev()
        .map(|d| d.join(podman::HOOK_FILE))
        .find(|f| f.exists())
    else {
        return warn(
            format!(
                "podman: no {} in its hooks dirs ({})",
                podman::HOOK_FILE,
                shown.join(", ")
            ),
            "`linkshim install podman` (or use the wrapper: podman --runtime linkshim-runtime)",
        );
    };
    let hook = fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let Some(hook) = hook else {
        return fail(
            format!("podman: {} is not readable JSON", file.display()),
            "`linkshim install podman` rewrites it",
        );
    };
    let path = hook["hook"]["path"].as_str().unwrap_or("");
    let runs = fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let precreate = hook["stages"]
        .as_array()
        .is_some_and(|s| s.iter().any(|x| x == "precreate"));
    if !runs || !precreate {
        return fail(
            format!(
                "podman: {} runs {path:?} at {}, which is not an executable linkshim precreate hook",
                file.display(),
                hook["stages"]
            ),
            "`linkshim install podman` rewrites it",
        );
    }
    pass(format!(
        "podman: {} runs {path} at precreate",
        file.display()
    ))
}

/// `linkshim-runtime --version` with an empty environment reaches a real
/// runtime (podman's `kill` and `delete` come with no PATH).
fn wrapper_finds_runtime(runtime: &Path) -> Check {
    let mut cmd = Command::new(runtime);
    cmd.arg("--version")
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null());
    let out = match output_within(&mut cmd, Duration::from_secs(10)) {
        Ok(o) => o,
        Err(e) => {
            return fail(
                format!("wrapper: {} --version: {e}", runtime.display()),
                "check the wrapper's runtime = in /etc/linkshim/linkshim.toml",
            );
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or("").trim().to_string();
    if out.status.success() && first.contains("version") {
        pass(format!(
            "wrapper: with an empty environment it runs {first:?}"
        ))
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        fail(
            format!(
                "wrapper: with an empty environment `{} --version` fails: {}",
                runtime.display(),
                stderr.trim()
            ),
            "install runc or crun, or set runtime = \"/path/to/runc\" in /etc/linkshim/linkshim.toml",
        )
    }
}

/// `cmd`'s output, killed after `timeout`.
fn output_within(cmd: &mut Command, timeout: Duration) -> std::io::Result<std::process::Output> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let start = std::time::Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            return child.wait_with_output();
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer in {}s", timeout.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// containerd's config names the wrapper (when containerd is configured).
fn containerd_config(runtime: &Path) -> Option<Check> {
    let config = Path::new(containerd::CONFIG);
    let text = match fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            return Some(fail(
                format!("containerd: {}: {e}", config.display()),
                "run doctor as root",
            ));
        }
    };
    let doc = match install::parse_toml(config, &text) {
        Ok(d) => d,
        Err(e) => return Some(fail(format!("containerd: {e}"), "repair the file")),
    };
    // A drop-in the config imports wins, as in containerd.
    let name = containerd::drop_in_dir(&doc)
        .and_then(|d| fs::read_to_string(d.join(containerd::DROP_IN)).ok())
        .and_then(|t| t.parse::<toml_edit::DocumentMut>().ok())
        .and_then(|d| containerd::binary_name(&d))
        .or_else(|| containerd::binary_name(&doc));
    Some(match name.as_deref() {
        Some(n)
            if Path::new(n)
                .file_name()
                .is_some_and(|f| f == "linkshim-runtime") =>
        {
            if Path::new(n).exists() {
                pass(format!("containerd: CRI's runc runs {n}"))
            } else {
                fail(
                    format!("containerd: CRI's runc runs {n}, which does not exist"),
                    &format!(
                        "`linkshim install containerd` (it names {})",
                        runtime.display()
                    ),
                )
            }
        }
        other => warn(
            format!(
                "containerd: CRI's runc runs {} ({}), not the wrapper",
                other.filter(|n| !n.is_empty()).unwrap_or("runc"),
                config.display()
            ),
            "`linkshim install containerd` (ctr run takes --runc-binary instead)",
        ),
    })
}

/// The state dir, the registry in it, the log.
fn state(dir: &Path) -> Vec<Check> {
    let mut v = Vec::new();
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            v.push(warn(
                format!("state dir {} does not exist yet", dir.display()),
                "nothing to do: linkshim creates it on first use (or systemd-tmpfiles --create)",
            ));
            return v;
        }
        Err(e) => {
            v.push(fail(
                format!("state dir {}: {e}", dir.display()),
                "run doctor as the user the engine runs linkshim as (root), or pass --state-dir",
            ));
            return v;
        }
    };
    let me = nix::unistd::geteuid().as_raw();
    if meta.file_type().is_symlink() || !meta.is_dir() {
        v.push(fail(
            format!(
                "state dir {} is not a directory (a symlink is refused)",
                dir.display()
            ),
            "remove it; linkshim creates it",
        ));
        return v;
    }
    if meta.uid() != me {
        v.push(fail(
            format!(
                "state dir {} is owned by uid {}, not {me}",
                dir.display(),
                meta.uid()
            ),
            "run doctor as its owner (root), or pass --state-dir",
        ));
        return v;
    }
    let mode = meta.mode() & 0o777;
    v.push(if mode & 0o077 != 0 {
        fail(
            format!("state dir {} is mode {mode:o}", dir.display()),
            &format!("chmod 700 {}", dir.display()),
        )
    } else {
        pass(format!(
            "state dir {} is ours, mode {mode:o}",
            dir.display()
        ))
    });
    v.push(registry(dir));
    v.push(log(dir));
    v
}

/// The registry opens and passes `PRAGMA integrity_check`.
fn registry(dir: &Path) -> Check {
    let db = Registry::db_path(dir);
    if !db.exists() {
        return pass(format!(
            "registry {}: none yet (made on first use)",
            db.display()
        ));
    }
    if let Err(e) = Registry::open(dir) {
        return fail(
            format!("registry {}: {e}", db.display()),
            "stop the containers using it, then remove the registry's files",
        );
    }
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let verdict = rusqlite::Connection::open_with_flags(&db, flags)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)));
    match verdict {
        Ok(s) if s == "ok" => pass(format!("registry {}: integrity ok", db.display())),
        Ok(s) => fail(
            format!("registry {}: integrity check: {s}", db.display()),
            "stop the containers using it, then remove the registry's files",
        ),
        Err(e) => fail(
            format!("registry {}: integrity check: {e}", db.display()),
            "stop the containers using it, then remove the registry's files",
        ),
    }
}

/// `linkshim.log` can be appended to (or made, when absent).
fn log(dir: &Path) -> Check {
    let path = crate::logging::log_file(dir);
    match fs::symlink_metadata(&path) {
        Ok(m) if !m.is_file() => fail(
            format!("log {} is not a regular file", path.display()),
            &format!("rm {}", path.display()),
        ),
        Ok(_) => match fs::OpenOptions::new().append(true).open(&path) {
            Ok(_) => pass(format!("log {} is writable", path.display())),
            Err(e) => fail(
                format!("log {}: {e}", path.display()),
                &format!("chown root {0} && chmod 600 {0}", path.display()),
            ),
        },
        Err(_) => match nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK) {
            Ok(()) => pass(format!("log {} will be made on first use", path.display())),
            Err(e) => fail(
                format!("log {}: the state dir is not writable: {e}", path.display()),
                "run linkshim as the state dir's owner",
            ),
        },
    }
}
