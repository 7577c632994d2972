//! Whole-process benchmarks: what a link costs a container start.
//!
//! ```text
//! cargo bench --bench whole_process              # full run, a few minutes on 2 cores
//! cargo bench --bench whole_process -- --quick   # short CI run (or LINKSHIM_BENCH_QUICK=1)
//! cargo bench --bench whole_process -- --only precreate,parallel
//! cargo bench --bench whole_process -- --help
//! ```
//!
//! Every figure is the wall time of whole processes (spawn to exit),
//! compared with a baseline measured in the same run, the variants
//! alternating run by run (rotating order) so that drift hits all alike;
//! each is reported with min, median, p95 and max, and the ratio of the
//! medians:
//!
//! 1. `precreate`: `linkshim hook precreate` on a config captured from
//!    podman 4.3.1 (`fixtures/podman-4.3.1-precreate.json`) with 3 links,
//!    against registries of 10, 1 000, 10 000 and 100 000 live records;
//!    baseline: `cat` on the same stdin (the floor of any hook).
//! 2. `runtime`: `runc run` / `crun run` of a busybox `true` bundle,
//!    directly vs through `linkshim runtime` (without annotations, and with
//!    a name and 3 links).
//! 3. `podman`: `podman run --rm --rootfs DIR true` with and without
//!    linkshim's hooks.d hook.
//! 4. `parallel`: 200 `linkshim hook poststart` processes at once against
//!    200 `cat` at once; every record must be there.
//! 5. `refresh`: a target's start until 1, 10 and 100 linkers' hosts files
//!    show it, against the same start with no linker.
//! 6. `etcd`: part 1's precreate (10 records) with the registry on a
//!    three-member etcd cluster on loopback, against the same precreate on
//!    the embedded SQLite registry and `cat`, alternating.
//!
//! Parts 2 to 5 need root, parts 2 and 3 runc, crun, podman and a static
//! `/bin/busybox`, part 6 `etcd` and `etcdctl`; a part that cannot run is listed as skipped, its targets
//! as not measured.
//!
//! Output: `docs/benchmarks/latest.md` (every figure and target, pass or
//! miss, and the machine), `docs/benchmarks/latency.svg` (precreate latency
//! against registry size) and the table between the `whole_process`
//! markers of README.md. A `--quick` run writes only to
//! `target/benchmarks/`, so that CI does not overwrite the published
//! numbers; `--out DIR` chooses another folder (the README is then left
//! alone). The exit code is 1 when a registration was lost.
//!
//! The linkshim binary is the one cargo builds for this bench
//! (`target/release/linkshim` under `cargo bench`, dynamically linked);
//! `LINKSHIM_BENCH_BIN` or `--bin` names another. The published figures
//! are of the shipped build, `LINKSHIM_BENCH_BIN=$(scripts/build-release.sh)`
//! (static-pie); the report says which it measured. Process plumbing, rootfs, podman, records
//! and the hooks.d file come from the test kit (`testkit/`).

mod etcd;
mod fixture;
mod measure;
mod parallel;
mod plot;
mod podman;
mod precreate;
mod refresh;
mod report;
mod runtimes;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::{Parser, ValueEnum};

use report::{Meta, Report};

/// Targets (issues 4 and 7).
pub const PRECREATE_TARGET_MS: f64 = 2.0;
pub const PRECREATE_TARGET_RATIO: f64 = 2.0;
pub const FLAT_TARGET_RATIO: f64 = 1.5;
/// A start through the wrapper without linkshim annotations.
pub const PASSTHROUGH_TARGET_RATIO: f64 = 1.05;
/// A linked start through the wrapper.
pub const LINKED_TARGET_RATIO: f64 = 1.25;

/// A part of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    Precreate,
    Runtime,
    Podman,
    Parallel,
    Refresh,
    Etcd,
}

/// What a link costs a container start: whole processes, each figure
/// alternating with its baseline.
#[derive(Parser, Debug)]
#[command(name = "whole_process")]
struct Cli {
    /// A short run (fewer samples), written to target/benchmarks/.
    #[arg(long, env = "LINKSHIM_BENCH_QUICK", value_parser = clap::builder::FalseyValueParser::new())]
    quick: bool,

    /// Run only these parts (comma separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,

    /// The folder for latest.md and latency.svg (default: docs/benchmarks/,
    /// or target/benchmarks/ with --quick).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// The linkshim binary (default: the one cargo built for this bench).
    #[arg(long, env = "LINKSHIM_BENCH_BIN", value_name = "PATH")]
    bin: Option<PathBuf>,

