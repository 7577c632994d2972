//! The drop-in runtime wrapper: scan the runtime's arguments loosely, edit
//! `<bundle>/config.json` on `create` and `run`, then exec the real runtime
//! with the arguments untouched (exit code, signals and fds pass through,
//! since the wrapper becomes the runtime).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use log::debug;

use crate::modify;
use crate::oci::args;
pub use crate::oci::args::Invocation;
use crate::oci::config::Config;
use crate::prepare::{self, Context};

/// Runtimes tried on PATH (or [`DEFAULT_PATH`]), in order, when none is configured.
pub const FALLBACKS: &[&str] = &["runc", "crun"];

/// Set by the wrapper on the runtime it execs, to the wrapper's pid: a
/// wrapper that finds its own pid there was exec'd by itself, through a
/// script that ends in `exec linkshim-runtime`.
pub const WRAPPER_PID_ENV: &str = "LINKSHIM_WRAPPER_PID";

/// A file as the kernel knows it: device and inode, through any symlinks.
fn identity(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Find the real runtime: `configured` (flag, env or config file), else
/// the first of `FALLBACKS` on PATH. Never linkshim itself (the same file
/// as this process, under any name or symlink): execing it would loop.
pub fn real_runtime(configured: Option<&Path>, exe: &Path) -> anyhow::Result<PathBuf> {
    let me = identity(Path::new("/proc/self/exe")).or_else(|| identity(exe));
    let is_me = |p: &Path| me.is_some() && identity(p) == me;
    if let Some(p) = configured {
        debug!(
            "runtime {}: configured (flag, LINKSHIM_RUNTIME or config file)",
            p.display()
        );
        let found = find(p).ok_or_else(|| {
            anyhow!(
                "runtime {}: not found (set --runtime or LINKSHIM_RUNTIME to a real runtime)",
                p.display()
            )
        })?;
        if is_me(&found) {
            bail!(
                "runtime {}: is linkshim itself, which would run itself forever \
                 (set --runtime, LINKSHIM_RUNTIME or `runtime =` in the config file to the real runtime, such as /usr/bin/runc)",
                p.display()
            );
        }
        return Ok(found);
    }
    FALLBACKS
        .iter()
        .filter_map(|name| find(Path::new(name)))
        .find(|p| !is_me(p))
        .inspect(|p| debug!("runtime {}: found on PATH", p.display()))
        .ok_or_else(|| anyhow!("no real runtime: neither runc nor crun is on PATH or in {DEFAULT_PATH} (set --runtime, LINKSHIM_RUNTIME or runtime = in the config file)"))
}

/// Refuse to go on when this wrapper was exec'd by itself (see `WRAPPER_PID_ENV`).
pub fn check_not_looping() -> anyhow::Result<()> {
    // The wrapper execs the runtime (same pid) or, for a `create` it
    // registers itself, runs it as a child (its parent's pid).
    let mine = std::process::id().to_string();
    let parent = std::os::unix::process::parent_id().to_string();
    if std::env::var_os(WRAPPER_PID_ENV).is_some_and(|v| v == mine.as_str() || v == parent.as_str())
    {
        bail!(
            "the real runtime runs linkshim again (a script that execs linkshim-runtime?): \
             set --runtime, LINKSHIM_RUNTIME or `runtime =` in the config file to the real runtime, such as /usr/bin/runc"
        );
    }
    Ok(())
}

/// Where runtimes are looked for when the environment has no `PATH` (podman
/// calls `kill` and `delete` with none): the system's default search path,
/// as `confstr(_CS_PATH)` gives it to `execvp`, then the directories
/// distributions and `make install` put runtimes in.
pub const DEFAULT_PATH: &str = "/bin:/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin:/sbin";

/// `name` itself when it has a slash, else its first executable on `PATH`
/// (on [`DEFAULT_PATH`] when `PATH` is unset or empty). Only absolute
/// directories are searched: an empty or relative `PATH` entry would mean
/// the current directory, which belongs to whoever started the engine.
fn find(name: &Path) -> Option<PathBuf> {
    find_in(name, std::env::var_os("PATH"))
}

/// [`find`] with `path` as the value of `PATH`.
fn find_in(name: &Path, path: Option<OsString>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.components().count() > 1 || name.is_absolute() {
        return executable(name).then(|| name.to_path_buf());
    }
    let path = path
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

/// Prepare the bundle when the runtime is about to create a container;
/// `share_env` is the host's policy.
pub fn prepare_bundle(
    inv: &Invocation,
    state_dir: &Path,
    persist_dir: &Path,
    exe: &Path,
    share_env: crate::model::share::Policy,
) -> anyhow::Result<Option<Registration>> {
    if !inv.creates() {
        return Ok(None);
    }
    let cwd = std::env::current_dir().context("the current directory cannot be read")?;
    let bundle = match &inv.bundle {
        Some(b) => cwd.join(b),
        None => cwd,
    };
    // The bundle is checked before anything is written or reserved.
    if !std::fs::metadata(&bundle).is_ok_and(|m| m.is_dir()) {
        bail!("bundle {}: not a directory", bundle.display());
    }
    let path = bundle.join(inv.config.as_deref().unwrap_or(Path::new("config.json")));
    let text = Config::read_regular(&path)?;
    // Most containers are not linkshim's: leave them without parsing JSON.
    if !text.contains(crate::links::annotation::PREFIX) {
        debug!(
            "config {}: no linkshim annotation, left alone",
            path.display()
        );
        return Ok(None);
    }
    debug!(
        "config {}: preparing container {:?}",
        path.display(),
        inv.id
    );
    let mut config = Config::parse(&text, &path)?;
    let ctx = Context {
        state_dir,
        exe,
        bundle: Some(&bundle),
        id: inv.id.as_deref(),
        persist_dir: Some(persist_dir),
        share_env,
        linker: None,
    };
    let prepare::Outcome::Prepared { .. } = prepare::prepare(&mut config, &ctx)? else {
        return Ok(None);
    };
    // The wrapper registers the container itself, one linkshim process
    // fewer per start than a `poststart` hook: a `create` that says where
    // the pid goes (podman, containerd) and a `run --detach` once the
    // runtime returns; a foreground `run` from a helper process while the
    // runtime runs. The runtime writes the pid where the wrapper reads it:
    // a `run` without `--pid-file` is given one in the state directory.
    let pid_file = match (inv.subcommand.as_deref(), &inv.pid_file) {
        (Some("create" | "run"), Some(p)) => Some((cwd_join(p)?, false)),
        (Some("run"), None) => {
            let name = format!(".run-{}.pid", crate::state_dir::new_token()?);
            Some((state_dir.join(name), true))
        }
        _ => None,
    };
    let registration = match (pid_file, &inv.id, inv.subcommand_at) {
        (Some((pid_file, own_pid_file)), Some(id), Some(subcommand_at)) if inv.config.is_none() => {
            modify::drop_own_hook(&mut config, "poststart");
            let when = if inv.subcommand.as_deref() == Some("run") && !inv.detach {
                When::WhileRunning
            } else {
                When::AfterReturn
            };
            // The helper of a foreground run also sees the container out
            // (its exit read through a pidfd): no poststop hook either.
            let watch_exit = when == When::WhileRunning && pidfd_works();
            if watch_exit {
                modify::drop_own_hook(&mut config, "poststop");
            }
            Some((
                id.clone(),
                pid_file,
                own_pid_file,
                when,
                watch_exit,
                subcommand_at,
            ))
        }
        _ => None,
    };
    config.write_atomic(&path)?;
    debug!("config {}: rewritten", path.display());
    // Registered with the config as written, moved here.
    Ok(registration.map(
        |(id, pid_file, own_pid_file, when, watch_exit, subcommand_at)| Registration {
            id,
            bundle,
            pid_file,
            own_pid_file,
            when,
            watch_exit,
            subcommand_at,
            config,
        },
    ))
}

/// `path` made absolute against the current directory.
fn cwd_join(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(std::env::current_dir()
        .context("the current directory cannot be read")?
        .join(path))
}

/// A container the wrapper registers itself (see [`prepare_bundle`]).
#[derive(Debug, Clone)]
pub struct Registration {
    pub id: String,
    pub bundle: PathBuf,
    /// Where the runtime writes the container's pid (`--pid-file`).
    pub pid_file: PathBuf,
    /// The pid file is the wrapper's own: given to the runtime by
    /// [`Registration::runtime_args`], removed once read.
    pub own_pid_file: bool,
    pub when: When,
    /// The helper also unregisters the container once it has exited, in
    /// place of its `poststop` hook (a foreground `run`, where pidfds work).
    pub watch_exit: bool,
    /// Where the subcommand is in the runtime's arguments.
    pub subcommand_at: usize,
    /// The container's config as prepared: what it is registered with,
    /// whatever its bundle holds by then.
    pub config: Config,
}

/// When the wrapper registers a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Once the runtime returns (`create`; `run --detach`, started by then):
    /// [`create_then_register`].
    AfterReturn,
    /// While the runtime runs (a foreground `run` returns when the
    /// container has exited): [`register_from_helper`].
    WhileRunning,
}

impl Registration {
    /// The runtime's arguments: `args`, with `--pid-file` after the
    /// subcommand when the pid file is the wrapper's own.
    pub fn runtime_args(&self, args: &[OsString]) -> Vec<OsString> {
        let mut out = args.to_vec();
        if self.own_pid_file {
            let mut flag = OsString::from("--pid-file=");
            flag.push(&self.pid_file);
            out.insert((self.subcommand_at + 1).min(out.len()), flag);
        }
        out
    }

    /// Remove the pid file when it is the wrapper's own.
    fn remove_own_pid_file(&self) {
        if self.own_pid_file {
            let _ = std::fs::remove_file(&self.pid_file);
        }
    }
}

/// How long a foreground `run`'s helper waits for the pid file.
const HELPER_WAIT: Duration = Duration::from_secs(300);

/// For a foreground `run`: start a helper process that waits for the
/// runtime (this process, once it has exec'd) to write the pid file, calls
/// `register` on the container's state and removes the wrapper's own pid
/// file; with `watch_exit`, it then waits for the container's process to
/// exit (or the runtime to exit without one) and calls `stop`, as the
/// `poststop` hook would have; then it exits. It is detached (two forks, a session of its own, the
/// caller's descriptors closed): the runtime never sees it as a child, and
/// no reader of the runtime's output waits on it. It gives up when the
/// runtime exits without a pid file, or after `HELPER_WAIT`; what it does
/// goes to linkshim's log.
///
/// Call it while this process has one thread.
pub fn register_from_helper(
    reg: &Registration,
    register: impl FnOnce(&crate::oci::state::State) -> anyhow::Result<()>,
    stop: impl FnOnce(&crate::oci::state::State) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use nix::unistd::{ForkResult, fork};
    let runtime = std::process::id() as i32;
    let started = crate::registry::pid_start_time(runtime);
    #[allow(unsafe_code)]
    // SAFETY: the wrapper runs one thread until it execs the runtime, so
    // the child may use anything the parent had (no lock is held by a
    // thread that the fork leaves behind).
    match unsafe { fork() }.context("starting the registration helper")? {
        ForkResult::Parent { child } => {
            nix::sys::wait::waitpid(child, None).context("the registration helper")?;
            Ok(())
        }
        ForkResult::Child => {
            #[allow(unsafe_code)]
            // SAFETY: as above, this process has one thread.
            let code = match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    detach();
                    match helper(reg, runtime, started, register, stop) {
                        Ok(()) => 0,
                        Err(e) => {
                            log::error!("{e:#}");
                            1
                        }
                    }
                }
                _ => 0,
            };
            #[allow(unsafe_code)]
            // SAFETY: _exit ends this process at once, running nothing of
            // the parent's (no atexit handler, no destructor).
            unsafe {
                libc::_exit(code)
            }
        }
    }
}

