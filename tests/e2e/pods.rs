//! Pods and `kube play` on podman (hooks.d). podman writes no hostname and
//! no name annotation into a pod member's config, and copies a pod's
//! annotations to every member; linkshim names a member by the name podman
//! gave it (`<pod>-<container>`, kept by containers/storage). One YAML, two
//! pods: `db-…` holds two containers, each its own link target under its
//! podman name; `web-…` links to both and fetches through each alias.

use std::time::Duration;

use serde_json::Value;
use testkit::*;

use crate::services::Setup;

const T: Duration = Duration::from_secs(120);

/// A local image of the test rootfs (`podman import`), with PATH set.
pub fn import_image(world: &Setup, tag: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("rootfs.tar");
    run_ok(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&world.rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
        T,
    );
    world.podman.run_ok(
        &[
            "import",
            "--change",
            "ENV PATH=/bin",
            tar.to_str().unwrap(),
            tag,
        ],
        T,
    );
}

pub fn kube_play_two_pods_linked_by_their_members_names() {
    let world = Setup::new();
    let podman = &world.podman;
    let image = "localhost/linkshim-e2e:kube";
    import_image(&world, image);
    let (db, web) = (unique_name("db"), unique_name("web"));
    let fetch =
        |alias: &str, port: u16| sh_retry(&format!("wget -q -O - http://{alias}:{port}/"), 50);
    let script = format!(
        "env; echo ---; cat /etc/hosts; echo ---; {} && {} && echo fetched-both; sleep 300",
        fetch("db", 3306),
        fetch("cache", 6379)
    );
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {db}
  annotations:
    io.linkshim.expose: "3306 6379"
spec:
  containers:
  - name: main
    image: {image}
    command: ["httpd", "-f", "-p", "3306", "-h", "/www"]
  - name: cache
    image: {image}
    command: ["httpd", "-f", "-p", "6379", "-h", "/www"]
---
apiVersion: v1
kind: Pod
metadata:
  name: {web}
  annotations:
    io.linkshim.links: "{db}-main:db {db}-cache:cache"
spec:
  containers:
  - name: app
    image: {image}
    command: ["sh", "-c", {script:?}]
"#
    );
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("pods.yaml");
    std::fs::write(&file, yaml).unwrap();
    podman.run_ok(&["kube", "play", file.to_str().unwrap()], T);

    let (main, cache, app) = (
        format!("{db}-main"),
        format!("{db}-cache"),
        format!("{web}-app"),
    );
    let logs = || podman.run_ok(&["logs", &app], T);
    assert!(
        wait_until(Duration::from_secs(30), || logs().contains("fetched-both")),
        "the linker did not fetch through both aliases:\n{}\nlinkshim.log:\n{}",
        logs(),
        linkshim_log(&world.state())
    );
    let out = logs();
    let seen = LinkerOutput::parse(&out);
    let id = |name: &str| {
        podman
            .run_ok(&["inspect", "-f", "{{.Id}}", name], T)
            .trim()
            .to_string()
    };
    let records: Vec<Value> = serde_json::from_str(&world.linkshim(&["ls", "--json"])).unwrap();
    let ip_of = |name: &str| -> String {
        let rec = records
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} not registered: {records:#?}"));
        rec["addrs"][0].as_str().unwrap().to_string()
    };
    let ip = ip_of(&main);
    assert_eq!(ip_of(&cache), ip, "one pod, one address");
    // kube play puts pods on its own network (10.89.0.0/24 here).
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    seen.assert_hosts_line(&ip, &format!("db {} {main}", short_id(&id(&main))));
    seen.assert_hosts_line(&ip, &format!("cache {} {cache}", short_id(&id(&cache))));
    let env = |k: &str| seen.env.get(k).map(String::as_str);
    assert_eq!(env("DB_NAME"), Some(format!("/{app}/db").as_str()));
    assert_eq!(env("CACHE_NAME"), Some(format!("/{app}/cache").as_str()));
    assert_eq!(env("DB_PORT"), Some(format!("tcp://{ip}:3306").as_str()));
    assert_eq!(env("LINKSHIM_NAME"), Some(app.as_str()));
    let app_rec = records.iter().find(|r| r["name"] == app.as_str());
    assert!(
        app_rec.is_some(),
        "the linker registered under its podman name"
    );
}
