//! linkshim's own command line (clap). The runtime wrapper's arguments are
//! the runtime's, passed on untouched, and never parsed here.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `linkshim --version`: the version and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LINKSHIM_COMMIT"),
    ")"
);

/// Docker-style container links for runc, crun, podman and containerd, with no daemon.
#[derive(Debug, Parser)]
#[command(name = "linkshim", version = VERSION)]
pub struct Cli {
    #[command(flatten)]
    pub dirs: DirFlags,

    #[command(subcommand)]
    pub command: Command,
}

/// The directories every subcommand takes.
#[derive(Debug, Clone, Default, Args)]
pub struct DirFlags {
    /// The registry and hosts files [env: LINKSHIM_STATE_DIR] [default: /run/linkshim; for a user: $XDG_RUNTIME_DIR/linkshim]
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Resources added with --persist [env: LINKSHIM_PERSIST_DIR] [default: /var/lib/linkshim; for a user: ~/.local/share/linkshim]
    #[arg(long, global = true, value_name = "DIR")]
    pub persist_dir: Option<PathBuf>,
}

impl Cli {
    /// Parse `argv` (clap's errors, help and version exit here). A hook's
    /// command line is read the short way ([`hook_line`]); anything that
    /// way does not take (help, a typo) goes to clap, so the outcome is the
    /// same.
    pub fn parse_argv(argv: Vec<OsString>) -> Cli {
        hook_line(&argv).unwrap_or_else(|| Cli::parse_from(argv))
    }
}