/// A session of its own (no signal from the caller's terminal), stdin,
/// stdout and stderr on /dev/null, and the caller's other descriptors
/// closed: those it passed on (pipes, a console socket, preserved fds) are
/// the ones without close-on-exec; linkshim's own (its log) have it.
fn detach() {
    use std::os::fd::AsRawFd;
    let _ = nix::unistd::setsid();
    if let Ok(null) = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..=2 {
            #[allow(unsafe_code)]
            // SAFETY: dup2 onto 0-2 replaces descriptors no Rust object owns
            // in this process (std's stdio handles do not close them).
            unsafe {
                libc::dup2(null.as_raw_fd(), fd);
            }
        }
    }
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in fds.into_iter().filter(|&fd| fd > 2) {
        #[allow(unsafe_code)]
        // SAFETY: F_GETFD only reads flags; a descriptor without
        // close-on-exec was inherited from the caller and is owned by no
        // Rust object here, so closing it leaves nothing dangling.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::close(fd);
            }
        }
    }
}

/// The helper's work: wait for the pid, register, remove the own pid
/// file; with `watch_exit`, wait for the exit and unregister.
fn helper(
    reg: &Registration,
    runtime: i32,
    started: Option<u64>,
    register: impl FnOnce(&crate::oci::state::State) -> anyhow::Result<()>,
    stop: impl FnOnce(&crate::oci::state::State) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = reg.pid_file.parent();
    let found = crate::links::wait::until_in(
        dir,
        HELPER_WAIT,
        Duration::from_millis(10),
        || -> anyhow::Result<Option<i32>> {
            if let Ok(pid) = read_pid_file(&reg.pid_file) {
                return Ok(Some(pid));
            }
            if crate::registry::pid_start_time(runtime) != started {
                // Gone: a last look, for a pid written as it exited.
                return match read_pid_file(&reg.pid_file) {
                    Ok(pid) => Ok(Some(pid)),
                    Err(_) => Err(anyhow!(
                        "container {}: the runtime exited without writing its pid to {}; not registered",
                        reg.id,
                        reg.pid_file.display()
                    )),
                };
            }
            Ok(None)
        },
    );
    let state = |pid: Option<i32>| crate::oci::state::State {
        id: reg.id.clone(),
        pid,
        bundle: Some(reg.bundle.clone()),
        annotations: Default::default(),
    };
    let pid = found.as_ref().ok().copied().flatten();
    // The process the pid names, by its start time: a pid used again
    // later is another process.
    let pid_started = pid.and_then(crate::registry::pid_start_time);
    let outcome = match found {
        Ok(Some(_)) => {
            register(&state(pid)).with_context(|| format!("container {}: not registered", reg.id))
        }
        Ok(None) => Err(anyhow!(
            "container {}: no pid in {} after {} s; not registered",
            reg.id,
            reg.pid_file.display(),
            HELPER_WAIT.as_secs()
        )),
        Err(e) => Err(e),
    };
    reg.remove_own_pid_file();
    if !reg.watch_exit {
        return outcome;
    }
    // Said now: the wait below lasts as long as the container.
    if let Err(e) = &outcome {
        log::error!("{e:#}");
    }
    if let (Some(pid), Some(_)) = (pid, pid_started) {
        wait_exit(pid, pid_started);
    }
    stop(&state(pid)).with_context(|| format!("container {}: not unregistered", reg.id))
}

