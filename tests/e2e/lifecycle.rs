//! A linker's life around its create on podman: `podman exec` sees the
//! link variables (its own `-e` wins), with the wrapper as `--runtime`; a
//! linker started before its target waits for it (`?wait`) or starts
//! without it and gets its hosts line when it comes (`?optional`), with
//! the hooks.d file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use testkit::*;

const T: Duration = Duration::from_secs(60);

/// A private podman whose runtime is the wrapper (over crun), or that
/// runs the hooks.d file, a busybox rootfs and a state dir. The podman goes
/// before the files.
struct World {
    podman: Podman,
    runtime: Option<PathBuf>,
    rootfs: String,
    tmp: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = busybox_rootfs(tmp.path()).to_str().unwrap().to_string();
        let runtime = tmp.path().join("linkshim-runtime");
        fs::write(
            &runtime,
            format!(
                "#!/bin/sh\nLINKSHIM_CONFIG={NO_CONFIG} exec {} --state-dir {} runtime --runtime {} -- \"$@\"\n",
                linkshim_bin().display(),
                tmp.path().join("state").display(),
                which("crun").expect("crun on PATH").display()
            ),
        )
        .unwrap();
        fs::set_permissions(&runtime, fs::Permissions::from_mode(0o755)).unwrap();
        World {
            podman: Podman::new(),
            runtime: Some(runtime),
            rootfs,
            tmp,
        }
    }

    /// The world with the hooks.d file instead of the wrapper.
    fn hooks() -> World {
        let mut w = World::new();
        w.runtime = None;
        install_hooks_d(&w.podman.hooks_dir(), &w.state());
        w
    }

    fn cmd(&self) -> std::process::Command {
        let mut c = self.podman.cmd();
        if let Some(r) = &self.runtime {
            c.arg("--runtime").arg(r);
        }
        c
    }

    fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    /// `podman ARGS` in this world; stdout, panics on failure.
    fn podman(&self, args: &[&str]) -> String {
        run_ok(self.cmd().args(args), T)
    }

    /// A target `name` serving /www on port 80.
    fn target(&self, name: &str) -> String {
        self.podman(
            &[
                &[
                    "run",
                    "-d",
                    "--name",
                    name,
                    "--annotation",
                    &format!("io.linkshim.name={name}"),
                    "--annotation",
                    "io.linkshim.expose=80",
                    "--rootfs",
                    &self.rootfs,
                ][..],
                &httpd("80"),
            ]
            .concat(),
        );
        self.podman(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", name])
            .trim()
            .to_string()
    }

    /// A linker `name` that sleeps, with `annotations`.
    fn linker(&self, name: &str, annotations: &[&str]) {
        let mut args = vec!["run", "-d", "--name", name];
        for a in annotations {
            args.extend(["--annotation", a]);
        }
        args.extend(["--rootfs", &self.rootfs, "sleep", "300"]);
        self.podman(&args);
    }

    /// `env` in `name`, through `podman exec` with `extra` flags.
    fn exec_env(&self, name: &str, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["exec"];
        args.extend(extra);
        args.extend([name, "env"]);
        self.podman(&args).lines().map(str::to_string).collect()
    }
}

fn has(env: &[String], kv: &str) -> bool {
    env.iter().any(|l| l == kv)
}

pub fn exec_in_a_linker_sees_its_link_variables() {
    let w = World::new();
    let db = unique_name("db");
    let web = unique_name("web");
    let ip = w.target(&db);
    w.linker(
        &web,
        &[
            "io.linkshim.name=web",
            &format!("io.linkshim.links={db}:db"),
        ],
    );
    let env = w.exec_env(&web, &[]);
    let port = format!("DB_PORT=tcp://{ip}:80");
    assert!(has(&env, &port), "{port} in the exec's env: {env:#?}");
    assert!(has(&env, &format!("DB_PORT_80_TCP_ADDR={ip}")), "{env:#?}");
    assert!(has(&env, "DB_NAME=/web/db"), "{env:#?}");
    assert!(has(&env, "LINKSHIM_NAME=web"), "{env:#?}");

    let env = w.exec_env(&web, &["-e", "DB_PORT=x", "-e", "MINE=1"]);
    assert!(has(&env, "DB_PORT=x"), "the exec's own -e wins: {env:#?}");
    assert!(!has(&env, &port), "{env:#?}");
    assert!(has(&env, "MINE=1") && has(&env, &format!("DB_PORT_80_TCP_ADDR={ip}")));

    // A target with no links gets its own name alone, as at create.
    let env = w.exec_env(&db, &[]);
    assert!(has(&env, &format!("LINKSHIM_NAME={db}")), "{env:#?}");
    assert!(!env.iter().any(|l| l.starts_with("DB_")), "{env:#?}");
    assert!(
        !linkshim_log(&w.state()).contains("WARN"),
        "{}",
        linkshim_log(&w.state())
    );
}

