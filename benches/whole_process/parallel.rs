//! Part 4: 200 `linkshim hook poststart` processes at once, alternating
//! with 200 `cat` at once on the same inputs; every registration must be
//! there.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use testkit::{Scratch, is_root, which};

use crate::Opts;
use crate::measure::{alternate, stats};
use crate::report::{Report, Row};
use crate::runtimes::registered;

const PARALLEL: usize = 200;

fn what() -> String {
    format!("{PARALLEL} × `hook poststart` at once, wall time (fresh registry)")
}

/// Spawns all, then feeds all their stdin, so that they start their work
/// together; wall time until the last exits.
fn burst(cmds: Vec<Command>, inputs: &[Vec<u8>]) -> (Duration, Vec<Output>) {
    let t0 = Instant::now();
    let mut children: Vec<Child> = cmds
        .into_iter()
        .map(|mut c| {
            c.stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for (c, input) in children.iter_mut().zip(inputs) {
        let mut stdin = c.stdin.take().expect("piped");
        stdin.write_all(input).expect("feed stdin");
    }
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    (t0.elapsed(), outs)
}

pub fn bench(opts: &Opts, report: &mut Report) {
    if !is_root() {
        return report.skip(
            "parallel registrations",
            "needs root (poststart enters the network namespace)",
            &[(&what(), "none lost")],
        );
    }
    let cat = which("/usr/bin/cat")
        .or_else(|| which("/bin/cat"))
        .expect("cat");
    let scratch = Scratch::new("linkshim-bench-parallel");
    let dir = scratch.path();
    let me = std::process::id();
    let names: Vec<String> = (0..PARALLEL).map(|i| format!("par-{i:03}")).collect();
    let bundles: Vec<PathBuf> = names
        .iter()
        .map(|name| {
            let b = dir.join("bundles").join(name);
            fs::create_dir_all(&b).expect("mkdir bundle");
            let config = json!({
                "ociVersion": "1.0.2-dev",
                "process": {"args": ["true"], "env": ["PATH=/bin", "ROLE=worker"], "cwd": "/"},
                "root": {"path": "rootfs"},
                "hostname": name,
                "annotations": {"io.linkshim.name": name, "io.linkshim.expose": "80"},
                "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": format!("/proc/{me}/ns/net")}]},
            });
            fs::write(b.join("config.json"), serde_json::to_vec(&config).expect("JSON"))
                .expect("write config");
            b
        })
        .collect();
    let states = |rep: usize| -> Vec<Vec<u8>> {
        bundles
            .iter()
            .enumerate()
            .map(|(i, b)| {
                serde_json::to_vec(&json!({
                    "ociVersion": "1.0.2-dev", "id": format!("par-{rep}-{i:03}"),
                    "status": "running", "pid": me, "bundle": b,
                }))
                .expect("JSON")
            })
            .collect()
    };
    let expected: BTreeSet<String> = names.iter().cloned().collect();
    let reps = opts.parallel_reps;
    println!(
        "parallel: {PARALLEL} poststart hooks at once, {reps} repetitions (fresh registry each), alternating with {PARALLEL} cat"
    );
    let mut lost = Vec::new();
    let (mut hook_rep, mut cat_rep) = (0, 0);
    let mut cats = || {
        let inputs = states(cat_rep);
        cat_rep += 1;
        let cmds = (0..PARALLEL)
            .map(|_| {
                let mut c = Command::new(&cat);
                c.env_clear();
                c
            })
            .collect();
        burst(cmds, &inputs).0
    };
    let mut hooks = || {
        let rep = hook_rep;
        hook_rep += 1;
        let state = dir.join(format!("state-{rep}"));
        let inputs = states(rep);
        let cmds = (0..PARALLEL)
            .map(|_| {
                let mut c = opts.linkshim(dir);
                c.args(["hook", "poststart", "--state-dir"]).arg(&state);
                c
            })
            .collect();
        let (t, outs) = burst(cmds, &inputs);
        let failed: Vec<String> = outs
            .iter()
            .filter(|o| !o.status.success())
            .map(|o| {
                format!(
                    "{}: {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                )
            })
            .collect();
        let got = registered(&state);
        let missing: Vec<&String> = expected.difference(&got).collect();
        println!(
            "  rep {rep}: {} ms wall, {} failed, {}/{PARALLEL} registered",
            t.as_millis(),
            failed.len(),
            expected.len() - missing.len()
        );
        if !failed.is_empty() || !missing.is_empty() || got.len() != PARALLEL {
            eprintln!(
                "FAIL parallel rep {rep}: {} hooks failed (first: {:?}); missing {:?}",
                failed.len(),
                failed.first(),
                missing
            );
            lost.push(format!(
                "rep {rep}: {} of {PARALLEL} registered, {} hooks failed{}",
                expected.len() - missing.len(),
                failed.len(),
                failed
                    .first()
                    .map(|f| format!(" (first: {f})"))
                    .unwrap_or_default()
            ));
        }
        t
    };
    let res = alternate(reps, &mut [&mut cats, &mut hooks]);
    let (b, s) = (stats(&res[0]), stats(&res[1]));
    let ok = lost.is_empty();
    let detail = if ok {
        format!("{PARALLEL}/{PARALLEL} registered, every repetition")
    } else {
        format!("{} repetitions lost some", lost.len())
    };
    if !ok {
        report.failed = true;
        report
            .notes
            .extend(lost.iter().map(|l| format!("LOST REGISTRATIONS: {l}")));
    }
    report.rows.push(
        Row::new(what(), s, (format!("{PARALLEL} × `cat` at once"), b))
            .target("none lost", ok)
            .detail(detail),
    );
}
