//! A loose scan of an OCI runtime's command line (runc, crun and the like).
//!
//! The wrapper never rejects a flag it does not know: it only looks for the
//! subcommand, the bundle, the container id and the log options, and passes
//! the arguments on untouched. runc parses its flags with Go's `flag`
//! package, which takes `-root DIR` as well as `--root DIR` (and `=value`
//! forms of both); crun takes the long forms and argp's short ones. A known
//! flag that needs a value and has none is an error: guessing would make
//! the wrapper edit some other `config.json`.

use std::path::PathBuf;

/// Global flags of runc and crun that take a value, without their dashes.
const GLOBAL_WITH_VALUE: &[&str] = &[
    "log-level",
    "root",
    "log",
    "log-format",
    "criu",
    "rootless",
    "cgroup-manager",
];

/// Flags of `create` and `run` that take a value, without their dashes.
const COMMAND_WITH_VALUE: &[&str] = &[
    "bundle",
    "b",
    "console-socket",
    "pid-file",
    "preserve-fds",
    "pidfd-socket",
    "config",
    "f",
];

/// Flags of `exec` (runc's and crun's) that take a value, without their dashes.
const EXEC_WITH_VALUE: &[&str] = &[
    "console-socket",
    "pidfd-socket",
    "cwd",
    "env",
    "e",
    "user",
    "u",
    "additional-gids",
    "g",
    "process",
    "p",
    "process-label",
    "apparmor",
    "cap",
    "c",
    "pid-file",
    "preserve-fds",
    "cgroup",
];

/// What the wrapper needs to know of a runtime invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub subcommand: Option<String>,
    pub bundle: Option<PathBuf>,
    /// crun's `--config`/`-f`: another file name than config.json, relative to the bundle.
    pub config: Option<PathBuf>,
    pub id: Option<String>,
    pub log: Option<PathBuf>,
    pub log_format: Option<String>,
    /// `--log-level`: the level linkshim logs at too, unless `LINKSHIM_LOG` says otherwise.
    pub log_level: Option<String>,
    /// `--debug`: log at debug level.
    pub debug: bool,
    pub root: Option<PathBuf>,
    /// `create`'s `--pid-file`: where the runtime writes the container's pid.
    pub pid_file: Option<PathBuf>,
    /// Where the subcommand is in the arguments.
    pub subcommand_at: Option<usize>,
    /// `run`'s `--detach`/`-d`: the runtime returns once the container started.
    pub detach: bool,
    /// `exec`'s `--process`/`-p`: the process file the engine wrote.
    pub process: Option<PathBuf>,
}

impl Invocation {
    /// True when the runtime is about to create a container from a bundle.
    pub fn creates(&self) -> bool {
        matches!(self.subcommand.as_deref(), Some("create" | "run"))
    }
}

/// A command line the wrapper cannot read safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("runtime argument {flag}: needs a value and has none")]
    MissingValue { flag: String },
}

/// One argument taken apart: `--name=value`, `-name value`, `-n`.
struct Flag<'a> {
    /// The name without its dashes.
    name: &'a str,
    /// The value glued with `=`, if any.
    inline: Option<&'a str>,
}

/// `arg` as a flag, or None for a positional (`-` alone is one too).
fn flag(arg: &str) -> Option<Flag<'_>> {
    let body = arg
        .strip_prefix("--")
        .or_else(|| arg.strip_prefix('-'))
        .filter(|b| !b.is_empty())?;
    Some(match body.split_once('=') {
        Some((name, value)) => Flag {
            name,
            inline: Some(value),
        },
        None => Flag {
            name: body,
            inline: None,
        },
    })
}

/// The value of the flag at `args[*i]`: glued, else the next argument
/// (then `*i` moves past it). A missing one is an error.
fn value(args: &[String], i: &mut usize, f: &Flag<'_>) -> Result<String, Error> {
    if let Some(v) = f.inline {
        return Ok(v.to_string());
    }
    *i += 1;
    args.get(*i).cloned().ok_or_else(|| Error::MissingValue {
        flag: args[*i - 1].clone(),
    })
}

