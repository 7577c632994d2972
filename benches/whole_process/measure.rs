//! Timing whole processes: wall time from spawn to exit, variants run
//! alternately, and the statistics of a set of samples.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Summary of one variant's samples, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    /// Nearest-rank 95th percentile.
    pub p95: f64,
    pub max: f64,
}

/// Min, median, nearest-rank p95 and max of `samples`, in milliseconds.
pub fn stats(samples: &[Duration]) -> Stats {
    assert!(!samples.is_empty(), "no samples");
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
        min: ms[0],
        median,
        p95: ms[rank - 1],
        max: ms[n - 1],
    }
}

/// Runs every variant `n` times, alternating, each round in a rotated
/// order, so that drift of the machine hits all variants alike. Returns
/// each variant's results in the order of `variants`.
pub fn alternate<T>(n: usize, variants: &mut [&mut dyn FnMut() -> T]) -> Vec<Vec<T>> {
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

/// Spawns `cmd`, feeds it `input`, collects its output: wall time from
/// spawn to exit.
pub fn run_timed(cmd: &mut Command, input: Option<&[u8]>) -> (Duration, Output) {
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

/// Kills process `pid` unless `done` says it ended within `deadline`; the
/// flag says whether it was killed.
struct Watchdog {
    done: mpsc::Sender<()>,
    killed: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Watchdog {
    fn start(pid: i32, deadline: Duration) -> Watchdog {
        let (done, done_rx) = mpsc::channel::<()>();
        let killed = Arc::new(AtomicBool::new(false));
        let flag = killed.clone();
        let thread = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(deadline) {
                flag.store(true, Ordering::SeqCst);
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        });
        Watchdog {
            done,
            killed,
            thread,
        }
    }

    /// Stop watching; true when the process was killed.
    fn stop(self) -> bool {
        let _ = self.done.send(());
        let _ = self.thread.join();
        self.killed.load(Ordering::SeqCst)
    }
}

/// [`run_timed`] without input, killing the process after `deadline`:
/// then the output is None.
pub fn run_within(cmd: &mut Command, deadline: Duration) -> (Duration, Option<Output>) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let watchdog = Watchdog::start(child.id() as i32, deadline);
    let output = child.wait_with_output().expect("wait for a child");
    let elapsed = t0.elapsed();
    (elapsed, (!watchdog.stop()).then_some(output))
}

/// [`run_within`] for a command whose stdio a longer-lived process
/// inherits (a runtime's `create` hands it to the container): stdio is
/// /dev/null and only the exit status is kept.
pub fn status_within(
    cmd: &mut Command,
    deadline: Duration,
) -> (Duration, Option<std::process::ExitStatus>) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let t0 = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let watchdog = Watchdog::start(child.id() as i32, deadline);
    let status = child.wait().expect("wait for a child");
    let elapsed = t0.elapsed();
    (elapsed, (!watchdog.stop()).then_some(status))
}

/// Panics, showing status, stdout and stderr, when `out` is a failure.
pub fn check(what: &str, out: &Output) {
    if !out.status.success() {
        panic!(
            "{what}: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
