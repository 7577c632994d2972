//! Running commands from tests: bounded waits and timeouts, PATH lookups,
//! names unique on the machine, and the readiness check of end-to-end
//! cases.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// What an end-to-end case lacks to run here: root (effective uid 0) and
/// each tool of `tools` not found on PATH, as readable phrases. Empty when
/// the case can run.
pub fn missing_prerequisites(tools: &[&str]) -> Vec<String> {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root (effective uid 0)".to_string());
    }
    for tool in tools {
        if which(tool).is_none() {
            missing.push(format!("`{tool}` on PATH"));
        }
    }
    missing
}

/// True when `LINKSHIM_E2E=required` (CI): a missing prerequisite is then
/// a failure rather than a reason to leave a case out.
pub fn e2e_required() -> bool {
    std::env::var("LINKSHIM_E2E").as_deref() == Ok("required")
}

/// Effective uid is 0 (read from /proc/self/status, no libc needed).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Full path of an executable `tool` found on PATH (a `tool` with a `/` is
/// taken as a path and only checked).
pub fn which(tool: &str) -> Option<PathBuf> {
    let executable = |p: &std::path::Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if tool.contains('/') {
        let p = PathBuf::from(tool);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| executable(p))
}

/// A name unique in this machine for the life of this process:
/// `<prefix>-<pid>-<counter>`. Usable as container id / podman name.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `cond` every 20 ms until it is true (returns true) or `timeout`
/// passes (returns false). Never loops unboundedly.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` (stdin null, stdout/stderr captured) and returns its Output,
/// or None after killing it when it has not finished within `timeout`.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let t_err = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let mut status = None;
    wait_until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        // A grandchild may still hold the pipes; do not join the readers.
        return None;
    };
    Some(Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    })
}

/// Runs `cmd` within `timeout`; panics (showing command, status, stdout and
/// stderr) on timeout or non-zero exit. Returns stdout as a String.
pub fn run_ok(cmd: &mut Command, timeout: Duration) -> String {
    let shown = format!("{cmd:?}");
    let out = output_within(cmd, timeout)
        .unwrap_or_else(|| panic!("timed out after {timeout:?}: {shown}"));
    if !out.status.success() {
        panic!(
            "failed ({}): {shown}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd` within `timeout`, ignoring failure (for cleanup paths).
pub fn run_quiet(cmd: &mut Command, timeout: Duration) -> bool {
    output_within(cmd, timeout).is_some_and(|o| o.status.success())
}

/// `Command::new(program).args(args)`, shorter to write in tests.
pub fn cmd<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// A busybox shell snippet (a subshell, so it composes with `&&`) that
/// retries `cmd` every 0.1 s, at most `tries` times, and exits 0 on its first
/// success, 1 otherwise: a bounded loop using only busybox builtins.
pub fn sh_retry(cmd: &str, tries: u32) -> String {
    format!(
        "(i=0; while [ $i -lt {tries} ]; do {cmd} && exit 0; i=$((i+1)); sleep 0.1; done; exit 1)"
    )
}

/// Pids whose NUL-separated-as-space command line satisfies `pred`.
pub fn pids_with_cmdline(pred: impl Fn(&str) -> bool) -> Vec<u32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| pred(&String::from_utf8_lossy(&b).replace('\0', " ")))
                .unwrap_or(false)
        })
        .collect()
}

/// A container id shorter than 12 characters, unique on this machine for
/// the life of this process (`t<pid>x<n>`), so hosts lines carry it whole.
pub fn short_unique_id() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let id = format!(
        "t{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    assert!(id.len() <= 12, "{id} is longer than a short id");
    id
}

/// The first 12 characters of a container id (Docker's short id).
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Prints `TIME <what>: <seconds>` to stderr: how long a case took.
pub fn timed(what: &str, start: Instant) {
    eprintln!("TIME {what}: {:.2}s", start.elapsed().as_secs_f64());
}
