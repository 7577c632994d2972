//! Hostile input to identity, at the binary's level: whoever starts a
//! container controls all of its config (annotations, linkshim's own
//! internal ones, its id), and must never change what another container
//! sees: its hosts token, its id, its scope.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use support::{Fixture, run_with_stdin};

const TOKEN: &str = "io.linkshim.internal.token";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A bundle `dir/<name>` whose config carries `annotations` and `env`,
/// in this process's network namespace.
fn bundle(fx: &Fixture, name: &str, annotations: Value, env: &[&str]) -> PathBuf {
    let b = fx.dir.path().join(name);
    std::fs::create_dir_all(&b).unwrap();
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = annotations;
    config["process"]["env"] = json!(env);
    for ns in config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!("/proc/self/ns/net");
        }
    }
    std::fs::write(b.join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    b
}

/// `hook poststart` for container `id` of `bundle`, owned by process `pid`.
fn poststart(fx: &Fixture, id: &str, pid: u32, bundle: &Path) -> Output {
    let state = json!({"ociVersion": "1.0.2", "id": id, "status": "running", "pid": pid,
                       "bundle": bundle});
    run_with_stdin(
        fx.cmd(&["hook", "poststart"]),
        &serde_json::to_vec(&state).unwrap(),
    )
}

/// `hook poststop --token TOKEN` for container `id`.
fn poststop(fx: &Fixture, id: &str, token: &str) -> Output {
    let state = json!({"ociVersion": "1.0.2", "id": id, "status": "stopped"});
    run_with_stdin(
        fx.cmd(&["hook", "poststop", "--token", token]),
        &serde_json::to_vec(&state).unwrap(),
    )
}

/// `hook precreate` on a config with `annotations` and `env`; the prepared
/// config on success.
fn precreate(fx: &Fixture, annotations: Value, env: &[&str]) -> Result<Value, String> {
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = annotations;
    config["process"]["env"] = json!(env);
    let out = support::precreate(fx, &serde_json::to_vec(&config).unwrap());
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        assert!(out.stdout.is_empty(), "nothing on stdout on failure");
        Err(stderr(&out))
    }
}

