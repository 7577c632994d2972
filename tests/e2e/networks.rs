//! Addresses on podman (hooks.d): a target on two networks gives a linker
//! the address on the network they share; a target on the host's network
//! gives a linker its gateway, and a linker that cannot reach it is
//! refused; `podman network connect`/`disconnect` runs no hook, and
//! `linkshim refresh` makes a running linker's hosts file follow.

use std::time::Duration;

use testkit::*;

use crate::services::Setup;

const T: Duration = Duration::from_secs(60);

/// Networks made for one test, removed when it ends (podman keeps network
/// definitions host-wide, outside its private root).
struct Networks<'a> {
    podman: &'a Podman,
    names: Vec<String>,
}

impl Networks<'_> {
    fn create(&mut self, hint: &str) -> String {
        let name = unique_name(hint);
        self.podman.run_ok(&["network", "create", &name], T);
        self.names.push(name.clone());
        name
    }
}

impl Drop for Networks<'_> {
    fn drop(&mut self) {
        for n in &self.names {
            run_quiet(
                self.podman.cmd().args(["network", "rm", "-f", n]),
                Duration::from_secs(60),
            );
        }
    }
}

fn ip_on(podman: &Podman, container: &str, network: &str) -> String {
    podman
        .run_ok(
            &[
                "inspect",
                "-f",
                &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
                container,
            ],
            T,
        )
        .trim()
        .to_string()
}

fn hosts_of(podman: &Podman, container: &str) -> String {
    podman.run_ok(&["exec", container, "cat", "/etc/hosts"], T)
}

pub fn the_shared_network_host_networking_and_network_connect() {
    let world = Setup::new();
    let (podman, r) = (&world.podman, world.rootfs.as_str());
    let mut nets = Networks {
        podman,
        names: vec![],
    };
    let (a, b) = (nets.create("lsh-a"), nets.create("lsh-b"));

    // A target on both networks; a linker on b alone gets its b address.
    let db = unique_name("db");
    podman.run_ok(
        &httpd_target(&db, "db", "80", r, &["--network", &a, "--network", &b]),
        T,
    );
    let (db_a, db_b) = (ip_on(podman, &db, &a), ip_on(podman, &db, &b));
    assert_ne!(db_a, db_b);
    let out = podman.run_ok(
        &[
            "run",
            "--rm",
            "--network",
            &b,
            "--annotation",
            "io.linkshim.links=db",
            "--rootfs",
            r,
            "sh",
            "-c",
            &linker_script("db", 80),
        ],
        T,
    );
    let seen = LinkerOutput::parse(&out);
    assert_eq!(
        seen.env.get("DB_PORT").map(String::as_str),
        Some(format!("tcp://{db_b}:80").as_str()),
        "{out}"
    );
    assert!(
        seen.hosts
            .lines()
            .any(|l| l.starts_with(&format!("{db_b}\tdb "))),
        "{}",
        seen.hosts
    );
    assert!(!seen.hosts.contains(&db_a), "{}", seen.hosts);
    assert_eq!(seen.fetched.trim(), "linkshim-ok");

    // network connect / disconnect: a running linker on a and b, a target
    // on a; the target moves to b; `linkshim refresh` follows it.
    let web = unique_name("web");
    podman.run_ok(
        &[
            "run",
            "-d",
            "--name",
            &web,
            "--network",
            &a,
            "--annotation",
            "io.linkshim.name=web",
            "--rootfs",
            r,
            "sleep",
            "300",
        ],
        T,
    );
    let app = unique_name("app");
    podman.run_ok(
        &[
            "run",
            "-d",
            "--name",
            &app,
            "--network",
            &a,
            "--network",
            &b,
            "--annotation",
            "io.linkshim.links=web",
            "--rootfs",
            r,
            "sleep",
            "300",
        ],
        T,
    );
    let web_a = ip_on(podman, &web, &a);
    assert!(
        hosts_of(podman, &app)
            .lines()
            .any(|l| l.starts_with(&format!("{web_a}\tweb "))),
        "{}",
        hosts_of(podman, &app)
    );
    podman.run_ok(&["network", "connect", &b, &web], T);
    podman.run_ok(&["network", "disconnect", &a, &web], T);
    let web_b = ip_on(podman, &web, &b);
    let refreshed = world.linkshim(&["refresh"]);
    assert!(
        refreshed.lines().any(|l| l == format!("web\t{web_b}")),
        "refresh printed:\n{refreshed}"
    );
    let hosts = hosts_of(podman, &app);
    assert!(
        hosts
            .lines()
            .any(|l| l.starts_with(&format!("{web_b}\tweb ")))
            && !hosts.contains(&web_a),
        "{hosts}"
    );
    assert_eq!(world.linkshim(&["refresh"]), "", "nothing changed since");

    // A target on the host's network: a linker on a network gets the
    // host's address on it (its gateway; network a's bridge exists, its
    // containers run); a linker with no network is refused.
    let port = 20000 + std::process::id() % 20000;
    let hostsvc = unique_name("hostsvc");
    podman.run_ok(
        &[
            &[
                "run",
                "-d",
                "--name",
                &hostsvc,
                "--network",
                "host",
                "--annotation",
                "io.linkshim.name=hostsvc",
                "--annotation",
                &format!("io.linkshim.expose={port}"),
                "--rootfs",
                r,
            ][..],
            &httpd(&port.to_string()),
        ]
        .concat(),
        T,
    );
    let gateway = podman
        .run_ok(
            &[
                "network",
                "inspect",
                "-f",
                "{{(index .Subnets 0).Gateway}}",
                &a,
            ],
            T,
        )
        .trim()
        .to_string();
    let out = podman.run_ok(
        &[
            "run",
            "--rm",
            "--network",
            &a,
            "--annotation",
            "io.linkshim.links=hostsvc:svc",
            "--rootfs",
            r,
            "sh",
            "-c",
            &linker_script("svc", port as u16),
        ],
        T,
    );
    let seen = LinkerOutput::parse(&out);
    assert_eq!(
        seen.env.get("SVC_PORT").map(String::as_str),
        Some(format!("tcp://{gateway}:{port}").as_str()),
        "{out}"
    );
    assert_eq!(seen.fetched.trim(), "linkshim-ok", "{out}");
    let refused = podman
        .cmd()
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--annotation",
            "io.linkshim.links=hostsvc",
            "--rootfs",
            r,
            "true",
        ])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a linker with no network reached the host"
    );
    let log = linkshim_log(&world.state());
    assert!(
        log.contains("uses the host's network and shares no network with the linker"),
        "{log}"
    );
}
