//! Part 2: `runc run` / `crun run` of a busybox `true` bundle, directly
//! and through `linkshim runtime` without annotations and with a name and
//! 3 links, the three alternating.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use linkshim::registry::Registry;
use serde_json::{Value, json};
use testkit::{
    Scratch, busybox_rootfs, busybox_unusable, is_root, prepare_cgroups, run_quiet, unique_name,
    which,
};

use crate::fixture::{LINKS, register_targets};
use crate::measure::{alternate, check, run_within, stats, status_within};
use crate::report::{Report, Row, ms};
use crate::{LINKED_TARGET_RATIO, Opts, PASSTHROUGH_TARGET_RATIO};

const VARIANTS: [&str; 2] = ["no linkshim annotation", "name + 3 links"];

fn what(name: &str, variant: &str) -> String {
    format!("`{name} run` through `linkshim runtime`, {variant}")
}

fn target(variant: &str) -> String {
    let r = if variant == VARIANTS[0] {
        PASSTHROUGH_TARGET_RATIO
    } else {
        LINKED_TARGET_RATIO
    };
    format!("≤ {r}×")
}

pub fn bench(opts: &Opts, report: &mut Report) {
    let skip = |report: &mut Report, name: &str, why: &str| {
        let rows: Vec<(String, String)> = VARIANTS
            .iter()
            .map(|v| (what(name, v), target(v)))
            .collect();
        let rows: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        report.skip(&format!("{name} wrapper"), why, &rows);
    };
    for (name, path) in [("runc", "/usr/sbin/runc"), ("crun", "/usr/bin/crun")] {
        if !is_root() {
            skip(report, name, "needs root");
            continue;
        }
        if let Some(why) = busybox_unusable() {
            skip(report, name, &why);
            continue;
        }
        let Some(rt) = which(path).or_else(|| which(name)) else {
            skip(report, name, &format!("{name} is not installed"));
            continue;
        };
        if name == "crun" {
            prepare_cgroups();
        }
        bench_runtime(opts, report, name, &rt);
    }
}

fn delete_container(rt: &Path, id: &str) {
    run_quiet(
        Command::new(rt).args(["delete", "--force", id]),
        Duration::from_secs(20),
    );
}

/// The names in the registry, through `linkshim ls --json`.
pub fn registered(state: &Path) -> BTreeSet<String> {
    testkit::linkshim_ls(state)
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect()
}

