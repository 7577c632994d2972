//! Hostile input on real runtimes through the wrapper: a link into another
//! scope without the target's permission, and an id with a newline (which
//! crun accepts), are refused before the runtime creates anything.

use std::path::Path;
use std::time::Duration;

use testkit::*;

const T: Duration = Duration::from_secs(30);

/// Ids listed by `<runtime> list`.
fn listed(runtime: &Path) -> Vec<String> {
    run_ok(&mut cmd(runtime.to_str().unwrap(), &["list"]), T)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// runc: a target in scope `a`, a linker in scope `b` naming `a/db`.
pub fn a_cross_scope_link_is_refused_on_runc() {
    let real = which("runc").expect("runc on PATH");
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let state = tmp.path().join("state");
    let ns = NetNs::new("scp");
    let tgt_bundle = runc_bundle(
        &tmp.path().join("db"),
        &rootfs,
        &["sleep", "60"],
        &[("io.linkshim.name", "db"), ("io.linkshim.scope", "a")],
        Some(&ns.path()),
    );
    let tgt = OciContainer::wrapped(&state, &real, &short_unique_id());
    tgt.run_detached(&tgt_bundle);
    let rec = ls_record(&state, "db").expect("the target is registered");
    assert_eq!(rec["scope"], "a");

    let lnk_bundle = runc_bundle(
        &tmp.path().join("web"),
        &rootfs,
        &["true"],
        &[
            ("io.linkshim.name", "web"),
            ("io.linkshim.scope", "b"),
            ("io.linkshim.links", "a/db"),
        ],
        None,
    );
    let before = std::fs::read(lnk_bundle.join("config.json")).unwrap();
    let lnk = OciContainer::wrapped(&state, &real, &short_unique_id());
    let out = lnk.run_fg(&lnk_bundle, T).expect("the wrapper returns");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the linker started: {err}");
    assert!(
        err.contains(
            r#"container "web": link "a/db": target "db" in scope "a" does not admit scope "b" (add io.linkshim.allow-scopes=b to the target)"#
        ),
        "{err}"
    );
    assert_eq!(
        std::fs::read(lnk_bundle.join("config.json")).unwrap(),
        before,
        "the refused config is left as it was"
    );
    assert!(!listed(&real).contains(&lnk.id), "runc created nothing");
}

/// crun accepts an id with a newline; the wrapper refuses it first.
pub fn an_id_with_a_newline_is_refused_on_crun() {
    prepare_cgroups();
    let real = which("crun").expect("crun on PATH");
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let state = tmp.path().join("state");
    let bundle = runc_bundle(
        &tmp.path().join("evil"),
        &rootfs,
        &["true"],
        &[("io.linkshim.name", "evil")],
        None,
    );
    let id = "a\n6.6.6.6 db";
    let c = OciContainer::wrapped(&state, &real, id);
    let out = c.run_fg(&bundle, T).expect("the wrapper returns");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it ran: {err}");
    assert!(
        err.contains(r#"container id "a\n6.6.6.6 db" is not valid"#),
        "{err}"
    );
    // `crun list` would show the id over two lines, `a` and `6.6.6.6 db`
    // (other cases running at once list ids of their own).
    let listed = listed(&real);
    assert!(
        !listed.iter().any(|l| l == "a" || l == "6.6.6.6"),
        "crun created nothing: {listed:?}"
    );
    assert!(linkshim_ls(&state).is_empty());
}
