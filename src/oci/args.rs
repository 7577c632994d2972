//! A loose scan of an OCI runtime's command line (runc, crun and the like).
//!
//! The wrapper never rejects a flag it does not know: it only looks for the
//! subcommand, the bundle, the container id and the log options, and passes
//! the arguments on untouched.

use std::path::PathBuf;

/// Global flags of runc and crun that take a value as the next argument.
const GLOBAL_WITH_VALUE: &[&str] = &[
    "--log-level",
    "--root",
    "--log",
    "--log-format",
    "--criu",
    "--rootless",
    "--cgroup-manager",
];

/// Flags of `create` and `run` that take a value as the next argument.
const COMMAND_WITH_VALUE: &[&str] = &[
    "--bundle",
    "-b",
    "--console-socket",
    "--pid-file",
    "--preserve-fds",
    "--pidfd-socket",
    "--config",
    "-f",
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
}

impl Invocation {
    /// True when the runtime is about to create a container from a bundle.
    pub fn creates(&self) -> bool {
        matches!(self.subcommand.as_deref(), Some("create" | "run"))
    }
}

/// `--flag=value` or `--flag value`: the value of `flag` at `args[*i]`, if it is that flag.
fn value_of(args: &[String], i: &mut usize, flag: &str) -> Option<Option<String>> {
    let a = &args[*i];
    if a == flag {
        *i += 1;
        return Some(args.get(*i).cloned());
    }
    a.strip_prefix(flag)
        .and_then(|rest| rest.strip_prefix('='))
        .map(|v| Some(v.to_string()))
}

/// Scan `args` (without argv\[0\]).
pub fn scan(args: &[String]) -> Invocation {
    let mut inv = Invocation::default();
    let mut i = 0;
    // Global flags up to the subcommand.
    while i < args.len() {
        let a = &args[i];
        if !a.starts_with('-') {
            inv.subcommand = Some(a.clone());
            i += 1;
            break;
        }
        if let Some(v) = value_of(args, &mut i, "--log") {
            inv.log = v.map(PathBuf::from);
        } else if let Some(v) = value_of(args, &mut i, "--log-format") {
            inv.log_format = v;
        } else if let Some(v) = value_of(args, &mut i, "--log-level") {
            inv.log_level = v;
        } else if a == "--debug" {
            inv.debug = true;
        } else if let Some(v) = value_of(args, &mut i, "--root") {
            inv.root = v.map(PathBuf::from);
        } else if GLOBAL_WITH_VALUE.contains(&a.as_str()) {
            i += 1;
        }
        i += 1;
    }
    // The subcommand's own flags and positionals: the id is the last positional.
    let mut positionals = Vec::new();
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            positionals.extend(args[i + 1..].iter().cloned());
            break;
        }
        if let Some(v) = value_of(args, &mut i, "--bundle")
            .or_else(|| value_of(args, &mut i, "-bundle"))
            .or_else(|| value_of(args, &mut i, "-b"))
        {
            inv.bundle = v.map(PathBuf::from);
        } else if let Some(glued) = a
            .strip_prefix("-b")
            .filter(|v| v.starts_with('/') || v.starts_with('.'))
        {
            inv.bundle = Some(PathBuf::from(glued));
        } else if let Some(v) =
            value_of(args, &mut i, "--config").or_else(|| value_of(args, &mut i, "-f"))
        {
            inv.config = v.map(PathBuf::from);
        } else if COMMAND_WITH_VALUE.contains(&a.as_str()) {
            i += 1;
        } else if !a.starts_with('-') {
            positionals.push(a.clone());
        }
        i += 1;
    }
    inv.id = positionals.pop();
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn scans() {
        struct Case {
            desc: &'static str,
            args: &'static [&'static str],
            sub: Option<&'static str>,
            bundle: Option<&'static str>,
            id: Option<&'static str>,
        }
        let cases = [
            Case {
                desc: "podman's create",
                args: &[
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
                sub: Some("create"),
                bundle: Some("/b"),
                id: Some("abc"),
            },
            Case {
                desc: "runc run with -b and =",
                args: &["run", "-d", "--bundle=/b2", "ctr"],
                sub: Some("run"),
                bundle: Some("/b2"),
                id: Some("ctr"),
            },
            Case {
                desc: "short -b",
                args: &["--debug", "run", "-b", "/b3", "--no-pivot", "x"],
                sub: Some("run"),
                bundle: Some("/b3"),
                id: Some("x"),
            },
            Case {
                desc: "no bundle: the current directory",
                args: &["create", "id1"],
                sub: Some("create"),
                bundle: None,
                id: Some("id1"),
            },
            Case {
                desc: "unknown global flag with = does not eat the subcommand",
                args: &["--new-flag=1", "delete", "id2"],
                sub: Some("delete"),
                bundle: None,
                id: Some("id2"),
            },
            Case {
                desc: "--version",
                args: &["--version"],
                sub: None,
                bundle: None,
                id: None,
            },
        ];
        for c in cases {
            let inv = scan(&s(c.args));
            assert_eq!(inv.subcommand.as_deref(), c.sub, "{}", c.desc);
            assert_eq!(
                inv.bundle.as_deref(),
                c.bundle.map(std::path::Path::new),
                "{}",
                c.desc
            );
            assert_eq!(inv.id.as_deref(), c.id, "{}", c.desc);
        }
        let inv = scan(&s(&[
            "--log-level",
            "debug",
            "create",
            "-b/b4",
            "-f",
            "other.json",
            "y",
        ]));
        assert_eq!(inv.subcommand.as_deref(), Some("create"));
        assert_eq!(inv.log_level.as_deref(), Some("debug"));
        assert_eq!(inv.bundle.as_deref(), Some(std::path::Path::new("/b4")));
        assert_eq!(
            inv.config.as_deref(),
            Some(std::path::Path::new("other.json"))
        );
        assert_eq!(inv.id.as_deref(), Some("y"));
        let inv = scan(&s(&["run", "-bundle", "/b5", "z"]));
        assert_eq!(inv.bundle.as_deref(), Some(std::path::Path::new("/b5")));
        let inv = scan(&s(&["--log", "/l", "--log-format=json", "create", "x"]));
        assert_eq!(inv.log.as_deref(), Some(std::path::Path::new("/l")));
        assert_eq!(inv.log_format.as_deref(), Some("json"));
        assert!(inv.creates());
        assert!(!inv.debug);
        assert!(scan(&s(&["--debug", "run", "x"])).debug);
        assert!(!scan(&s(&["start", "x"])).creates());
    }
}