/// Whether this kernel gives pidfds (`pidfd_open`, Linux 5.3).
fn pidfd_works() -> bool {
    #[allow(unsafe_code)]
    // SAFETY: pidfd_open on this process's own pid; the descriptor it
    // returns is owned here and closed at once.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0);
        if fd < 0 {
            return false;
        }
        libc::close(fd as i32);
    }
    true
}

/// Wait until process `pid`, which started at `started`, has exited (a
/// zombie has). Returns at once when it is gone already, or when its pid
/// is another process's now.
fn wait_exit(pid: i32, started: Option<u64>) {
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};
    #[allow(unsafe_code)]
    // SAFETY: pidfd_open returns a new descriptor (or -1), owned from here
    // by the OwnedFd alone.
    let fd = unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0);
        if fd < 0 {
            return;
        }
        OwnedFd::from_raw_fd(fd as i32)
    };
    // Opened on the process that started then, or on another one since.
    if crate::registry::pid_start_time(pid) != started {
        return;
    }
    loop {
        let mut fds = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// Run the real runtime's `create` (or `run --detach`) as a child (arguments, fds and
/// environment as `exec` would give them), then register the container it
/// created. A registration that fails deletes the container again, so the
/// engine never holds a created container that is not linked as it asked.
/// Returns the exit status to give the engine.
pub fn create_then_register(
    real: &Path,
    args: &[OsString],
    reg: &Registration,
    register: impl FnOnce(&crate::oci::state::State) -> anyhow::Result<()> + Send,
) -> anyhow::Result<u8> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut cmd = std::process::Command::new(real);
    cmd.arg0(real)
        .args(args)
        .env(WRAPPER_PID_ENV, std::process::id().to_string());
    // Killed with the wrapper, as it would be had the wrapper become it.
    #[allow(unsafe_code)]
    // SAFETY: between fork and exec the child only calls prctl and signal,
    // both async-signal-safe; no lock or allocation is touched.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            )?;
            Ok(())
        });
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {}", real.display()))?;
    if !status.success() {
        return Ok(match (status.code(), status.signal()) {
            (Some(c), _) => c as u8,
            (None, Some(sig)) => 128u8.wrapping_add(sig as u8),
            _ => 1,
        });
    }
    let outcome = (|| {
        let pid = read_pid_file(&reg.pid_file);
        reg.remove_own_pid_file();
        let pid = pid?;
        let state = crate::oci::state::State {
            id: reg.id.clone(),
            pid: Some(pid),
            bundle: Some(reg.bundle.clone()),
            annotations: Default::default(),
        };
        // Capabilities are per thread: the registration drops its own, this
        // thread keeps what a cleanup `delete` needs.
        std::thread::scope(|s| s.spawn(|| register(&state)).join())
            .map_err(|_| anyhow!("the registration thread panicked"))?
    })();
    match outcome {
        Ok(()) => Ok(0),
        Err(e) => {
            let delete_args: Vec<OsString> = args[..reg.subcommand_at.min(args.len())]
                .iter()
                .cloned()
                .chain(["delete".into(), "--force".into(), reg.id.clone().into()])
                .collect();
            let _ = std::process::Command::new(real)
                .args(&delete_args)
                .env(WRAPPER_PID_ENV, std::process::id().to_string())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .status();
            Err(e.context(format!(
                "container {}: created, but not registered (deleted again)",
                reg.id
            )))
        }
    }
}

