//! `linkshim link` and `linkshim unlink` on a running linker: its hosts
//! file follows at once (same inode), its record's links change, and bad
//! requests fail naming the container and what to do.

mod support;

use std::os::unix::fs::MetadataExt;

use linkshim::links::annotation::parse_links;
use linkshim::registry::Registry;
use support::{Fixture, register_target};

const TOKEN: &str = "00000000000000000000000000000abc";

/// A running linker `web` linked to `db` (running at 10.0.0.2), with its
/// hosts file as prepare would have left it.
fn world() -> Fixture {
    let fx = Fixture::new();
    register_target(&fx, "dddddddddddd", "db", "5432", &[]);
    register_target(&fx, "cccccccccccc", "cache", "6379", &[]);
    let mut web = testkit::live_record(
        "eeeeeeeeeeee",
        "web",
        &["10.0.0.9".parse().unwrap()],
        "",
        &[],
    );
    web.links = parse_links("db").unwrap();
    Registry::open(&fx.state)
        .unwrap()
        .register(&web, Some(TOKEN))
        .unwrap();
    std::fs::write(
        fx.state.join("hosts").join(TOKEN),
        "127.0.0.1\tlocalhost\n# BEGIN linkshim links\n10.0.0.2\tdb dddddddddddd\n# END linkshim links\n",
    )
    .unwrap();
    fx
}

fn hosts(fx: &Fixture) -> String {
    std::fs::read_to_string(fx.state.join("hosts").join(TOKEN)).unwrap()
}

fn run(fx: &Fixture, args: &[&str]) -> std::process::Output {
    fx.cmd(args).output().unwrap()
}

fn links_of(fx: &Fixture, name: &str) -> Vec<String> {
    Registry::open(&fx.state)
        .unwrap()
        .lookup("default", name)
        .unwrap()
        .unwrap()
        .links
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn link_and_unlink_change_the_hosts_file_in_place() {
    let fx = world();
    let inode = std::fs::metadata(fx.state.join("hosts").join(TOKEN))
        .unwrap()
        .ino();
    let out = run(&fx, &["link", "web", "cache:kv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("variables cannot"), "{said}");
    let h = hosts(&fx);
    assert!(
        h.contains("10.0.0.2\tdb ") && h.contains("10.0.0.2\tkv "),
        "{h}"
    );
    assert!(
        h.starts_with("127.0.0.1\tlocalhost\n"),
        "the rest is kept: {h}"
    );
    assert_eq!(links_of(&fx, "web"), ["db", "cache:kv"]);

    let out = run(&fx, &["unlink", "web", "db"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = hosts(&fx);
    assert!(!h.contains("\tdb ") && h.contains("\tkv "), "{h}");
    assert_eq!(links_of(&fx, "web"), ["cache:kv"]);
    assert_eq!(
        std::fs::metadata(fx.state.join("hosts").join(TOKEN))
            .unwrap()
            .ino(),
        inode,
        "bind-mounted: the same inode"
    );

    // By id, and an optional link to a target not running yet.
    let out = run(&fx, &["link", "eeeeeeeeeeee", "later?optional"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));
    assert_eq!(links_of(&fx, "web"), ["cache:kv", "later?optional"]);
}

#[test]
fn bad_requests_fail_and_change_nothing() {
    let fx = world();
    let before = hosts(&fx);
    for (args, want) in [
        (
            &["link", "web", "nosuch"][..],
            "no running container, service or resource named \"nosuch\"",
        ),
        (
            &["link", "web", "cache:db"],
            "alias \"db\" is used by two links",
        ),
        (&["link", "web", "cache:ld_x"], "LD_X_* (the dynamic loader"),
        (
            &["link", "nobody", "cache"],
            "no running container named \"nobody\"",
        ),
        (&["link", "db", "cache"], "created without links"),
        (
            &["unlink", "web", "kv"],
            "no link with the alias \"kv\" (its aliases: db)",
        ),
        (&["link", "web", "web:self"], "cannot link to itself"),
    ] {
        let out = run(&fx, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {want:?} not in {err}");
        assert_eq!(hosts(&fx), before, "{args:?}");
        assert_eq!(links_of(&fx, "web"), ["db"], "{args:?}");
    }
}
