//! Rootless podman: two users made by the test, each running podman with
//! the package's hooks file (no state directory given: the user's default
//! applies). One links two containers on a podman network; the other
//! cannot see them or link to them; on rootless podman's default network
//! (slirp4netns) two containers share one address, and the log says so.

use std::path::Path;

use testkit::*;

/// `ls --json` of `user`'s default registry: the names it holds.
fn names(user: &RootlessUser) -> Vec<String> {
    let out = run_ok(
        user.command(&user.linkshim()).args(["ls", "--json"]),
        std::time::Duration::from_secs(30),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

pub fn two_users_with_private_registries_link_on_a_user_network() {
    let _tun = TunForAll::new();
    let tag = std::process::id() % 1_000_000;
    let a = RootlessUser::new(&format!("lsha{tag}"));
    let b = RootlessUser::new(&format!("lshb{tag}"));
    let state_a = a.runtime_dir().join("linkshim");
    let state_b = b.runtime_dir().join("linkshim");
    let rootfs_a = a.rootfs();
    let rootfs_a = rootfs_a.to_str().unwrap();

    a.podman_ok(&["network", "create", "lshnet"]);
    a.podman_ok(
        &[
            &[
                "run",
                "-d",
                "--name",
                "db",
                "--network",
                "lshnet",
                "--annotation",
                "io.linkshim.name=db",
                "--annotation",
                "io.linkshim.expose=80",
                "-e",
                "SECRET_OF_A=a1",
                "--rootfs",
                rootfs_a,
            ][..],
            &httpd("80"),
        ]
        .concat(),
    );
    let ip = a
        .podman_ok(&[
            "inspect",
            "-f",
            "{{(index .NetworkSettings.Networks \"lshnet\").IPAddress}}",
            "db",
        ])
        .trim()
        .to_string();
    assert!(ip.starts_with("10."), "db's address on lshnet: {ip:?}");
    let out = a.podman_ok(&[
        "run",
        "--rm",
        "--network",
        "lshnet",
        "--annotation",
        "io.linkshim.name=web",
        "--annotation",
        "io.linkshim.links=db",
        "--rootfs",
        rootfs_a,
        "sh",
        "-c",
        &linker_script("db", 80),
    ]);
    let got = LinkerOutput::parse(&out);
    assert_eq!(
        got.env.get("DB_PORT").map(String::as_str),
        Some(format!("tcp://{ip}:80").as_str()),
        "{out}"
    );
    assert_eq!(
        got.env.get("DB_ENV_SECRET_OF_A").map(String::as_str),
        Some("a1")
    );
    assert!(
        got.hosts
            .lines()
            .any(|l| l.starts_with(&format!("{ip}\tdb "))),
        "{}",
        got.hosts
    );
    assert_eq!(got.fetched.trim(), "linkshim-ok");

    // A's registry is A's, private, where A's default says.
    let meta = std::fs::metadata(&state_a).expect("A's state dir");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(meta.uid(), a.uid, "{}", state_a.display());
    assert_eq!(meta.permissions().mode() & 0o077, 0, "private");
    assert_eq!(names(&a), ["db"], "web has stopped; db runs");
    assert!(
        !Path::new("/run/linkshim").exists()
            || std::fs::metadata("/run/linkshim").unwrap().uid() == 0,
        "root's stays root's"
    );

    // B sees none of it, and cannot link to A's db.
    assert!(names(&b).is_empty(), "B's registry is empty");
    let rootfs_b = b.rootfs();
    let failed = b.podman_out(&[
        "run",
        "--rm",
        "--annotation",
        "io.linkshim.name=spy",
        "--annotation",
        "io.linkshim.links=db",
        "--rootfs",
        rootfs_b.to_str().unwrap(),
        "true",
    ]);
    assert!(!failed.status.success(), "B's link to A's db must fail");
    let log_b = linkshim_log(&state_b);
    assert!(
        log_b.contains("spy") && log_b.contains("db") && log_b.contains("no running container"),
        "B's log names the link:\n{log_b}"
    );
    let blocked = output_within(
        b.command(&b.linkshim())
            .arg("--state-dir")
            .arg(&state_a)
            .arg("ls"),
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    assert!(!blocked.status.success(), "B cannot open A's registry");

    // Rootless podman's default network: every container is 10.0.2.100.
    a.podman_ok(&[
        "run",
        "-d",
        "--name",
        "solo",
        "--annotation",
        "io.linkshim.name=solo",
        "--rootfs",
        rootfs_a,
        "sleep",
        "60",
    ]);
    a.podman_ok(&[
        "run",
        "-d",
        "--name",
        "alone",
        "--annotation",
        "io.linkshim.name=alone",
        "--annotation",
        "io.linkshim.links=solo",
        "--rootfs",
        rootfs_a,
        "sleep",
        "60",
    ]);
    let log_a = linkshim_log(&state_a);
    assert!(
        log_a.contains("\"alone\" and \"solo\" have the same address 10.0.2.100")
            && log_a.contains("podman network create"),
        "A's log warns of the shared address:\n{log_a}"
    );
}