/// `linkshim [DIRS] hook STAGE [DIRS] [--token TOKEN]`, read with lexopt:
/// the command line of every hook run on a container's create, start and
/// stop, as linkshim or a hooks.d file writes it. clap builds the whole
/// command line (every subcommand, its flags and help) before it parses
/// one, which was a tenth of a hook's run. None for anything else, and for
/// anything unusual (a flag given twice, `--`, an empty value or one that
/// starts with `-`, a short flag, a word too many): clap reads those.
fn hook_line(argv: &[OsString]) -> Option<Cli> {
    use lexopt::prelude::*;
    if argv.iter().skip(1).any(|a| a == "--") {
        return None;
    }
    fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
        slot.is_none().then(|| *slot = Some(value))
    }
    let mut dirs = DirFlags::default();
    let (mut hook, mut stage, mut token) = (false, None::<String>, None::<String>);
    let mut line = lexopt::Parser::from_args(argv.iter().skip(1));
    while let Some(arg) = line.next().ok()? {
        let value = |line: &mut lexopt::Parser| {
            line.value()
                .ok()
                .filter(|v| !v.is_empty() && !v.as_encoded_bytes().starts_with(b"-"))
        };
        match arg {
            Long("state-dir") => once(&mut dirs.state_dir, value(&mut line)?.into())?,
            Long("persist-dir") => once(&mut dirs.persist_dir, value(&mut line)?.into())?,
            Long("token") if stage.as_deref() == Some("poststop") => {
                once(&mut token, value(&mut line)?.into_string().ok()?)?
            }
            Value(v) if !hook && v == "hook" => hook = true,
            Value(v) if hook && stage.is_none() => stage = Some(v.into_string().ok()?),
            _ => return None,
        }
    }
    let stage = match stage?.as_str() {
        "precreate" => Stage::Precreate,
        "poststart" => Stage::Poststart,
        "poststop" => Stage::Poststop { token },
        _ => return None,
    };
    Some(Cli {
        dirs,
        command: Command::Hook { stage },
    })
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as an OCI hook (podman hooks.d precreate, or the poststart and
    /// poststop hooks linkshim adds to containers itself).
    Hook {
        #[command(subcommand)]
        stage: Stage,
    },
    /// Wrap a real runtime: `linkshim runtime [--runtime PATH] [--] RUNTIME-ARGS...`
    /// (also reached by calling the binary as `linkshim-runtime`).
    Runtime {
        /// The real runtime [env: LINKSHIM_RUNTIME] [default: runc, then crun, on PATH]
        #[arg(long, value_name = "PATH")]
        runtime: Option<PathBuf>,
        /// The runtime's own arguments, passed on untouched.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// List the registered containers.
    Ls {
        /// Print JSON instead of a table (env values and URL passwords as ***).
        #[arg(long)]
        json: bool,
        /// Show env values and URL passwords in the JSON.
        #[arg(long, requires = "json")]
        show_env: bool,
    },
    /// Check the registry (its lock, its database) and a container's links
    /// before it runs: a PASS, WARN or FAIL line per check; exit status 1
    /// when any check fails.
    Doctor {
        /// First do what `linkshim gc --repair` does.
        #[arg(long)]
        repair: bool,
        /// The container's config.json (`-` for stdin).
        #[arg(long, value_name = "FILE", conflicts_with = "links")]
        config: Option<PathBuf>,
        /// Links to check, as in io.linkshim.links.
        #[arg(long)]
        links: Option<String>,
        /// The linker's name, with --links.
        #[arg(long, requires = "links")]
        name: Option<String>,
    },
    /// Follow a registry on etcd and render this host's linkers' hosts
    /// files again when their targets change on any host (a service per
    /// host; runs until stopped).
    Watch,
    /// Remove what no running container holds: stale records, expired
    /// reservations, orphan hosts files. Prints what it did; running it
    /// again does nothing more.
    Gc {
        /// Also repair a damaged registry: move it aside as
        /// registry.db.corrupt-<time> and start a fresh one with what can
        /// still be read (the running containers not carried over register
        /// again at their next start), or remove a readable registry's
        /// unreadable rows.
        #[arg(long)]
        repair: bool,
    },
    /// Draw the link topology of the registry: containers, services,
    /// resources, and links labelled with their alias (broken ones red, dashed).
    Graph {
        #[arg(long, value_enum, default_value_t)]
        format: crate::graph::Format,
        /// Who lays out the svg: Graphviz when installed (auto), or always the built-in layout.
        #[arg(long, value_enum, default_value_t)]
        layout: crate::graph::svg::Layout,
        /// Only this scope, and the links between it and others.
        #[arg(long, value_name = "SCOPE")]
        scope: Option<String>,
    },
    /// What linkshim would do to a config, without doing it: each resolved
    /// link, the hosts file, and a unified diff of config.json. Writes nothing.
    Explain {
        /// The config.json (`-` for stdin).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "bundle",
            conflicts_with = "bundle"
        )]
        config: Option<PathBuf>,
        /// The bundle whose config.json to read (relative rootfs paths are under it).
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// Show env values and URL passwords (masked otherwise).
        #[arg(long)]
        show_env: bool,
    },
    /// Show one registered container (by name or id) or resource in full,
    /// with what it links to and who links to it.
    Inspect {
        name: String,
        /// The scope the name is in, when several scopes have one by that name.
        #[arg(long, value_name = "SCOPE")]
        scope: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Show env values and URL passwords (masked otherwise).
        #[arg(long)]
        show_env: bool,
    },
    /// Add a link to a running linker: its /etc/hosts gains the line at
    /// once (its variables cannot change).
    Link {
        /// The linker: its name (`scope/name` outside the default scope) or id.
        container: String,
        /// As in io.linkshim.links: `[scope/]target[:alias][+convox][?policy]`.
        link: String,
    },
    /// Remove a running linker's link: its /etc/hosts loses the line at once.
    Unlink {
        /// The linker: its name (`scope/name` outside the default scope) or id.
        container: String,
        /// The alias of the link to remove.
        alias: String,
    },
    /// Read the running containers' addresses again (after `podman network
    /// connect` or `disconnect`, which run no hook) and render the hosts
    /// files that name them; prints each container whose addresses changed.
    Refresh {
        /// Only these containers (link names); default every one.
        names: Vec<String>,
    },
    /// Write the linkshim annotations of a Docker Compose file's `links:`
    /// and `expose:` as a compose override file, to use beside it:
    /// `podman-compose -f FILE -f OUT up`.
    Compose {
        /// The compose file (read, never written).
        file: PathBuf,
        /// Where to write the override [default: stdout]
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Put every service in this scope (say, the project's name).
        #[arg(long)]
        scope: Option<String>,
    },
    /// Things that are not containers (a managed database, a host service),
    /// linked like containers.
    Resource {
        #[command(subcommand)]
        action: ResourceAction,
    },
    /// Configure a container engine to run linkshim: idempotent, prints
    /// what it changed as a diff.
    Install(Install),
}

/// `linkshim install ENGINE`.
#[derive(Debug, clap::Args)]
pub struct Install {
    /// The engine to configure.
    #[arg(value_enum)]
    pub engine: Engine,
    /// Print the diff and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Undo what install does.
    #[arg(long)]
    pub uninstall: bool,
    /// podman: also add linkshim-runtime as the runtime `linkshim` in
    /// containers.conf (`podman --runtime linkshim`).
    #[arg(long)]
    pub named_runtime: bool,
    /// podman: configure this user's rootless podman (the default when not root).
    #[arg(long)]
    pub user: bool,
    /// The engine's configuration: containerd's config.toml, Docker's
    /// daemon.json, CRI-O's drop-in directory [default: the engine's own]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The linkshim binary the engine is to run, with linkshim-runtime
    /// beside it [default: this binary]
    #[arg(long, value_name = "PATH")]
    pub bin: Option<PathBuf>,
    /// Configure the file system tree at DIR instead of / (an image, a test).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

/// An engine `linkshim install` configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Podman,
    Containerd,
    Crio,
    Docker,
}

