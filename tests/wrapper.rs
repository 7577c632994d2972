//! The binary as a runtime wrapper, in front of a fake runtime that
//! records what it was given.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Fixture, fake_runtime, register_target};

fn bundle(fx: &Fixture, annotations: Value) -> PathBuf {
    let b = fx.dir.path().join("bundle");
    std::fs::create_dir_all(&b).unwrap();
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = annotations;
    config["org.example.unknown"] = json!({"kept": true});
    std::fs::write(
        b.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    b
}

const RUNC_ARGS: &[&str] = &[
    "--root",
    "/run/x",
    "--log",
    "LOG",
    "--log-format",
    "json",
    "--weird-new-flag",
    "create",
    "--bundle",
    "BUNDLE",
    "--pid-file",
    "/tmp/pid",
    "--no-new-keyring",
    "ctr1",
];

fn args_for(bundle: &Path, log: &Path) -> Vec<String> {
    RUNC_ARGS
        .iter()
        .map(|a| match *a {
            "BUNDLE" => bundle.display().to_string(),
            "LOG" => log.display().to_string(),
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn arguments_reach_the_runtime_untouched_and_the_config_is_prepared() {
    let fx = Fixture::new();
    register_target(&fx, "t1", "mysql_server", "3306", &[("A", "b")]);
    let (fake, record) = fake_runtime(fx.dir.path());
    let b = bundle(
        &fx,
        json!({"io.linkshim.name": "webapp", "io.linkshim.links": "mysql_server:db"}),
    );
    let args = args_for(&b, &fx.dir.path().join("log.json"));
    let out = fx
        .cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"])
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "the runtime's exit code passes through: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = std::fs::read_to_string(record.join("args")).unwrap();
    assert_eq!(got.lines().collect::<Vec<_>>(), args);
    let seen: Value =
        serde_json::from_str(&std::fs::read_to_string(record.join("config.json")).unwrap())
            .unwrap();
    let env = seen["process"]["env"].as_array().unwrap();
    assert!(
        env.contains(&json!("DB_PORT=tcp://10.0.0.2:3306")),
        "{env:?}"
    );
    assert!(env.contains(&json!("DB_ENV_A=b")));
    assert_eq!(seen["org.example.unknown"], json!({"kept": true}));
    // A `create` with a pid file is registered by the wrapper itself: no
    // `poststart` hook, only the `poststop` one.
    assert_eq!(seen["hooks"]["poststart"], json!([]), "{}", seen["hooks"]);
    assert_eq!(seen["hooks"]["poststop"].as_array().unwrap().len(), 1);
    // The create failed (exit 7): nothing is registered.
    let ls = fx.cmd(&["ls", "--json"]).output().unwrap();
    let list: Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != "webapp"),
        "{list}"
    );
}

/// A runtime whose `create` starts a process (the container's), writes its
/// pid to `--pid-file` (or `PIDTEXT` when the test asks for a broken one)
/// and succeeds; every call is appended to `record/calls`.
fn creating_runtime(dir: &Path, pid_text: Option<&str>) -> (PathBuf, PathBuf) {
    let record = dir.join("record");
    std::fs::create_dir_all(&record).unwrap();
    let script = dir.join("creating-runc");
    let write_pid = match pid_text {
        Some(t) => format!("echo '{t}' > \"$pidfile\""),
        None => "sleep 60 </dev/null >/dev/null 2>&1 & echo $! > \"$pidfile\"".to_string(),
    };
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> {rec}/calls\npidfile=\nfor a in \"$@\"; do case \"$prev\" in --pid-file) pidfile=$a;; esac; prev=$a; done\n[ -n \"$pidfile\" ] && {write_pid}\nexit 0\n",
            rec = record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, record)
}

/// What [`create_through_wrapper`] did.
struct Created {
    bundle: PathBuf,
    pid_file: PathBuf,
    args: Vec<String>,
    out: std::process::Output,
}

/// podman's `create` of `webapp` (linked to `mysql_server` as `db`) with a
/// pid file, through the wrapper in front of `fake`.
fn create_through_wrapper(fx: &Fixture, fake: &Path) -> Created {
    let bundle = bundle(
        fx,
        json!({"io.linkshim.name": "webapp", "io.linkshim.links": "mysql_server:db"}),
    );
    let pid_file = fx.dir.path().join("pid");
    let args = args_for(&bundle, &fx.dir.path().join("log.json"))
        .into_iter()
        .map(|a| {
            if a == "/tmp/pid" {
                pid_file.display().to_string()
            } else {
                a
            }
        })
        .collect::<Vec<_>>();
    let out = fx
        .cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"])
        .args(&args)
        .output()
        .unwrap();
    Created {
        bundle,
        pid_file,
        args,
        out,
    }
}

#[test]
fn a_create_with_a_pid_file_is_registered_by_the_wrapper() {
    let fx = Fixture::new();
    register_target(&fx, "t1", "mysql_server", "3306", &[("A", "b")]);
    let (fake, record) = creating_runtime(fx.dir.path(), None);
    let Created {
        bundle: b,
        pid_file,
        args,
        out,
    } = create_through_wrapper(&fx, &fake);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _reap = Kill(pid);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(record.join("calls")).unwrap();
    assert_eq!(calls.lines().count(), 1, "one call, the create: {calls}");
    assert_eq!(calls.trim(), args.join(" "), "arguments untouched");
    let ls = fx.cmd(&["ls", "--json"]).output().unwrap();
    let list: Value = serde_json::from_slice(&ls.stdout).unwrap();
    let me = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "webapp")
        .unwrap_or_else(|| panic!("webapp is registered: {list}"));
    assert_eq!(me["id"], "ctr1");
    assert_eq!(me["pid"], pid);
    let config = testkit::read_config(&b);
    assert_eq!(config["hooks"]["poststart"], json!([]));
}

