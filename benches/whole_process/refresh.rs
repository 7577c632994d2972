//! Part 5: live hosts refresh. Time from a target's start (its `hook
//! poststart`, which refreshes every linker's hosts file before it returns)
//! to every one of 1, 10 and 100 linkers' hosts files showing its address;
//! the baseline is the same start with no linker. The four alternate.
//! Linkers are registered through linkshim's own code, each with a hosts
//! file holding a stale line for the target.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use linkshim::model::LinkRequest;
use linkshim::registry::Registry;
use serde_json::json;
use testkit::{Scratch, is_root};

use crate::Opts;
use crate::fixture::record;
use crate::measure::{alternate, check, run_timed, stats};
use crate::report::{Report, Row};

const LINKERS: [usize; 4] = [0, 1, 10, 100];

/// One variant: a target `db` and `linkers` linkers whose hosts files
/// name it, in a state dir of its own.
struct World {
    _scratch: Scratch,
    dir: PathBuf,
    state: PathBuf,
    bundle: PathBuf,
    files: Vec<PathBuf>,
    address: Option<IpAddr>,
    starts: usize,
    /// Hosts files that still named the target after its stop, and one of them.
    stayed: usize,
    example: Option<String>,
}

impl World {
    fn new(linkers: usize) -> World {
        let me = std::process::id();
        let scratch = Scratch::new("linkshim-bench-refresh");
        let dir = scratch.path().to_path_buf();
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
        let mut reg = Registry::open(&state).expect("open the registry");
        for i in 0..linkers {
            let mut rec = record(10 + i, &format!("app-{i}"), "", &[]);
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
        World {
            _scratch: scratch,
            dir,
            state,
            bundle,
            files,
            address: None,
            starts: 0,
            stayed: 0,
            example: None,
        }
    }

    /// Starts the target (timed), checks every linker's file shows it,
    /// stops it and checks its line left every file.
    fn start(&mut self, opts: &Opts) -> Duration {
        let me = std::process::id();
        let id = format!("db-{}", self.starts);
        self.starts += 1;
        let start =
            serde_json::to_vec(&json!({"id": id, "pid": me, "bundle": self.bundle})).expect("JSON");
        let (t, out) = run_timed(
            &mut hook(opts, &self.dir, &self.state, "poststart"),
            Some(&start),
        );
        check("hook poststart", &out);
        let state = &self.state;
        let addr = self.address.get_or_insert_with(|| {
            Registry::open(state)
                .expect("open")
                .lookup("default", "db")
                .expect("lookup")
                .and_then(|r| r.primary_ip())
                .expect("the target registered with an address")
        });
        let want = addr.to_string();
        for f in &self.files {
            let text = fs::read_to_string(f).expect("read a hosts file");
            assert!(
                text.lines().any(|l| names_db(l, Some(&want))) && !text.contains("192.0.2.99"),
                "{} was not refreshed:\n{text}",
                f.display()
            );
        }
        // The target stops: its line leaves every linker, ready for the next start.
        let stop = serde_json::to_vec(&json!({"id": id})).expect("JSON");
        let (_, out) = run_timed(
            &mut hook(opts, &self.dir, &self.state, "poststop"),
            Some(&stop),
        );
        check("hook poststop", &out);
        // A line left behind is a finding to report, not a reason to
        // lose every other figure of the run.
        for f in &self.files {
            let text = fs::read_to_string(f).expect("read");
            if text.lines().any(|l| names_db(l, None)) {
                self.stayed += 1;
                self.example
                    .get_or_insert(format!("{}:\n{text}", f.display()));
            }
        }
        t
    }
}

/// True for a hosts line naming `db` (at `addr`, when given).
fn names_db(line: &str, addr: Option<&str>) -> bool {
    let mut fields = line.split_whitespace();
    let ip = fields.next();
    !line.starts_with('#') && addr.is_none_or(|a| ip == Some(a)) && fields.any(|n| n == "db")
}

fn hook(opts: &Opts, dir: &Path, state: &Path, stage: &str) -> std::process::Command {
    let mut c = opts.linkshim(dir);
    c.args(["hook", stage, "--state-dir"]).arg(state);
    c
}

pub fn bench(opts: &Opts, report: &mut Report) {
    if !is_root() {
        return report.skip(
            "live refresh",
            "needs root (poststart enters the network namespace)",
            &[],
        );
    }
    let reps = opts.refresh_reps;
    println!("refresh: a target's start with {LINKERS:?} linkers, {reps} starts each, alternating");
    let mut worlds: Vec<World> = LINKERS.iter().map(|&n| World::new(n)).collect();
    let mut variants: Vec<Box<dyn FnMut() -> Duration + '_>> = worlds
        .iter_mut()
        .map(|w| Box::new(move || w.start(opts)) as Box<dyn FnMut() -> Duration + '_>)
        .collect();
    let mut refs: Vec<&mut dyn FnMut() -> Duration> = variants
        .iter_mut()
        .map(|v| v.as_mut() as &mut dyn FnMut() -> Duration)
        .collect();
    let res = alternate(reps, &mut refs);
    drop(refs);
    drop(variants);
    for w in &worlds {
        if w.stayed > 0 {
            println!(
                "refresh: after a stop, {} hosts file(s) still named the target, e.g. {}",
                w.stayed,
                w.example.as_deref().unwrap_or("")
            );
            report.notes.push(format!(
                "live refresh with {} linkers: after a target's stop, {} of {} hosts files still named it (a refresh on stop that did not take).",
                w.files.len(),
                w.stayed,
                w.files.len() * w.starts
            ));
        }
    }
    let base = stats(&res[0]);
    for (i, linkers) in LINKERS.iter().enumerate().skip(1) {
        report.rows.push(
            Row::new(
                format!("live refresh: target start until {linkers} linkers' hosts files show it"),
                stats(&res[i]),
                ("the same start, no linker".into(), base),
            )
            .detail(format!(
                "all {linkers} refreshed in every one of {reps} starts"
            )),
        );
    }
}
