//! The binary's one logging path: what reaches `linkshim.log`, the
//! runtime's `--log` file and stderr, at which level, and that no log path
//! can hang a start.

mod support;

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Fixture, register_target};

/// Run `cmd` with `input` on stdin; fail the test if it is not done
/// within `limit` (the child is killed first, so a hang cannot wedge the suite).
fn bounded(mut cmd: Command, input: &[u8], limit: Duration) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Small inputs fit in the pipe: this write never waits on the child.
    // A child that fails before it reads its stdin (a broken config file)
    // may have closed the pipe already: its exit and output still count.
    let mut stdin = child.stdin.take().unwrap();
    match stdin.write_all(input) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.unwrap(),
    }
    drop(stdin);
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?} (killed); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const LIMIT: Duration = Duration::from_secs(20);

/// A fake runtime that exits 7 and does nothing else.
fn fake_runtime(dir: &Path) -> PathBuf {
    let script = dir.join("fake-runc");
    std::fs::write(&script, "#!/bin/sh\nexit 7\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn bundle(fx: &Fixture, annotations: Value) -> PathBuf {
    let b = fx.dir.path().join("bundle");
    std::fs::create_dir_all(&b).unwrap();
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = annotations;
    std::fs::write(b.join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    b
}

fn podman_config(annotations: Value) -> Vec<u8> {
    let mut config: Value = serde_json::from_str(&Fixture::read("podman-4.3-config.json")).unwrap();
    for (k, v) in annotations.as_object().unwrap() {
        config["annotations"][k] = v.clone();
    }
    serde_json::to_vec(&config).unwrap()
}

fn log_of(fx: &Fixture) -> String {
    std::fs::read_to_string(fx.state.join("linkshim.log")).unwrap_or_default()
}

fn wrapper_create(fx: &Fixture, fake: &Path, b: &Path, log: &Path, format: &str) -> Output {
    let mut cmd = fx.cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"]);
    cmd.args(["--log", log.to_str().unwrap(), "--log-format", format])
        .args(["create", "--bundle", b.to_str().unwrap(), "ctr1"]);
    bounded(cmd, b"", LIMIT)
}

#[test]
fn a_wrapper_failure_reaches_linkshim_log_and_the_runtime_log_in_json() {
    let fx = Fixture::new();
    let fake = fake_runtime(fx.dir.path());
    let b = bundle(
        &fx,
        json!({"io.linkshim.name": "webapp", "io.linkshim.links": "nosuch:db"}),
    );
    let log = fx.dir.path().join("runc-log.json");
    let out = wrapper_create(&fx, &fake, &b, &log, "json");
    assert_eq!(out.status.code(), Some(1));
    let want = "link \"nosuch:db\": could not get container for nosuch";
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(want), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line per error: {stderr}");

    let ours = log_of(&fx);
    let line = ours.lines().find(|l| l.contains(want)).unwrap_or_else(|| {
        panic!("not in linkshim.log: {ours}");
    });
    assert!(
        line.contains(" ERROR runtime create: container \"webapp\""),
        "{line}"
    );
    let mode = std::fs::metadata(fx.state.join("linkshim.log"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let engine = std::fs::read_to_string(&log).unwrap();
    assert_eq!(engine.lines().count(), 1, "{engine}");
    let v: Value = serde_json::from_str(engine.trim_end()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["level", "msg", "time"]);
    assert_eq!(v["level"], "error");
    let msg = v["msg"].as_str().unwrap();
    assert!(msg.starts_with("linkshim: container \"webapp\""), "{msg}");
    assert!(msg.contains(want), "{msg}");
}

#[test]
fn a_wrapper_failure_reaches_a_text_runtime_log_as_runc_writes_it() {
    let fx = Fixture::new();
    let fake = fake_runtime(fx.dir.path());
    let b = bundle(&fx, json!({"io.linkshim.links": "nosuch"}));
    let log = fx.dir.path().join("runc.log");
    let out = wrapper_create(&fx, &fake, &b, &log, "text");
    assert_eq!(out.status.code(), Some(1));
    let engine = std::fs::read_to_string(&log).unwrap();
    let line = engine.lines().next().unwrap();
    assert!(line.starts_with("time=\""), "{line}");
    assert!(
        line.contains("\" level=error msg=\"linkshim: container ")
            && line.contains("link \\\"nosuch\\\": could not get container for nosuch"),
        "{line}"
    );
}

#[test]
fn a_hook_failure_reaches_linkshim_log() {
    let fx = Fixture::new();
    let out = support::precreate(
        &fx,
        &podman_config(json!({"io.linkshim.name": "web", "io.linkshim.links": "nosuch"})),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let log = log_of(&fx);
    assert!(
        log.contains(" ERROR hook precreate: container \"web\": link \"nosuch\": could not get container for nosuch"),
        "{log}"
    );
}

#[test]
fn at_debug_a_successful_precreate_records_each_links_target_and_address() {
    let fx = Fixture::new();
    register_target(
        &fx,
        "t1",
        "mysql_server",
        "3306",
        &[("MYSQL_PASSWORD", "s3cret-value")],
    );
    let input = podman_config(json!({"io.linkshim.name": "webapp",
                                     "io.linkshim.links": "mysql_server:db"}));

    // The default level leaves a successful start silent.
    let out = bounded(fx.cmd(&["hook", "precreate"]), &input, LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(log_of(&fx), "", "nothing logged by default on success");
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        hook_env(&config, "poststart").len(),
        1,
        "only PATH by default"
    );

    let mut cmd = fx.cmd(&["hook", "precreate"]);
    cmd.env("LINKSHIM_LOG", "debug");
    let out = bounded(cmd, &input, LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // stdout is the config and nothing else.
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        config["process"]["env"]
            .as_array()
            .unwrap()
            .contains(&json!("DB_ENV_MYSQL_PASSWORD=s3cret-value"))
    );
    // The hooks linkshim adds log at the level it was asked for.
    for stage in ["poststart", "poststop"] {
        assert!(
            hook_env(&config, stage).contains(&json!("LINKSHIM_LOG=debug")),
            "{stage}"
        );
    }
    let log = log_of(&fx);
    for want in [
        "DEBUG hook precreate: \"webapp\": link \"db\" -> \"mysql_server\" (id t1) at [10.0.0.2]",
        "DEBUG hook precreate: container \"webapp\": hosts token ",
        "DB_ENV_MYSQL_PASSWORD",
    ] {
        assert!(log.contains(want), "{want:?} not in {log}");
    }
    assert!(
        !log.contains("s3cret-value"),
        "an env value was logged: {log}"
    );
}

/// The `env` of linkshim's hook of `stage` in a config.
fn hook_env(config: &Value, stage: &str) -> Vec<Value> {
    let hooks = config["hooks"][stage].as_array().unwrap();
    let ours: Vec<&Value> = hooks
        .iter()
        .filter(|h| h["args"].as_array().unwrap().contains(&json!(stage)))
        .collect();
    assert_eq!(ours.len(), 1, "{hooks:?}");
    ours[0]["env"].as_array().unwrap().clone()
}

#[test]
fn at_debug_poststart_records_what_it_registered_and_poststop_what_it_removed() {
    let fx = Fixture::new();
    let b = fx.dir.path().join("bundle");
    std::fs::create_dir_all(&b).unwrap();
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = json!({"io.linkshim.name": "db", "io.linkshim.expose": "5432"});
    config["process"]["env"] = json!(["PATH=/bin", "PGPASSWORD=hunter2"]);
    for ns in config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!("/proc/self/ns/net");
        }
    }
    std::fs::write(b.join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    let state = json!({"ociVersion": "1.0.2", "id": "c0ffee", "status": "running",
                       "pid": std::process::id(), "bundle": b});
    let state = serde_json::to_vec(&state).unwrap();
    for stage in ["poststart", "poststop"] {
        let mut cmd = fx.cmd(&["hook", stage]);
        cmd.env("LINKSHIM_LOG", "debug");
        let out = bounded(cmd, &state, LIMIT);
        assert!(
            out.status.success(),
            "{stage}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = log_of(&fx);
    for want in [
        "DEBUG hook poststart: container \"db\" (id c0ffee): registered at [",
        "DEBUG hook poststop: container \"db\" (id c0ffee): unregistered",
    ] {
        assert!(log.contains(want), "{want:?} not in {log}");
    }
    assert!(!log.contains("hunter2"), "an env value was logged: {log}");
}

#[test]
fn logs_mask_url_passwords_and_cut_long_input() {
    let fx = Fixture::new();
    let long = "a".repeat(20_000);
    let cases = [
        (
            json!({"io.linkshim.name": "web", "io.linkshim.url": "postgres://app:hunter2@db:99999/x"}),
            "hunter2",
        ),
        (
            json!({"io.linkshim.name": "web", "io.linkshim.links": format!("{long}:")}),
            long.as_str(),
        ),
    ];
    for (annotations, secret) in cases {
        let out = support::precreate(&fx, &podman_config(annotations));
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let log = log_of(&fx);
        for (what, text) in [("stderr", &*stderr), ("linkshim.log", &*log)] {
            assert!(text.contains("container \"web\""), "{what}: {text}");
            assert!(
                !text.contains(secret),
                "{what} holds the input whole: {text}"
            );
        }
    }
    let log = log_of(&fx);
    assert!(log.contains("postgres://app:***@db:99999/x"), "{log}");
    assert!(log.contains("more bytes]"), "{log}");
    assert!(log.len() < 8192, "{} bytes", log.len());
}

/// A FIFO where a log file should be: with no reader (an open without
/// O_NONBLOCK would wait forever), and with a reader that never reads.
#[test]
fn a_fifo_as_a_log_path_never_blocks() {
    let fx = Fixture::new();
    let fake = fake_runtime(fx.dir.path());
    let b = bundle(&fx, json!({"io.linkshim.links": "nosuch"}));
    linkshim::state_dir::ensure(&fx.state).unwrap();
    let mkfifo = |p: &Path| {
        nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    };
    let engine_fifo = fx.dir.path().join("runc-log.fifo");
    mkfifo(&engine_fifo);
    mkfifo(&fx.state.join("linkshim.log"));

    for with_reader in [false, true] {
        let readers = with_reader.then(|| {
            [&engine_fifo, &fx.state.join("linkshim.log")].map(|p| {
                std::fs::File::options()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(p)
                    .unwrap()
            })
        });
        let out = wrapper_create(&fx, &fake, &b, &engine_fifo, "json");
        assert_eq!(out.status.code(), Some(1), "reader: {with_reader}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("could not get container for nosuch")
        );
        let out = support::precreate(&fx, &podman_config(json!({"io.linkshim.links": "nosuch"})));
        assert_eq!(out.status.code(), Some(1));
        if let Some(readers) = readers {
            for mut r in readers {
                let mut buf = Vec::new();
                let _ = std::io::Read::read_to_end(&mut r, &mut buf);
                assert!(
                    buf.is_empty(),
                    "a FIFO got log lines: {:?}",
                    String::from_utf8_lossy(&buf)
                );
            }
        }
    }
}

#[test]
fn a_broken_config_file_never_fails_a_poststop_with_its_settings_on_argv() {
    let fx = Fixture::new();
    let conf = fx.dir.path().join("broken.toml");
    std::fs::write(&conf, "this is = = not toml").unwrap();
    let persist = fx.dir.path().join("persist");
    let state = json!({"ociVersion": "1.0.2", "id": "gone1", "status": "stopped"});
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linkshim"));
    cmd.arg("--state-dir")
        .arg(&fx.state)
        .arg("--persist-dir")
        .arg(&persist)
        .args(["hook", "poststop", "--token", &"ab".repeat(16)])
        .env("LINKSHIM_CONFIG", &conf)
        .env_remove("LINKSHIM_STATE_DIR")
        .env_remove("LINKSHIM_PERSIST_DIR");
    let out = bounded(cmd, &serde_json::to_vec(&state).unwrap(), LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = log_of(&fx);
    assert!(
        log.contains(" WARN hook poststop: ") && log.contains("broken.toml"),
        "the broken file is logged in the state dir the flags name: {log}"
    );
    let default_log = std::fs::read_to_string("/run/linkshim/linkshim.log").unwrap_or_default();
    assert!(!default_log.contains(conf.to_str().unwrap()));

    // Without the directories on argv the file is needed: a clear failure,
    // logged in the state dir the environment names.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linkshim"));
    cmd.args(["hook", "poststop"])
        .env("LINKSHIM_CONFIG", &conf)
        .env("LINKSHIM_STATE_DIR", &fx.state)
        .env_remove("LINKSHIM_PERSIST_DIR");
    let out = bounded(cmd, &serde_json::to_vec(&state).unwrap(), LIMIT);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.toml"));
    assert!(
        log_of(&fx).contains(" ERROR hook poststop: "),
        "{}",
        log_of(&fx)
    );
}

#[test]
fn what_linkshim_creates_in_the_state_dir_is_0600_and_the_runtime_keeps_the_engines_umask() {
    let fx = Fixture::new();
    let input = podman_config(json!({"io.linkshim.name": "web1", "io.linkshim.service": "web"}));
    let mut cmd = fx.cmd(&["hook", "precreate"]);
    cmd.env("LINKSHIM_LOG", "debug");
    let out = bounded(cmd, &input, LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&fx.state).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_file() {
            let name = entry.file_name().into_string().unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
            seen.push(name);
        }
    }
    seen.sort();
    for want in ["linkshim.log", "registry.db", "registry.lock"] {
        assert!(seen.iter().any(|s| s == want), "{want} not in {seen:?}");
    }

    // The wrapper's own umask is not the runtime's.
    let script = fx.dir.path().join("umask-runc");
    let record = fx.dir.path().join("umask");
    std::fs::write(
        &script,
        format!("#!/bin/sh\numask > {}\nexit 7\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = fx.cmd(&[
        "runtime",
        "--runtime",
        script.to_str().unwrap(),
        "--",
        "state",
        "x",
    ]);
    cmd.pre_exec_umask(0o022);
    let out = bounded(cmd, b"", LIMIT);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(std::fs::read_to_string(&record).unwrap().trim(), "0022");
}

/// Start a command under a given umask.
trait UmaskExt {
    fn pre_exec_umask(&mut self, mask: u32) -> &mut Self;
}

impl UmaskExt for Command {
    #[allow(unsafe_code)]
    fn pre_exec_umask(&mut self, mask: u32) -> &mut Self {
        use std::os::unix::process::CommandExt;
        let mode = nix::sys::stat::Mode::from_bits_truncate(mask);
        // SAFETY: umask is async-signal-safe and touches no memory of the parent.
        unsafe {
            self.pre_exec(move || {
                nix::sys::stat::umask(mode);
                Ok(())
            })
        }
    }
}