#[test]
fn a_create_that_cannot_be_registered_is_deleted_again() {
    let fx = Fixture::new();
    register_target(&fx, "t1", "mysql_server", "3306", &[]);
    let (fake, record) = creating_runtime(fx.dir.path(), Some("not-a-pid"));
    let Created { out, .. } = create_through_wrapper(&fx, &fake);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("created, but not registered (deleted again)")
            && stderr.contains("not-a-pid"),
        "{stderr}"
    );
    let calls = std::fs::read_to_string(record.join("calls")).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[1],
        format!(
            "--root /run/x --log {} --log-format json --weird-new-flag delete --force ctr1",
            fx.dir.path().join("log.json").display()
        ),
        "the delete carries the global flags"
    );
}

/// Kills a test's stand-in container process when the test ends.
struct Kill(i32);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.0.to_string())
            .status();
    }
}

#[test]
fn called_as_linkshim_runtime_with_settings_from_the_environment() {
    let fx = Fixture::new();
    register_target(&fx, "t1", "redis", "6379", &[]);
    let (fake, record) = fake_runtime(fx.dir.path());
    let link = fx.dir.path().join("linkshim-runtime");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_linkshim"), &link).unwrap();
    let b = bundle(&fx, json!({"io.linkshim.links": "redis"}));
    let out = std::process::Command::new(&link)
        .args(["run", "-d", "--bundle"])
        .arg(&b)
        .arg("c2")
        .env("LINKSHIM_RUNTIME", &fake)
        .env("LINKSHIM_STATE_DIR", &fx.state)
        .env("LINKSHIM_CONFIG", fx.dir.path().join("none.toml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value =
        serde_json::from_str(&std::fs::read_to_string(record.join("config.json")).unwrap())
            .unwrap();
    assert!(
        seen["process"]["env"]
            .as_array()
            .unwrap()
            .contains(&json!("REDIS_PORT=tcp://10.0.0.2:6379"))
    );
}

#[test]
fn the_runtime_comes_from_the_config_file() {
    let fx = Fixture::new();
    let (fake, record) = fake_runtime(fx.dir.path());
    let conf = fx.dir.path().join("linkshim.toml");
    std::fs::write(
        &conf,
        format!("runtime = {:?}\nstate_dir = {:?}\n", fake, fx.state),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linkshim"))
        .args(["runtime", "--", "state", "c3"])
        .env("LINKSHIM_CONFIG", &conf)
        .env_remove("LINKSHIM_RUNTIME")
        .env_remove("LINKSHIM_STATE_DIR")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(record.join("args")).unwrap(),
        "state\nc3\n"
    );
}

#[test]
fn other_subcommands_leave_the_bundle_alone() {
    let fx = Fixture::new();
    let (fake, _record) = fake_runtime(fx.dir.path());
    let b = bundle(&fx, json!({"io.linkshim.links": "nosuch"}));
    let before = std::fs::read(b.join("config.json")).unwrap();
    for sub in [
        &["start", "x"][..],
        &["delete", "--force", "x"],
        &["kill", "x", "KILL"],
        &["--version"],
    ] {
        let out = fx
            .cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"])
            .args(sub)
            .current_dir(&b)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7), "{sub:?}");
    }
    assert_eq!(std::fs::read(b.join("config.json")).unwrap(), before);
}

