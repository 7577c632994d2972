//! Bounded waits and registry faults, on the binary: a registry lock held
//! by another process (starts fail within their budget, stops go on), `gc`
//! and `gc --repair`, a registry that is no database, a corrupt row, and a
//! full disk.

mod support;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use linkshim::links::annotation::Name;
use linkshim::registry::{Record, Registry};
use nix::fcntl::{Flock, FlockArg};
use serde_json::{Value, json};
use support::{Fixture, register_target};

/// Far longer than any budget here: a wait that reaches it is unbounded.
const HARNESS: Duration = Duration::from_secs(120);

/// Run `cmd` with `input` on stdin, failing the test if it has not
/// returned within `HARNESS`.
fn run_bounded(mut cmd: Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > HARNESS {
            child.kill().unwrap();
            panic!("{cmd:?} still waits after {HARNESS:?}: the wait is not bounded");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `linkshim ARGS` in `fx`, with a config file holding `config`.
fn cmd_with(fx: &Fixture, config: &str, args: &[&str]) -> Command {
    let file = fx.dir.path().join("linkshim.toml");
    std::fs::write(&file, config).unwrap();
    let mut c = fx.cmd(args);
    c.env("LINKSHIM_CONFIG", &file);
    c
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A runc config annotated with `annotations`.
fn config(annotations: Value) -> Vec<u8> {
    let mut c: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    c["annotations"] = annotations;
    serde_json::to_vec(&c).unwrap()
}

/// Hold the registry's write lock as another process would (another open
/// file description).
fn hold_lock(fx: &Fixture) -> Flock<std::fs::File> {
    linkshim::state_dir::ensure(&fx.state).unwrap();
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(Registry::lock_path(&fx.state))
        .unwrap();
    Flock::lock(file, FlockArg::LockExclusive).unwrap()
}

#[test]
fn a_held_lock_fails_a_start_within_its_budget_with_a_clear_error() {
    let fx = Fixture::new();
    register_target(&fx, "tgt-db", "db", "5432", &[]);
    let _held = hold_lock(&fx);
    // A replica reserves its slot at create time: a write.
    let input = config(
        json!({"io.linkshim.name": "web-1", "io.linkshim.service": "web",
                               "io.linkshim.links": "db"}),
    );
    let out = run_bounded(
        cmd_with(&fx, "lock_timeout = \"1s\"\n", &["hook", "precreate"]),
        &input,
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(out.stdout.is_empty(), "no config on stdout on failure");
    let lock = Registry::lock_path(&fx.state);
    assert!(
        err.contains(&format!(
            "registry lock {}: held by another process for more than 1s (pid {})",
            lock.display(),
            std::process::id()
        )),
        "{err}"
    );
    assert!(err.contains("see `linkshim doctor`"), "{err}");
    assert!(err.contains("container \"web-1\""), "{err}");
}

#[test]
fn a_held_lock_fails_a_first_start_too_and_doctor_names_the_holder() {
    let fx = Fixture::new();
    let _held = hold_lock(&fx);
    // No registry yet: creating it is a write.
    let input = config(json!({"io.linkshim.name": "solo"}));
    let out = run_bounded(
        cmd_with(&fx, "lock_timeout = \"300ms\"\n", &["hook", "precreate"]),
        &input,
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("held by another process for more than 300ms"),
        "{err}"
    );
    let out = run_bounded(fx.cmd(&["doctor"]), b"");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains(&format!("is held by pid {}", std::process::id())),
        "{report}"
    );
}

#[test]
fn a_held_lock_never_holds_up_a_stop() {
    let fx = Fixture::new();
    // A container that is registered, and stops while the lock is held.
    let child = Command::new("sleep").arg("60").spawn().unwrap();
    let mut child = scopeguard(child);
    linkshim::state_dir::ensure(&fx.state).unwrap();
    let rec =
        Record::new("c-stop", Name::parse("t", "stopper").unwrap()).owned_by(child.0.id() as i32);
    let token = "88888888888888888888888888888888";
    Registry::open(&fx.state)
        .unwrap()
        .register(&rec, Some(token))
        .unwrap();
    std::fs::write(hosts(&fx, token), "127.0.0.1 localhost\n").unwrap();
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let held = hold_lock(&fx);
    let state = json!({"ociVersion": "1.0.2", "id": "c-stop", "status": "stopped"});
    let out = run_bounded(
        cmd_with(
            &fx,
            "stop_lock_timeout = \"500ms\"\n",
            &["hook", "poststop", "--token", token],
        ),
        &serde_json::to_vec(&state).unwrap(),
    );
    let err = stderr(&out);
    assert!(out.status.success(), "a stop is never failed: {err}");
    assert!(err.contains("container c-stop: not unregistered"), "{err}");
    assert!(
        err.contains("held by another process for more than 500ms"),
        "{err}"
    );
    let log = std::fs::read_to_string(fx.state.join("linkshim.log")).unwrap();
    assert!(log.contains("not unregistered"), "the log says so: {log}");
    assert!(
        hosts(&fx, token).exists(),
        "the registry could not say whose the token is: the file is left to a sweep"
    );
    drop(held);
    // gc clears what the stop left.
    age(&hosts(&fx, token), 3600);
    let out = run_bounded(fx.cmd(&["gc"]), b"");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        report.contains("removed stale record \"stopper\" (container c-stop"),
        "{report}"
    );
    assert!(!hosts(&fx, token).exists(), "{report}");
}

/// A child killed when the test ends, however it ends.
struct ChildGuard(std::process::Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
fn scopeguard(c: std::process::Child) -> ChildGuard {
    ChildGuard(c)
}

/// Set a file's modification time `secs` into the past.
fn age(path: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

fn hosts(fx: &Fixture, token: &str) -> PathBuf {
    linkshim::state_dir::hosts_file(&fx.state, token).unwrap()
}

#[test]
fn gc_removes_stale_records_and_orphans_and_keeps_the_live() {
    let fx = Fixture::new();
    linkshim::state_dir::ensure(&fx.state).unwrap();
    let (live, stale, orphan, young) = (
        "11111111111111111111111111111111",
        "22222222222222222222222222222222",
        "33333333333333333333333333333333",
        "44444444444444444444444444444444",
    );
    // Created and not started: held in this boot, and in a boot before.
    let (waiting, before) = (
        "66666666666666666666666666666666",
        "77777777777777777777777777777777",
    );
    let mut reg = Registry::open(&fx.state).unwrap();
    let me = std::process::id() as i32;
    reg.register(
        &Record::new("c-live", Name::parse("t", "alive").unwrap()).owned_by(me),
        Some(live),
    )
    .unwrap();
    let mut gone = Record::new("c-gone", Name::parse("t", "gone").unwrap()).owned_by(me);
    gone.boot_id = "a-boot-before-this-one".into();
    reg.register(&gone, Some(stale)).unwrap();
    // A reservation whose create never started.
    reg.reserve(
        &linkshim::model::default_scope(),
        &Name::parse("t", "svc").unwrap(),
        &Name::parse("t", "svc-1").unwrap(),
        "55555555555555555555555555555555",
    )
    .unwrap();
    let dflt = linkshim::model::default_scope();
    reg.hold_token(waiting, &dflt, &Name::parse("t", "waiting").unwrap())
        .unwrap();
    reg.hold_token(before, &dflt, &Name::parse("t", "before").unwrap())
        .unwrap();
    drop(reg);
    let conn = rusqlite::Connection::open(Registry::db_path(&fx.state)).unwrap();
    conn.execute("UPDATE reservations SET created = created - 100000", [])
        .unwrap();
    conn.execute(
        "UPDATE holds SET boot_id = 'a-boot-before-this-one', created = created - 100000 WHERE token = ?1",
        [before],
    )
    .unwrap();
    conn.execute("UPDATE holds SET created = created - 100000", [])
        .unwrap();
    drop(conn);
    let lock_of = |t: &str| linkshim::hosts_file::lock_path(&hosts(&fx, t));
    for t in [live, stale, orphan, young, waiting, before] {
        std::fs::write(hosts(&fx, t), "127.0.0.1 localhost\n").unwrap();
    }
    for t in [live, orphan, waiting] {
        std::fs::write(lock_of(t), "").unwrap();
        age(&lock_of(t), 3600);
    }
    for t in [live, stale, orphan, waiting, before] {
        age(&hosts(&fx, t), 3600);
    }

    let out = run_bounded(fx.cmd(&["gc"]), b"");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        report.contains("removed stale record \"gone\" (container c-gone"),
        "{report}"
    );
    assert!(
        report.contains("removed 1 expired reservation(s)"),
        "{report}"
    );
    assert!(
        report.contains("removed 1 hold(s) of a previous boot"),
        "{report}"
    );
    for t in [stale, orphan, before] {
        assert!(
            report.contains(&format!(
                "removed orphan hosts file {}",
                hosts(&fx, t).display()
            )),
            "{report}"
        );
        assert!(!hosts(&fx, t).exists(), "{t} removed");
    }
    assert!(
        report.contains(&format!(
            "removed orphan lock file {}",
            lock_of(orphan).display()
        )),
        "{report}"
    );
    assert!(!lock_of(orphan).exists(), "its lock file goes with it");
    assert!(hosts(&fx, live).exists(), "a live record's file is kept");
    assert!(lock_of(live).exists(), "and its lock file");
    assert!(
        hosts(&fx, waiting).exists() && lock_of(waiting).exists(),
        "a container created in this boot and not started yet keeps its files, however old"
    );
    assert!(
        hosts(&fx, young).exists(),
        "a young file may be a create under way: kept"
    );
    assert!(!report.contains("alive"), "{report}");
    let mut reg = Registry::open(&fx.state).unwrap();
    let names: Vec<String> = reg
        .list()
        .unwrap()
        .into_iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(names, vec!["alive"]);
    assert!(reg.token_held(waiting).unwrap(), "this boot's hold is kept");
    drop(reg);
    let holds: i64 = rusqlite::Connection::open(Registry::db_path(&fx.state))
        .unwrap()
        .query_row("SELECT count(*) FROM holds", [], |r| r.get(0))
        .unwrap();
    assert_eq!(holds, 1, "only the hold of this boot is left");

    let again = run_bounded(fx.cmd(&["gc"]), b"");
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "nothing to collect\n",
        "idempotent"
    );
}

#[test]
fn a_registry_that_is_no_database_names_the_repair_and_the_repair_works() {
    let fx = Fixture::new();
    linkshim::state_dir::ensure(&fx.state).unwrap();
    let db = Registry::db_path(&fx.state);
    std::fs::write(&db, "this is no database, ".repeat(400)).unwrap();
    let input = config(json!({"io.linkshim.name": "web"}));
    let out = run_bounded(fx.cmd(&["hook", "precreate"]), &input);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("the database is corrupt or not a registry"),
        "{err}"
    );
    assert!(err.contains("`linkshim gc --repair`"), "{err}");
    assert!(!err.contains("Error code"), "no SQLite code numbers: {err}");

    let out = run_bounded(fx.cmd(&["gc", "--repair"]), b"");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}\n{report}", stderr(&out));
    assert!(report.contains("registry: damaged"), "{report}");
    let aside: Vec<PathBuf> = std::fs::read_dir(&fx.state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("registry.db.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(
        report.contains(&format!("moved aside to {}", aside[0].display())),
        "{report}"
    );
    assert_eq!(
        std::fs::read_to_string(&aside[0]).unwrap(),
        "this is no database, ".repeat(400),
        "the damaged file is kept as it was"
    );

    let out = run_bounded(fx.cmd(&["hook", "precreate"]), &input);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = run_bounded(fx.cmd(&["doctor", "--repair"]), b"");
    let report = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{}\n{report}", stderr(&again));
    assert!(report.contains("registry: sound, kept"), "{report}");
}

#[test]
fn a_corrupt_row_is_named_and_repair_removes_only_it() {
    let fx = Fixture::new();
    register_target(&fx, "c-good", "good", "80", &[]);
    register_target(&fx, "c-bad", "bad", "80", &[]);
    rusqlite::Connection::open(Registry::db_path(&fx.state))
        .unwrap()
        .execute(
            "UPDATE containers SET links = '[\"not a link!\"]' WHERE id = 'c-bad'",
            [],
        )
        .unwrap();
    let out = run_bounded(fx.cmd(&["ls"]), b"");
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("container \"c-bad\", column links"), "{err}");
    assert!(err.contains("`linkshim gc --repair`"), "{err}");

    let out = run_bounded(fx.cmd(&["gc", "--repair"]), b"");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}\n{report}", stderr(&out));
    assert!(report.contains("registry: sound, kept"), "{report}");
    assert!(
        report.contains("removed unreadable row: container \"c-bad\", column links"),
        "{report}"
    );
    let out = run_bounded(fx.cmd(&["ls", "--json"]), b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["id"], "c-good");
}