/// Scan `args` (without argv\[0\]).
pub fn scan(args: &[String]) -> Result<Invocation, Error> {
    let mut inv = Invocation::default();
    let mut i = 0;
    // Global flags up to the subcommand.
    while i < args.len() {
        let Some(f) = flag(&args[i]) else {
            inv.subcommand = Some(args[i].clone());
            inv.subcommand_at = Some(i);
            i += 1;
            break;
        };
        if f.name.is_empty() {
            // `--` or `-=`: nothing linkshim knows; the runtime decides.
        } else if f.name == "debug" {
            // A boolean: Go's flag package also takes `-debug=false`.
            inv.debug = f.inline.is_none_or(|v| !matches!(v, "false" | "0"));
        } else if GLOBAL_WITH_VALUE.contains(&f.name) {
            let v = value(args, &mut i, &f)?;
            match f.name {
                "log" => inv.log = Some(PathBuf::from(v)),
                "log-format" => inv.log_format = Some(v),
                "log-level" => inv.log_level = Some(v),
                "root" => inv.root = Some(PathBuf::from(v)),
                _ => {}
            }
        }
        i += 1;
    }
    if inv.subcommand.as_deref() == Some("exec") {
        scan_exec(&args[i..], &mut inv);
        return Ok(inv);
    }
    if !inv.creates() {
        // Other subcommands have flags of their own (`ps -f FORMAT`):
        // linkshim needs nothing from them.
        return Ok(inv);
    }
    // The subcommand's own flags and positionals: the id is the last positional.
    let mut positionals = Vec::new();
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            positionals.extend(args[i + 1..].iter().cloned());
            break;
        }
        match flag(a) {
            None => positionals.push(a.clone()),
            // argp's glued short form, `-b/path` (crun).
            Some(_) if glued_bundle(a).is_some() => {
                inv.bundle = glued_bundle(a).map(PathBuf::from);
            }
            Some(f) if matches!(f.name, "detach" | "d") => {
                // A boolean: urfave/cli also takes `--detach=false`.
                inv.detach = f.inline.is_none_or(|v| !matches!(v, "false" | "0"));
            }
            Some(f) if COMMAND_WITH_VALUE.contains(&f.name) => {
                let v = value(args, &mut i, &f)?;
                match f.name {
                    "bundle" | "b" => inv.bundle = Some(PathBuf::from(v)),
                    "config" | "f" => inv.config = Some(PathBuf::from(v)),
                    "pid-file" => inv.pid_file = Some(PathBuf::from(v)),
                    _ => {}
                }
            }
            Some(_) => {}
        }
        i += 1;
    }
    inv.id = positionals.pop();
    Ok(inv)
}

/// `exec`'s flags and id: the `--process` file and the id, the first
/// positional (the command to run follows it). Lenient: a flag without its
/// value leaves the process unknown, and the exec to the runtime alone.
fn scan_exec(args: &[String], inv: &mut Invocation) {
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            inv.id = args.get(i + 1).cloned();
            return;
        }
        match flag(a) {
            None => {
                inv.id = Some(a.clone());
                return;
            }
            Some(f) if EXEC_WITH_VALUE.contains(&f.name) => {
                let Ok(v) = value(args, &mut i, &f) else {
                    return;
                };
                if matches!(f.name, "process" | "p") {
                    inv.process = Some(PathBuf::from(v));
                }
            }
            Some(_) => {}
        }
        i += 1;
    }
}

