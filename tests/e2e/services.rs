//! podman with the package's hooks.d file: service links (Tutum), URL
//! links (Convox), resources added with the CLI, a linker's hosts file
//! following its targets, and a linker in a user namespace.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use testkit::*;

const T: Duration = Duration::from_secs(60);

/// One test's world: a private podman whose hooks.d holds the package's
/// file, pointed at this build and at private state and persistent
/// directories, and a busybox rootfs. The podman goes before the files.
pub struct Setup {
    pub podman: Podman,
    pub rootfs: String,
    tmp: tempfile::TempDir,
}

impl Setup {
    pub fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = busybox_rootfs(tmp.path()).to_str().unwrap().to_string();
        let podman = Podman::new();
        let setup = Setup {
            podman,
            rootfs,
            tmp,
        };
        install_hooks_d_with(
            &setup.podman.hooks_dir(),
            &setup.state(),
            &["--persist-dir", setup.persist().to_str().unwrap()],
        );
        setup
    }

    pub fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    fn persist(&self) -> PathBuf {
        self.tmp.path().join("persist")
    }

    /// `linkshim ARGS` on this world's directories; its stdout.
    pub fn linkshim(&self, args: &[&str]) -> String {
        run_ok(
            testkit::linkshim(&self.state())
                .arg("--persist-dir")
                .arg(self.persist())
                .args(args),
            T,
        )
    }
}

pub fn ip_of(podman: &Podman, name: &str) -> String {
    podman
        .run_ok(
            &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", name],
            T,
        )
        .trim()
        .to_string()
}

pub fn id_of(podman: &Podman, name: &str) -> String {
    podman
        .run_ok(&["inspect", "-f", "{{.Id}}", name], T)
        .trim()
        .to_string()
}

fn get<'a>(out: &'a LinkerOutput, k: &str) -> Option<&'a str> {
    out.env.get(k).map(String::as_str)
}

fn start_replica(podman: &Podman, rootfs: &str, name: &str) {
    podman.run_ok(
        &[
            "run",
            "-d",
            "--name",
            name,
            "--annotation",
            "io.linkshim.service=web",
            "--annotation",
            "io.linkshim.expose=80",
            "--annotation",
            "io.linkshim.url=http://:80/",
            "-e",
            "WEBROOT=/login",
            "--rootfs",
            rootfs,
            "sh",
            "-c",
            "echo index=$LINKSHIM_INDEX service=$LINKSHIM_SERVICE; exec httpd -f -p 80 -h /www",
        ],
        T,
    );
}

pub fn three_replicas_of_a_service_and_a_proxy() {
    let world = Setup::new();
    let (podman, r) = (&world.podman, world.rootfs.as_str());
    let names: Vec<String> = (1..=3).map(|i| unique_name(&format!("web{i}"))).collect();
    for n in &names {
        start_replica(podman, r, n);
    }
    let ips: Vec<String> = names.iter().map(|n| ip_of(podman, n)).collect();
    for (i, n) in names.iter().enumerate() {
        let logs = podman.run_ok(&["logs", n], T);
        assert!(
            logs.contains(&format!("index={} service=web", i + 1)),
            "{n}: {logs}"
        );
    }

    let out = podman.run_ok(
        &[
            "run",
            "--rm",
            "--annotation",
            "io.linkshim.name=proxy",
            "--annotation",
            "io.linkshim.links=web",
            "--rootfs",
            r,
            "sh",
            "-c",
            &linker_script("web-2", 80),
        ],
        T,
    );
    let seen = LinkerOutput::parse(&out);
    let (env, hosts, fetched) = (&seen, seen.hosts.as_str(), seen.fetched.as_str());
    for (i, ip) in ips.iter().enumerate() {
        let n = i + 1;
        assert_eq!(
            get(env, &format!("WEB_{n}_PORT")),
            Some(format!("tcp://{ip}:80").as_str()),
            "{out}"
        );
        assert_eq!(
            get(env, &format!("WEB_{n}_PORT_80_TCP_ADDR")),
            Some(ip.as_str())
        );
        assert_eq!(get(env, &format!("WEB_{n}_ENV_WEBROOT")), Some("/login"));
        assert_eq!(
            get(env, &format!("WEB_{n}_NAME")),
            Some(format!("/proxy/web-{n}").as_str())
        );
        let short = &id_of(podman, &names[i])[..12];
        let line = format!("{ip}\tweb web-{n} {short}");
        assert!(hosts.lines().any(|l| l == line), "{line:?} not in\n{hosts}");
    }
    assert_eq!(
        hosts
            .lines()
            .filter(|l| l.split('\t').nth(1).is_some_and(|n| n.starts_with("web ")))
            .count(),
        3
    );
    assert_eq!(
        get(env, "WEB_URL"),
        Some(format!("http://{}:80/", ips[0]).as_str())
    );
    assert_eq!(
        get(env, "WEB_URLS"),
        Some(
            ips.iter()
                .map(|ip| format!("http://{ip}:80/"))
                .collect::<Vec<_>>()
                .join(",")
                .as_str()
        )
    );
    assert_eq!(fetched.trim(), "linkshim-ok");

    // Replica 2 goes; a new replica takes its slot.
    podman.run_ok(&["rm", "-f", "-t", "0", &names[1]], T);
    let newcomer = unique_name("web4");
    start_replica(podman, r, &newcomer);
    let logs = podman.run_ok(&["logs", &newcomer], T);
    assert!(logs.contains("index=2 service=web"), "{logs}");
    let ls: Value = serde_json::from_str(&world.linkshim(&["ls", "--json"])).unwrap();
    let slots: Vec<(String, u64)> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["index"].as_u64().unwrap(),
            )
        })
        .collect();
    let new_id = id_of(podman, &newcomer);
    assert!(slots.contains(&(new_id, 2)), "{slots:?}");
    assert_eq!(slots.len(), 3, "{slots:?}");
}

