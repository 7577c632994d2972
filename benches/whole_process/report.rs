//! The report of a run: one row per figure with its baseline, target and
//! verdict, written as `latest.md` and as the README's table.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use crate::measure::Stats;

/// Whether a figure met its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Pass,
    Miss,
    /// The part did not run here (see the report's skipped list).
    NotRun,
    /// The figure has no target.
    None,
}

/// One figure.
pub struct Row {
    pub what: String,
    pub stats: Option<Stats>,
    /// What it was measured against, alternating in the same run.
    pub baseline: Option<(String, Stats)>,
    pub ratio: Option<f64>,
    /// The target, or "—".
    pub target: String,
    pub verdict: Verdict,
    /// Shown after the verdict.
    pub detail: String,
}

impl Row {
    /// A figure against its baseline; the ratio is of the medians.
    pub fn new(what: impl Into<String>, stats: Stats, baseline: (String, Stats)) -> Row {
        Row {
            what: what.into(),
            stats: Some(stats),
            ratio: Some(stats.median / baseline.1.median),
            baseline: Some(baseline),
            target: "—".into(),
            verdict: Verdict::None,
            detail: String::new(),
        }
    }

    /// The same row with `target`, passed when `ok`.
    pub fn target(mut self, target: impl Into<String>, ok: bool) -> Row {
        self.target = target.into();
        self.verdict = if ok { Verdict::Pass } else { Verdict::Miss };
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Row {
        self.detail = detail.into();
        self
    }
}

/// Everything a run found.
#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub skipped: Vec<String>,
    /// (registry size, precreate, floor) for the plot.
    pub curve: Vec<(usize, Stats, Stats)>,
    /// A registration was lost or a run failed: the exit code is 1.
    pub failed: bool,
}

impl Report {
    /// Records that `part` did not run, and why; each of its `targets`
    /// (figure, target) still gets a row, marked as not measured.
    pub fn skip(&mut self, part: &str, why: &str, targets: &[(&str, &str)]) {
        eprintln!("SKIP {part}: {why}");
        self.skipped.push(format!("{part}: {why}"));
        for (what, target) in targets {
            self.rows.push(Row {
                what: what.to_string(),
                stats: None,
                baseline: None,
                ratio: None,
                target: target.to_string(),
                verdict: Verdict::NotRun,
                detail: why.to_string(),
            });
        }
    }
}

/// What the report says about the run itself.
pub struct Meta<'a> {
    pub quick: bool,
    pub bin: &'a Path,
    pub load_at_start: String,
    /// Samples per variant of each part, in words.
    pub samples: String,
}

/// `v` milliseconds with 3 significant digits.
pub fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// `n` with a space between thousands.
pub fn thousands(n: usize) -> String {
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

fn result(r: &Row) -> String {
    let verdict = match r.verdict {
        Verdict::Pass => "pass",
        Verdict::Miss => "**MISS**",
        Verdict::NotRun => "not measured",
        Verdict::None => "—",
    };
    if r.detail.is_empty() {
        verdict.to_string()
    } else {
        format!("{verdict} ({})", r.detail)
    }
}

fn baseline(r: &Row) -> String {
    r.baseline
        .as_ref()
        .map_or("—".into(), |(w, s)| format!("{w}: {}", ms(s.median)))
}

fn ratio(r: &Row) -> String {
    r.ratio.map_or("—".into(), |x| format!("{x:.2}×"))
}

/// The README's table: every figure with its median, baseline, ratio,
/// target and verdict.
pub fn readme_table(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| measurement | median | baseline (median) | ratio | target | result |"
    );
    let _ = writeln!(s, "| --- | ---: | --- | ---: | --- | --- |");
    for r in &report.rows {
        let med = r.stats.map_or(String::new(), |st| ms(st.median));
        let _ = writeln!(
            s,
            "| {} | {med} | {} | {} | {} | {} |",
            r.what,
            baseline(r),
            ratio(r),
            r.target,
            result(r)
        );
    }
    s
}