    /// Leave the linker's config and a registry of SIZE live records in
    /// DIR, to profile one precreate by hand; then wait for Enter.
    #[arg(long, num_args = 1..=2, value_names = ["DIR", "SIZE"])]
    profile_setup: Option<Vec<String>>,

    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The settings every part reads.
pub struct Opts {
    pub quick: bool,
    pub bin: PathBuf,
    /// Samples per variant.
    pub precreate_n: usize,
    pub runtime_n: usize,
    pub podman_n: usize,
    pub parallel_reps: usize,
    pub refresh_reps: usize,
}

impl Opts {
    /// A linkshim command isolated from the machine's config file and from
    /// the caller's environment (a fixed PATH only).
    pub fn linkshim(&self, scratch: &Path) -> Command {
        let mut c = Command::new(&self.bin);
        c.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LINKSHIM_CONFIG", scratch.join("no-linkshim.toml"));
        c
    }

    fn samples(&self) -> String {
        format!(
            "{} precreate samples per size, {} runs per runtime variant, {} podman runs per variant, \
             {} parallel repetitions, {} refresh starts per linker count",
            self.precreate_n, self.runtime_n, self.podman_n, self.parallel_reps, self.refresh_reps
        )
    }
}

fn main() {
    let cli = Cli::parse();
    let bin = cli
        .bin
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_linkshim")));
    if !bin.is_file() {
        eprintln!(
            "linkshim binary {} not found: run through `cargo bench --bench whole_process` (which builds it) or set LINKSHIM_BENCH_BIN",
            bin.display()
        );
        std::process::exit(2);
    }
    testkit::set_linkshim_bin(&bin);
    if let Some(args) = &cli.profile_setup {
        let size = args.get(1).map_or(10_000, |n| {
            n.parse()
                .unwrap_or_else(|_| panic!("--profile-setup: SIZE {n:?} is not a number"))
        });
        return precreate::profile_setup(Path::new(&args[0]), size, &bin);
    }
    let quick = cli.quick;
    let (precreate_n, runtime_n, podman_n, parallel_reps, refresh_reps) = if quick {
        (41, 10, 4, 2, 8)
    } else {
        (301, 150, 20, 5, 30)
    };
    let opts = Opts {
        quick,
        bin,
        precreate_n,
        runtime_n,
        podman_n,
        parallel_reps,
        refresh_reps,
    };
    let root = testkit::repo_root();
    let default_out = cli.out.is_none() && !quick;
    let out = cli.out.clone().unwrap_or_else(|| {
        root.join(if quick {
            "target/benchmarks"
        } else {
            "docs/benchmarks"
        })
    });
    if !report::is_release(&opts.bin) {
        eprintln!(
            "WARNING: {} is not a release build; the numbers will not be representative",
            opts.bin.display()
        );
    }
    println!(
        "linkshim whole-process benchmarks ({} run), binary {}",
        if quick { "quick" } else { "full" },
        opts.bin.display()
    );
    let load_at_start = report::loadavg();
    let load: f64 = load_at_start
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
    let wants = |p: Part| cli.only.is_empty() || cli.only.contains(&p);
    let mut report = Report::default();
    if wants(Part::Precreate) {
        precreate::bench(&opts, &mut report);
    }
    if wants(Part::Runtime) {
        runtimes::bench(&opts, &mut report);
    }
    if wants(Part::Podman) {
        podman::bench(&opts, &mut report);
    }
    if wants(Part::Parallel) {
        parallel::bench(&opts, &mut report);
    }
    if wants(Part::Refresh) {
        refresh::bench(&opts, &mut report);
    }
    if wants(Part::Etcd) {
        etcd::bench(&opts, &mut report);
    }

    fs::create_dir_all(&out).expect("create the output folder");
    let meta = Meta {
        quick,
        bin: &opts.bin,
        load_at_start,
        samples: opts.samples(),
    };
    let md = report::markdown(&meta, &report);
    fs::write(out.join("latest.md"), &md).expect("write latest.md");
    if !report.curve.is_empty() {
        plot::latency_svg(&report, &out.join("latency.svg"), PRECREATE_TARGET_MS)
            .unwrap_or_else(|e| panic!("write latency.svg: {e}"));
    }
    println!("\n{md}");
    println!(
        "wrote {} in {:.0} s",
        out.join("latest.md").display(),
        t0.elapsed().as_secs_f64()
    );
    if default_out && cli.only.is_empty() {
        let readme = root.join("README.md");
        if report::update_readme(&readme, &report::readme_table(&report)) {
            println!("updated the table in {}", readme.display());
        } else {
            eprintln!(
                "WARNING: no whole_process markers in {}; its table is unchanged",
                readme.display()
            );
        }
    }
    if report.failed {
        eprintln!("FAIL: registrations were lost (see above)");
        std::process::exit(1);
    }
}
