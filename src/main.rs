//! The linkshim binary: parse, set up logging, dispatch, map errors to an
//! exit code. Every failure is logged once, as one line with its whole
//! chain of causes (`{e:#}`), through `linkshim::logging`.
//!
//! The entry point is the C one (`#![no_main]`), not std's `fn main`:
//! std's set-up before `main` (finding the main thread's stack guard by
//! reading `/proc/self/maps`, an alternate signal stack, SIGPIPE ignored:
//! about 80 µs) is a twentieth of a hook's whole run, and linkshim runs as
//! a hook or a wrapper on every container start. What of it matters is
//! done in [`main`]: a panic ends the process with 101 after its message,
//! and stdout is flushed. SIGPIPE keeps its default, as the runtime the
//! wrapper becomes expects; std reads the arguments before `main` either way.

// A test harness built from this file (`cargo test --bins`) brings its own
// `main`; the binary has no unit tests of its own (they are the library's
// and tests/'s), so there the functions below are unused.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code, unused_imports))]

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What the process exits with: 0, 1 for a failure, or the runtime's own.
type ExitCode = u8;
const SUCCESS: ExitCode = 0;
const FAILURE: ExitCode = 1;
/// A panic's, as std's.
const PANICKED: ExitCode = 101;

/// The process's entry point, which glibc's start code calls.
#[cfg(not(test))]
#[allow(unsafe_code)]
// SAFETY (of `no_mangle`): this is the one `main` symbol of the binary,
// with the C signature the start code calls it with.
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    let code = std::panic::catch_unwind(run).unwrap_or(PANICKED);
    let _ = std::io::Write::flush(&mut std::io::stdout());
    code.into()
}

use linkshim::cli::{Cli, Command, Stage};
use linkshim::logging::{self, Setup};
use linkshim::{commands, hook, runtime, settings};
use log::{error, warn};

fn run() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let called_as = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned());
    if called_as.as_deref() == Some("linkshim-runtime") {
        return wrapper(None, None, None, argv[1..].to_vec());
    }
    let cli = Cli::parse_argv(argv);
    let (state_flag, persist_flag) = (cli.dirs.state_dir, cli.dirs.persist_dir);
    if let Command::Runtime { runtime, args } = cli.command {
        return wrapper(state_flag, persist_flag, runtime, args);
    }
    // What linkshim creates is its own (registry, lock, log): 0600. The
    // hosts files a container must read are given their mode explicitly.
    private_umask();
    let what = label(&cli.command);
    let (dirs, broken) = Dirs::load(state_flag.as_deref(), persist_flag.as_deref());
    // Every wait on the registry is bounded; a stop waits less, then gives up.
    linkshim::registry::set_lock_budget(match &cli.command {
        Command::Hook {
            stage: Stage::Poststop { .. },
        } => dirs.file.stop_lock_timeout(),
        _ => dirs.file.lock_timeout(),
    });
    let level = logging::level(env_level().as_deref(), None, false);
    logging::init(if matches!(cli.command, Command::Hook { .. }) {
        Setup::for_stage(what, level, &dirs.state)
    } else {
        Setup::for_command(what, level)
    });
    if let Some(e) = broken {
        // Settings given on the command line (the hooks linkshim adds
        // carry them) need no config file: a broken one must not fail them.
        if settings::file_needed(state_flag.as_deref(), persist_flag.as_deref()) {
            error!("{e:#}");
            return FAILURE;
        }
        warn!("{e:#} (ignored: the directories are given on the command line)");
    }
    let result = match cli.command {
        Command::Hook { stage } => match stage {
            Stage::Precreate => self_exe().and_then(|exe| {
                hook::precreate::run(&dirs.state, &dirs.persist, &exe, dirs.share_env())
            }),
            Stage::Poststart => hook::poststart::run(&dirs.state, &dirs.persist, dirs.share_env()),
            Stage::Poststop { token } => {
                hook::poststop::run(&dirs.state, &dirs.persist, token.as_deref())
            }
        },
        Command::Ls { json, show_env } => {
            commands::ls::run(&dirs.state, json, show_env, &mut std::io::stdout().lock())
        }
        Command::Compose {
            file,
            output,
            scope,
        } => commands::compose::run(
            &file,
            output.as_deref(),
            scope.as_deref(),
            &mut std::io::stdout().lock(),
        ),
        Command::Refresh { names } => commands::refresh::run(
            &dirs.state,
            &dirs.persist,
            &names,
            &mut std::io::stdout().lock(),
        ),
        Command::Resource { action } => commands::resource::run(
            &dirs.state,
            &dirs.persist,
            action,
            &mut std::io::stdout().lock(),
        ),
        Command::Doctor {
            repair,
            config,
            links,
            name,
        } => {
            let out = &mut std::io::stdout().lock();
            let repaired = match repair {
                true => commands::gc::run(&dirs.state, true, out),
                false => Ok(()),
            };
            repaired
                .and_then(|()| {
                    commands::doctor::run(
                        &dirs.state,
                        &dirs.persist,
                        config.as_deref(),
                        name.as_deref(),
                        links.as_deref(),
                        out,
                    )
                })
                .and_then(|failed| match failed {
                    0 => Ok(()),
                    n => Err(anyhow::anyhow!("{n} check(s) failed")),
                })
        }
        Command::Watch => commands::watch::run(&dirs.state, &dirs.persist),
        Command::Gc { repair } => {
            commands::gc::run(&dirs.state, repair, &mut std::io::stdout().lock())
        }
        Command::Graph {
            format,
            layout,
            scope,
        } => commands::graph::run(
            &dirs.state,
            &dirs.persist,
            format,
            layout,
            scope.as_deref(),
            &mut std::io::stdout().lock(),
        ),
        Command::Explain {
            config,
            bundle,
            show_env,
        } => self_exe().and_then(|exe| {
            commands::explain::run(
                &dirs.state,
                &dirs.persist,
                &exe,
                dirs.share_env(),
                config.as_deref(),
                bundle.as_deref(),
                show_env,
                &mut std::io::stdout().lock(),
            )
        }),
        Command::Inspect {
            name,
            scope,
            json,
            show_env,
        } => commands::inspect::run(
            &dirs.state,
            &dirs.persist,
            &name,
            scope.as_deref(),
            json,
            show_env,
            &mut std::io::stdout().lock(),
        ),
        Command::Link { container, link } => commands::link::link(
            &dirs.state,
            &dirs.persist,
            &container,
            &link,
            &mut std::io::stdout().lock(),
        ),
        Command::Unlink { container, alias } => commands::link::unlink(
            &dirs.state,
            &dirs.persist,
            &container,
            &alias,
            &mut std::io::stdout().lock(),
        ),
        Command::Install(args) => commands::install::run(&args, &mut std::io::stdout().lock()),
        Command::Runtime { .. } => unreachable!("handled above"),
    };
    match result {
        Ok(()) => SUCCESS,
        Err(e) => {
            error!("{e:#}");
            FAILURE
        }
    }
}