pub fn a_url_target_and_a_resource_linked_from_one_container() {
    let world = Setup::new();
    let (podman, r) = (&world.podman, world.rootfs.as_str());
    world.linkshim(&[
        "resource",
        "add",
        "pg",
        "--url",
        "postgres://app:p%40ss@192.0.2.10:5432/appdb",
        "--env",
        "PGSSLMODE=require",
        "--persist",
    ]);
    let listed = world.linkshim(&["resource", "ls", "--show-env"]);
    assert!(
        listed.contains("pg\tpostgres://app:p%40ss@192.0.2.10:5432/appdb\tpersistent"),
        "{listed}"
    );
    let masked = world.linkshim(&["resource", "ls"]);
    assert!(
        masked.contains("pg\tpostgres://app:***@192.0.2.10:5432/appdb\tpersistent"),
        "{masked}"
    );

    let redis = unique_name("redis");
    podman.run_ok(
        &[
            &[
                "run",
                "-d",
                "--name",
                &redis,
                "--annotation",
                "io.linkshim.name=redis",
                "--annotation",
                "io.linkshim.expose=6379",
                "--annotation",
                "io.linkshim.url=redis://:s%3Acret@:6379/0",
                "--rootfs",
                r,
            ][..],
            &httpd("6379"),
        ]
        .concat(),
        T,
    );
    let ip = ip_of(podman, &redis);
    let out = podman.run_ok(
        &[
            "run",
            "--rm",
            "--annotation",
            "io.linkshim.name=app",
            "--annotation",
            "io.linkshim.links=redis:cache+convox redis pg:db",
            "--rootfs",
            r,
            "sh",
            "-c",
            &linker_script("cache", 6379),
        ],
        T,
    );
    let seen = LinkerOutput::parse(&out);
    let (env, hosts, fetched) = (&seen, seen.hosts.as_str(), seen.fetched.as_str());
    let want = [
        // Convox family for "cache".
        ("CACHE_URL", format!("redis://:s%3Acret@{ip}:6379/0")),
        ("CACHE_SCHEME", "redis".into()),
        ("CACHE_HOST", ip.clone()),
        ("CACHE_PORT", "6379".into()),
        ("CACHE_PATH", "/0".into()),
        ("CACHE_USERNAME", String::new()),
        ("CACHE_PASSWORD", "s:cret".into()),
        // Docker family for "redis": Docker's _PORT kept, URL parts beside it.
        ("REDIS_PORT", format!("tcp://{ip}:6379")),
        ("REDIS_URL", format!("redis://:s%3Acret@{ip}:6379/0")),
        ("REDIS_PORTS", format!("tcp://{ip}:6379")),
        // The resource.
        (
            "DB_URL",
            "postgres://app:p%40ss@192.0.2.10:5432/appdb".into(),
        ),
        ("DB_PASSWORD", "p@ss".into()),
        ("DB_PORT", "tcp://192.0.2.10:5432".into()),
        ("DB_ENV_PGSSLMODE", "require".into()),
        ("LINKSHIM_NAME", "app".into()),
    ];
    for (k, v) in &want {
        assert_eq!(get(env, k), Some(v.as_str()), "{k} in\n{out}");
    }
    assert_eq!(
        get(env, "CACHE_PORT_6379_TCP"),
        None,
        "the Convox family has no Docker variables"
    );
    let short = &id_of(podman, &redis)[..12];
    assert!(
        hosts
            .lines()
            .any(|l| l == format!("{ip}\tcache {short} redis")),
        "{hosts}"
    );
    assert!(hosts.lines().any(|l| l == "192.0.2.10\tdb pg"), "{hosts}");
    assert_eq!(fetched.trim(), "linkshim-ok");

    world.linkshim(&["resource", "rm", "pg"]);
    let failed = podman
        .cmd()
        .args([
            "run",
            "--rm",
            "--annotation",
            "io.linkshim.links=pg",
            "--rootfs",
            r,
            "true",
        ])
        .output()
        .unwrap();
    assert!(!failed.status.success(), "a removed resource is no target");
}