/// `latest.md`: the full table (min, median, p95, max), what was skipped,
/// notes, the plot and the machine.
pub fn markdown(meta: &Meta, report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# linkshim benchmarks: what a link costs a container start\n"
    );
    let _ = writeln!(
        s,
        "Written by `cargo bench --bench whole_process{}` (see `benches/whole_process/`). \
         Whole processes, wall time from spawn to exit; each figure alternates with its \
         baseline in the same run, and its ratio is of the medians. Every target is listed, \
         met or missed.\n",
        if meta.quick { " -- --quick" } else { "" }
    );
    let _ = writeln!(
        s,
        "| measurement | n | min | median | p95 | max | baseline (median, p95) | ratio | target | result |"
    );
    let _ = writeln!(
        s,
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |"
    );
    for r in &report.rows {
        let cells = match r.stats {
            Some(st) => [
                st.n.to_string(),
                ms(st.min),
                ms(st.median),
                ms(st.p95),
                ms(st.max),
            ],
            None => Default::default(),
        };
        let base = r.baseline.as_ref().map_or("—".into(), |(w, b)| {
            format!("{w}: {}, {}", ms(b.median), ms(b.p95))
        });
        let _ = writeln!(
            s,
            "| {} | {} | {base} | {} | {} | {} |",
            r.what,
            cells.join(" | "),
            ratio(r),
            r.target,
            result(r)
        );
    }
    for (title, items) in [("Skipped", &report.skipped), ("Notes", &report.notes)] {
        if !items.is_empty() {
            let _ = writeln!(s, "\n{title}:\n");
            for k in items {
                let _ = writeln!(s, "- {k}");
            }
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
    for (k, v) in machine(meta) {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    s
}

/// Replaces the table between `<!-- whole_process:begin -->` and
/// `<!-- whole_process:end -->` in `readme` with `table`. False when the
/// markers are missing (the README is then left alone).
pub fn update_readme(readme: &Path, table: &str) -> bool {
    const BEGIN: &str = "<!-- whole_process:begin -->\n";
    const END: &str = "<!-- whole_process:end -->";
    let Ok(text) = fs::read_to_string(readme) else {
        return false;
    };
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return false;
    };
    if e < b {
        return false;
    }
    let new = format!("{}{BEGIN}{table}{}", &text[..b], &text[e..]);
    fs::write(readme, new).is_ok()
}

/// `/proc/loadavg`'s three averages.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg").map_or("?".into(), |l| {
        l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    })
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

/// "static-pie" or "dynamic": whether `bin` (64-bit ELF) has a program
/// header of type PT_INTERP, i.e. runs through the dynamic loader.
pub fn linkage(bin: &Path) -> &'static str {
    let Ok(elf) = std::fs::read(bin) else {
        return "unreadable";
    };
    let interp = (|| {
        let u16_at =
            |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?) as usize);
        let phoff = u64::from_le_bytes(elf.get(0x20..0x28)?.try_into().ok()?) as usize;
        let (size, count) = (u16_at(0x36)?, u16_at(0x38)?);
        Some((0..count).any(|i| {
            let at = phoff + i * size;
            elf.get(at..at + 4) == Some(&3u32.to_le_bytes()[..])
        }))
    })();
    match interp {
        Some(true) => "dynamic",
        Some(false) => "static",
        None => "not ELF",
    }
}

/// True when `bin` is a release build (under a `release` folder).
pub fn is_release(bin: &Path) -> bool {
    bin.components().any(|c| c.as_os_str() == "release")
}

fn machine(meta: &Meta) -> Vec<(String, String)> {
    let field = |file: &str, key: &str, sep: char| {
        fs::read_to_string(file)
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_once(sep))
                    .map(|(_, v)| v.trim().trim_matches('"').to_string())
            })
            .unwrap_or_else(|| "?".into())
    };
    let cpu = field("/proc/cpuinfo", "model name", ':');
    let os = field("/etc/os-release", "PRETTY_NAME", '=');
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("?".into(), |s| s.trim().to_string());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = field("/proc/meminfo", "MemTotal", ':')
        .split_whitespace()
        .next()
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb as f64 / 1048576.0));
    let tmp_fs = first_line(
        "stat",
        &["-f", "-c", "%T", &std::env::temp_dir().to_string_lossy()],
    )
    .unwrap_or_default();
    let version =
        |cmd: &str, args: &[&str]| first_line(cmd, args).unwrap_or_else(|| "not installed".into());
    let root = testkit::repo_root();
    let root_s = root.to_string_lossy();
    let commit = first_line("git", &["-C", &root_s, "rev-parse", "--short", "HEAD"])
        .unwrap_or_else(|| "?".into());
    let dirty = Command::new("git")
        .args([
            "-C",
            &root_s,
            "status",
            "--porcelain",
            "--",
            "src",
            "Cargo.lock",
        ])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    vec![
        (
            "date".into(),
            humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        ),
        (
            "linkshim".into(),
            format!(
                "{commit}{} ({}, {}, `{}`)",
                if dirty { " + uncommitted changes" } else { "" },
                if is_release(meta.bin) {
                    "release build"
                } else {
                    "NOT a release build"
                },
                linkage(meta.bin),
                meta.bin.strip_prefix(&root).unwrap_or(meta.bin).display()
            ),
        ),
        ("nproc".into(), nproc.to_string()),
        (
            "load average (1, 5, 15 min)".into(),
            format!(
                "{} at the start, {} at the end (other work on the machine skews the numbers)",
                meta.load_at_start,
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
                "{} ({})",
                if meta.quick { "quick" } else { "full" },
                meta.samples
            ),
        ),
    ]
}