/// The pid the runtime wrote, read with a bound and never through a symlink.
fn read_pid_file(path: &Path) -> anyhow::Result<i32> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = String::new();
    std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .and_then(|f| f.take(64).read_to_string(&mut text))
        .with_context(|| format!("pid file {}", path.display()))?;
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            anyhow!(
                "pid file {}: {:?} is not a pid",
                path.display(),
                text.trim()
            )
        })
}

/// Replace this process with the real runtime, `args` untouched: the same
/// pid, fds, environment (plus `WRAPPER_PID_ENV`) and signal mask, as if
/// the engine had called it.
#[allow(unsafe_code)]
pub fn exec(real: &Path, args: &[OsString]) -> anyhow::Error {
    use std::ffi::CString;
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let cstr = |b: &[u8]| CString::new(b).map_err(|_| anyhow!("an argument holds a NUL byte"));
    let argv: anyhow::Result<Vec<CString>> = std::iter::once(real.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| cstr(a.as_bytes()))
        .collect();
    let envp: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != WRAPPER_PID_ENV)
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .chain(CString::new(format!("{WRAPPER_PID_ENV}={}", std::process::id())).ok())
        .collect();
    let (path, argv) = match (cstr(real.as_os_str().as_bytes()), argv) {
        (Ok(p), Ok(a)) => (p, a),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    // Rust ignores SIGPIPE in its programs; the runtime gets the default back.
    // SAFETY: SIG_DFL installs no handler, and nothing else runs concurrently here.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
    match nix::unistd::execve(&path, &argv, &envp) {
        Err(e) => anyhow!("exec {}: {e}", real.display()),
    }
}