pub fn a_linkers_hosts_file_follows_its_targets() {
    let world = Setup::new();
    let (podman, r) = (&world.podman, world.rootfs.as_str());
    let start_db = |name: &str| {
        podman.run_ok(&httpd_target(name, "db", "80", r, &[]), T);
    };
    let db1 = unique_name("db1");
    start_db(&db1);
    let w1 = unique_name("w1");
    start_replica(podman, r, &w1);
    let app = unique_name("app");
    podman.run_ok(
        &[
            "run",
            "-d",
            "--name",
            &app,
            "--annotation",
            "io.linkshim.name=app",
            "--annotation",
            "io.linkshim.links=db web",
            "--rootfs",
            r,
            "sleep",
            "1000",
        ],
        T,
    );
    let hosts = || podman.run_ok(&["exec", &app, "cat", "/etc/hosts"], T);
    let db_line =
        |name: &str| format!("{}\tdb {}", ip_of(podman, name), &id_of(podman, name)[..12]);
    let line1 = db_line(&db1);
    assert!(hosts().lines().any(|l| l == line1), "{}", hosts());

    // The target goes: its line goes. It comes back elsewhere: the new line.
    podman.run_ok(&["rm", "-f", "-t", "0", &db1], T);
    // podman's cleanup (and so the poststop hook) may run after `rm`
    // returns: on a loaded machine it has been seen to take over 10 s.
    assert!(
        wait_until(Duration::from_secs(30), || !hosts().contains("\tdb ")),
        "a stopped target's line stays:\n{}",
        hosts()
    );
    let db2 = unique_name("db2");
    start_db(&db2);
    let line2 = db_line(&db2);
    assert_ne!(line1, line2);
    assert!(hosts().lines().any(|l| l == line2), "{}", hosts());
    let fetch = sh_retry("wget -q -O - http://db/", 50);
    let fetched = podman.run_ok(&["exec", &app, "sh", "-c", &fetch], T);
    assert_eq!(fetched.trim(), "linkshim-ok");

    // A service the linker names scales up after it started: web-2 appears.
    let w2 = unique_name("w2");
    start_replica(podman, r, &w2);
    let web_line = format!(
        "{}\tweb web-2 {}",
        ip_of(podman, &w2),
        &id_of(podman, &w2)[..12]
    );
    assert!(hosts().lines().any(|l| l == web_line), "{}", hosts());
}

pub fn a_linker_in_a_user_namespace_gets_its_hosts_file() {
    let world = Setup::new();
    let (podman, r) = (&world.podman, world.rootfs.as_str());
    let db = unique_name("db");
    podman.run_ok(&httpd_target(&db, "db", "80", r, &[]), T);
    let out = podman.run_ok(
        &[
            "run",
            "--rm",
            "--uidmap",
            "0:100000:65536",
            "--gidmap",
            "0:100000:65536",
            "--annotation",
            "io.linkshim.links=db",
            "--rootfs",
            r,
            "sh",
            "-c",
            &format!(
                "cat /etc/hosts; echo ---; {}",
                sh_retry("wget -q -O - http://db/", 50)
            ),
        ],
        T,
    );
    let line = format!("{}\tdb {}", ip_of(podman, &db), &id_of(podman, &db)[..12]);
    let (hosts, fetched) = out.split_once("---\n").unwrap();
    assert!(hosts.lines().any(|l| l == line), "{line:?} not in\n{hosts}");
    assert_eq!(fetched.trim(), "linkshim-ok");
}