#[test]
fn a_failed_link_leaves_the_config_as_it_was_and_reaches_the_engine_log() {
    let fx = Fixture::new();
    let (fake, record) = fake_runtime(fx.dir.path());
    let b = bundle(
        &fx,
        json!({"io.linkshim.name": "webapp", "io.linkshim.links": "nosuch:db"}),
    );
    let before = std::fs::read(b.join("config.json")).unwrap();
    let log = fx.dir.path().join("log.json");
    let out = fx
        .cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"])
        .args(args_for(&b, &log))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !record.join("args").exists(),
        "the real runtime must not run"
    );
    assert_eq!(
        std::fs::read(b.join("config.json")).unwrap(),
        before,
        "config.json is untouched"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("could not get container for nosuch") && stderr.contains("\"webapp\""),
        "{stderr}"
    );
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"]
            .as_str()
            .unwrap()
            .contains("could not get container for nosuch")
    );
}

#[test]
fn the_wrapper_never_execs_itself() {
    let fx = Fixture::new();
    let bin = fx.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_linkshim"), bin.join("runc")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_linkshim"), bin.join("linkshim-runtime"))
        .unwrap();
    let out = std::process::Command::new(bin.join("linkshim-runtime"))
        .args(["--version"])
        .env("PATH", &bin)
        .env("LINKSHIM_STATE_DIR", &fx.state)
        .env("LINKSHIM_CONFIG", fx.dir.path().join("none.toml"))
        .env_remove("LINKSHIM_RUNTIME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no real runtime"));
}