/// A tmpfs of a few pages, mounted for one test and unmounted after it.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// None (after saying why) when tmpfs cannot be mounted here.
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(at)
            .status();
        match status {
            Ok(s) if s.success() => Some(Tmpfs(at.to_path_buf())),
            other => {
                if std::env::var("LINKSHIM_E2E").as_deref() == Ok("required") {
                    panic!("cannot mount a tmpfs (root needed): {other:?}");
                }
                eprintln!("SKIP full disk: cannot mount a tmpfs (root needed): {other:?}");
                None
            }
        }
    }

    /// Fill it to the last byte.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling: {e}"),
            }
        }
        let _ = f.write_all(&[0]);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_says_no_space_left() {
    let fx = Fixture::new();
    let Some(fs) = Tmpfs::mount(&fx.state, "256k") else {
        return;
    };
    register_target(&fx, "c-db", "db", "5432", &[]);
    fs.fill();
    // A replica's create reserves its slot: a write to a full disk.
    let input = config(
        json!({"io.linkshim.name": "web-1", "io.linkshim.service": "web",
                               "io.linkshim.links": "db"}),
    );
    let out = run_bounded(fx.cmd(&["hook", "precreate"]), &input);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.to_lowercase().contains("no space left on device"),
        "{err}"
    );
    assert!(!err.contains("Error code"), "no SQLite code numbers: {err}");
    assert!(out.stdout.is_empty(), "no config on stdout on failure");
}

