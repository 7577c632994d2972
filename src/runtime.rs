//! The drop-in runtime wrapper: scan the runtime's arguments loosely, edit
//! `<bundle>/config.json` on `create` and `run`, then exec the real runtime
//! with the arguments untouched (exit code, signals and fds pass through,
//! since the wrapper becomes the runtime).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use log::debug;

use crate::oci::args;
pub use crate::oci::args::Invocation;
use crate::oci::config::Config;
use crate::prepare::{self, Context};

/// Runtimes tried on PATH, in order, when none is configured.
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
        .ok_or_else(|| anyhow!("no real runtime: neither runc nor crun is on PATH (set --runtime or LINKSHIM_RUNTIME)"))
}

/// Refuse to go on when this wrapper was exec'd by itself (see `WRAPPER_PID_ENV`).
pub fn check_not_looping() -> anyhow::Result<()> {
    let mine = std::process::id().to_string();
    if std::env::var_os(WRAPPER_PID_ENV).is_some_and(|v| v == mine.as_str()) {
        bail!(
            "the real runtime runs linkshim again (a script that execs linkshim-runtime?): \
             set --runtime, LINKSHIM_RUNTIME or `runtime =` in the config file to the real runtime, such as /usr/bin/runc"
        );
    }
    Ok(())
}

/// `name` itself when it has a slash, else its first executable on PATH.
fn find(name: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.components().count() > 1 || name.is_absolute() {
        return executable(name).then(|| name.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
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
) -> anyhow::Result<()> {
    if !inv.creates() {
        return Ok(());
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
        return Ok(());
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
    };
    if let prepare::Outcome::Prepared { .. } = prepare::prepare(&mut config, &ctx)? {
        config.write_atomic(&path)?;
        debug!("config {}: rewritten", path.display());
    }
    Ok(())
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
