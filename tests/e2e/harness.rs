//! Smoke tests of the test kit itself on real runtimes, without linkshim:
//! podman and containerd run busybox, and two OCI containers in network
//! namespaces on the test bridge reach each other through a bind-mounted
//! hosts file.

use std::fs;
use std::time::Duration;

use testkit::*;

const T: Duration = Duration::from_secs(60);

pub fn podman_runs_busybox() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let podman = Podman::new();
    let name = unique_name("lsh-echo");
    let out = podman.run_ok(
        &[
            "run",
            "--rm",
            "--name",
            &name,
            "--rootfs",
            rootfs.to_str().unwrap(),
            "sh",
            "-c",
            "echo hello-from-$(cat /www/index.html)",
        ],
        T,
    );
    assert_eq!(out.trim(), "hello-from-linkshim-ok");
    drop(podman);
}

pub fn podman_two_containers_http_by_ip() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let r = rootfs.to_str().unwrap();
    let podman = Podman::new();
    let srv = unique_name("lsh-srv");
    podman.run_ok(
        &[
            &["run", "-d", "--name", &srv, "--rootfs", r][..],
            &httpd("8080"),
        ]
        .concat(),
        T,
    );
    let ip = podman.run_ok(
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &srv],
        T,
    );
    let ip = ip.trim();
    assert!(ip.starts_with("10.88."), "unexpected podman address {ip:?}");
    let cli = unique_name("lsh-cli");
    // By IP, then by a name from podman's own /etc/hosts (--add-host),
    // which busybox resolves through the rootfs's nsswitch.conf.
    let script = format!(
        "{} && wget -q -O - http://srv-alias:8080/",
        sh_retry(&format!("wget -q -O - http://{ip}:8080/"), 50)
    );
    let add_host = format!("srv-alias:{ip}");
    let out = podman.run_ok(
        &[
            "run",
            "--rm",
            "--name",
            &cli,
            "--add-host",
            &add_host,
            "--rootfs",
            r,
            "sh",
            "-c",
            &script,
        ],
        T,
    );
    assert_eq!(out, "linkshim-ok\nlinkshim-ok\n");
    drop(podman);
}

/// Server bundle in netns A runs httpd; client bundle in netns B resolves
/// `srv-alias` through a test-written hosts file bind-mounted at /etc/hosts.
fn oci_pair_over_hosts_alias(runtime: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let a = NetNs::new("srv");
    let b = NetNs::new("cli");
    assert_ne!(a.ipv4(), b.ipv4());

    let srv_bundle = runc_bundle(
        &tmp.path().join("srv"),
        &rootfs,
        &httpd("8080"),
        &[("org.linkshim.test", "srv")],
        Some(&a.path()),
    );
    let cfg = read_config(&srv_bundle);
    assert_eq!(cfg["hostname"], "srv");
    assert_eq!(cfg["annotations"]["org.linkshim.test"], "srv");

    let hosts = tmp.path().join("hosts");
    fs::write(
        &hosts,
        format!("127.0.0.1\tlocalhost\n{}\tsrv-alias\n", a.ipv4()),
    )
    .unwrap();
    let script = format!(
        "hostname; {{ wget -q -O - http://no-such-alias:8080/ 2>&1 || echo NEG-FAILED; }}; {}",
        sh_retry("wget -q -O - http://srv-alias:8080/", 50)
    );
    let cli_bundle = runc_bundle(
        &tmp.path().join("cli"),
        &rootfs,
        &["sh", "-c", &script],
        &[],
        Some(&b.path()),
    );
    bundle_add_bind(&cli_bundle, &hosts, "/etc/hosts", true);

    let srv = OciContainer::new(runtime, &unique_name(&format!("lsh-{runtime}-srv")));
    srv.run_detached(&srv_bundle);
    let cli = OciContainer::new(runtime, &unique_name(&format!("lsh-{runtime}-cli")));
    let out = cli
        .run_fg(&cli_bundle, T)
        .expect("client container timed out");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{runtime} client failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"cli"),
        "hostname line; stdout: {stdout}"
    );
    assert!(
        stdout.contains("NEG-FAILED"),
        "unknown alias must not resolve; stdout: {stdout}"
    );
    assert_eq!(lines.last(), Some(&"linkshim-ok"), "stdout: {stdout}");
    drop((cli, srv, a, b));
}

pub fn runc_netns_hosts_alias() {
    oci_pair_over_hosts_alias("runc");
}

pub fn crun_netns_hosts_alias() {
    prepare_cgroups();
    oci_pair_over_hosts_alias("crun");
}

pub fn containerd_runs_busybox() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let ctrd = Containerd::start();
    let image = ctrd.import_busybox(&rootfs, "lsh");
    let id = unique_name("lsh-ctr");
    let out = run_ok(
        ctrd.ctr()
            .args(["-n", "lsh", "run", "--rm", &image, &id, "echo", "hi"]),
        T,
    );
    assert_eq!(out.trim(), "hi");
    drop(ctrd);
}