fn bench_runtime(opts: &Opts, report: &mut Report, name: &str, rt: &Path) {
    let scratch = Scratch::new(&format!("linkshim-bench-{name}"));
    let dir = scratch.path();
    let rootfs = busybox_rootfs(dir);
    let bundle = dir.join("bundle");
    let state = dir.join("state");
    fs::create_dir_all(&bundle).expect("mkdir bundle");
    let spec = Command::new(rt)
        .arg("spec")
        .current_dir(&bundle)
        .output()
        .expect("spawn spec");
    check(&format!("{name} spec"), &spec);
    let mut base: Value = serde_json::from_slice(
        &fs::read(bundle.join("config.json")).expect("spec wrote config.json"),
    )
    .expect("JSON");
    base["process"]["args"] = json!(["true"]);
    base["process"]["terminal"] = json!(false);
    base["root"] = json!({"path": rootfs, "readonly": false});
    base["hostname"] = json!("bench");

    linkshim::state_dir::ensure(&state).expect("state dir");
    register_targets(&mut Registry::open(&state).expect("registry"));

    let write_config = |annotated: bool, id: &str, args: Option<&[&str]>| {
        let mut c = base.clone();
        if annotated {
            c["annotations"] = json!({"io.linkshim.name": id, "io.linkshim.links": LINKS});
        }
        if let Some(a) = args {
            c["process"]["args"] = json!(a);
        }
        fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&c).expect("JSON"),
        )
        .expect("write config");
    };
    // A run stuck longer than this is killed and counted (crun 1.8.1 can
    // lose a hook's SIGCHLD and then waits out the hook's 30 s timeout).
    let deadline = Duration::from_secs(2);
    let direct = |annotated: bool| -> Option<Duration> {
        let id = unique_name("lsb");
        write_config(annotated, &id, None);
        let (t, o) = run_within(
            Command::new(rt).arg("run").arg("-b").arg(&bundle).arg(&id),
            deadline,
        );
        let o = o.or_else(|| {
            delete_container(rt, &id);
            None
        })?;
        if !o.status.success() {
            delete_container(rt, &id);
        }
        check(&format!("{name} run"), &o);
        Some(t)
    };
    let wrapped = |annotated: bool, args: Option<&[&str]>| -> Option<(Duration, Output)> {
        let id = unique_name("lsb");
        write_config(annotated, &id, args);
        let (t, o) = run_within(
            opts.linkshim(dir)
                .arg("--state-dir")
                .arg(&state)
                .arg("runtime")
                .arg("--runtime")
                .arg(rt)
                .args(["--", "run", "-b"])
                .arg(&bundle)
                .arg(&id),
            deadline,
        );
        let Some(o) = o else {
            delete_container(rt, &id);
            // The machine idled while it waited: warm it up again, untimed,
            // so that the next variant is not measured cold.
            for _ in 0..3 {
                let id = unique_name("lsb-warm");
                write_config(false, &id, None);
                let _ = run_within(
                    Command::new(rt).arg("run").arg("-b").arg(&bundle).arg(&id),
                    deadline,
                );
                delete_container(rt, &id);
            }
            return None;
        };
        if !o.status.success() {
            delete_container(rt, &id);
        }
        check(&format!("linkshim runtime -- {name} run"), &o);
        Some((t, o))
    };

    // Check that the wrapper links for real: env and hosts inside the container.
    let o = (0..3)
        .find_map(|_| wrapped(true, Some(&["sh", "-c", "env; cat /etc/hosts"])))
        .unwrap_or_else(|| panic!("{name} through linkshim: 3 runs in a row stuck"))
        .1;
    let seen = String::from_utf8_lossy(&o.stdout);
    assert!(
        seen.contains("CACHE_NAME=/") && seen.contains("\tcache "),
        "{name} through linkshim: the container did not see its links:\n{seen}"
    );
    for _ in 0..3 {
        direct(true);
        wrapped(false, None);
        wrapped(true, None);
    }
    // Failures only: the log also holds lines of lower levels.
    let log_lines = || {
        testkit::linkshim_log(&state)
            .lines()
            .filter(|l| l.contains(" ERROR "))
            .count()
    };
    let logged_before = log_lines();
    let n = opts.runtime_n;
    println!("{name}: busybox true, {n} runs per variant");
    let mut d = || direct(true);
    let mut pass = || wrapped(false, None).map(|r| r.0);
    let mut linked = || wrapped(true, None).map(|r| r.0);
    let res = alternate(n, &mut [&mut d, &mut pass, &mut linked]);
    let done = |v: &[Option<Duration>]| v.iter().flatten().copied().collect::<Vec<_>>();
    let stuck = |v: &[Option<Duration>]| v.iter().filter(|r| r.is_none()).count();
    let base = stats(&done(&res[0]));
    println!(
        "  {name} run: median {} p95 {}",
        ms(base.median),
        ms(base.p95)
    );
    for (i, variant) in VARIANTS.iter().enumerate() {
        let s = stats(&done(&res[i + 1]));
        let hung = stuck(&res[i + 1]);
        let limit = if i == 0 {
            PASSTHROUGH_TARGET_RATIO
        } else {
            LINKED_TARGET_RATIO
        };
        let ratio = s.median / base.median;
        println!(
            "  via linkshim runtime, {variant}: median {} p95 {} ({ratio:.3}×){}",
            ms(s.median),
            ms(s.p95),
            if hung > 0 {
                format!(", {hung} runs stuck")
            } else {
                String::new()
            }
        );
        let ok = ratio <= limit;
        let mut detail = if ok {
            String::new()
        } else {
            format!(
                "+{:.1} ms, +{:.0} %",
                s.median - base.median,
                (ratio - 1.0) * 100.0
            )
        };
        if hung > 0 {
            detail.push_str(&format!(
                "{}{hung} of {n} runs stuck past {} s and were killed, left out of the statistics",
                if detail.is_empty() { "" } else { "; " },
                deadline.as_secs()
            ));
        }
        report.rows.push(
            Row::new(
                what(name, variant),
                s,
                (format!("`{name} run` direct"), base),
            )
            .target(target(variant), ok && hung == 0)
            .detail(detail),
        );
        if hung > 0 {
            report.notes.push(format!(
                "`{name} run` through linkshim, {variant}: {hung} of {n} runs stuck (killed after {} s); \
                 unkilled they end after the 30 s hook timeout with \"timeout expired\". crun 1.8.1 waits for a hook \
                 with `sigtimedwait(SIGCHLD)` and takes the first SIGCHLD for the hook's only when its si_pid matches: \
                 when the container's own process exits while the hook runs, the two SIGCHLDs merge and the hook's exit is never seen.",
                deadline.as_secs()
            ));
        }
    }
    let failed_hooks = log_lines().saturating_sub(logged_before);
    if failed_hooks > 0 {
        report.notes.push(format!(
            "{name}: {failed_hooks} errors were logged in linkshim.log during the {n} linked runs (`true` exits \
             at once: a registration, or a hook, that races its exit fails)."
        ));
    }
    engine_style(opts, report, name, rt, dir, &state, &write_config, deadline);
    // Every linked container unregistered itself at its end (poststop).
    let left = registered(&state);
    if left.len() != 3 {
        report.notes.push(format!(
            "{name}: after the runs the registry held {} records instead of the 3 targets (poststop missed?)",
            left.len()
        ));
    }
}