/// The arguments as strings for scanning (never passed on in this form).
pub fn scan_args(args: &[OsString]) -> Result<Invocation, args::Error> {
    let strings: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args::scan(&strings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A directory holding an executable `fake-rt`.
    fn dir_with_runtime() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let rt = d.path().join("fake-rt");
        std::fs::write(&rt, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o755)).unwrap();
        d
    }

    #[test]
    fn no_path_or_an_empty_one_searches_the_default_path() {
        // `sh` is in /bin or /usr/bin on every system.
        for path in [None, Some(OsString::new())] {
            let found = find_in(Path::new("sh"), path.clone())
                .unwrap_or_else(|| panic!("PATH {path:?}: sh not found in {DEFAULT_PATH}"));
            let dir = found.parent().unwrap();
            assert!(
                DEFAULT_PATH.split(':').any(|d| Path::new(d) == dir),
                "PATH {path:?}: {} is not in {DEFAULT_PATH}",
                found.display()
            );
        }
    }

    #[test]
    fn a_set_path_is_searched_instead_of_the_default() {
        let d = dir_with_runtime();
        let path = OsString::from(format!("/nonexistent:{}", d.path().display()));
        assert_eq!(
            find_in(Path::new("fake-rt"), Some(path.clone())),
            Some(d.path().join("fake-rt"))
        );
        assert_eq!(find_in(Path::new("sh"), Some(path)), None);
    }

    #[test]
    fn relative_path_entries_are_never_searched() {
        let d = dir_with_runtime();
        // The same directory, named relative to the current one.
        let cwd = std::env::current_dir().unwrap();
        let up = "../".repeat(cwd.components().count() - 1);
        let relative = format!(
            "{up}{}",
            d.path().display().to_string().trim_start_matches('/')
        );
        assert!(Path::new(&relative).join("fake-rt").exists(), "{relative}");
        assert_eq!(find_in(Path::new("fake-rt"), Some(relative.into())), None);
    }
}