/// How a command is called in the log.
fn label(command: &Command) -> &'static str {
    match command {
        Command::Hook { stage } => match stage {
            Stage::Precreate => "hook precreate",
            Stage::Poststart => "hook poststart",
            Stage::Poststop { .. } => "hook poststop",
        },
        Command::Runtime { .. } => "runtime",
        Command::Ls { .. } => "ls",
        Command::Doctor { .. } => "doctor",
        Command::Gc { .. } => "gc",
        Command::Watch => "watch",
        Command::Resource { .. } => "resource",
        Command::Graph { .. } => "graph",
        Command::Inspect { .. } => "inspect",
        Command::Explain { .. } => "explain",
        Command::Link { .. } => "link",
        Command::Unlink { .. } => "unlink",
        Command::Refresh { .. } => "refresh",
        Command::Compose { .. } => "compose",
        Command::Install(_) => "install",
    }
}

fn env_level() -> Option<String> {
    std::env::var(logging::LEVEL_ENV).ok()
}

/// Where linkshim keeps its state, from flags, environment and config file.
struct Dirs {
    file: settings::File,
    file_broken: bool,
    state: PathBuf,
    persist: PathBuf,
}

impl Dirs {
    /// The host's `share_env` policy: Docker's behaviour when unset,
    /// nothing at all when the config file is broken (its policy is unknown).
    fn share_env(&self) -> linkshim::model::share::Policy {
        match self.file_broken {
            true => linkshim::model::share::Policy::None,
            false => self.file.share_env.unwrap_or_default(),
        }
    }

    /// The directories, and the config file's error when it is broken (the
    /// directories then come from flags, environment and defaults alone, so
    /// the error is logged in the state directory the flags name).
    fn load(state: Option<&Path>, persist: Option<&Path>) -> (Dirs, Option<anyhow::Error>) {
        let (file, broken) = match settings::File::load() {
            Ok(f) => (f, None),
            Err(e) => (settings::File::default(), Some(e)),
        };
        // The registry backend is configured once for the process; a
        // file whose backend settings are wrong is a broken file.
        let (file, broken) = match file.backend() {
            Ok(backend) => {
                linkshim::registry::configure(backend);
                (file, broken)
            }
            Err(e) => {
                linkshim::registry::configure(linkshim::registry::Backend::Misconfigured(format!(
                    "{e:#}"
                )));
                (settings::File::default(), Some(e))
            }
        };
        let owner = linkshim::user::Owner::current();
        let dirs = Dirs {
            state: settings::state_dir(state, &file, &owner),
            persist: settings::persist_dir(persist, &file, &owner),
            file,
            file_broken: broken.is_some(),
        };
        (dirs, broken)
    }
}