fn env_of(config: &Value) -> Vec<String> {
    config["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn token_of(config: &Value) -> String {
    config["annotations"][TOKEN].as_str().unwrap().to_string()
}

fn ls(fx: &Fixture) -> Vec<Value> {
    let out = fx.cmd(&["ls", "--json", "--show-env"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// A long-lived child process: a second "container" process.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn new() -> Sleeper {
        Sleeper(
            std::process::Command::new("sleep")
                .arg("60")
                .spawn()
                .unwrap(),
        )
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_copied_token_never_reaches_the_victims_hosts_file_or_slot() {
    let fx = Fixture::new();
    let target = bundle(&fx, "db", json!({"io.linkshim.name": "db"}), &["A=1"]);
    let out = poststart(&fx, "db1", std::process::id(), &target);
    assert!(out.status.success(), "{}", stderr(&out));

    // The victim: a replica linking to db, created (slot reserved), then started.
    let victim_ann = json!({"io.linkshim.name": "web-1", "io.linkshim.service": "web", "io.linkshim.links": "db"});
    let victim = precreate(&fx, victim_ann.clone(), &[]).unwrap();
    let token = token_of(&victim);
    assert!(env_of(&victim).contains(&"LINKSHIM_INDEX=1".to_string()));
    let hosts = fx.state.join("hosts").join(&token);
    let before = std::fs::read(&hosts).unwrap();
    let inode = std::fs::metadata(&hosts).unwrap().ino();

    // A thief carries the victim's token while the victim is being created:
    // it is given a token of its own, and the slot stays the victim's.
    let mut thief_ann = json!({"io.linkshim.name": "web-2", "io.linkshim.service": "web",
                               "io.linkshim.links": "db"});
    thief_ann[TOKEN] = json!(token);
    let thief = precreate(&fx, thief_ann.clone(), &[]).unwrap();
    let thief_token = token_of(&thief);
    assert_ne!(thief_token, token, "a held token is not handed out again");
    assert!(
        env_of(&thief).contains(&"LINKSHIM_INDEX=2".to_string()),
        "the victim's reserved slot is not taken: {:?}",
        env_of(&thief)
    );
    assert_eq!(std::fs::read(&hosts).unwrap(), before);
    assert_eq!(std::fs::metadata(&hosts).unwrap().ino(), inode);

    // The victim starts under its token and keeps its slot.
    let vb = fx.dir.path().join("victim");
    std::fs::create_dir_all(&vb).unwrap();
    std::fs::write(vb.join("config.json"), serde_json::to_vec(&victim).unwrap()).unwrap();
    let out = poststart(&fx, "victim1", std::process::id(), &vb);
    assert!(out.status.success(), "{}", stderr(&out));
    let rec = ls(&fx).into_iter().find(|r| r["id"] == "victim1").unwrap();
    assert_eq!(rec["index"], 1);

    // A thief carrying the token of the running victim: a new token again.
    let thief2 = precreate(
        &fx,
        json!({"io.linkshim.name": "thief", "io.linkshim.links": "db", TOKEN: token}),
        &[],
    )
    .unwrap();
    assert_ne!(token_of(&thief2), token);
    assert_eq!(std::fs::read(&hosts).unwrap(), before);
    assert_eq!(std::fs::metadata(&hosts).unwrap().ino(), inode);

    // A stop naming the victim's token under another id removes nothing.
    let out = poststop(&fx, "thief1", &token);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(hosts.exists(), "the victim's hosts file stays");
    assert!(ls(&fx).iter().any(|r| r["id"] == "victim1"));

    // The victim's own stop cleans up.
    let out = poststop(&fx, "victim1", &token);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!hosts.exists());
    assert!(!ls(&fx).iter().any(|r| r["id"] == "victim1"));

    // Once no container holds it, a token the config carries is its own again.
    let mut again = victim_ann;
    again[TOKEN] = json!(token);
    assert_eq!(token_of(&precreate(&fx, again, &[]).unwrap()), token);
}

/// A container without a service reserves no slot: between its create and
/// its start only its hold keeps its token (and its hosts file) its own.
#[test]
fn a_held_token_of_a_created_container_is_not_handed_out_again() {
    let fx = Fixture::new();
    support::register_target(&fx, "db1", "db", "5432", &[]);
    let victim = precreate(
        &fx,
        json!({"io.linkshim.name": "web", "io.linkshim.links": "db"}),
        &[],
    )
    .unwrap();
    let token = token_of(&victim);
    let hosts = fx.state.join("hosts").join(&token);
    let before = std::fs::read(&hosts).unwrap();
    let thief = precreate(
        &fx,
        json!({"io.linkshim.name": "thief", "io.linkshim.links": "db", TOKEN: token}),
        &[],
    )
    .unwrap();
    assert_ne!(
        token_of(&thief),
        token,
        "the hold keeps the token the victim's"
    );
    assert_eq!(std::fs::read(&hosts).unwrap(), before);
    // The victim's own config prepared again (same scope and name) keeps it.
    let again = precreate(
        &fx,
        json!({"io.linkshim.name": "web", "io.linkshim.links": "db", TOKEN: token}),
        &[],
    )
    .unwrap();
    assert_eq!(token_of(&again), token);
    assert_eq!(std::fs::read(&hosts).unwrap(), before);

    // Its stop before start drops the hold and removes the file; the token
    // is free for any config then.
    let out = poststop(&fx, "victim1", &token);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!hosts.exists());
    let later = precreate(
        &fx,
        json!({"io.linkshim.name": "other", "io.linkshim.links": "db", TOKEN: token}),
        &[],
    )
    .unwrap();
    assert_eq!(token_of(&later), token);
}

#[test]
fn a_malformed_token_is_replaced() {
    let fx = Fixture::new();
    for bad in ["../../etc", "xyz", "0123", &"a".repeat(65)] {
        let got = precreate(&fx, json!({"io.linkshim.name": "w", TOKEN: bad}), &[]).unwrap();
        let t = token_of(&got);
        assert_ne!(t, bad);
        assert!(
            t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()),
            "{t}"
        );
    }
    let err = precreate(
        &fx,
        json!({"io.linkshim.name": "w", "io.linkshim.internal.added-env": "{\"PATH\": 1}"}),
        &[],
    )
    .unwrap_err();
    assert!(
        err.contains("io.linkshim.internal.added-env") && err.contains("\"w\""),
        "{err}"
    );
}

const NEWLINE_ID: &str = "a\n6.6.6.6 db";

#[test]
fn an_id_with_a_newline_is_refused_at_poststart_and_never_rendered() {
    let fx = Fixture::new();
    let b = bundle(&fx, "t", json!({"io.linkshim.name": "db"}), &[]);
    let out = poststart(&fx, NEWLINE_ID, std::process::id(), &b);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(r#"container id "a\n6.6.6.6 db" is not valid"#),
        "the id is named, escaped: {err}"
    );
    assert!(!err.contains(NEWLINE_ID), "never raw: {err}");
    assert!(ls(&fx).is_empty());
    let out = poststop(&fx, NEWLINE_ID, "0123456789abcdef0123456789abcdef");
    assert!(!stderr(&out).contains(NEWLINE_ID), "{}", stderr(&out));
    assert!(ls(&fx).is_empty());
}

#[test]
fn ls_escapes_an_odd_id_an_old_registry_holds() {
    let fx = Fixture::new();
    support::register_target(&fx, "ok1", "db", "", &[]);
    // Written behind linkshim's back: a row of an id runc refuses.
    let conn = rusqlite::Connection::open(fx.state.join("registry.db")).unwrap();
    conn.execute(
        "UPDATE containers SET id = ?1 WHERE id = 'ok1'",
        [NEWLINE_ID],
    )
    .unwrap();
    drop(conn);
    let out = fx.cmd(&["ls"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.contains(r#""a\n6.6.6.6 db""#), "{table}");
}

/// A crun-like fake runtime that accepts any id: records that it ran.
fn fake_runtime(dir: &Path) -> (PathBuf, PathBuf) {
    let ran = dir.join("ran");
    let script = dir.join("fake-crun");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\nexit 0\n",
            ran.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, ran)
}

#[test]
fn an_id_with_a_newline_is_refused_at_the_wrappers_create() {
    let fx = Fixture::new();
    support::register_target(&fx, "t1", "db", "5432", &[]);
    let (fake, ran) = fake_runtime(fx.dir.path());
    let b = bundle(
        &fx,
        "linker",
        json!({"io.linkshim.name": "web", "io.linkshim.links": "db"}),
        &[],
    );
    let config_before = std::fs::read(b.join("config.json")).unwrap();
    let out = fx
        .cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"])
        .args(["create", "--bundle"])
        .arg(&b)
        .arg(NEWLINE_ID)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains(r#"container id "a\n6.6.6.6 db" is not valid"#) && err.contains("runc"),
        "{err}"
    );
    assert!(!ran.exists(), "the runtime never ran");
    assert_eq!(std::fs::read(b.join("config.json")).unwrap(), config_before);
    let hosts: Vec<_> = std::fs::read_dir(fx.state.join("hosts"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(hosts.is_empty(), "no hosts file: {hosts:?}");

    // A container that is not linkshim's is none of its business.
    let plain = bundle(&fx, "plain", json!({}), &[]);
    let out = fx
        .cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"])
        .args(["create", "--bundle"])
        .arg(&plain)
        .arg(NEWLINE_ID)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_same_id_twice_leaves_the_original_registered() {
    let fx = Fixture::new();
    let original = bundle(
        &fx,
        "orig",
        json!({"io.linkshim.name": "db", TOKEN: "000000000000000000000000000000a1"}),
        &["WHO=original"],
    );
    let out = poststart(&fx, "dup", std::process::id(), &original);
    assert!(out.status.success(), "{}", stderr(&out));

    let newcomer = bundle(
        &fx,
        "new",
        json!({"io.linkshim.name": "db", TOKEN: "000000000000000000000000000000b2"}),
        &["WHO=newcomer"],
    );
    let other = Sleeper::new();
    let out = poststart(&fx, "dup", other.pid(), &newcomer);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("container id dup is already registered"),
        "{}",
        stderr(&out)
    );
    let all = ls(&fx);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["env"], json!([["WHO", "original"]]));
    assert_eq!(all[0]["pid"], std::process::id());

    // The newcomer stops: the original stays.
    let out = poststop(&fx, "dup", "000000000000000000000000000000b2");
    assert!(out.status.success(), "{}", stderr(&out));
    let all = ls(&fx);
    assert_eq!(all.len(), 1, "the original is still registered");
    assert_eq!(all[0]["env"], json!([["WHO", "original"]]));

    let out = poststop(&fx, "dup", "000000000000000000000000000000a1");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(ls(&fx).is_empty());
}

#[test]
fn a_cross_scope_link_needs_the_targets_permission() {
    let fx = Fixture::new();
    let target = bundle(
        &fx,
        "db",
        json!({"io.linkshim.name": "db", "io.linkshim.scope": "a", "io.linkshim.expose": "5432"}),
        &["SECRET=s3"],
    );
    let out = poststart(&fx, "db-a", std::process::id(), &target);
    assert!(out.status.success(), "{}", stderr(&out));

    let linker = json!({"io.linkshim.name": "web", "io.linkshim.scope": "b",
                        "io.linkshim.links": "a/db"});
    let err = precreate(&fx, linker.clone(), &[]).unwrap_err();
    assert!(
        err.contains(
            r#"container "web": link "a/db": target "db" in scope "a" does not admit scope "b" (add io.linkshim.allow-scopes=b to the target)"#
        ),
        "{err}"
    );
    // Without a scope the link looks in the linker's own scope only.
    let err = precreate(
        &fx,
        json!({"io.linkshim.name": "web", "io.linkshim.scope": "b", "io.linkshim.links": "db"}),
        &[],
    )
    .unwrap_err();
    assert!(err.contains(r#"in scope "b""#), "{err}");

    // The target admits scope b: the link works.
    let out = poststop(&fx, "db-a", "0123456789abcdef0123456789abcdef");
    assert!(out.status.success(), "{}", stderr(&out));
    let target = bundle(
        &fx,
        "db2",
        json!({"io.linkshim.name": "db", "io.linkshim.scope": "a", "io.linkshim.expose": "5432",
               "io.linkshim.allow-scopes": "b"}),
        &["SECRET=s3"],
    );
    let out = poststart(&fx, "db-a2", std::process::id(), &target);
    assert!(out.status.success(), "{}", stderr(&out));
    let prepared = precreate(&fx, linker, &[]).unwrap();
    let env = env_of(&prepared);
    assert!(env.contains(&"DB_ENV_SECRET=s3".to_string()), "{env:?}");
    assert!(
        env.iter().any(|e| e.starts_with("DB_PORT=tcp://")),
        "{env:?}"
    );
    // A third scope is still refused.
    let err = precreate(
        &fx,
        json!({"io.linkshim.name": "web", "io.linkshim.scope": "c", "io.linkshim.links": "a/db"}),
        &[],
    )
    .unwrap_err();
    assert!(err.contains(r#"does not admit scope "c""#), "{err}");
}

#[test]
fn two_scopes_each_have_their_own_db() {
    let fx = Fixture::new();
    for (id, scope) in [("db-a", "a"), ("db-b", "b")] {
        let b = bundle(
            &fx,
            id,
            json!({"io.linkshim.name": "db", "io.linkshim.scope": scope}),
            &[&format!("WHO={scope}")],
        );
        let out = poststart(&fx, id, std::process::id(), &b);
        assert!(out.status.success(), "{id}: {}", stderr(&out));
    }
    let mut scopes: Vec<(String, String)> = ls(&fx)
        .iter()
        .map(|r| {
            (
                r["scope"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    scopes.sort();
    assert_eq!(
        scopes,
        vec![("a".into(), "db".into()), ("b".into(), "db".into())]
    );
    let table = String::from_utf8(fx.cmd(&["ls"]).output().unwrap().stdout).unwrap();
    assert!(table.lines().next().unwrap().contains("SCOPE"), "{table}");
    for scope in ["a", "b"] {
        let prepared = precreate(
            &fx,
            json!({"io.linkshim.name": "web", "io.linkshim.scope": scope, "io.linkshim.links": "db"}),
            &[],
        )
        .unwrap();
        let env = env_of(&prepared);
        assert!(
            env.contains(&format!("DB_ENV_WHO={scope}")),
            "{scope}: {env:?}"
        );
    }
    // In a pod, the namespace is the scope: another scope is refused.
    let err = precreate(
        &fx,
        json!({"io.linkshim.name": "web", "io.kubernetes.pod.namespace": "a",
               "io.linkshim.scope": "b", "io.linkshim.links": "db"}),
        &[],
    )
    .unwrap_err();
    assert!(err.contains("differs from the pod's namespace"), "{err}");
    let prepared = precreate(
        &fx,
        json!({"io.linkshim.name": "web", "io.kubernetes.pod.namespace": "b",
               "io.linkshim.links": "db"}),
        &[],
    )
    .unwrap();
    assert!(env_of(&prepared).contains(&"DB_ENV_WHO=b".to_string()));
}

/// A container chooses its own id: one whose id is another's name (or
/// starts with it) never takes over a link to that name, neither at
/// create nor when the named target stops and its linkers are refreshed.
#[test]
fn an_id_chosen_to_look_like_a_name_never_takes_over_its_links() {
    let fx = Fixture::new();
    support::register_target(&fx, "db", "evil-a", "5432", &[]);
    support::register_target(&fx, "dbefbea9bec4978c", "evil-b", "5432", &[]);
    let err = precreate(
        &fx,
        json!({"io.linkshim.name": "web", "io.linkshim.links": "db"}),
        &[],
    )
    .expect_err("linked to a container whose id is db");
    assert!(err.contains("could not get container for db"), "{err}");
    // Named by 12 hex digits, it is an id reference.
    let config = precreate(
        &fx,
        json!({"io.linkshim.name": "web", "io.linkshim.links": "dbefbea9bec4:db"}),
        &[],
    )
    .expect("a link by a 12-digit id prefix");
    assert!(
        env_of(&config).contains(&"DB_NAME=/web/db".to_string()),
        "{:?}",
        env_of(&config)
    );
}