/// Writes the bundle's config: annotated or not, for container `id`, with
/// other process args.
type WriteConfig<'a> = dyn Fn(bool, &str, Option<&[&str]>) + 'a;

/// How podman's conmon and containerd's shim drive a runtime: `create`
/// with a pid file, `start`, `delete --force`, each one process, linked
/// (name + 3 links) through the wrapper against the same calls made
/// directly, alternating. The wrapper registers such a create itself, so
/// no `poststart` hook runs.
#[allow(clippy::too_many_arguments)]
fn engine_style(
    opts: &Opts,
    report: &mut Report,
    name: &str,
    rt: &Path,
    dir: &Path,
    state: &Path,
    write_config: &WriteConfig<'_>,
    deadline: Duration,
) {
    let bundle = dir.join("bundle");
    let pid_file = dir.join("pid");
    let calls = |wrapped: bool| -> Option<Duration> {
        let id = unique_name("lse");
        write_config(true, &id, None);
        let cmd = |sub: &[&str]| {
            let mut c = if wrapped {
                let mut c = opts.linkshim(dir);
                c.arg("--state-dir")
                    .arg(state)
                    .arg("runtime")
                    .arg("--runtime")
                    .arg(rt)
                    .arg("--");
                c
            } else {
                Command::new(rt)
            };
            c.args(sub);
            c
        };
        let mut total = Duration::ZERO;
        let steps: [Vec<&str>; 3] = [
            vec![
                "create",
                "--bundle",
                bundle.to_str().expect("utf-8 path"),
                "--pid-file",
                pid_file.to_str().expect("utf-8 path"),
                &id,
            ],
            vec!["start", &id],
            vec!["delete", "--force", &id],
        ];
        for step in &steps {
            let (t, status) = status_within(&mut cmd(step), deadline);
            if !status.is_some_and(|s| s.success()) {
                delete_container(rt, &id);
                return None;
            }
            total += t;
        }
        Some(total)
    };
    for _ in 0..3 {
        calls(false);
        calls(true);
    }
    let n = opts.runtime_n;
    let mut direct = || calls(false);
    let mut wrapped = || calls(true);
    let res = alternate(n, &mut [&mut direct, &mut wrapped]);
    let done = |v: &[Option<Duration>]| v.iter().flatten().copied().collect::<Vec<_>>();
    let failed = res[1].iter().filter(|r| r.is_none()).count();
    let base = stats(&done(&res[0]));
    let s = stats(&done(&res[1]));
    let ratio = s.median / base.median;
    println!(
        "  {name} create, start, delete via linkshim runtime, name + 3 links: median {} ({ratio:.3}×)",
        ms(s.median)
    );
    let ok = ratio <= LINKED_TARGET_RATIO && failed == 0;
    let mut detail = if ratio <= LINKED_TARGET_RATIO {
        String::new()
    } else {
        format!(
            "+{:.1} ms, +{:.0} %",
            s.median - base.median,
            (ratio - 1.0) * 100.0
        )
    };
    if failed > 0 {
        detail.push_str(&format!(
            "{}{failed} of {n} sequences failed",
            if detail.is_empty() { "" } else { "; " }
        ));
    }
    report.rows.push(
        Row::new(
            format!("`{name} create`, `start`, `delete` through `linkshim runtime` (engine style), name + 3 links"),
            s,
            (format!("the same three calls to `{name}` direct"), base),
        )
        .target(format!("≤ {LINKED_TARGET_RATIO}×"), ok)
        .detail(detail),
    );
}
