//! Docker parity on podman (hooks.d): what Docker's own link tests expect
//! and linkshim once did otherwise. A target started with `--hostname`
//! answers to it in its linkers' hosts files (`alias hostname name`); a
//! link may name its target by an id prefix; ports come in Docker's order
//! (TCP, SCTP, UDP), so `<P>_PORT` of a target without TCP is its SCTP
//! port; two links with one alias are refused, with the reason in the log.

use std::time::Duration;

use testkit::*;

use crate::services::{Setup, id_of, ip_of};

const T: Duration = Duration::from_secs(60);

pub fn hostname_id_prefix_and_port_order() {
    let world = Setup::new();
    let (podman, r) = (&world.podman, world.rootfs.as_str());
    let web = unique_name("web");
    podman.run_ok(
        &[
            &[
                "run",
                "-d",
                "--name",
                &web,
                "--hostname",
                "fred",
                "--annotation",
                "io.linkshim.name=web",
                "--annotation",
                "io.linkshim.expose=80",
                "--rootfs",
                r,
            ][..],
            &httpd("80"),
        ]
        .concat(),
        T,
    );
    let dns = unique_name("dns");
    podman.run_ok(
        &[
            "run",
            "-d",
            "--name",
            &dns,
            "--annotation",
            "io.linkshim.name=dns",
            "--annotation",
            "io.linkshim.expose=53/udp 9/sctp 5353/udp",
            "--rootfs",
            r,
            "sleep",
            "300",
        ],
        T,
    );
    let (web_ip, dns_ip) = (ip_of(podman, &web), ip_of(podman, &dns));
    let web_prefix = id_of(podman, &web)[..12].to_string();
    let dns_short = id_of(podman, &dns)[..12].to_string();

    // The linker names web by a prefix of its id and fetches through its
    // hostname, which only linkshim's hosts line gives it.
    let out = podman.run_ok(
        &[
            "run",
            "--rm",
            "--annotation",
            "io.linkshim.name=app",
            "--annotation",
            &format!("io.linkshim.links={web_prefix}:site dns"),
            "--rootfs",
            r,
            "sh",
            "-c",
            &linker_script("fred", 80),
        ],
        T,
    );
    let seen = LinkerOutput::parse(&out);
    seen.assert_hosts_line(&web_ip, "site fred web");
    seen.assert_hosts_line(&dns_ip, &format!("dns {dns_short}"));
    assert_eq!(seen.fetched.trim(), "linkshim-ok", "{out}");
    let env = |k: &str| seen.env.get(k).map(String::as_str);
    assert_eq!(env("SITE_NAME"), Some("/app/site"));
    assert_eq!(
        env("SITE_PORT"),
        Some(format!("tcp://{web_ip}:80").as_str())
    );
    assert_eq!(
        env("DNS_PORT"),
        Some(format!("sctp://{dns_ip}:9").as_str()),
        "no tcp port: the first is sctp\n{out}"
    );
    assert_eq!(
        env("DNS_PORTS"),
        Some(format!("sctp://{dns_ip}:9,udp://{dns_ip}:53,udp://{dns_ip}:5353").as_str())
    );

    // Two links with one alias: refused, and the log says which.
    let failed = podman
        .cmd()
        .args([
            "run",
            "--rm",
            "--annotation",
            "io.linkshim.links=web:x dns:x",
            "--rootfs",
            r,
            "true",
        ])
        .output()
        .unwrap();
    assert!(!failed.status.success(), "two links with one alias started");
    let log = linkshim_log(&world.state());
    assert!(
        log.contains("alias \"x\" is used by two links"),
        "linkshim.log:\n{log}"
    );
}
