//! The linkshim binary: parse, dispatch, map errors to an exit code.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use linkshim::cli::{Cli, Command, Stage};
use linkshim::{commands, diag, hook, runtime, settings};

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let called_as = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned());
    if called_as.as_deref() == Some("linkshim-runtime") {
        return wrapper(None, None, argv[1..].to_vec());
    }
    let cli = Cli::parse_from(argv);
    match cli.command {
        Command::Runtime { runtime, args } => wrapper(cli.state_dir, runtime, args),
        Command::Hook { stage } => {
            let state_dir = match load(cli.state_dir.as_deref()) {
                Ok((_, dir)) => dir,
                Err(e) => return fail(Path::new(linkshim::state_dir::DEFAULT), "settings", &e),
            };
            let (what, result) = match stage {
                Stage::Precreate => ("hook precreate", self_exe().and_then(|exe| hook::precreate::run(&state_dir, &exe))),
                Stage::Poststart => ("hook poststart", hook::poststart::run(&state_dir)),
                Stage::Poststop { hosts_token } => ("hook poststop", hook::poststop::run(&state_dir, hosts_token.as_deref())),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&state_dir, what, &e),
            }
        }
        Command::Ls { json } => {
            let result = load(cli.state_dir.as_deref())
                .and_then(|(_, dir)| commands::ls::run(&dir, json, &mut std::io::stdout().lock()));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("linkshim: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The config file and the state directory it and the flag point at.
fn load(flag: Option<&Path>) -> anyhow::Result<(settings::File, PathBuf)> {
    let file = settings::File::load()?;
    let dir = settings::state_dir(flag, &file);
    Ok((file, dir))
}

/// The absolute path of this binary, for the hooks linkshim adds.
fn self_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().map_err(|e| anyhow::anyhow!("cannot find linkshim's own path: {e}"))
}

fn fail(state_dir: &Path, what: &str, e: &anyhow::Error) -> ExitCode {
    diag::failure(state_dir, what, &format!("{e:#}"));
    ExitCode::FAILURE
}

/// The runtime wrapper: prepare on create/run, then become the real runtime.
fn wrapper(state_flag: Option<PathBuf>, runtime_flag: Option<PathBuf>, args: Vec<OsString>) -> ExitCode {
    let inv = runtime::scan_args(&args);
    let (file, state_dir) = match load(state_flag.as_deref()) {
        Ok(v) => v,
        Err(e) => return wrapper_fail(&inv, Path::new(linkshim::state_dir::DEFAULT), &e),
    };
    let prepared = (|| {
        let exe = self_exe()?;
        let configured = runtime_flag
            .or_else(|| std::env::var_os(settings::RUNTIME_ENV).map(PathBuf::from))
            .or(file.runtime);
        let real = runtime::real_runtime(configured.as_deref(), &exe)?;
        runtime::prepare_bundle(&inv, &state_dir, &exe)?;
        Ok(real)
    })();
    let err = match prepared {
        Ok(real) => runtime::exec(&real, &args),
        Err(e) => e,
    };
    wrapper_fail(&inv, &state_dir, &err)
}

/// A wrapper failure reaches the engine (the runtime's log) and the operator.
fn wrapper_fail(inv: &runtime::Invocation, state_dir: &Path, e: &anyhow::Error) -> ExitCode {
    let message = format!("{e:#}");
    runtime::log_for_engine(inv, &message);
    diag::failure(state_dir, "runtime", &message);
    ExitCode::FAILURE
}