#[derive(Debug, Subcommand)]
pub enum ResourceAction {
    /// Register a resource (or replace one of that name).
    Add {
        name: String,
        /// How clients reach it: scheme://[user[:password]@]host[:port][/path]
        #[arg(long)]
        url: String,
        /// A variable a linker gets as <ALIAS>_ENV_<KEY>.
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Keep it across reboots, in the persistent directory.
        #[arg(long)]
        persist: bool,
    },
    /// Remove a resource, wherever it is kept.
    Rm { name: String },
    /// List the resources.
    Ls {
        /// Print JSON instead of a table (env values and URL passwords as ***).
        #[arg(long)]
        json: bool,
        /// Show env values and URL passwords.
        #[arg(long)]
        show_env: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum Stage {
    /// podman's precreate: config.json on stdin, the config to use on stdout.
    Precreate,
    /// Register the started container (state on stdin).
    Poststart,
    /// Unregister the stopped container (state on stdin).
    Poststop {
        /// The container's token: its hosts file is removed.
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    /// The short way gives what the whole command line gives.
    #[test]
    fn hook_command_lines_parse_as_the_whole_command_line_does() {
        let lines: &[&[&str]] = &[
            &["linkshim", "hook", "precreate"],
            &["linkshim", "hook", "poststart", "--state-dir", "/run/x"],
            &[
                "linkshim",
                "--state-dir",
                "/s",
                "--persist-dir=/p",
                "hook",
                "poststop",
                "--token",
                "0123456789abcdef0123456789abcdef",
            ],
            &["linkshim", "hook", "poststop"],
            &[
                "linkshim",
                "hook",
                "poststart",
                "--persist-dir=/p",
                "--state-dir",
                "/s",
            ],
            &[
                "linkshim",
                "hook",
                "poststop",
                "--token=t",
                "--state-dir=/s",
            ],
            &["linkshim", "hook", "--state-dir", "/s", "precreate"],
            // Not a hook: a flag's value, or another subcommand.
            &["linkshim", "--state-dir", "hook", "ls"],
            &["linkshim", "ls", "--state-dir", "hook"],
        ];
        for line in lines {
            let argv = argv(line);
            let whole = Cli::try_parse_from(&argv).expect("a valid command line");
            assert_eq!(
                format!("{:?}", Cli::parse_argv(argv)),
                format!("{whole:?}"),
                "{line:?}"
            );
        }
    }

    #[test]
    fn what_the_short_way_refuses_goes_to_the_whole_command_line() {
        // Refused by both.
        for line in [
            &["linkshim", "hook", "precreate", "--bogus"][..],
            &["linkshim", "hook", "nostage"],
            &["linkshim", "hook", "--help"],
            &["linkshim", "hook", "precreate", "extra"],
            &["linkshim", "hook", "precreate", "--token", "t"],
            &["linkshim", "hook", "--token", "t", "poststop"],
            &["linkshim", "hook", "precreate", "--state-dir"],
            &[
                "linkshim",
                "hook",
                "precreate",
                "--state-dir",
                "--persist-dir",
                "/p",
            ],
            &["linkshim", "hook", "-h"],
            &["linkshim", "precreate"],
        ] {
            let argv = argv(line);
            assert!(hook_line(&argv).is_none(), "{line:?}");
            assert!(Cli::try_parse_from(line).is_err(), "{line:?}");
        }
        // Left to clap, whatever it makes of them.
        for line in [
            &["linkshim", "hook", "--", "precreate"][..],
            &[
                "linkshim",
                "--state-dir",
                "/a",
                "hook",
                "precreate",
                "--state-dir",
                "/b",
            ],
            &["linkshim", "--state-dir=", "hook", "precreate"],
            &["linkshim", "--state-dir=-x", "hook", "precreate"],
            &["linkshim", "ls"],
            &["linkshim", "hook"],
        ] {
            let argv = argv(line);
            assert!(hook_line(&argv).is_none(), "{line:?}");
        }
        // Not UTF-8: a directory may be, a token may not.
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(vec![b'/', 0xff]);
        let dir = [
            argv(&["linkshim", "hook", "poststart", "--state-dir"]),
            vec![bad()],
        ]
        .concat();
        assert!(hook_line(&dir).is_some());
        let token = [
            argv(&["linkshim", "hook", "poststop", "--token"]),
            vec![bad()],
        ]
        .concat();
        assert!(hook_line(&token).is_none());
        assert!(Cli::try_parse_from(&token).is_err());
    }
}
