//! Whole-process benchmarks: what a link costs a container start.
//!
//! ```text
//! cargo bench --bench whole_process              # full run, a few minutes on 2 cores
//! cargo bench --bench whole_process -- --quick   # short CI run (or LINKSHIM_BENCH_QUICK=1)
//! cargo bench --bench whole_process -- --only precreate,parallel
//! ```
//!
//! Every measurement is the wall time of whole processes (spawn to exit),
//! compared with a baseline measured in the same run, the variants
//! alternating run by run (rotating order) so that drift hits all alike:
//!
//! 1. `linkshim hook precreate` on a config captured from podman 4.3.1
//!    (`fixtures/podman-4.3.1-precreate.json`) with 3 links, against
//!    registries of 10, 1 000, 10 000 and 100 000 live records; baseline:
//!    `cat` on the same stdin (the floor of any hook).
//! 2. `runc run` / `crun run` of a busybox `true` bundle, directly vs through
//!    `linkshim runtime` (without annotations, and with a name and 3 links).
//! 3. `podman run --rm --rootfs DIR true` with and without linkshim's hooks.d hook.
//! 4. 200 `linkshim hook poststart` processes at once; every record must be there.
//!
//! Parts 2 to 4 need root, and parts 2 and 3 runc, crun, podman and a static
//! `/bin/busybox`; what is missing is skipped with a message saying so.
//!
//! The registries are built with linkshim's own `Registry::register`, with
//! records whose pid is this process (so they are live), never with SQL.
//!
//! Output: `docs/benchmarks/latest.md` (table and machine) and
//! `docs/benchmarks/latency.svg` (precreate latency against registry size).
//! A `--quick` run writes to `target/benchmarks/` instead, so that CI does not
//! overwrite the published numbers; `--out DIR` chooses another folder.
//! The exit code is 1 when a registration was lost or a run failed.
//!
//! The linkshim binary is the one cargo builds for this bench
//! (`target/release/linkshim` under `cargo bench`); `LINKSHIM_BENCH_BIN`
//! names another.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use linkshim::links::annotation::{LinkRequest, Name, Port, Proto};
use linkshim::registry::{self, Record, Registry};
use serde_json::{Value, json};

/// The proposed config podman 4.3.1 gave a precreate hook (captured with a
/// `tee` hook), its run and storage roots replaced by `@DIR@`.
const PODMAN_CONFIG: &str = include_str!("fixtures/podman-4.3.1-precreate.json");
/// The links of the benchmarked linker, as podman passes them (podman 4
/// splits `--annotation` values at commas, so they are space separated).
const LINKS: &str = "db redis:cache api";
/// The registry sizes of part 1.
const SIZES: [usize; 4] = [10, 1_000, 10_000, 100_000];
const PARALLEL: usize = 200;

/// Targets from issue 4.
const PRECREATE_TARGET_MS: f64 = 2.0;
const PRECREATE_TARGET_RATIO: f64 = 2.0;
const FLAT_TARGET_RATIO: f64 = 1.5;
const WRAPPER_TARGET_RATIO: f64 = 1.05;

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

struct Opts {
    quick: bool,
    only: Option<Vec<String>>,
    out: PathBuf,
    bin: PathBuf,
    /// Samples per variant.
    precreate_n: usize,
    runtime_n: usize,
    podman_n: usize,
    parallel_reps: usize,
    /// `/proc/loadavg` when the run started.
    load_at_start: String,
}

impl Opts {
    fn parse() -> Opts {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "-h" || a == "--help") {
            eprintln!(
                "usage: cargo bench --bench whole_process -- [--quick] [--only precreate,runtime,podman,parallel,refresh] [--out DIR]\n\
                 env: LINKSHIM_BENCH_QUICK=1 (same as --quick), LINKSHIM_BENCH_BIN=PATH (the linkshim binary)"
            );
            std::process::exit(0);
        }
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("LINKSHIM_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = value("--out").map(PathBuf::from).unwrap_or_else(|| {
            if quick {
                manifest.join("target/benchmarks")
            } else {
                manifest.join("docs/benchmarks")
            }
        });
        let bin = std::env::var_os("LINKSHIM_BENCH_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_linkshim")));
        let only = value("--only").map(|s| s.split(',').map(str::to_string).collect());
        let (precreate_n, runtime_n, podman_n, parallel_reps) = if quick {
            (41, 10, 4, 2)
        } else {
            (201, 60, 20, 5)
        };
        Opts {
            quick,
            only,
            out,
            bin,
            precreate_n,
            runtime_n,
            podman_n,
            parallel_reps,
            load_at_start: loadavg(),
        }
    }

    fn wants(&self, part: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| p == part))
    }
}

// ---------------------------------------------------------------------------
// Statistics and the report
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Stats {
    n: usize,
    median: f64,
    p95: f64,
}

