//! Shared pieces of the binary-level tests: fixtures, a private state dir,
//! and registry records made through linkshim's own code (the test kit's).
#![allow(dead_code)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use linkshim::registry::Record;

/// A private state directory for one test.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        Fixture { dir, state }
    }

    /// A file of tests/fixtures.
    pub fn read(name: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name),
        )
        .unwrap()
    }

    /// `linkshim --state-dir STATE ARGS...`, with no config file.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_linkshim"));
        c.arg("--state-dir").arg(&self.state).args(args);
        c.env("LINKSHIM_CONFIG", self.dir.path().join("no-config.toml"));
        c.env_remove("LINKSHIM_STATE_DIR")
            .env_remove("LINKSHIM_RUNTIME");
        c
    }
}

/// Run `cmd` with `input` on stdin.
pub fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// `linkshim hook precreate` on `input`.
pub fn precreate(fx: &Fixture, input: &[u8]) -> Output {
    run_with_stdin(fx.cmd(&["hook", "precreate"]), input)
}

/// Register a live target at 10.0.0.2 (its pid is this test process).
pub fn register_target(
    fx: &Fixture,
    id: &str,
    name: &str,
    expose: &str,
    env: &[(&str, &str)],
) -> Record {
    let addr = "10.0.0.2".parse().unwrap();
    testkit::register(
        &fx.state,
        &testkit::live_record(id, name, &[addr], expose, env),
    )
}

/// A fake runtime: writes its arguments (one per line) and the bundle's
/// config.json as it saw it, then exits 7.
pub fn fake_runtime(dir: &Path) -> (PathBuf, PathBuf) {
    let record = dir.join("record");
    let script = dir.join("fake-runc");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {rec}/args\nfor a in \"$@\"; do case \"$prev\" in --bundle|-bundle|-b) cp \"$a/config.json\" {rec}/config.json;; esac; prev=$a; done\nexit 7\n",
            rec = record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(&record).unwrap();
    (script, record)
}

/// Run `cmd` (stdin: `input`) and fail the test when it has not ended
/// within `secs`: a hang is a failure, never a stuck suite.
pub fn output_within(mut cmd: Command, input: &[u8], secs: u64) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {secs} s: {cmd:?}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Every file under `dir` with its bytes, sorted by path: what a command
/// that must write nothing leaves as it found. The bytes of SQLite's
/// `-shm` are left out (its name is kept): that is the write-ahead log's
/// index in shared memory, which the first connection to open the
/// registry rebuilds in place, a reader's too; it holds no registry data
/// (the database and its log do).
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with("-shm") {
                out.push((p, Vec::new()));
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}
