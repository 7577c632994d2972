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
        return wrapper(None, None, None, argv[1..].to_vec());
    }
    let cli = Cli::parse_from(argv);
    let (state_flag, persist_flag) = (cli.state_dir, cli.persist_dir);
    if let Command::Runtime { runtime, args } = cli.command {
        return wrapper(state_flag, persist_flag, runtime, args);
    }
    let dirs = match Dirs::load(state_flag.as_deref(), persist_flag.as_deref()) {
        Ok(d) => d,
        Err(e) => return fail(Path::new(linkshim::state_dir::DEFAULT), "settings", &e),
    };
    let (what, result) = match cli.command {
        Command::Hook { stage } => match stage {
            Stage::Precreate => (
                "hook precreate",
                self_exe().and_then(|exe| hook::precreate::run(&dirs.state, &dirs.persist, &exe)),
            ),
            Stage::Poststart => (
                "hook poststart",
                hook::poststart::run(&dirs.state, &dirs.persist),
            ),
            Stage::Poststop { token } => (
                "hook poststop",
                hook::poststop::run(&dirs.state, &dirs.persist, token.as_deref()),
            ),
        },
        Command::Ls { json } => (
            "ls",
            commands::ls::run(&dirs.state, json, &mut std::io::stdout().lock()),
        ),
        Command::Resource { action } => (
            "resource",
            commands::resource::run(
                &dirs.state,
                &dirs.persist,
                action,
                &mut std::io::stdout().lock(),
            ),
        ),
        Command::Doctor {
            config,
            links,
            name,
        } => {
            let mut stdout = std::io::stdout().lock();
            match commands::doctor::run(
                &dirs.state,
                &dirs.persist,
                config.as_deref(),
                name.as_deref(),
                links.as_deref(),
                &mut stdout,
            ) {
                Ok(0) => ("doctor", Ok(())),
                Ok(n) => ("doctor", Err(anyhow::anyhow!("{n} check(s) failed"))),
                Err(e) => ("doctor", Err(e)),
            }
        }
        Command::Runtime { .. } => unreachable!("handled above"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if what.starts_with("hook") => fail(&dirs.state, what, &e),
        Err(e) => {
            eprintln!("linkshim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where linkshim keeps its state, from flags, environment and config file.
struct Dirs {
    file: settings::File,
    state: PathBuf,
    persist: PathBuf,
}

impl Dirs {
    fn load(state: Option<&Path>, persist: Option<&Path>) -> anyhow::Result<Dirs> {
        Ok(Dirs::with_file(settings::File::load()?, state, persist))
    }

    fn with_file(file: settings::File, state: Option<&Path>, persist: Option<&Path>) -> Dirs {
        Dirs {
            state: settings::state_dir(state, &file),
            persist: settings::persist_dir(persist, &file),
            file,
        }
    }
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
fn wrapper(
    state_flag: Option<PathBuf>,
    persist_flag: Option<PathBuf>,
    runtime_flag: Option<PathBuf>,
    args: Vec<OsString>,
) -> ExitCode {
    let inv = runtime::scan_args(&args);
    let dirs = match Dirs::load(state_flag.as_deref(), persist_flag.as_deref()) {
        Ok(d) => d,
        // A broken config file must not keep containers from being stopped
        // or deleted: only create and run need linkshim's settings.
        Err(e) if !inv.creates() => {
            eprintln!(
                "linkshim: {e:#} (ignored for {})",
                inv.subcommand.as_deref().unwrap_or("this command")
            );
            Dirs::with_file(
                settings::File::default(),
                state_flag.as_deref(),
                persist_flag.as_deref(),
            )
        }
        Err(e) => return wrapper_fail(&inv, Path::new(linkshim::state_dir::DEFAULT), &e),
    };
    let prepared = (|| {
        let exe = self_exe()?;
        let configured = runtime_flag
            .or_else(|| std::env::var_os(settings::RUNTIME_ENV).map(PathBuf::from))
            .or_else(|| dirs.file.runtime.clone());
        let real = runtime::real_runtime(configured.as_deref(), &exe)?;
        runtime::prepare_bundle(&inv, &dirs.state, &dirs.persist, &exe)?;
        Ok(real)
    })();
    let err = match prepared {
        Ok(real) => runtime::exec(&real, &args),
        Err(e) => e,
    };
    wrapper_fail(&inv, &dirs.state, &err)
}

/// A wrapper failure reaches the engine (the runtime's log) and the operator.
fn wrapper_fail(inv: &runtime::Invocation, state_dir: &Path, e: &anyhow::Error) -> ExitCode {
    let message = format!("{e:#}");
    runtime::log_for_engine(inv, &message);
    diag::failure(state_dir, "runtime", &message);
    ExitCode::FAILURE
}
