//! Hostile input, binary-level: what one container (or the registry rows
//! other containers wrote), or whoever calls the runtime, may try, and what
//! linkshim does about it. The threat model is in the README's security
//! section. Runs that could hang (loops, FIFOs) go under a deadline, so a
//! hang fails the test.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::{Fixture, fake_runtime, output_within, precreate, register_target, run_with_stdin};

/// A config from a fixture with `annotations` and `env`, joining this
/// process's network namespace (so poststart can read its addresses).
fn config_with(annotations: Value, env: &[&str]) -> Value {
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = annotations;
    config["process"]["env"] = json!(env);
    for ns in config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!("/proc/self/ns/net");
        }
    }
    config
}

/// Start a target through the hooks a real start runs: precreate, then
/// poststart on a bundle holding the prepared config.
fn start_target(fx: &Fixture, id: &str, annotations: Value, env: &[&str]) {
    let config = config_with(annotations, env);
    let out = precreate(fx, &serde_json::to_vec(&config).unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle: PathBuf = fx.dir.path().join(format!("bundle-{id}"));
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::write(bundle.join("config.json"), &out.stdout).unwrap();
    let state = json!({"ociVersion": "1.0.2", "id": id, "status": "running",
                       "pid": std::process::id(), "bundle": bundle});
    let out = run_with_stdin(
        fx.cmd(&["hook", "poststart"]),
        &serde_json::to_vec(&state).unwrap(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The env a linker called `webapp` with `links` is given by precreate.
fn linker_env(fx: &Fixture, links: &str) -> Vec<String> {
    let config = config_with(
        json!({"io.linkshim.name": "webapp", "io.linkshim.links": links}),
        &["PATH=/bin"],
    );
    let out = precreate(fx, &serde_json::to_vec(&config).unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    got["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn cascaded(env: &[String], prefix: &str) -> Vec<String> {
    let p = format!("{prefix}_ENV_");
    env.iter().filter(|e| e.starts_with(&p)).cloned().collect()
}

fn ls_json(fx: &Fixture, show: bool) -> Value {
    let mut args = vec!["ls", "--json"];
    if show {
        args.push("--show-env");
    }
    let out = fx.cmd(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The host policy, written where the fixture's config file is looked for.
fn host_policy(fx: &Fixture, policy: &str) {
    std::fs::write(
        fx.dir.path().join("no-config.toml"),
        format!("share_env = \"{policy}\"\n"),
    )
    .unwrap();
}

/// A failed precreate: exit 1, nothing on stdout; its stderr.
fn refused(fx: &Fixture, config: &Value) -> String {
    let out = precreate(fx, &serde_json::to_vec(config).unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn ls_masks_env_values_unless_asked() {
    let fx = Fixture::new();
    register_target(
        &fx,
        "t1",
        "db",
        "5432",
        &[("MYSQL_PASSWORD", "s3cret-value")],
    );
    let masked = ls_json(&fx, false);
    assert_eq!(masked[0]["env"], json!([["MYSQL_PASSWORD", "***"]]));
    let shown = ls_json(&fx, true);
    assert_eq!(shown[0]["env"], json!([["MYSQL_PASSWORD", "s3cret-value"]]));
    let out = fx.cmd(&["ls", "--json"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret-value"));
    let table = fx.cmd(&["ls"]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("db") && !table.contains("s3cret-value"),
        "{table}"
    );
}

#[test]
fn resource_listings_mask_env_values_and_passwords() {
    let fx = Fixture::new();
    let out = fx
        .cmd(&[
            "resource",
            "add",
            "pg",
            "--url",
            "postgres://app:pa55word@192.0.2.10:5432/x",
            "--env",
            "PGPASSWORD=pa55word",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for args in [&["resource", "ls", "--json"][..], &["resource", "ls"]] {
        let out = fx.cmd(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("pg") && !text.contains("pa55word"),
            "{args:?}: {text}"
        );
    }
    let out = fx
        .cmd(&["resource", "ls", "--json", "--show-env"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["env"], json!([["PGPASSWORD", "pa55word"]]));
    let out = fx.cmd(&["doctor", "--links", "pg"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("resource pg") && !text.contains("pa55word"),
        "{text}"
    );
}

#[test]
fn a_target_shares_what_it_declares() {
    let fx = Fixture::new();
    let env = ["PATH=/bin", "A=1", "B=2"];
    start_target(
        &fx,
        "t1",
        json!({"io.linkshim.name": "one", "io.linkshim.share-env": "A"}),
        &env,
    );
    start_target(
        &fx,
        "t2",
        json!({"io.linkshim.name": "two", "io.linkshim.share-env": "none"}),
        &env,
    );
    start_target(&fx, "t3", json!({"io.linkshim.name": "three"}), &env);
    let got = linker_env(&fx, "one two three");
    assert_eq!(cascaded(&got, "ONE"), ["ONE_ENV_A=1"]);
    assert_eq!(cascaded(&got, "TWO"), Vec::<String>::new());
    assert_eq!(cascaded(&got, "THREE"), ["THREE_ENV_A=1", "THREE_ENV_B=2"]);
    // What is not shared is never stored.
    let stored: Vec<(String, Value)> = ls_json(&fx, true)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r["env"].clone()))
        .collect();
    for (name, want) in [
        ("one", json!([["A", "1"]])),
        ("two", json!([])),
        ("three", json!([["A", "1"], ["B", "2"]])),
    ] {
        let got = stored.iter().find(|(n, _)| n == name).map(|(_, e)| e);
        assert_eq!(got, Some(&want), "{name}");
    }
}

#[test]
fn the_host_policy_is_the_most_a_target_may_share() {
    let env = ["A=1", "B=2"];
    for (policy, want_declared, want_default) in [
        ("declared", vec!["D_ENV_A=1"], vec![]),
        ("none", vec![], vec![]),
        ("all", vec!["D_ENV_A=1"], vec!["U_ENV_A=1", "U_ENV_B=2"]),
    ] {
        let fx = Fixture::new();
        host_policy(&fx, policy);
        start_target(
            &fx,
            "t1",
            json!({"io.linkshim.name": "d", "io.linkshim.share-env": "A"}),
            &env,
        );
        start_target(&fx, "t2", json!({"io.linkshim.name": "u"}), &env);
        let got = linker_env(&fx, "d u");
        assert_eq!(cascaded(&got, "D"), want_declared, "{policy}");
        assert_eq!(cascaded(&got, "U"), want_default, "{policy}");
    }
}

#[test]
fn a_row_stored_under_a_looser_policy_shares_nothing_more() {
    // A row as an older linkshim (or the host's earlier policy) stored it:
    // every variable, not filtered by any declaration.
    let fx = Fixture::new();
    register_target(&fx, "t1", "db", "5432", &[("SECRET", "x")]);
    assert_eq!(cascaded(&linker_env(&fx, "db"), "DB"), ["DB_ENV_SECRET=x"]);
    host_policy(&fx, "declared");
    let got = linker_env(&fx, "db");
    assert_eq!(cascaded(&got, "DB"), Vec::<String>::new());
    assert!(
        got.iter().any(|e| e == "DB_PORT=tcp://10.0.0.2:5432"),
        "{got:?}"
    );
}

#[test]
fn an_alias_that_shadows_a_well_known_variable_is_refused() {
    let fx = Fixture::new();
    register_target(&fx, "t1", "web", "80", &[]);
    for (alias, key) in [
        ("node", "NODE_PATH"),
        ("docker", "DOCKER_HOST"),
        ("ld_library", "LD_LIBRARY_*"),
    ] {
        let config = config_with(
            json!({"io.linkshim.name": "app", "io.linkshim.links": format!("web:{alias}")}),
            &["PATH=/bin"],
        );
        let err = refused(&fx, &config);
        for want in [
            "container \"app\"",
            &format!("link \"web:{alias}\""),
            &format!("alias \"{alias}\""),
            key,
            "io.linkshim.links",
        ] {
            assert!(err.contains(want), "{alias}: {want} not in {err}");
        }
    }
}

#[test]
fn a_huge_port_range_is_refused_and_the_config_untouched() {
    let fx = Fixture::new();
    let config = config_with(
        json!({"io.linkshim.name": "big", "io.linkshim.expose": "1-65535"}),
        &["PATH=/bin"],
    );
    let err = refused(&fx, &config);
    for want in [
        "container \"big\"",
        "io.linkshim.expose",
        "65535 ports",
        "1024",
    ] {
        assert!(err.contains(want), "{want} not in {err}");
    }
    // As the runtime wrapper's input, the file on disk is left as it was.
    let bundle = fx.dir.path().join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    let text = serde_json::to_vec_pretty(&config).unwrap();
    std::fs::write(bundle.join("config.json"), &text).unwrap();
    let state = json!({"ociVersion": "1.0.2", "id": "big1", "status": "running",
                       "pid": std::process::id(), "bundle": bundle});
    let out = run_with_stdin(
        fx.cmd(&["hook", "poststart"]),
        &serde_json::to_vec(&state).unwrap(),
    );
    assert!(!out.status.success());
    assert_eq!(std::fs::read(bundle.join("config.json")).unwrap(), text);
    assert_eq!(ls_json(&fx, false), json!([]), "nothing registered");
}

#[test]
fn too_many_links_are_refused_by_the_caps() {
    let fx = Fixture::new();
    for (links, want) in [
        (
            (0..100_000)
                .map(|i| format!("t{i}"))
                .collect::<Vec<_>>()
                .join(" "),
            "bytes, more than the 65536",
        ),
        (
            (0..65)
                .map(|i| format!("t{i}"))
                .collect::<Vec<_>>()
                .join(" "),
            "65 links is more than the 64",
        ),
    ] {
        let config = config_with(
            json!({"io.linkshim.name": "app", "io.linkshim.links": links}),
            &[],
        );
        let err = refused(&fx, &config);
        assert!(
            err.contains(want) && err.contains("io.linkshim.links") && err.contains("\"app\""),
            "{want} not in {err}"
        );
    }
}

#[test]
fn oversized_stdin_is_refused() {
    let fx = Fixture::new();
    let mut big = b"{\"x\": \"".to_vec();
    big.resize(17 << 20, b'a');
    big.extend_from_slice(b"\"}");
    let mut child = fx
        .cmd(&["hook", "precreate"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // linkshim stops reading past the cap: the rest may meet a closed pipe.
    let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), &big);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more than the 16777216 bytes"), "{err}");
}

#[test]
fn nul_bytes_never_reach_a_linker() {
    let fx = Fixture::new();
    start_target(
        &fx,
        "t1",
        json!({"io.linkshim.name": "db"}),
        &["OK=1", "BAD=a\u{0}b", "ALSO\u{0}BAD=x"],
    );
    let got = linker_env(&fx, "db");
    assert_eq!(cascaded(&got, "DB"), ["DB_ENV_OK=1"]);
    assert!(!got.iter().any(|e| e.contains('\0')), "{got:?}");
    let log = std::fs::read_to_string(fx.state.join("linkshim.log")).unwrap();
    assert!(log.contains("\"BAD\" is not shared"), "{log}");

    let config = config_with(
        json!({"io.linkshim.name": "r", "io.linkshim.url": "redis://:p%00w@:6379/0"}),
        &[],
    );
    let err = refused(&fx, &config);
    assert!(
        err.contains("io.linkshim.url") && err.contains("NUL"),
        "{err}"
    );

    let out = fx
        .cmd(&[
            "resource",
            "add",
            "pg",
            "--url",
            "postgres://u:p%00w@192.0.2.1/x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = fx
        .cmd(&[
            "resource",
            "add",
            "pg",
            "--url",
            "postgres://192.0.2.1/x",
            "--env",
            "A=x\u{1}",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a control character other than NUL is a value"
    );
}

// The runtime wrapper, the hooks' waits and their privileges.

/// Long enough for a slow machine, short enough that a hang shows.
const DEADLINE: u64 = 30;

/// A bundle directory `name` holding the runc spec with `annotations`.
fn bundle(fx: &Fixture, name: &str, annotations: Value) -> PathBuf {
    let b = fx.dir.path().join(name);
    std::fs::create_dir_all(&b).unwrap();
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["annotations"] = annotations;
    std::fs::write(b.join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    b
}

/// `linkshim runtime --runtime FAKE -- ARGS`.
fn wrapper(fx: &Fixture, fake: &Path, args: &[&str]) -> Command {
    let mut c = fx.cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"]);
    c.args(args);
    c
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_wrapper_refuses_a_runtime_that_is_itself() {
    let fx = Fixture::new();
    let bin = fx.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let me = Path::new(env!("CARGO_BIN_EXE_linkshim"));
    // A chain of symlinks, ending at linkshim under its wrapper name.
    std::os::unix::fs::symlink(me, bin.join("linkshim-runtime")).unwrap();
    std::os::unix::fs::symlink(bin.join("linkshim-runtime"), bin.join("runtime")).unwrap();
    let conf = fx.dir.path().join("linkshim.toml");
    std::fs::write(&conf, format!("runtime = {:?}\n", bin.join("runtime"))).unwrap();
    let ways: [(&str, Command); 4] = [
        ("--runtime naming the binary", {
            fx.cmd(&[
                "runtime",
                "--runtime",
                me.to_str().unwrap(),
                "--",
                "state",
                "x",
            ])
        }),
        ("LINKSHIM_RUNTIME naming a symlink chain to it", {
            let mut c = fx.cmd(&["runtime", "--", "state", "x"]);
            c.env("LINKSHIM_RUNTIME", bin.join("runtime"));
            c
        }),
        ("runtime = in the config file", {
            let mut c = fx.cmd(&["runtime", "--", "state", "x"]);
            c.env("LINKSHIM_CONFIG", &conf);
            c
        }),
        (
            "called as linkshim-runtime with LINKSHIM_RUNTIME naming itself",
            {
                let mut c = Command::new(bin.join("linkshim-runtime"));
                c.args(["state", "x"])
                    .env("LINKSHIM_RUNTIME", bin.join("linkshim-runtime"))
                    .env("LINKSHIM_STATE_DIR", &fx.state)
                    .env("LINKSHIM_CONFIG", fx.dir.path().join("none.toml"));
                c
            },
        ),
    ];
    for (desc, cmd) in ways {
        let out = output_within(cmd, b"", DEADLINE);
        assert_eq!(out.status.code(), Some(1), "{desc}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is linkshim itself"),
            "{desc}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn the_wrapper_refuses_a_script_that_execs_it_again() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let script = fx.dir.path().join("runtime.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {} --state-dir {} runtime --runtime {} -- \"$@\"\n",
            env!("CARGO_BIN_EXE_linkshim"),
            fx.state.display(),
            script.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = output_within(
        fx.cmd(&[
            "runtime",
            "--runtime",
            script.to_str().unwrap(),
            "--",
            "state",
            "x",
        ]),
        b"",
        DEADLINE,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("runs linkshim again"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn runc_single_dash_flags_do_not_hide_the_create() {
    let fx = Fixture::new();
    let (fake, record) = fake_runtime(fx.dir.path());
    let log = fx.dir.path().join("log.json");
    let log = log.to_str().unwrap();
    // A link to a missing target: the create must fail, not pass through.
    let b = bundle(&fx, "missing", json!({"io.linkshim.links": "nosuch"}));
    let forms: [&[&str]; 3] = [
        &[
            "-root",
            "/run/x",
            "-log",
            log,
            "-log-format",
            "json",
            "create",
            "-bundle",
            "B",
            "c1",
        ],
        &[
            "-root=/run/x",
            "-log=",
            "-debug",
            "-systemd-cgroup",
            "run",
            "-bundle=B",
            "-d",
            "c1",
        ],
        &[
            "--root",
            "/run/x",
            "create",
            "-pid-file",
            "/tmp/p",
            "-b",
            "B",
            "c1",
        ],
    ];
    for form in forms {
        let args: Vec<&str> = form
            .iter()
            .map(|a| match *a {
                "B" => b.to_str().unwrap(),
                "-bundle=B" => "-bundle=BUNDLE",
                other => other,
            })
            .collect();
        let bundle_eq = format!("-bundle={}", b.display());
        let args: Vec<&str> = args
            .iter()
            .map(|a| {
                if *a == "-bundle=BUNDLE" {
                    bundle_eq.as_str()
                } else {
                    a
                }
            })
            .collect();
        let out = output_within(wrapper(&fx, &fake, &args), b"", DEADLINE);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("nosuch"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(
            !record.join("args").exists(),
            "{args:?}: the runtime must not run"
        );
    }
    // With the target running, the same single-dash create is prepared.
    register_target(&fx, "t1", "db", "5432", &[]);
    let b = bundle(&fx, "ok", json!({"io.linkshim.links": "db"}));
    let out = output_within(
        wrapper(
            &fx,
            &fake,
            &[
                "-root",
                "/run/x",
                "create",
                "-bundle",
                b.to_str().unwrap(),
                "c2",
            ],
        ),
        b"",
        DEADLINE,
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let seen: Value =
        serde_json::from_slice(&std::fs::read(record.join("config.json")).unwrap()).unwrap();
    assert!(
        seen["process"]["env"]
            .as_array()
            .unwrap()
            .contains(&json!("DB_PORT=tcp://10.0.0.2:5432")),
        "{seen}"
    );
}

#[test]
fn a_flag_without_its_value_is_refused_not_guessed() {
    let fx = Fixture::new();
    let (fake, record) = fake_runtime(fx.dir.path());
    register_target(&fx, "t1", "db", "5432", &[]);
    // The current directory is a bundle: a dangling --bundle must not
    // make the wrapper edit it.
    let b = bundle(&fx, "cwd", json!({"io.linkshim.links": "db"}));
    let before = std::fs::read(b.join("config.json")).unwrap();
    for args in [
        &["create", "c1", "--bundle"][..],
        &["run", "-d", "c1", "-b"],
        &["--log"],
        &["create", "c1", "-bundle"],
    ] {
        let mut cmd = wrapper(&fx, &fake, args);
        cmd.current_dir(&b);
        let out = output_within(cmd, b"", DEADLINE);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("needs a value"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!record.join("args").exists(), "{args:?}");
        assert_eq!(
            std::fs::read(b.join("config.json")).unwrap(),
            before,
            "{args:?}"
        );
    }
}

#[test]
fn a_refused_bundle_reserves_nothing() {
    let fx = Fixture::new();
    let (fake, _record) = fake_runtime(fx.dir.path());
    // A replica of a service reserves its name and slot when prepared.
    let replica = json!({"io.linkshim.name": "web1", "io.linkshim.service": "web"});
    let create = |b: &Path, id: &str| {
        output_within(
            wrapper(&fx, &fake, &["create", "--bundle", b.to_str().unwrap(), id]),
            b"",
            DEADLINE,
        )
    };
    // config.json a symlink to a real config.
    let bad = bundle(&fx, "bad", replica.clone());
    let elsewhere = fx.dir.path().join("real.json");
    std::fs::rename(bad.join("config.json"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, bad.join("config.json")).unwrap();
    let out = create(&bad, "bad1");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a symlink"), "{}", stderr(&out));
    // config.json a FIFO: refused at once, not read forever.
    let fifo = bundle(&fx, "fifo", replica.clone());
    std::fs::remove_file(fifo.join("config.json")).unwrap();
    nix::unistd::mkfifo(
        &fifo.join("config.json"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let out = create(&fifo, "bad2");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    // The bundle refused no longer holds the name: the next container gets it.
    let good = bundle(&fx, "good", replica);
    let out = create(&good, "good1");
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
}

#[test]
fn a_fifo_at_the_netns_path_fails_poststart_at_once() {
    let fx = Fixture::new();
    let b = bundle(&fx, "b", json!({"io.linkshim.name": "db"}));
    let fifo = fx.dir.path().join("netns-fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    for ns in config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!(fifo);
        }
    }
    std::fs::write(b.join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    let state = json!({"ociVersion": "1.0.2", "id": "c1", "status": "running",
                       "pid": std::process::id(), "bundle": b});
    let out = output_within(
        fx.cmd(&["hook", "poststart"]),
        &serde_json::to_vec(&state).unwrap(),
        DEADLINE,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a namespace file"),
        "{}",
        stderr(&out)
    );
}

/// The hosts file precreate writes for a linker to `db` whose config
/// mounts `base` over /etc/hosts, with its rootfs at `rootfs`.
fn hosts_written_over(fx: &Fixture, rootfs: &Path, base: &Path) -> String {
    let mut config: Value = serde_json::from_str(&Fixture::read("runc-1.1-spec.json")).unwrap();
    config["root"]["path"] = json!(rootfs);
    config["annotations"] = json!({"io.linkshim.name": "web", "io.linkshim.links": "db"});
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/etc/hosts", "type": "bind",
                     "source": base, "options": ["rbind", "ro"]}));
    let out = output_within(
        fx.cmd(&["hook", "precreate"]),
        &serde_json::to_vec(&config).unwrap(),
        DEADLINE,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let prepared: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mount = prepared["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|m| m["destination"] == "/etc/hosts")
        .unwrap()
        .clone();
    let text = std::fs::read_to_string(mount["source"].as_str().unwrap()).unwrap();
    assert!(text.contains("\tdb "), "{text}");
    text
}

/// precreate reads the hosts file the config mounts; once it has dropped
/// its capabilities, file permissions alone decide what it may read.
#[test]
fn precreate_reads_no_file_its_permissions_forbid() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: needs root (a file root can read only with CAP_DAC_OVERRIDE)");
        return;
    }
    let fx = Fixture::new();
    register_target(&fx, "t1", "db", "5432", &[]);
    let rootfs = fx.dir.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let hosts_of = |mode: u32| {
        let base = fx.dir.path().join(format!("hosts-{mode:o}"));
        std::fs::write(&base, "192.0.2.9\tsecret-marker\n").unwrap();
        std::os::unix::fs::chown(&base, Some(4321), Some(4321)).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(mode)).unwrap();
        hosts_written_over(&fx, &rootfs, &base)
    };
    let readable = hosts_of(0o644);
    assert!(
        readable.contains("secret-marker"),
        "a readable base is kept: {readable}"
    );
    let private = hosts_of(0o600);
    assert!(
        !private.contains("secret-marker"),
        "another user's private file must not be read: {private}"
    );
}

/// The hosts file a config mounts is the base of the one precreate
/// writes only when it is a regular file outside the rootfs, reached
/// through no symlink into it (the container controls its rootfs); a
/// FIFO or a device is never opened.
#[test]
fn precreate_bases_hosts_only_on_a_regular_file_outside_the_rootfs() {
    use std::os::unix::fs::symlink;
    let fx = Fixture::new();
    register_target(&fx, "t1", "db", "5432", &[]);
    let top = fx.dir.path();
    let rootfs = top.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/hosts"), "192.0.2.66\tmarker-in-rootfs\n").unwrap();
    std::fs::write(top.join("outside"), "192.0.2.9\tmarker-outside\n").unwrap();
    symlink(&rootfs, top.join("into-rootfs")).unwrap();
    symlink(top.join("outside"), top.join("link-to-outside")).unwrap();
    nix::unistd::mkfifo(
        &top.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let cases: [(&str, PathBuf, Option<&str>); 6] = [
        (
            "a regular file outside",
            top.join("outside"),
            Some("marker-outside"),
        ),
        ("the rootfs's own", rootfs.join("etc/hosts"), None),
        (
            "a directory symlink into the rootfs",
            top.join("into-rootfs/etc/hosts"),
            None,
        ),
        (
            "a symlink as the file itself",
            top.join("link-to-outside"),
            None,
        ),
        (
            "a FIFO (never opened: no writer, it would block)",
            top.join("fifo"),
            None,
        ),
        ("a character device", PathBuf::from("/dev/zero"), None),
    ];
    for (what, base, marker) in cases {
        let text = hosts_written_over(&fx, &rootfs, &base);
        let kept: Vec<&str> = ["marker-outside", "marker-in-rootfs"]
            .into_iter()
            .filter(|m| text.contains(m))
            .collect();
        assert_eq!(
            kept,
            marker.into_iter().collect::<Vec<_>>(),
            "{what}: {text}"
        );
        if marker.is_none() {
            assert!(
                text.contains("localhost"),
                "{what}: the default base instead: {text}"
            );
        }
    }
}

/// poststart keeps no more than it needs, but what it needs: reading
/// `/proc/PID/ns/net` of a container process that holds capabilities the
/// hook has dropped takes CAP_SYS_PTRACE.
#[test]
fn poststart_still_reads_the_addresses_of_a_process_with_every_capability() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: needs root (a network namespace of its own)");
        return;
    }
    let fx = Fixture::new();
    let b = bundle(&fx, "b", json!({"io.linkshim.name": "db"}));
    // A root process with every capability, in a network namespace of its own.
    let mut child = Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip addr add 192.0.2.7/24 dev lo && ip link set lo up && exec sleep 60",
        ])
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(DEADLINE);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the namespace never came up"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let state = json!({"ociVersion": "1.0.2", "id": "c7", "status": "running",
                       "pid": pid, "bundle": b});
    let out = output_within(
        fx.cmd(&["hook", "poststart"]),
        &serde_json::to_vec(&state).unwrap(),
        DEADLINE,
    );
    // Listed while it runs: `ls` leaves out what has stopped.
    let listed = fx.cmd(&["ls", "--json"]).output().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let all: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(all[0]["name"], "db", "{all}");
    assert_eq!(all[0]["addrs"], json!(["192.0.2.7"]), "{all}");
}