/// Median and p95 (nearest rank) in milliseconds.
fn stats(samples: &[Duration]) -> Stats {
    assert!(!samples.is_empty());
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    let median = if n % 2 == 1 {
        ms[n / 2]
    } else {
        (ms[n / 2 - 1] + ms[n / 2]) / 2.0
    };
    let rank = ((0.95 * n as f64).ceil() as usize).clamp(1, n);
    Stats {
        n,
        median,
        p95: ms[rank - 1],
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Pass,
    Miss,
    None,
}

struct Row {
    what: String,
    stats: Option<Stats>,
    baseline: Option<(String, f64)>,
    ratio: Option<f64>,
    target: String,
    verdict: Verdict,
    /// Shown after the verdict.
    detail: String,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
    skipped: Vec<String>,
    /// (registry size, precreate, floor)
    curve: Vec<(usize, Stats, Stats)>,
    failed: bool,
}

impl Report {
    fn skip(&mut self, part: &str, why: &str) {
        eprintln!("SKIP {part}: {why}");
        self.skipped.push(format!("{part}: {why}"));
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

// ---------------------------------------------------------------------------
// Running processes
// ---------------------------------------------------------------------------

/// Spawn `cmd`, feed it `input`, collect its output: wall time from spawn to exit.
fn run_timed(cmd: &mut Command, input: Option<&[u8]>) -> (Duration, Output) {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let stdin = child.stdin.take();
    let output = std::thread::scope(|s| {
        if let (Some(mut pipe), Some(bytes)) = (stdin, input) {
            s.spawn(move || {
                let _ = pipe.write_all(bytes);
            });
        }
        child.wait_with_output().expect("wait for a child")
    });
    (t0.elapsed(), output)
}

/// `run_timed` without input, killing the process after `deadline`:
/// then the output is None.
fn run_within(cmd: &mut Command, deadline: Duration) -> (Duration, Option<Output>) {
    use std::sync::mpsc;
    let (pid_tx, pid_rx) = mpsc::channel::<i32>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let killed = killed.clone();
        std::thread::spawn(move || {
            let Ok(pid) = pid_rx.recv() else { return };
            if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(deadline) {
                killed.store(true, Ordering::SeqCst);
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        })
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let _ = pid_tx.send(child.id() as i32);
    let output = child.wait_with_output().expect("wait for a child");
    let elapsed = t0.elapsed();
    let _ = done_tx.send(());
    let _ = watchdog.join();
    if killed.load(Ordering::SeqCst) {
        (elapsed, None)
    } else {
        (elapsed, Some(output))
    }
}

fn check(what: &str, out: &Output) {
    if !out.status.success() {
        panic!(
            "{what}: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Run every variant `n` times, alternating, each round in a rotated order.
fn alternate<T>(n: usize, variants: &mut [&mut dyn FnMut() -> T]) -> Vec<Vec<T>> {
    let k = variants.len();
    let mut out: Vec<Vec<T>> = (0..k).map(|_| Vec::with_capacity(n)).collect();
    for round in 0..n {
        for j in 0..k {
            let v = (round + j) % k;
            out[v].push(variants[v]());
        }
    }
    out
}

fn which(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        return Path::new(tool).exists().then(|| PathBuf::from(tool));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn first_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.lines().next()?.trim().to_string()).filter(|s| !s.is_empty())
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A linkshim command isolated from the machine's config file.
fn linkshim(opts: &Opts, scratch: &Path) -> Command {
    let mut c = Command::new(&opts.bin);
    c.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LINKSHIM_CONFIG", scratch.join("no-linkshim.toml"));
    c
}

// ---------------------------------------------------------------------------
// Scratch space: a temp dir that is unmounted below before it is removed
// ---------------------------------------------------------------------------

struct Scratch(Option<tempfile::TempDir>);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("linkshim-bench-{what}-"))
            .tempdir()
            .expect("a temp dir");
        Scratch(Some(dir))
    }
    fn path(&self) -> &Path {
        self.0.as_ref().expect("alive").path()
    }
}

/// Mount points at or below `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Some(dir) = self.0.take() else { return };
        for m in mounts_under(dir.path()) {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        if mounts_under(dir.path()).is_empty() {
            drop(dir);
        } else {
            eprintln!(
                "bench: mounts remain under {}; leaving it in place",
                dir.keep().display()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Registry records (through linkshim's own code)
// ---------------------------------------------------------------------------

struct Live {
    pid: i32,
    start: Option<u64>,
    boot: String,
}

impl Live {
    fn me() -> Live {
        let pid = std::process::id() as i32;
        Live {
            pid,
            start: registry::pid_start_time(pid),
            boot: registry::boot_id(),
        }
    }

    fn record(&self, n: usize, name: &str, ports: &[u16], env: &[(&str, &str)]) -> Record {
        let (hi, lo) = (n / 250, n % 250 + 1);
        let ip: IpAddr = format!("10.{}.{}.{lo}", 88 + hi / 256, hi % 256)
            .parse()
            .expect("an address");
        Record {
            id: {
                // Looks like an engine's id: 64 hex digits, distinct in the first 12.
                let h = (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                format!("{h:016x}{:048x}", n).into()
            },
            name: Name::parse("name", name).expect("a valid name"),
            service: None,
            index: None,
            addrs: vec![ip],
            ports: ports
                .iter()
                .map(|&number| Port {
                    number,
                    proto: Proto::Tcp,
                })
                .collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            links: Vec::new(),
            url: None,
            pid: Some(self.pid),
            pid_start: self.start,
            boot_id: self.boot.clone(),
            created: 0,
        }
    }
}

/// Register the 3 link targets of the benchmarked linker.
fn register_targets(reg: &mut Registry, live: &Live) {
    let targets = [
        live.record(
            0,
            "db",
            &[5432],
            &[("POSTGRES_DB", "app"), ("POSTGRES_USER", "app")],
        ),
        live.record(1, "redis", &[6379], &[("REDIS_VERSION", "7.2.4")]),
        live.record(2, "api", &[8080, 8443], &[("API_MODE", "prod")]),
    ];
    for t in &targets {
        reg.register(t, None).expect("register a link target");
    }
}

// ---------------------------------------------------------------------------
// Part 1: precreate against registry size
// ---------------------------------------------------------------------------

fn bench_precreate(opts: &Opts, report: &mut Report) {
    let cat = which("/usr/bin/cat")
        .or_else(|| which("/bin/cat"))
        .expect("cat");
    let scratch = Scratch::new("precreate");
    let dir = scratch.path();
    let config = precreate_fixture(dir);
    let live = Live::me();
    // One registry per size, all built first, so that every size and the
    // floor are measured in the same rounds.
    let mut states = Vec::new();
    let t0 = Instant::now();
    for size in SIZES {
        let state = dir.join(format!("state-{size}"));
        linkshim::state_dir::ensure(&state).expect("state dir");
        let mut reg = Registry::open(&state).expect("open the registry");
        register_targets(&mut reg, &live);
        for i in 3..size {
            let rec = live.record(i, &format!("filler-{i:06}"), &[80], &[("ROLE", "filler")]);
            reg.register(&rec, None).expect("register a record");
        }
        states.push(state);
    }
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
    measure_precreate(opts, report, dir, &states, &config, &cat);
}

/// The podman config of the linker, its run root under `dir`, and the hosts
/// file podman would have written there (linkshim starts from it).
fn precreate_fixture(dir: &Path) -> String {
    let config = PODMAN_CONFIG.replace("@DIR@", &dir.to_string_lossy());
    let parsed: Value = serde_json::from_str(&config).expect("the fixture is JSON");
    let hosts = parsed["mounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["destination"] == "/etc/hosts"))
        .and_then(|m| m["source"].as_str())
        .expect("the fixture mounts /etc/hosts");
    fs::create_dir_all(Path::new(hosts).parent().expect("a folder")).expect("mkdir");
    fs::write(
        hosts,
        "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.88.0.1\thost.containers.internal\n10.88.0.49\t8edbb8b43fe6 web\n",
    )
    .expect("write podman's hosts file");
    config
}

/// `--profile-setup DIR SIZE`: leave the linker's config and a registry of
/// SIZE records in DIR, to profile one precreate by hand. The records carry
/// this process's pid, so they are live only while it waits here.
fn profile_setup(dir: &Path, size: usize) {
    let state = dir.join("state");
    fs::create_dir_all(dir).expect("mkdir");
    let config = precreate_fixture(dir);
    fs::write(dir.join("config.json"), &config).expect("write config.json");
    linkshim::state_dir::ensure(&state).expect("state dir");
    let live = Live::me();
    let mut reg = Registry::open(&state).expect("open the registry");
    register_targets(&mut reg, &live);
    for i in 3..size {
        let rec = live.record(i, &format!("filler-{i:06}"), &[80], &[("ROLE", "filler")]);
        reg.register(&rec, None).expect("register a record");
    }
    drop(reg);
    println!(
        "{size} records in {}, live while this process (pid {}) waits. Profile one precreate with:\n  \
         LINKSHIM_CONFIG=/nonexistent valgrind --tool=callgrind {} hook precreate --state-dir {} < {} > /dev/null\n\
         press Enter (or close stdin) to end",
        state.display(),
        std::process::id(),
        env!("CARGO_BIN_EXE_linkshim"),
        state.display(),
        dir.join("config.json").display()
    );
    let _ = std::io::stdin().read_line(&mut String::new());
}

fn measure_precreate(
    opts: &Opts,
    report: &mut Report,
    dir: &Path,
    states: &[PathBuf],
    config: &str,
    cat: &Path,
) {
    let hook = |state: &Path| {
        let (t, o) = run_timed(
            linkshim(opts, dir)
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
            check_precreate_output(&o, state);
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
    }
    for &(size, p, f) in &report.curve {
        let ratio = p.median / f.median;
        let (target, verdict, detail) = if size == 10_000 {
            let ok = p.median <= PRECREATE_TARGET_MS && ratio <= PRECREATE_TARGET_RATIO;
            let detail = if ok {
                String::new()
            } else {
                format!(
                    "{:.2}× the 2 ms budget, {:.2}× the 2× budget",
                    p.median / PRECREATE_TARGET_MS,
                    ratio / PRECREATE_TARGET_RATIO
                )
            };
            (
                format!("≤ {PRECREATE_TARGET_MS} ms and ≤ {PRECREATE_TARGET_RATIO}× floor"),
                if ok { Verdict::Pass } else { Verdict::Miss },
                detail,
            )
        } else {
            ("—".to_string(), Verdict::None, String::new())
        };
        report.rows.push(Row {
            what: format!("`hook precreate`, 3 links, {} records", thousands(size)),
            stats: Some(p),
            baseline: Some(("`cat`, same stdin".into(), f.median)),
            ratio: Some(ratio),
            target,
            verdict,
            detail,
        });
    }
    let first = report.curve.first().map(|c| c.1);
    let last = report.curve.last().map(|c| c.1);
    if let (Some(small), Some(big)) = (first, last) {
        let ratio = big.median / small.median;
        report.rows.push(Row {
            what: format!(
                "flatness: precreate at {} vs {} records",
                thousands(SIZES[3]),
                thousands(SIZES[0])
            ),
            stats: None,
            baseline: Some((format!("precreate, {} records", SIZES[0]), small.median)),
            ratio: Some(ratio),
            target: format!("≤ {FLAT_TARGET_RATIO}×"),
            verdict: if ratio <= FLAT_TARGET_RATIO {
                Verdict::Pass
            } else {
                Verdict::Miss
            },
            detail: String::new(),
        });
    }
}

fn check_precreate_output(out: &Output, state: &Path) {
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

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------
// Containers: rootfs, cgroup quirk
// ---------------------------------------------------------------------------

fn busybox() -> Option<PathBuf> {
    let b = which("/bin/busybox")?;
    // A dynamic busybox would not run in an empty rootfs.
    let out = Command::new("file").arg("-L").arg(&b).output().ok();
    match out {
        Some(o) if !String::from_utf8_lossy(&o.stdout).contains("statically linked") => None,
        _ => Some(b),
    }
}

fn make_rootfs(dir: &Path, busybox: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
        fs::create_dir_all(root.join(d)).expect("mkdir rootfs");
    }
    fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "env", "cat", "true"] {
        symlink("busybox", root.join("bin").join(applet)).expect("symlink");
    }
    fs::write(root.join("etc/hosts"), "127.0.0.1\tlocalhost\n").expect("etc/hosts");
    root
}

/// crun refuses hybrid cgroups while v2 holds a controller (ENVIRONMENT.md):
/// move hugetlb to v1, once per boot.
fn crun_cgroup_quirk() {
    let ctl = Path::new("/sys/fs/cgroup/unified/cgroup.controllers");
    let busy = || fs::read_to_string(ctl).is_ok_and(|s| !s.trim().is_empty());
    if busy() {
        eprintln!(
            "bench: {} is not empty; mounting hugetlb on cgroup v1 for crun",
            ctl.display()
        );
        let _ = fs::create_dir_all("/sys/fs/cgroup/hugetlb");
        let _ = Command::new("mount")
            .args([
                "-t",
                "cgroup",
                "-o",
                "hugetlb",
                "cgroup",
                "/sys/fs/cgroup/hugetlb",
            ])
            .status();
    }
}

// ---------------------------------------------------------------------------
// Part 2: the runtime wrapper
// ---------------------------------------------------------------------------

fn bench_runtimes(opts: &Opts, report: &mut Report) {
    if !is_root() {
        return report.skip("runtime wrapper", "needs root");
    }
    let Some(bb) = busybox() else {
        return report.skip(
            "runtime wrapper",
            "needs a static /bin/busybox (package busybox-static)",
        );
    };
    for (name, path) in [("runc", "/usr/sbin/runc"), ("crun", "/usr/bin/crun")] {
        let Some(rt) = which(path).or_else(|| which(name)) else {
            report.skip(
                &format!("{name} wrapper"),
                &format!("{name} is not installed"),
            );
            continue;
        };
        if name == "crun" {
            crun_cgroup_quirk();
        }
        bench_runtime(opts, report, name, &rt, &bb);
    }
}

fn bench_runtime(opts: &Opts, report: &mut Report, name: &str, rt: &Path, bb: &Path) {
    let scratch = Scratch::new(name);
    let dir = scratch.path();
    let rootfs = make_rootfs(dir, bb);
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
    let live = Live::me();
    register_targets(&mut Registry::open(&state).expect("registry"), &live);

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
        let id = unique("lsb");
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
        let id = unique("lsb");
        write_config(annotated, &id, args);
        let (t, o) = run_within(
            linkshim(opts, dir)
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
                let id = unique("lsb-warm");
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
    let log = linkshim::logging::log_file(&state);
    let log_lines = || {
        fs::read_to_string(&log).map_or(0, |t| t.lines().filter(|l| l.contains(" ERROR ")).count())
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
    let base_s = stats(&done(&res[0]));
    println!(
        "  {name} run: median {} p95 {}",
        ms(base_s.median),
        ms(base_s.p95)
    );
    for (i, what) in [(1, "no linkshim annotation"), (2, "name + 3 links")] {
        let s = stats(&done(&res[i]));
        let hung = stuck(&res[i]);
        let ratio = s.median / base_s.median;
        println!(
            "  via linkshim runtime, {what}: median {} p95 {} ({ratio:.3}×){}",
            ms(s.median),
            ms(s.p95),
            if hung > 0 {
                format!(", {hung} runs stuck")
            } else {
                String::new()
            }
        );
        let ok = ratio <= WRAPPER_TARGET_RATIO;
        let mut detail = if ok {
            String::new()
        } else {
            format!(
                "+{:.1} ms, +{:.0} %",
                s.median - base_s.median,
                (ratio - 1.0) * 100.0
            )
        };
        if hung > 0 {
            detail.push_str(&format!(
                "{}{hung} of {n} runs stuck past {} s and were killed, left out of median and p95",
                if detail.is_empty() { "" } else { "; " },
                deadline.as_secs()
            ));
        }
        report.rows.push(Row {
            what: format!("`{name} run` through `linkshim runtime`, {what}"),
            stats: Some(s),
            baseline: Some((
                format!("`{name} run` direct (p95 {})", ms(base_s.p95)),
                base_s.median,
            )),
            ratio: Some(ratio),
            target: format!("≤ {WRAPPER_TARGET_RATIO}×"),
            verdict: if ok && hung == 0 {
                Verdict::Pass
            } else {
                Verdict::Miss
            },
            detail,
        });
        if hung > 0 {
            report.notes.push(format!(
                "`{name} run` through linkshim, {what}: {hung} of {n} runs stuck (killed after {} s); \
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
            "{name}: {failed_hooks} hook failures were logged during the {n} linked runs (`true` exits before \
             `hook poststart` reads its network namespace, so most of these containers are never registered)."
        ));
    }
    // Every linked container unregistered itself at its end (poststop).
    let left = registered(opts, dir, &state);
    if left.len() != 3 {
        report.notes.push(format!(
            "{name}: after the runs the registry held {} records instead of the 3 targets (poststop missed?)",
            left.len()
        ));
    }
}

fn delete_container(rt: &Path, id: &str) {
    let _ = Command::new(rt)
        .args(["delete", "--force", id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The names in the registry, through `linkshim ls --json`.
fn registered(opts: &Opts, scratch: &Path, state: &Path) -> BTreeSet<String> {
    let out = linkshim(opts, scratch)
        .args(["ls", "--json", "--state-dir"])
        .arg(state)
        .output()
        .expect("spawn linkshim ls");
    check("linkshim ls --json", &out);
    let v: Value = serde_json::from_slice(&out.stdout).expect("ls prints JSON");
    v.as_array()
        .expect("an array")
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect()
}

// ---------------------------------------------------------------------------
// Part 3: podman with and without the hook
// ---------------------------------------------------------------------------

fn bench_podman(opts: &Opts, report: &mut Report) {
    if !is_root() {
        return report.skip("podman", "needs root");
    }
    let Some(podman) = which("podman") else {
        return report.skip("podman", "podman is not installed");
    };
    let Some(bb) = busybox() else {
        return report.skip(
            "podman",
            "needs a static /bin/busybox (package busybox-static)",
        );
    };
    crun_cgroup_quirk();
    let scratch = Scratch::new("podman");
    let dir = scratch.path();
    let rootfs = make_rootfs(dir, &bb);
    let state = dir.join("state");
    let (empty, hooked) = (dir.join("hooks-none"), dir.join("hooks-linkshim"));
    fs::create_dir_all(&empty).expect("mkdir");
    fs::create_dir_all(&hooked).expect("mkdir");
    // The shipped hooks.d file, pointed at this binary and state dir.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/linkshim.json");
    let mut hook: Value =
        serde_json::from_slice(&fs::read(&shipped).expect("hooks/linkshim.json")).expect("JSON");
    hook["hook"]["path"] = json!(opts.bin);
    let args = hook["hook"]["args"].as_array_mut().expect("hook args");
    args.push(json!("--state-dir"));
    args.push(json!(state));
    fs::write(
        hooked.join("linkshim.json"),
        serde_json::to_vec_pretty(&hook).expect("JSON"),
    )
    .expect("write hook");

    linkshim::state_dir::ensure(&state).expect("state dir");
    register_targets(&mut Registry::open(&state).expect("registry"), &Live::me());

    let podman_cmd = |hooks: &Path, args: &[&str]| {
        let mut c = Command::new(&podman);
        c.arg("--root")
            .arg(dir.join("root"))
            .arg("--runroot")
            .arg(dir.join("runroot"))
            .arg("--hooks-dir")
            .arg(hooks)
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args);
        c
    };
    let run = |hooks: &Path, cmd: &[&str]| {
        let name = unique("lsbp");
        let (t, o) = run_timed(
            podman_cmd(hooks, &["run", "--rm", "--name", &name])
                .args([
                    "--ulimit",
                    "nofile=20000:20000",
                    "--ulimit",
                    "nproc=20000:20000",
                ])
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
    let ratio = s.median / b.median;
    println!(
        "  without hook: median {} p95 {} | with: median {} p95 {} ({ratio:.3}×)",
        ms(b.median),
        ms(b.p95),
        ms(s.median),
        ms(s.p95)
    );
    report.rows.push(Row {
        what: "`podman run --rm --rootfs DIR true` with linkshim's hooks.d hook (3 links)".into(),
        stats: Some(s),
        baseline: Some((format!("same, no hook (p95 {})", ms(b.p95)), b.median)),
        ratio: Some(ratio),
        target: "—".into(),
        verdict: Verdict::None,
        detail: format!("+{:.1} ms", s.median - b.median),
    });
    let _ = podman_cmd(&empty, &["rm", "-af", "-t", "0"]).output();
}

// ---------------------------------------------------------------------------
// Part 4: 200 registrations at once
// ---------------------------------------------------------------------------

fn bench_parallel(opts: &Opts, report: &mut Report) {
    if !is_root() {
        return report.skip(
            "parallel registrations",
            "needs root (poststart enters the network namespace)",
        );
    }
    let cat = which("/usr/bin/cat")
        .or_else(|| which("/bin/cat"))
        .expect("cat");
    let scratch = Scratch::new("parallel");
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
            fs::write(b.join("config.json"), serde_json::to_vec(&config).expect("JSON")).expect("write config");
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

    // Spawn all, then feed all their stdin: they start their work together.
    let burst = |cmds: Vec<Command>, inputs: &[Vec<u8>]| -> (Duration, Vec<Output>) {
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
    };
    let reps = opts.parallel_reps;
    println!(
        "parallel: {PARALLEL} poststart hooks at once, {reps} repetitions (fresh registry each)"
    );
    let (mut hook_t, mut cat_t) = (Vec::new(), Vec::new());
    let mut lost = Vec::new();
    for rep in 0..reps {
        let state = dir.join(format!("state-{rep}"));
        let inputs = states(rep);
        let cmds = (0..PARALLEL)
            .map(|_| {
                let mut c = linkshim(opts, dir);
                c.args(["hook", "poststart", "--state-dir"]).arg(&state);
                c
            })
            .collect();
        let cats = (0..PARALLEL)
            .map(|_| {
                let mut c = Command::new(&cat);
                c.env_clear();
                c
            })
            .collect();
        let (tc, _) = burst(cats, &inputs);
        let (th, outs) = burst(cmds, &inputs);
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
        let got = registered(opts, dir, &state);
        let missing: Vec<&String> = expected.difference(&got).collect();
        println!(
            "  rep {rep}: {} ms wall ({PARALLEL} cat: {} ms), {} failed, {}/{PARALLEL} registered",
            th.as_millis(),
            tc.as_millis(),
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
        hook_t.push(th);
        cat_t.push(tc);
    }
    let (s, b) = (stats(&hook_t), stats(&cat_t));
    let ok = lost.is_empty();
    if !ok {
        report.failed = true;
        report
            .notes
            .extend(lost.iter().map(|l| format!("LOST REGISTRATIONS: {l}")));
    }
    report.rows.push(Row {
        what: format!("{PARALLEL} × `hook poststart` at once, wall time (fresh registry)"),
        stats: Some(s),
        baseline: Some((format!("{PARALLEL} × `cat` at once"), b.median)),
        ratio: Some(s.median / b.median),
        target: "none lost".into(),
        verdict: if ok { Verdict::Pass } else { Verdict::Miss },
        detail: if ok {
            format!("{PARALLEL}/{PARALLEL} registered, every repetition")
        } else {
            format!("{} repetitions lost some", lost.len())
        },
    });
}

// ---------------------------------------------------------------------------
// Part 5: live hosts refresh
// ---------------------------------------------------------------------------

/// Time from a target's start (its `hook poststart`, which refreshes every
/// linker's hosts file before it returns) to every one of 1, 10 and 100
/// linkers' hosts files showing its address; the baseline is the same
/// start with no linker. Linkers are registered through linkshim's own
/// code, each with a hosts file holding a stale line for the target.
fn bench_refresh(opts: &Opts, report: &mut Report) {
    if !is_root() {
        return report.skip(
            "live refresh",
            "needs root (poststart enters the network namespace)",
        );
    }
    let live = Live::me();
    let me = std::process::id();
    let reps = if opts.quick { 8 } else { 30 };
    let mut curves = Vec::new();
    for linkers in [0usize, 1, 10, 100] {
        let scratch = Scratch::new("refresh");
        let dir = scratch.path();
        let state = dir.join("state");
        linkshim::state_dir::ensure(&state).expect("state dir");
        let bundle = dir.join("target");
        fs::create_dir_all(&bundle).expect("mkdir bundle");
        let config = json!({
            "ociVersion": "1.0.2-dev",
            "process": {"args": ["sleep"], "env": ["PATH=/bin"], "cwd": "/"},
            "root": {"path": "rootfs"},
            "hostname": "db",
            "annotations": {"io.linkshim.name": "db", "io.linkshim.expose": "5432"},
            "linux": {"namespaces": [{"type": "network", "path": format!("/proc/{me}/ns/net")}]},
        });
        fs::write(
            bundle.join("config.json"),
            serde_json::to_vec(&config).expect("JSON"),
        )
        .expect("write config");
        let stale = linkshim::render::hosts::link_lines(
            "db",
            "0ld0ld0ld0ld",
            "db",
            &["192.0.2.99".parse().expect("ip")],
        );
        let mut files = Vec::new();
        {
            let mut reg = Registry::open(&state).expect("open the registry");
            for i in 0..linkers {
                let mut rec = live.record(10 + i, &format!("app-{i}"), &[], &[]);
                rec.links = vec![LinkRequest::parse("db").expect("a link")];
                let token = format!("{:032x}", i + 1);
                reg.register(&rec, Some(&token)).expect("register a linker");
                let file = linkshim::state_dir::hosts_file(&state, &token).expect("a token");
                fs::write(
                    &file,
                    linkshim::render::hosts::render("127.0.0.1\tlocalhost\n", &stale),
                )
                .expect("hosts");
                files.push(file);
            }
        }
        let mut samples = Vec::new();
        let mut address = None;
        for rep in 0..reps {
            let id = format!("db-{rep}");
            let start =
                serde_json::to_vec(&json!({"id": id, "pid": me, "bundle": bundle})).expect("JSON");
            let (t, out) = run_timed(
                linkshim(opts, dir)
                    .args(["hook", "poststart", "--state-dir"])
                    .arg(&state),
                Some(&start),
            );
            check("hook poststart", &out);
            let addr = address
                .get_or_insert_with(|| {
                    Registry::open(&state)
                        .expect("open")
                        .lookup("db")
                        .expect("lookup")
                        .and_then(|r| r.primary_ip())
                        .expect("the target registered with an address")
                })
                .to_string();
            let want = format!("{addr}\tdb ");
            for f in &files {
                let text = fs::read_to_string(f).expect("read a hosts file");
                assert!(
                    text.lines().any(|l| l.starts_with(&want)) && !text.contains("192.0.2.99"),
                    "{} was not refreshed:\n{text}",
                    f.display()
                );
            }
            samples.push(t);
            // The target stops: its line leaves every linker, ready for the next start.
            let stop = serde_json::to_vec(&json!({"id": id})).expect("JSON");
            let (_, out) = run_timed(
                linkshim(opts, dir)
                    .args(["hook", "poststop", "--state-dir"])
                    .arg(&state),
                Some(&stop),
            );
            check("hook poststop", &out);
            for f in &files {
                assert!(
                    !fs::read_to_string(f).expect("read").contains("\tdb "),
                    "a stopped target's line stayed"
                );
            }
        }
        curves.push((linkers, stats(&samples)));
    }
    let base = curves[0].1;
    for (linkers, s) in &curves[1..] {
        report.rows.push(Row {
            what: format!(
                "live refresh: target start until {linkers} linkers' hosts files show it"
            ),
            stats: Some(*s),
            baseline: Some(("the same start, no linker".into(), base.median)),
            ratio: Some(s.median / base.median),
            target: "—".into(),
            verdict: Verdict::None,
            detail: format!("all {linkers} refreshed in every one of {reps} starts; counts run one after another, not alternated"),
        });
    }
}

// ---------------------------------------------------------------------------
// Output: Markdown table and SVG plot
// ---------------------------------------------------------------------------

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg").map_or("?".into(), |l| {
        l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    })
}

fn machine(opts: &Opts) -> Vec<(String, String)> {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let os = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "?".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("?".into(), |s| s.trim().to_string());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb as f64 / 1048576.0));
    let tmp_fs = first_line(
        "stat",
        &["-f", "-c", "%T", &std::env::temp_dir().to_string_lossy()],
    )
    .unwrap_or_default();
    let version =
        |cmd: &str, args: &[&str]| first_line(cmd, args).unwrap_or_else(|| "not installed".into());
    let manifest = env!("CARGO_MANIFEST_DIR");
    let commit = first_line("git", &["-C", manifest, "rev-parse", "--short", "HEAD"])
        .unwrap_or_else(|| "?".into());
    let dirty = Command::new("git")
        .args([
            "-C",
            manifest,
            "status",
            "--porcelain",
            "--",
            "src",
            "Cargo.lock",
        ])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    let release = opts
        .bin
        .components()
        .any(|c| c.as_os_str() == OsStr::new("release"));
    vec![
        (
            "date".into(),
            humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        ),
        (
            "linkshim".into(),
            format!(
                "{commit}{} ({}, `{}`)",
                if dirty { " + uncommitted changes" } else { "" },
                if release {
                    "release build"
                } else {
                    "NOT a release build"
                },
                opts.bin
                    .strip_prefix(manifest)
                    .unwrap_or(&opts.bin)
                    .display()
            ),
        ),
        ("nproc".into(), nproc.to_string()),
        (
            "load average (1, 5, 15 min)".into(),
            format!(
                "{} at the start, {} at the end (other work on the machine skews the numbers)",
                opts.load_at_start,
                loadavg()
            ),
        ),
        ("CPU".into(), cpu),
        ("memory".into(), mem),
        ("kernel".into(), kernel),
        ("OS".into(), os),
        (
            "state dirs".into(),
            format!("under {} ({tmp_fs})", std::env::temp_dir().display()),
        ),
        ("runc".into(), version("runc", &["--version"])),
        ("crun".into(), version("crun", &["--version"])),
        ("podman".into(), version("podman", &["--version"])),
        (
            "mode".into(),
            format!(
                "{} ({} precreate samples per size, {} runs per runtime variant, {} podman runs per variant, {} parallel repetitions)",
                if opts.quick { "quick" } else { "full" },
                opts.precreate_n,
                opts.runtime_n,
                opts.podman_n,
                opts.parallel_reps
            ),
        ),
    ]
}

fn markdown(opts: &Opts, report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# linkshim benchmarks: what a link costs a container start\n"
    );
    let _ = writeln!(
        s,
        "Written by `cargo bench --bench whole_process`{} (see `benches/whole_process.rs`). \
         Whole processes, wall time from spawn to exit; each measurement alternates with its \
         baseline in the same run. Targets are those of issue 4.\n",
        if opts.quick { " -- --quick" } else { "" }
    );
    let _ = writeln!(
        s,
        "| measurement | n | median | p95 | baseline (median) | ratio | target | result |"
    );
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | --- | ---: | --- | --- |");
    for r in &report.rows {
        let (n, med, p95) = match r.stats {
            Some(st) => (st.n.to_string(), ms(st.median), ms(st.p95)),
            None => ("".into(), "".into(), "".into()),
        };
        let base = r
            .baseline
            .as_ref()
            .map_or("—".into(), |(w, v)| format!("{w}: {}", ms(*v)));
        let ratio = r.ratio.map_or("—".into(), |x| format!("{x:.2}×"));
        let verdict = match r.verdict {
            Verdict::Pass => "pass",
            Verdict::Miss => "**MISS**",
            Verdict::None => "—",
        };
        let result = if r.detail.is_empty() {
            verdict.to_string()
        } else {
            format!("{verdict} ({})", r.detail)
        };
        let _ = writeln!(
            s,
            "| {} | {n} | {med} | {p95} | {base} | {ratio} | {} | {result} |",
            r.what, r.target
        );
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(s, "\nSkipped:\n");
        for k in &report.skipped {
            let _ = writeln!(s, "- {k}");
        }
    }
    if !report.notes.is_empty() {
        let _ = writeln!(s, "\nNotes:\n");
        for k in &report.notes {
            let _ = writeln!(s, "- {k}");
        }
    }
    if !report.curve.is_empty() {
        let _ = writeln!(
            s,
            "\n![precreate latency against registry size](latency.svg)"
        );
    }
    let _ = writeln!(s, "\nMachine:\n");
    let _ = writeln!(s, "| | |\n| --- | --- |");
    for (k, v) in machine(opts) {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    s
}

/// Precreate latency (median with a p95 whisker) against registry size, log
/// x axis; the bare-exec floor, 2× the floor and the 2 ms target drawn.
fn svg(report: &Report) -> String {
    let (w, h) = (720.0, 440.0);
    let (left, right, top, bottom) = (70.0, 190.0, 50.0, 60.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let (lx0, lx1) = (0.7, 5.3);
    let ymax_data = report
        .curve
        .iter()
        .map(|(_, p, f)| p.p95.max(2.0 * f.median))
        .fold(PRECREATE_TARGET_MS, f64::max)
        * 1.1;
    let step = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
        .into_iter()
        .find(|s| ymax_data / s <= 8.0)
        .unwrap_or(100.0);
    let ymax = (ymax_data / step).ceil() * step;
    let x = |size: f64| left + (size.log10() - lx0) / (lx1 - lx0) * pw;
    let y = |v: f64| top + ph - v / ymax * ph;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" font-size="15" text-anchor="middle">linkshim hook precreate (3 links): latency against registry size</text>"#,
        left + pw / 2.0
    );
    if let Some((_, p, _)) = report.curve.first() {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="40" font-size="11" text-anchor="middle" fill="#555">median and p95 of {} runs per size, alternating with the floor; {}</text>"##,
            left + pw / 2.0,
            p.n,
            humantime::format_rfc3339_seconds(SystemTime::now())
        );
    }
    // Grid and axes.
    let mut v = 0.0;
    while v <= ymax + 1e-9 {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + pw,
            left - 6.0,
            yy + 4.0,
            if step < 1.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.0}")
            }
        );
        v += step;
    }
    for (size, label) in [
        (10.0, "10"),
        (100.0, "100"),
        (1e3, "1 000"),
        (1e4, "10 000"),
        (1e5, "100 000"),
    ] {
        let xx = x(size);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{:.1}" stroke="#e4e4e4"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            top + ph,
            top + ph + 18.0
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">registered containers (log scale)</text>"#,
        left + pw / 2.0,
        h - 16.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">wall time per process (ms)</text>"#,
        top + ph / 2.0
    );
    let poly = |pts: Vec<(f64, f64)>| {
        pts.iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // The 2 ms target.
    let yt = y(PRECREATE_TARGET_MS);
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{yt:.1}" x2="{:.1}" y2="{yt:.1}" stroke="#c0392b" stroke-dasharray="2 4" stroke-width="1.5"/>"##,
        left + pw
    );
    // The floor and twice the floor.
    let floor: Vec<(f64, f64)> = report
        .curve
        .iter()
        .map(|(n, _, f)| (x(*n as f64), y(f.median)))
        .collect();
    let floor2: Vec<(f64, f64)> = report
        .curve
        .iter()
        .map(|(n, _, f)| (x(*n as f64), y(2.0 * f.median)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#7f8c8d" stroke-width="2"/>"##,
        poly(floor)
    );
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#7f8c8d" stroke-dasharray="6 4"/>"##,
        poly(floor2)
    );
    // Precreate: median line, p95 whiskers.
    for (n, p, _) in &report.curve {
        let xx = x(*n as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#2c6fbb"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#2c6fbb"/>"##,
            y(p.median),
            y(p.p95),
            xx - 5.0,
            y(p.p95),
            xx + 5.0,
            y(p.p95)
        );
    }
    let med: Vec<(f64, f64)> = report
        .curve
        .iter()
        .map(|(n, p, _)| (x(*n as f64), y(p.median)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#2c6fbb" stroke-width="2.5"/>"##,
        poly(med.clone())
    );
    for (n, p, _) in &report.curve {
        let _ = writeln!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#2c6fbb"/><text x="{:.1}" y="{:.1}" fill="#2c6fbb">{:.2}</text>"##,
            x(*n as f64),
            y(p.median),
            x(*n as f64) + 7.0,
            y(p.median) + 14.0,
            p.median
        );
    }
    // Legend.
    let lx = left + pw + 16.0;
    let items = [
        ("#2c6fbb", "", 2.5, "precreate median"),
        ("#2c6fbb", "", 1.0, "whisker: p95"),
        ("#7f8c8d", "", 2.0, "floor: bare exec (cat)"),
        ("#7f8c8d", "6 4", 1.0, "2× floor (target)"),
        ("#c0392b", "2 4", 1.5, "2 ms (target at 10 000)"),
    ];
    for (i, (color, dash, width, label)) in items.iter().enumerate() {
        let ly = top + 10.0 + i as f64 * 22.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="{width}" stroke-dasharray="{dash}"/><text x="{:.1}" y="{:.1}">{label}</text>"#,
            lx + 22.0,
            lx + 28.0,
            ly + 4.0
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}

// ---------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--profile-setup") {
        let dir = args.get(i + 1).expect("--profile-setup DIR SIZE");
        let size = args
            .get(i + 2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(10_000);
        return profile_setup(Path::new(dir), size);
    }
    let opts = Opts::parse();
    if !opts.bin.is_file() {
        eprintln!(
            "linkshim binary {} not found: run through `cargo bench --bench whole_process` (which builds it) or set LINKSHIM_BENCH_BIN",
            opts.bin.display()
        );
        std::process::exit(2);
    }
    if !opts
        .bin
        .components()
        .any(|c| c.as_os_str() == OsStr::new("release"))
    {
        eprintln!(
            "WARNING: {} is not a release build; the numbers will not be representative",
            opts.bin.display()
        );
    }
    println!(
        "linkshim whole-process benchmarks ({} run), binary {}",
        if opts.quick { "quick" } else { "full" },
        opts.bin.display()
    );
    let load: f64 = opts
        .load_at_start
        .split(' ')
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0.0);
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    if load > nproc as f64 / 2.0 {
        eprintln!(
            "WARNING: load average {load} on {nproc} CPUs: other work will skew these numbers (it is recorded in the report)"
        );
    }
    let t0 = Instant::now();
    let mut report = Report::default();
    if opts.wants("precreate") {
        bench_precreate(&opts, &mut report);
    }
    if opts.wants("runtime") {
        bench_runtimes(&opts, &mut report);
    }
    if opts.wants("podman") {
        bench_podman(&opts, &mut report);
    }
    if opts.wants("parallel") {
        bench_parallel(&opts, &mut report);
    }
    if opts.wants("refresh") {
        bench_refresh(&opts, &mut report);
    }
    fs::create_dir_all(&opts.out).expect("create the output folder");
    let md = markdown(&opts, &report);
    fs::write(opts.out.join("latest.md"), &md).expect("write latest.md");
    if !report.curve.is_empty() {
        fs::write(opts.out.join("latency.svg"), svg(&report)).expect("write latency.svg");
    }
    println!("\n{md}");
    println!(
        "wrote {} in {:.0} s",
        opts.out.join("latest.md").display(),
        t0.elapsed().as_secs_f64()
    );
    if report.failed {
        eprintln!("FAIL: registrations were lost (see above)");
        std::process::exit(1);
    }
}