/// Files this process creates are readable by their owner alone; the mask
/// it replaces is returned.
fn private_umask() -> nix::sys::stat::Mode {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077))
}

/// The absolute path of this binary, for the hooks linkshim adds.
fn self_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().map_err(|e| anyhow::anyhow!("cannot find linkshim's own path: {e}"))
}

/// The runtime wrapper: prepare on create/run, then become the real runtime.
fn wrapper(
    state_flag: Option<PathBuf>,
    persist_flag: Option<PathBuf>,
    runtime_flag: Option<PathBuf>,
    args: Vec<OsString>,
) -> ExitCode {
    let old_umask = private_umask();
    // A command line that cannot be read safely fails below, once logging is set up.
    let (inv, unreadable) = match runtime::scan_args(&args) {
        Ok(inv) => (inv, None),
        Err(e) => (runtime::Invocation::default(), Some(e)),
    };
    let (dirs, broken) = Dirs::load(state_flag.as_deref(), persist_flag.as_deref());
    linkshim::registry::set_lock_budget(dirs.file.lock_timeout());
    let sub = inv.subcommand.as_deref().unwrap_or("(none)");
    let level = logging::level(env_level().as_deref(), inv.log_level.as_deref(), inv.debug);
    logging::init(Setup {
        engine_log: inv.log.clone().map(|p| {
            let format = logging::Format::from_flag(inv.log_format.as_deref());
            (p, format)
        }),
        // The engine shows the runtime's stderr as its error: no chatter there.
        stderr: log::LevelFilter::Warn,
        ..Setup::for_stage(format!("runtime {sub}"), level, &dirs.state)
    });
    let configured = runtime_flag
        .or_else(|| std::env::var_os(settings::RUNTIME_ENV).map(PathBuf::from))
        .or_else(|| dirs.file.runtime.clone());
    if let Some(e) = broken {
        // A broken config file must not keep containers from being stopped
        // or deleted: only create and run need linkshim's settings.
        let needed = settings::file_needed(state_flag.as_deref(), persist_flag.as_deref())
            || configured.is_none();
        if inv.creates() && needed {
            error!("{e:#}");
            return FAILURE;
        }
        warn!("{e:#} (ignored for {sub})");
    }
    let prepared = (|| {
        if let Some(e) = unreadable {
            return Err(e.into());
        }
        runtime::check_not_looping()?;
        let exe = self_exe()?;
        let real = runtime::real_runtime(configured.as_deref(), &exe)?;
        let registration =
            runtime::prepare_bundle(&inv, &dirs.state, &dirs.persist, &exe, dirs.share_env())?;
        // An exec without its link variables still runs: say why.
        if let Err(e) = linkshim::exec::merge_link_env(&inv, &real) {
            warn!("{e:#} (the exec runs without the link variables)");
        }
        Ok((real, registration))
    })();
    let err = match prepared {
        Ok((real, None)) => {
            // The runtime gets the engine's umask back.
            nix::sys::stat::umask(old_umask);
            runtime::exec(&real, &args)
        }
        Ok((real, Some(registration))) => {
            nix::sys::stat::umask(old_umask);
            let args = registration.runtime_args(&args);
            let (state, persist, policy) = (&dirs.state, &dirs.persist, dirs.share_env());
            match registration.when {
                runtime::When::AfterReturn => {
                    // Moved to the registration's thread (its caches are not Sync).
                    let config = registration.config.clone();
                    let done =
                        runtime::create_then_register(&real, &args, &registration, move |st| {
                            private_umask();
                            hook::poststart::register_as(state, persist, policy, st, &config)
                        });
                    match done {
                        Ok(code) => return code,
                        Err(e) => e,
                    }
                }
                runtime::When::WhileRunning => {
                    let config = &registration.config;
                    let token = config.annotations().get(linkshim::modify::TOKEN).cloned();
                    let watch_exit = registration.watch_exit;
                    let helper = runtime::register_from_helper(
                        &registration,
                        |st| {
                            private_umask();
                            if watch_exit {
                                // Its exit is seen to by the helper itself.
                                hook::poststart::register_unless_gone(
                                    state, persist, policy, st, config,
                                )
                            } else {
                                hook::poststart::register_racing_stop(
                                    state, persist, policy, st, config,
                                )
                            }
                        },
                        |st| hook::poststop::stopped(state, persist, token.as_deref(), st),
                    );
                    if let Err(e) = helper {
                        error!("{e:#}: container {} runs unregistered", registration.id);
                    }
                    runtime::exec(&real, &args)
                }
            }
        }
        Err(e) => e,
    };
    error!("{err:#}");
    FAILURE
}
