//! Part 1: `linkshim hook precreate` with 3 links against registries of
//! growing size, alternating with `cat` of the same config (the floor of
//! any hook).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{Scratch, which};

use crate::fixture::{fill_registry, precreate_config};
use crate::measure::{alternate, check, run_timed, stats};
use crate::report::{Report, Row, ms, thousands};
use crate::{FLAT_TARGET_RATIO, Opts, PRECREATE_TARGET_MS, PRECREATE_TARGET_RATIO};

/// The registry sizes.
const SIZES: [usize; 4] = [10, 1_000, 10_000, 100_000];

pub fn bench(opts: &Opts, report: &mut Report) {
    let cat = which("/usr/bin/cat")
        .or_else(|| which("/bin/cat"))
        .expect("cat");
    let scratch = Scratch::new("linkshim-bench-precreate");
    let dir = scratch.path();
    let config = precreate_config(dir);
    // One registry per size, all built first, so that every size and the
    // floor are measured in the same rounds.
    let t0 = Instant::now();
    let states: Vec<PathBuf> = SIZES
        .iter()
        .map(|size| {
            let state = dir.join(format!("state-{size}"));
            fill_registry(&state, *size);
            state
        })
        .collect();
    let built: usize = SIZES.iter().sum();
    let build = t0.elapsed();
    println!(
        "precreate: built registries of {SIZES:?} records in {:.1} s",
        build.as_secs_f64()
    );
    report.notes.push(format!(
        "The registries ({}) were built with `Registry::register`, one transaction per record, in-process: \
         {:.0} µs per record on average; their records carry this process's pid, so they are live.",
        SIZES.map(thousands).join(", "),
        build.as_secs_f64() * 1e6 / built as f64
    ));
    measure(opts, report, dir, &states, &config, &cat);
}

fn measure(
    opts: &Opts,
    report: &mut Report,
    dir: &Path,
    states: &[PathBuf],
    config: &str,
    cat: &Path,
) {
    let hook = |state: &Path| {
        let (t, o) = run_timed(
            opts.linkshim(dir)
                .args(["hook", "precreate", "--state-dir"])
                .arg(state),
            Some(config.as_bytes()),
        );
        check("linkshim hook precreate", &o);
        (t, o)
    };
    let floor = || {
        let (t, o) = run_timed(
            Command::new(cat).env_clear().env("PATH", "/usr/bin:/bin"),
            Some(config.as_bytes()),
        );
        check("cat", &o);
        t
    };
    // Warm up, and check that the hook does its work.
    for state in states {
        for _ in 0..3 {
            floor();
            let (_, o) = hook(state);
            check_output(&o, state);
        }
    }
    let n = opts.precreate_n;
    println!("precreate: 3 links, {n} rounds of (cat, precreate at each size), rotating");
    let mut variants: Vec<Box<dyn FnMut() -> Duration + '_>> = vec![Box::new(floor)];
    for state in states {
        variants.push(Box::new(move || {
            let t = hook(state).0;
            // The hosts files of runs that never got a poststop.
            let _ = fs::remove_dir_all(state.join("hosts"));
            let _ = fs::create_dir(state.join("hosts"));
            t
        }));
    }
    let mut refs: Vec<&mut dyn FnMut() -> Duration> = variants
        .iter_mut()
        .map(|v| v.as_mut() as &mut dyn FnMut() -> Duration)
        .collect();
    let res = alternate(n, &mut refs);
    let f = stats(&res[0]);
    println!("  cat (floor): median {} p95 {}", ms(f.median), ms(f.p95));
    for (i, &size) in SIZES.iter().enumerate() {
        let p = stats(&res[i + 1]);
        println!(
            "  {:>7} records: precreate median {} p95 {} ({:.2}× floor)",
            thousands(size),
            ms(p.median),
            ms(p.p95),
            p.median / f.median
        );
        report.curve.push((size, p, f));
        let row = Row::new(
            format!("`hook precreate`, 3 links, {} records", thousands(size)),
            p,
            ("`cat`, same stdin".into(), f),
        );
        let ratio = p.median / f.median;
        report.rows.push(if size == 10_000 {
            let ok = p.median <= PRECREATE_TARGET_MS && ratio <= PRECREATE_TARGET_RATIO;
            let row = row.target(
                format!("≤ {PRECREATE_TARGET_MS} ms and ≤ {PRECREATE_TARGET_RATIO}× floor"),
                ok,
            );
            if ok {
                row
            } else {
                row.detail(format!(
                    "{:.2}× the {PRECREATE_TARGET_MS} ms budget, {:.2}× the {PRECREATE_TARGET_RATIO}× budget",
                    p.median / PRECREATE_TARGET_MS,
                    ratio / PRECREATE_TARGET_RATIO
                ))
            }
        } else {
            row
        });
    }
    let small = stats(&res[1]);
    let big = stats(&res[SIZES.len()]);
    let row = Row::new(
        format!(
            "flatness: precreate at {} vs {} records",
            thousands(SIZES[SIZES.len() - 1]),
            thousands(SIZES[0])
        ),
        big,
        (format!("precreate, {} records", SIZES[0]), small),
    );
    let ok = row.ratio.is_some_and(|r| r <= FLAT_TARGET_RATIO);
    report
        .rows
        .push(row.target(format!("≤ {FLAT_TARGET_RATIO}×"), ok));
}

/// The hook linked for real: the variables and the hosts line of `cache`.
fn check_output(out: &Output, state: &Path) {
    let v: Value = serde_json::from_slice(&out.stdout).expect("precreate prints JSON");
    let env: Vec<&str> = v["process"]["env"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for want in [
        "CACHE_NAME=/web/cache",
        "DB_PORT=tcp://10.88.0.1:5432",
        "API_PORT_8443_TCP_PORT=8443",
    ] {
        assert!(
            env.contains(&want),
            "precreate output lacks {want}: {env:?}"
        );
    }
    let hosts = v["mounts"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["destination"] == "/etc/hosts"))
        .and_then(|m| m["source"].as_str())
        .expect("a hosts mount");
    assert!(
        Path::new(hosts).starts_with(state),
        "the hosts mount is not linkshim's: {hosts}"
    );
    let text = fs::read_to_string(hosts).expect("the linker's hosts file");
    assert!(text.contains("\tcache "), "no cache line in {text}");
}

/// `--profile-setup DIR SIZE`: leaves the linker's config and a registry of
/// SIZE records in DIR, to profile one precreate by hand. The records carry
/// this process's pid, so they are live only while it waits here.
pub fn profile_setup(dir: &Path, size: usize, bin: &Path) {
    let state = dir.join("state");
    fs::create_dir_all(dir).expect("mkdir");
    let config = precreate_config(dir);
    fs::write(dir.join("config.json"), &config).expect("write config.json");
    fill_registry(&state, size);
    println!(
        "{size} records in {}, live while this process (pid {}) waits. Profile one precreate with:\n  \
         LINKSHIM_CONFIG=/nonexistent valgrind --tool=callgrind {} hook precreate --state-dir {} < {} > /dev/null\n\
         press Enter (or close stdin) to end",
        state.display(),
        std::process::id(),
        bin.display(),
        state.display(),
        dir.join("config.json").display()
    );
    let _ = std::io::stdin().read_line(&mut String::new());
}