/// The hosts file of `name`, read through `podman exec`.
fn hosts_in(w: &World, name: &str) -> String {
    w.podman(&["exec", name, "cat", "/etc/hosts"])
}

pub fn a_linker_started_first_waits_for_its_target_or_starts_without_it() {
    let w = World::hooks();
    let db = unique_name("db");
    let cache = unique_name("cache");

    // ?wait=20s: the linker's create waits; the target comes 2 s later.
    let web = unique_name("web");
    let mut c = w.cmd();
    c.args(["run", "-d", "--name", &web])
        .args(["--annotation", "io.linkshim.name=web"])
        .args([
            "--annotation",
            &format!("io.linkshim.links={db}:db?wait=20s"),
        ])
        .args(["--rootfs", &w.rootfs, "sh", "-c", "env; exec sleep 300"]);
    let linker = std::thread::spawn(move || output_within(&mut c, T));
    std::thread::sleep(Duration::from_secs(2));
    assert!(!linker.is_finished(), "the linker waits for its target");
    let ip = w.target(&db);
    let out = linker
        .join()
        .unwrap()
        .expect("the linker's podman run ends");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        linkshim_log(&w.state())
    );
    let logs = w.podman(&["logs", &web]);
    assert!(
        logs.lines().any(|l| l == format!("DB_PORT=tcp://{ip}:80")),
        "the linker's own env: {logs}"
    );
    let hosts = hosts_in(&w, &web);
    assert!(
        hosts.lines().any(|l| l.starts_with(&format!("{ip}\tdb "))),
        "{hosts}"
    );
    let log = linkshim_log(&w.state());
    assert!(log.contains("waited"), "{log}");

    // ?optional: starts at once without the target; its line comes with it.
    let lone = unique_name("lone");
    w.linker(
        &lone,
        &[
            "io.linkshim.name=lone",
            &format!("io.linkshim.links={cache}:cache?optional"),
        ],
    );
    let hosts = hosts_in(&w, &lone);
    assert!(!hosts.contains("\tcache "), "{hosts}");
    let cache_ip = w.target(&cache);
    let want = format!("{cache_ip}\tcache ");
    assert!(
        wait_until(Duration::from_secs(10), || hosts_in(&w, &lone)
            .lines()
            .any(|l| l.starts_with(&want))),
        "{want:?} in\n{}",
        hosts_in(&w, &lone)
    );
}

pub fn link_and_unlink_change_a_running_linkers_hosts_file() {
    let w = World::hooks();
    let db = unique_name("db");
    let cache = unique_name("cache");
    let web = unique_name("web");
    let db_ip = w.target(&db);
    let cache_ip = w.target(&cache);
    w.linker(
        &web,
        &[
            "io.linkshim.name=web",
            &format!("io.linkshim.links={db}:db"),
        ],
    );
    let line = |ip: &str, alias: &str| format!("{ip}\t{alias} ");
    let has_line = |ip: &str, alias: &str| {
        hosts_in(&w, &web)
            .lines()
            .any(|l| l.starts_with(&line(ip, alias)))
    };
    assert!(has_line(&db_ip, "db"), "{}", hosts_in(&w, &web));

    let out = run_ok(
        testkit::linkshim(&w.state()).args(["link", "web", &format!("{cache}:kv")]),
        T,
    );
    assert!(out.contains("variables cannot"), "{out}");
    assert!(has_line(&cache_ip, "kv"), "{}", hosts_in(&w, &web));
    run_ok(
        testkit::linkshim(&w.state()).args(["unlink", "web", "db"]),
        T,
    );
    assert!(!has_line(&db_ip, "db"), "{}", hosts_in(&w, &web));
    assert!(has_line(&cache_ip, "kv"), "{}", hosts_in(&w, &web));

    // The added link is followed like one made at create: the target
    // restarts, its line comes back.
    w.podman(&["restart", "-t", "0", &cache]);
    let ip = w
        .podman(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &cache])
        .trim()
        .to_string();
    assert!(
        wait_until(Duration::from_secs(10), || has_line(&ip, "kv")),
        "{}",
        hosts_in(&w, &web)
    );
}