#[test]
fn a_symlinked_config_is_refused_and_left_alone() {
    let fx = Fixture::new();
    let (fake, record) = fake_runtime(fx.dir.path());
    let real = bundle(&fx, json!({"io.linkshim.name": "web"}));
    let elsewhere = fx.dir.path().join("real-config.json");
    std::fs::rename(real.join("config.json"), &elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, real.join("config.json")).unwrap();
    let before = std::fs::read(&elsewhere).unwrap();
    let out = fx
        .cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"])
        .args(["create", "--bundle", real.to_str().unwrap(), "c9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a symlink"));
    assert!(!record.join("args").exists());
    assert!(
        std::fs::symlink_metadata(real.join("config.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&elsewhere).unwrap(), before);
}

#[test]
fn a_rewritten_config_never_gains_group_or_other_write() {
    let fx = Fixture::new();
    let (fake, _record) = fake_runtime(fx.dir.path());
    let b = bundle(&fx, json!({"io.linkshim.name": "web"}));
    std::fs::set_permissions(
        b.join("config.json"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let out = fx
        .cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"])
        .args(["create", "--bundle", b.to_str().unwrap(), "c10"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(b.join("config.json"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644);
}

#[test]
fn a_broken_config_file_still_lets_containers_be_deleted() {
    let fx = Fixture::new();
    let (fake, record) = fake_runtime(fx.dir.path());
    let conf = fx.dir.path().join("broken.toml");
    std::fs::write(&conf, "this is = = not toml").unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_linkshim"))
            .args(["runtime", "--runtime", fake.to_str().unwrap(), "--"])
            .args(args)
            .env("LINKSHIM_CONFIG", &conf)
            .env("LINKSHIM_STATE_DIR", &fx.state)
            .output()
            .unwrap()
    };
    let out = run(&["delete", "--force", "x"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(record.join("args")).unwrap(),
        "delete\n--force\nx\n"
    );
    std::fs::remove_file(record.join("args")).unwrap();
    let b = bundle(&fx, json!({"io.linkshim.name": "web"}));
    let out = run(&["create", "--bundle", b.to_str().unwrap(), "y"]);
    assert_eq!(out.status.code(), Some(1), "create needs the settings");
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.toml"));
    assert!(!record.join("args").exists());
}

/// Every subcommand but create and run goes straight to the runtime, with
/// the environment the engine gave, even none at all (podman calls `kill`
/// and `delete` with no PATH).
#[test]
fn pass_through_subcommands_work_with_an_empty_environment() {
    let fx = Fixture::new();
    let (fake, record) = fake_runtime(fx.dir.path());
    let cases: &[&[&str]] = &[
        &["kill", "c1", "9"],
        &["delete", "--force", "c1"],
        &["state", "c1"],
        &["exec", "--process", "/tmp/p.json", "c1"],
        &["pause", "c1"],
        &["resume", "c1"],
        &["update", "--memory", "1M", "c1"],
        &["ps", "--format", "json", "c1"],
        &["features"],
        &["--version"],
    ];
    for args in cases {
        let _ = std::fs::remove_file(record.join("args"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_linkshim"))
            .arg("--state-dir")
            .arg(&fx.state)
            .args(["runtime", "--runtime", fake.to_str().unwrap(), "--"])
            .args(*args)
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(7),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen = std::fs::read_to_string(record.join("args")).unwrap();
        assert_eq!(seen, format!("{}\n", args.join("\n")), "{args:?}");
    }
}

/// With no PATH, a bare `linkshim-runtime` finds runc or crun in the
/// system's default search path, never in the current directory.
#[test]
fn with_no_path_the_runtime_is_found_in_the_default_path_never_the_cwd() {
    let fx = Fixture::new();
    let cwd = fx.dir.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let marker = fx.dir.path().join("cwd-runtime-ran");
    for name in ["runc", "crun"] {
        let p = cwd.join(name);
        std::fs::write(&p, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let link = fx.dir.path().join("linkshim-runtime");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_linkshim"), &link).unwrap();
    let out = std::process::Command::new(&link)
        .arg("--version")
        .current_dir(&cwd)
        .env_clear()
        .env("LINKSHIM_CONFIG", fx.dir.path().join("none.toml"))
        .env("LINKSHIM_STATE_DIR", &fx.state)
        .output()
        .unwrap();
    assert!(!marker.exists(), "a runtime in the current directory ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let installed = ["runc", "crun"].iter().any(|n| {
        linkshim::runtime::DEFAULT_PATH
            .split(':')
            .any(|d| Path::new(d).join(n).exists())
    });
    if installed {
        assert!(out.status.success(), "{stderr}");
        assert!(
            stdout.starts_with("runc version") || stdout.starts_with("crun version"),
            "{stdout}"
        );
    } else {
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr.contains(linkshim::runtime::DEFAULT_PATH), "{stderr}");
    }
}

/// A runtime whose `run` starts a process (the container's) and writes
/// its pid to `--pid-file` (`--pid-file X` or `--pid-file=X`), prints a
/// line, stays `stay` seconds unless detached, and exits 0; every call is
/// appended to `record/calls`, the container's pid to `record/container`.
/// With `hold`, it first has a process of its own take that lock file
/// (`flock`) and keep it until `record/release` exists.
fn running_runtime(dir: &Path, stay: u32, hold: Option<&Path>) -> (PathBuf, PathBuf) {
    let record = dir.join("record");
    std::fs::create_dir_all(&record).unwrap();
    let script = dir.join("running-runc");
    let hold = match hold {
        Some(lock) => format!(
            r#"flock -x {lock} sh -c 'touch {rec}/locked; n=0; while [ ! -e {rec}/release ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done' </dev/null >/dev/null 2>&1 &
while [ ! -e {rec}/locked ]; do sleep 0.01; done"#,
            lock = lock.display(),
            rec = record.display()
        ),
        None => String::new(),
    };
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
echo "$*" >> {rec}/calls
pidfile= detach= prev=
for a in "$@"; do
    case "$a" in --pid-file=*) pidfile=${{a#--pid-file=}};; -d|--detach) detach=1;; esac
    case "$prev" in --pid-file) pidfile=$a;; esac
    prev=$a
done
{hold}
# A gate (record/gate) holds the container's start until record/release.
if [ -e {rec}/gate ]; then
    n=0; while [ ! -e {rec}/release ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done
fi
if [ -n "$pidfile" ]; then
    sleep 60 </dev/null >/dev/null 2>&1 &
    echo $! > {rec}/container
    echo $! > "$pidfile.tmp" && mv "$pidfile.tmp" "$pidfile"
fi
echo runtime-output
[ -n "$detach" ] || sleep {stay}
exit 0
"#,
            rec = record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, record)
}

/// `run` of `webapp` (linked to `mysql_server` as `db`) through the
/// wrapper in front of `fake`, with `extra` flags after `run`.
fn run_through_wrapper(
    fx: &Fixture,
    fake: &Path,
    extra: &[&str],
) -> (PathBuf, std::process::Output) {
    let (b, mut cmd) = run_command(fx, fake, "webapp", "ctr1", extra);
    (b, cmd.output().unwrap())
}

/// The wrapper's `run` of a container `name` (linked to `mysql_server`
/// as `db`) with id `id`, in the one bundle of `fx`.
fn run_command(
    fx: &Fixture,
    fake: &Path,
    name: &str,
    id: &str,
    extra: &[&str],
) -> (PathBuf, std::process::Command) {
    let b = bundle(
        fx,
        json!({"io.linkshim.name": name, "io.linkshim.links": "mysql_server:db"}),
    );
    let mut args = vec!["--root", "/run/x", "run"];
    args.extend_from_slice(extra);
    args.extend(["--bundle", b.to_str().unwrap(), id]);
    let mut cmd = fx.cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"]);
    cmd.args(&args);
    (b, cmd)
}

/// The `webapp` record, when registered.
fn webapp(fx: &Fixture) -> Option<Value> {
    named(fx, "webapp")
}

/// The record named `name`, when registered.
fn named(fx: &Fixture, name: &str) -> Option<Value> {
    let ls = fx.cmd(&["ls", "--json"]).output().unwrap();
    let list: Value = serde_json::from_slice(&ls.stdout).unwrap();
    list.as_array()?.iter().find(|r| r["name"] == name).cloned()
}

fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    cond()
}

/// The pid the fake runtime gave the container.
fn container_pid(record: &Path) -> i32 {
    std::fs::read_to_string(record.join("container"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// What the runtime was called with: `--pid-file=` in the state directory
/// right after `run`, the rest as given.
fn check_own_pid_file(fx: &Fixture, record: &Path, extra: &[&str]) -> PathBuf {
    let calls = std::fs::read_to_string(record.join("calls")).unwrap();
    let words: Vec<&str> = calls.split_whitespace().collect();
    assert_eq!(&words[..3], &["--root", "/run/x", "run"], "{calls}");
    let pid_file = words[3]
        .strip_prefix("--pid-file=")
        .unwrap_or_else(|| panic!("no --pid-file after run: {calls}"));
    let pid_file = PathBuf::from(pid_file);
    assert_eq!(pid_file.parent(), Some(fx.state.as_path()), "{calls}");
    assert_eq!(&words[4..4 + extra.len()], extra, "{calls}");
    assert_eq!(words.last(), Some(&"ctr1"));
    pid_file
}

#[test]
fn a_foreground_run_is_registered_by_a_helper_while_it_runs() {
    let fx = Fixture::new();
    register_target(&fx, "t1", "mysql_server", "3306", &[]);
    let (fake, record) = running_runtime(fx.dir.path(), 2, None);
    let (b, out) = run_through_wrapper(&fx, &fake, &[]);
    let _reap = Kill(container_pid(&record));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "runtime-output\n");
    let pid_file = check_own_pid_file(&fx, &record, &[]);
    assert!(
        wait_for(|| webapp(&fx).is_some()),
        "webapp is never registered; log:\n{}",
        std::fs::read_to_string(fx.state.join("linkshim.log")).unwrap_or_default()
    );
    let me = webapp(&fx).unwrap();
    assert_eq!(me["id"], "ctr1");
    assert_eq!(me["pid"], container_pid(&record));
    assert!(
        wait_for(|| !pid_file.exists()),
        "the wrapper's pid file {} stays",
        pid_file.display()
    );
    let config = testkit::read_config(&b);
    // The helper sees the container out too: neither hook.
    assert_eq!(config["hooks"]["poststart"], json!([]), "no poststart hook");
    assert_eq!(config["hooks"]["poststop"], json!([]), "no poststop hook");
    let token = config["annotations"]["io.linkshim.internal.token"]
        .as_str()
        .unwrap()
        .to_string();
    let hosts = fx.state.join("hosts").join(&token);
    assert!(hosts.exists(), "its hosts file, while it runs");
    // Its process exits: the helper unregisters it as the poststop did.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(container_pid(&record)),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        wait_for(|| webapp(&fx).is_none() && !hosts.exists()),
        "still registered, or its hosts file left, after its exit; log:\n{}",
        std::fs::read_to_string(fx.state.join("linkshim.log")).unwrap_or_default()
    );
}

#[test]
fn the_helper_holds_none_of_the_callers_descriptors() {
    let fx = Fixture::new();
    register_target(&fx, "t1", "mysql_server", "3306", &[]);
    // Once prepared, the registry's lock is held (by the runtime's own
    // process) until the test says: the helper's registration waits for
    // it, after the runtime has exited.
    let (fake, record) = running_runtime(fx.dir.path(), 0, Some(&fx.state.join("registry.lock")));
    // `output()` reads stdout and stderr to their end: had the helper kept
    // them, it would return only once the helper gave up on the lock.
    let (_, out) = run_through_wrapper(&fx, &fake, &[]);
    let _reap = Kill(container_pid(&record));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        webapp(&fx).is_none(),
        "registered while the lock was held: the output waited on the helper"
    );
    std::fs::write(record.join("release"), "").unwrap();
    assert!(
        wait_for(|| webapp(&fx).is_some()),
        "the helper gave up before the runtime's output ended; log:\n{}",
        std::fs::read_to_string(fx.state.join("linkshim.log")).unwrap_or_default()
    );
}

#[test]
fn a_detached_run_is_registered_when_the_wrapper_returns() {
    let fx = Fixture::new();
    register_target(&fx, "t1", "mysql_server", "3306", &[]);
    let (fake, record) = running_runtime(fx.dir.path(), 0, None);
    let (b, out) = run_through_wrapper(&fx, &fake, &["--detach"]);
    let _reap = Kill(container_pid(&record));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid_file = check_own_pid_file(&fx, &record, &["--detach"]);
    let me = webapp(&fx).expect("registered by the time the wrapper returns");
    assert_eq!(me["pid"], container_pid(&record));
    assert!(!pid_file.exists(), "the wrapper's pid file is removed");
    let config = testkit::read_config(&b);
    assert_eq!(config["hooks"]["poststart"], json!([]));
}

/// Its bundle may hold another container's config by the time a
/// foreground run's helper registers it (a bundle used again, as the
/// benchmark does): it is registered as it was prepared, under its own
/// name and token, and the other container's hosts file stays.
#[test]
fn a_late_registration_is_of_the_config_as_prepared_not_the_bundle_now() {
    let fx = Fixture::new();
    register_target(&fx, "t1", "mysql_server", "3306", &[]);
    let (fake, record) = running_runtime(fx.dir.path(), 1, None);
    // The first run's container starts only once the test says.
    std::fs::write(record.join("gate"), "").unwrap();
    let (_, mut first) = run_command(&fx, &fake, "webapp", "ctr1", &[]);
    let mut first = first.spawn().unwrap();
    assert!(wait_for(
        || std::fs::read_to_string(record.join("calls")).is_ok_and(|c| c.lines().count() == 1)
    ));
    std::fs::remove_file(record.join("gate")).unwrap();
    // Meanwhile the bundle is prepared for another container, which runs.
    let (b, mut second) = run_command(&fx, &fake, "otherapp", "ctr2", &["--detach"]);
    let out = second.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = named(&fx, "otherapp").expect("otherapp registered");
    let _reap_other = Kill(other["pid"].as_i64().unwrap() as i32);
    let config = testkit::read_config(&b);
    let other_token = config["annotations"]["io.linkshim.internal.token"]
        .as_str()
        .expect("a token")
        .to_string();
    std::fs::write(record.join("release"), "").unwrap();
    assert!(first.wait().unwrap().success());
    assert!(
        wait_for(|| webapp(&fx).is_some()),
        "webapp never registered; log:\n{}",
        std::fs::read_to_string(fx.state.join("linkshim.log")).unwrap_or_default()
    );
    let me = webapp(&fx).unwrap();
    let _reap = Kill(me["pid"].as_i64().unwrap() as i32);
    assert_eq!(me["id"], "ctr1");
    assert_eq!(named(&fx, "otherapp").unwrap()["id"], "ctr2");
    assert!(
        fx.state.join("hosts").join(&other_token).exists(),
        "otherapp's hosts file is gone"
    );
}
