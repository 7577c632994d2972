//! A linker's life after its create, on podman with the wrapper as
//! `--runtime`: `podman exec` sees the link variables (its own `-e` wins).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use testkit::*;

const T: Duration = Duration::from_secs(60);

/// A private podman whose runtime is the wrapper (over crun), a busybox
/// rootfs and a state dir. The podman goes before the files.
struct World {
    podman: Podman,
    runtime: PathBuf,
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
            runtime,
            rootfs,
            tmp,
        }
    }

    fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    /// `podman --runtime WRAPPER ARGS`; stdout, panics on failure.
    fn podman(&self, args: &[&str]) -> String {
        run_ok(
            self.podman
                .cmd()
                .arg("--runtime")
                .arg(&self.runtime)
                .args(args),
            T,
        )
    }

    /// A target `name` serving /www on port 80.
    fn target(&self, name: &str) -> String {
        self.podman(&[
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
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
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