#[test]
fn clearing_stale_records_in_passing_never_waits_on_the_lock() {
    let fx = Fixture::new();
    register_target(&fx, "c-live", "live", "80", &[]);
    let mut stale = Record::new("c-old", Name::parse("t", "old").unwrap());
    stale.boot_id = "a-boot-before-this-one".into();
    Registry::open(&fx.state)
        .unwrap()
        .register(&stale, None)
        .unwrap();
    let _held = hold_lock(&fx);
    // A start that only reads: it finds a stale record, which it would
    // clear when the lock is free. A wait of lock_timeout (1h) would
    // outlast the harness.
    let input = config(json!({"io.linkshim.name": "web", "io.linkshim.links": "live old"}));
    let out = run_bounded(
        cmd_with(&fx, "lock_timeout = \"1h\"\n", &["hook", "precreate"]),
        &input,
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("link \"old\""), "{err}");
    assert!(!err.contains("registry lock"), "{err}");
}

#[test]
fn a_held_lock_fails_a_wrapped_create_within_its_budget_and_the_runtime_never_runs() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    register_target(&fx, "tgt-db", "db", "5432", &[]);
    let ran = fx.dir.path().join("runtime-ran");
    let fake = fx.dir.path().join("fake-runc");
    std::fs::write(&fake, format!("#!/bin/sh\ntouch {}\n", ran.display())).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bundle = fx.dir.path().join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    let input = config(
        json!({"io.linkshim.name": "web-1", "io.linkshim.service": "web",
                               "io.linkshim.links": "db"}),
    );
    std::fs::write(bundle.join("config.json"), &input).unwrap();
    let _held = hold_lock(&fx);
    let mut cmd = cmd_with(&fx, "lock_timeout = \"1s\"\n", &["runtime", "--runtime"]);
    cmd.arg(&fake)
        .args(["create", "--bundle"])
        .arg(&bundle)
        .arg("ctr1");
    let out = run_bounded(cmd, b"");
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("held by another process for more than 1s"),
        "{err}"
    );
    assert!(
        !ran.exists(),
        "the runtime is not run after a failed prepare"
    );
    assert_eq!(
        std::fs::read(bundle.join("config.json")).unwrap(),
        input,
        "the config is left as it was"
    );
}

#[test]
fn a_registry_held_by_sqlite_itself_fails_within_the_budget_in_words() {
    let fx = Fixture::new();
    register_target(&fx, "tgt-db", "db", "5432", &[]);
    // Another process in a write transaction, without linkshim's lock.
    let conn = rusqlite::Connection::open(Registry::db_path(&fx.state)).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let input = config(json!({"io.linkshim.name": "web-1", "io.linkshim.service": "web"}));
    let out = run_bounded(
        cmd_with(&fx, "lock_timeout = \"500ms\"\n", &["hook", "precreate"]),
        &input,
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("the database is locked by another process for longer than the lock budget"),
        "{err}"
    );
    assert!(!err.contains("Error code"), "no SQLite code numbers: {err}");
    conn.execute_batch("ROLLBACK").unwrap();
}