/// The path of `-b/path` or `-b./path`: argp glues a short flag's value.
fn glued_bundle(arg: &str) -> Option<&str> {
    arg.strip_prefix("-b")
        .filter(|v| v.starts_with('/') || v.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    /// What a case expects of the scan.
    #[derive(Default)]
    struct Want {
        sub: Option<&'static str>,
        bundle: Option<&'static str>,
        config: Option<&'static str>,
        id: Option<&'static str>,
        log: Option<&'static str>,
        log_format: Option<&'static str>,
        log_level: Option<&'static str>,
        debug: bool,
        root: Option<&'static str>,
        pid_file: Option<&'static str>,
        detach: bool,
    }

    #[test]
    fn run_says_where_its_subcommand_is_and_whether_it_detaches() {
        for (args, at, detach) in [
            (&["run", "x"][..], Some(0), false),
            (&["--root", "/r", "run", "--detach", "x"], Some(2), true),
            (&["-log=/l", "run", "-d", "-b", "/b", "x"], Some(1), true),
            (&["run", "--detach=false", "x"], Some(0), false),
            (&["run", "-b", "-d", "x"], Some(0), false),
            (&["--version"], None, false),
        ] {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let inv = scan(&args).unwrap();
            assert_eq!(inv.subcommand_at, at, "{args:?}");
            assert_eq!(inv.detach, detach, "{args:?}");
        }
    }

    #[test]
    fn exec_gives_its_process_file_and_id() {
        for (args, process, id) in [
            (
                &[
                    "--root",
                    "/r",
                    "exec",
                    "--pid-file",
                    "/p",
                    "--process",
                    "/e/proc.json",
                    "--detach",
                    "ctr",
                ][..],
                Some("/e/proc.json"),
                Some("ctr"),
            ),
            (&["exec", "-p=/q.json", "c2"], Some("/q.json"), Some("c2")),
            (
                &["exec", "--env", "A=1", "-t", "c3", "sh", "-c", "x"],
                None,
                Some("c3"),
            ),
            (
                &["exec", "-p", "/q.json", "--", "c4"],
                Some("/q.json"),
                Some("c4"),
            ),
            (&["exec", "--process"], None, None),
        ] {
            let inv = scan(&s(args)).unwrap();
            assert_eq!(inv.process.as_deref(), process.map(Path::new), "{args:?}");
            assert_eq!(inv.id.as_deref(), id, "{args:?}");
        }
        assert_eq!(
            scan(&s(&["run", "-p", "x", "c5"])).unwrap().process,
            None,
            "exec's alone"
        );
    }

    #[test]
    fn scans() {
        let cases: &[(&str, &[&str], Want)] = &[
            (
                "podman's create",
                &[
                    "--root",
                    "/run/runc",
                    "--log",
                    "/x/log.json",
                    "--log-format",
                    "json",
                    "--systemd-cgroup",
                    "create",
                    "--bundle",
                    "/b",
                    "--pid-file",
                    "/p",
                    "--console-socket",
                    "/s",
                    "abc",
                ],
                Want {
                    sub: Some("create"),
                    bundle: Some("/b"),
                    id: Some("abc"),
                    log: Some("/x/log.json"),
                    log_format: Some("json"),
                    root: Some("/run/runc"),
                    pid_file: Some("/p"),
                    ..Want::default()
                },
            ),
            (
                "runc run with --bundle=",
                &["run", "-d", "--bundle=/b2", "ctr"],
                Want {
                    sub: Some("run"),
                    bundle: Some("/b2"),
                    id: Some("ctr"),
                    detach: true,
                    ..Want::default()
                },
            ),
            (
                "short -b after a boolean global flag",
                &["--debug", "run", "-b", "/b3", "--no-pivot", "x"],
                Want {
                    sub: Some("run"),
                    bundle: Some("/b3"),
                    id: Some("x"),
                    debug: true,
                    ..Want::default()
                },
            ),
            (
                "no bundle: the current directory",
                &["create", "id1"],
                Want {
                    sub: Some("create"),
                    id: Some("id1"),
                    ..Want::default()
                },
            ),
            (
                "unknown global flag with = does not eat the subcommand",
                &["--new-flag=1", "delete", "id2"],
                Want {
                    sub: Some("delete"),
                    ..Want::default()
                },
            ),
            ("--version alone", &["--version"], Want::default()),
            (
                "crun's glued -b and -f",
                &[
                    "--log-level",
                    "debug",
                    "create",
                    "-b/b4",
                    "-f",
                    "other.json",
                    "y",
                ],
                Want {
                    sub: Some("create"),
                    bundle: Some("/b4"),
                    config: Some("other.json"),
                    id: Some("y"),
                    log_level: Some("debug"),
                    ..Want::default()
                },
            ),
            (
                "runc's single-dash -bundle",
                &["run", "-bundle", "/b5", "z"],
                Want {
                    sub: Some("run"),
                    bundle: Some("/b5"),
                    id: Some("z"),
                    ..Want::default()
                },
            ),
            (
                "--log-format= glued, --log apart",
                &["--log", "/l", "--log-format=json", "create", "x"],
                Want {
                    sub: Some("create"),
                    id: Some("x"),
                    log: Some("/l"),
                    log_format: Some("json"),
                    ..Want::default()
                },
            ),
            (
                "runc's single-dash globals: -root DIR must not become the subcommand",
                &[
                    "-root",
                    "/r",
                    "-log",
                    "/l",
                    "-log-format",
                    "json",
                    "-debug",
                    "-systemd-cgroup",
                    "create",
                    "-bundle",
                    "/b6",
                    "-pid-file",
                    "/p",
                    "c6",
                ],
                Want {
                    sub: Some("create"),
                    bundle: Some("/b6"),
                    id: Some("c6"),
                    log: Some("/l"),
                    log_format: Some("json"),
                    root: Some("/r"),
                    debug: true,
                    pid_file: Some("/p"),
                    ..Want::default()
                },
            ),
            (
                "runc's single-dash globals with =",
                &[
                    "-debug=false",
                    "-log-level=warn",
                    "-root=/r",
                    "-log=/l",
                    "-log-format=text",
                    "run",
                    "-bundle=/b7",
                    "-console-socket=/s",
                    "c7",
                ],
                Want {
                    sub: Some("run"),
                    bundle: Some("/b7"),
                    id: Some("c7"),
                    log: Some("/l"),
                    log_format: Some("text"),
                    log_level: Some("warn"),
                    root: Some("/r"),
                    ..Want::default()
                },
            ),
            (
                "a flag value that looks like a subcommand is still a value",
                &[
                    "-criu",
                    "create",
                    "-rootless",
                    "true",
                    "run",
                    "-b",
                    "run",
                    "create",
                ],
                Want {
                    sub: Some("run"),
                    bundle: Some("run"),
                    id: Some("create"),
                    ..Want::default()
                },
            ),
            (
                "everything after -- is positional",
                &["create", "--", "--bundle", "c8"],
                Want {
                    sub: Some("create"),
                    id: Some("c8"),
                    ..Want::default()
                },
            ),
            (
                "another subcommand's own flags are not read (ps -f FORMAT)",
                &["ps", "-f", "json", "c9"],
                Want {
                    sub: Some("ps"),
                    ..Want::default()
                },
            ),
            (
                "a dangling flag of another subcommand is the runtime's business",
                &["-root", "/r", "exec", "c10", "-p"],
                Want {
                    sub: Some("exec"),
                    root: Some("/r"),
                    // exec's id is read (its --process merge needs it);
                    // the dangling -p after it is the command's.
                    id: Some("c10"),
                    ..Want::default()
                },
            ),
        ];
        for (desc, args, want) in cases {
            let inv = scan(&s(args)).unwrap_or_else(|e| panic!("{desc}: {e}"));
            assert_eq!(inv.subcommand.as_deref(), want.sub, "{desc}: subcommand");
            assert_eq!(
                inv.bundle.as_deref(),
                want.bundle.map(Path::new),
                "{desc}: bundle"
            );
            assert_eq!(
                inv.config.as_deref(),
                want.config.map(Path::new),
                "{desc}: config"
            );
            assert_eq!(inv.id.as_deref(), want.id, "{desc}: id");
            assert_eq!(inv.log.as_deref(), want.log.map(Path::new), "{desc}: log");
            assert_eq!(
                inv.log_format.as_deref(),
                want.log_format,
                "{desc}: log format"
            );
            assert_eq!(
                inv.root.as_deref(),
                want.root.map(Path::new),
                "{desc}: root"
            );
            assert_eq!(
                inv.log_level.as_deref(),
                want.log_level,
                "{desc}: log level"
            );
            assert_eq!(inv.debug, want.debug, "{desc}: debug");
            assert_eq!(inv.detach, want.detach, "{desc}: detach");
            assert_eq!(
                inv.pid_file.as_deref(),
                want.pid_file.map(Path::new),
                "{desc}: pid file"
            );
        }
        assert!(scan(&s(&["create", "x"])).unwrap().creates());
        assert!(scan(&s(&["run", "x"])).unwrap().creates());
        assert!(!scan(&s(&["start", "x"])).unwrap().creates());
    }

    #[test]
    fn a_flag_without_its_value_is_an_error() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("--bundle last", &["create", "c1", "--bundle"], "--bundle"),
            ("-b last", &["run", "-d", "c1", "-b"], "-b"),
            ("runc's -bundle last", &["create", "-bundle"], "-bundle"),
            ("crun's -f last", &["create", "-b", "/b", "c1", "-f"], "-f"),
            ("--log last, before any subcommand", &["--log"], "--log"),
            ("-root last", &["-debug", "-root"], "-root"),
            (
                "--log-format last",
                &["--log", "/l", "--log-format"],
                "--log-format",
            ),
        ];
        for (desc, args, flag) in cases {
            assert_eq!(
                scan(&s(args)),
                Err(Error::MissingValue {
                    flag: flag.to_string()
                }),
                "{desc}"
            );
        }
    }
}
