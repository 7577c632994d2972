//! Part 3: `podman run --rm --rootfs DIR true` with and without linkshim's
//! hooks.d hook (3 links), alternating.

use std::fs;
use std::path::Path;

use linkshim::registry::Registry;
use testkit::{
    Podman, Scratch, busybox_rootfs, busybox_unusable, install_hooks_d, is_root, unique_name, which,
};

use crate::Opts;
use crate::fixture::{LINKS, register_targets};
use crate::measure::{alternate, check, run_timed, stats};
use crate::report::{Report, Row, ms};

pub fn bench(opts: &Opts, report: &mut Report) {
    let why = if !is_root() {
        Some("needs root".to_string())
    } else if which("podman").is_none() {
        Some("podman is not installed".to_string())
    } else {
        busybox_unusable()
    };
    if let Some(why) = why {
        return report.skip("podman", &why, &[]);
    }
    let scratch = Scratch::new("linkshim-bench-podman");
    let dir = scratch.path();
    let rootfs = busybox_rootfs(dir);
    let state = dir.join("state");
    let empty = dir.join("hooks-none");
    fs::create_dir_all(&empty).expect("mkdir");
    let podman = Podman::new();
    // The shipped hooks.d file, pointed at this binary and state dir.
    let hooked = podman.hooks_dir();
    install_hooks_d(&hooked, &state);
    linkshim::state_dir::ensure(&state).expect("state dir");
    register_targets(&mut Registry::open(&state).expect("registry"));

    let run = |hooks: &Path, cmd: &[&str]| {
        let name = unique_name("lsbp");
        let (t, o) = run_timed(
            podman
                .cmd_with_hooks(hooks)
                .args(["run", "--rm", "--name", &name])
                .args(["--annotation", &format!("io.linkshim.name={name}")])
                .args(["--annotation", &format!("io.linkshim.links={LINKS}")])
                .arg("--rootfs")
                .arg(&rootfs)
                .args(cmd),
            None,
        );
        check("podman run", &o);
        (t, o)
    };
    let (_, o) = run(&hooked, &["sh", "-c", "env; cat /etc/hosts"]);
    let seen = String::from_utf8_lossy(&o.stdout);
    assert!(
        seen.contains("CACHE_NAME=/") && seen.contains("\tcache "),
        "podman with linkshim's hook: the container did not see its links:\n{seen}"
    );
    for _ in 0..2 {
        run(&empty, &["true"]);
        run(&hooked, &["true"]);
    }
    let n = opts.podman_n;
    println!("podman: run --rm --rootfs true, {n} runs per variant");
    let mut without = || run(&empty, &["true"]).0;
    let mut with = || run(&hooked, &["true"]).0;
    let res = alternate(n, &mut [&mut without, &mut with]);
    let (b, s) = (stats(&res[0]), stats(&res[1]));
    println!(
        "  without hook: median {} p95 {} | with: median {} p95 {} ({:.3}×)",
        ms(b.median),
        ms(b.p95),
        ms(s.median),
        ms(s.p95),
        s.median / b.median
    );
    report.rows.push(
        Row::new(
            "`podman run --rm --rootfs DIR true` with linkshim's hooks.d hook (3 links)",
            s,
            ("same, no hook".into(), b),
        )
        .detail(format!("+{:.1} ms", s.median - b.median)),
    );
}
