//! One logging path per process: the `log` facade, set up once in `main`,
//! with the sinks that process has.
//!
//! A hook's stdout and stderr are shown by engines only on failure (podman
//! throws a precreate hook's stderr away), so what linkshim decides must
//! also land where an operator can read it later:
//!
//! | sink                          | hooks | wrapper | other commands |
//! |-------------------------------|-------|---------|----------------|
//! | `<state dir>/linkshim.log`    | yes   | yes     | no             |
//! | journald (when it runs)       | yes   | yes     | no             |
//! | the runtime's `--log` file    |       | yes     |                |
//! | stderr                        | warnings and errors (more with a lower level) |||
//!
//! The level comes from `LINKSHIM_LOG` (`off`, `error`, `warn`, `info`,
//! `debug`, `trace`), else from the runtime's `--log-level` or `--debug`
//! (wrapper mode), else `info`. Errors are recorded whatever the level.
//! Nothing here ever writes to stdout: precreate prints only JSON there.
//!
//! Every message is cleaned before any sink sees it: a quoted string
//! longer than [`QUOTE_CAP`] is cut with a marker, the whole message is
//! capped at [`MESSAGE_CAP`], and the password of any URL is masked. Env
//! values are never logged by linkshim (only their keys).
//!
//! Files are opened with `O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC` and used only
//! when they are regular files: a FIFO or a device named as a log never
//! blocks a start. `linkshim.log` is created 0600 and tightened to 0600.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use log::{LevelFilter, Log, Metadata, Record};

mod line;
mod redact;

pub use line::{Format, engine_line, file_line};
pub use redact::{MESSAGE_CAP, QUOTE_CAP, clean, mask_passwords};

use line::stderr_line;

/// The environment variable that sets the level.
pub const LEVEL_ENV: &str = "LINKSHIM_LOG";
/// The level when neither `LINKSHIM_LOG` nor the runtime names one.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::Info;

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// The operator's log file in a state directory.
pub fn log_file(state_dir: &Path) -> PathBuf {
    state_dir.join("linkshim.log")
}

/// What one process logs, and where.
#[derive(Debug, Clone)]
pub struct Setup {
    /// What this process is (`hook precreate`, `runtime create`, `ls`).
    pub what: String,
    /// The level of the files and journald (errors always pass).
    pub level: LevelFilter,
    /// The state directory whose `linkshim.log` gets the records.
    pub state_dir: Option<PathBuf>,
    /// The runtime's `--log` file and its format (wrapper mode).
    pub engine_log: Option<(PathBuf, Format)>,
    /// Send the records to journald when it runs.
    pub journal: bool,
    /// The level of stderr (errors always pass).
    pub stderr: LevelFilter,
}

impl Setup {
    /// A hook or the wrapper: every sink, stderr for warnings and errors
    /// (and more when the level asks for more).
    pub fn for_stage(what: impl Into<String>, level: LevelFilter, state_dir: &Path) -> Setup {
        Setup {
            what: what.into(),
            level,
            state_dir: Some(state_dir.to_path_buf()),
            engine_log: None,
            journal: true,
            stderr: level.max(LevelFilter::Warn),
        }
    }

    /// An interactive command: stderr only.
    pub fn for_command(what: impl Into<String>, level: LevelFilter) -> Setup {
        Setup {
            what: what.into(),
            level,
            state_dir: None,
            engine_log: None,
            journal: false,
            stderr: level.max(LevelFilter::Warn),
        }
    }
}

/// The level: `LINKSHIM_LOG` when it names one, else the runtime's
/// `--log-level` (runc's names: debug, info, warn(ing), error, fatal,
/// panic), else `--debug`, else [`DEFAULT_LEVEL`].
pub fn level(env: Option<&str>, runtime_level: Option<&str>, runtime_debug: bool) -> LevelFilter {
    let parse = |s: &str| -> Option<LevelFilter> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(LevelFilter::Off),
            "error" | "fatal" | "panic" => Some(LevelFilter::Error),
            "warn" | "warning" => Some(LevelFilter::Warn),
            "info" => Some(LevelFilter::Info),
            "debug" => Some(LevelFilter::Debug),
            "trace" => Some(LevelFilter::Trace),
            _ => None,
        }
    };
    env.and_then(parse)
        .or_else(|| runtime_level.and_then(parse))
        .or_else(|| runtime_debug.then_some(LevelFilter::Debug))
        .unwrap_or(DEFAULT_LEVEL)
}

/// The level this process was asked for, when not the default.
static ASKED: OnceLock<LevelFilter> = OnceLock::new();

/// The level the hooks linkshim adds should log at (their `env` is
/// explicit, so `LINKSHIM_LOG` reaches them only this way): the level this
/// process was asked for, when it is not the default.
pub fn for_hooks() -> Option<&'static str> {
    ASKED
        .get()
        .filter(|l| **l != DEFAULT_LEVEL)
        .map(|l| match l {
            LevelFilter::Off => "off",
            LevelFilter::Error => "error",
            LevelFilter::Warn => "warn",
            LevelFilter::Info => "info",
            LevelFilter::Debug => "debug",
            LevelFilter::Trace => "trace",
        })
}

/// Set up the `log` facade for this process. The first call wins; a
/// later one is ignored (tests call this more than once).
pub fn init(setup: Setup) {
    let asked = setup.level;
    let level = setup.level.max(LevelFilter::Error);
    let stderr = setup.stderr.max(LevelFilter::Error);
    let max = level.max(stderr);
    // The label may come from a runtime's argv: one short line, like a message.
    let what: String = clean(&setup.what).chars().take(64).collect();
    let logger = Logger {
        setup: Setup {
            what,
            level,
            stderr,
            ..setup
        },
        file: OnceLock::new(),
        engine: OnceLock::new(),
        journal: OnceLock::new(),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max);
        let _ = ASKED.set(asked);
    }
}

struct Logger {
    setup: Setup,
    file: OnceLock<Option<File>>,
    engine: OnceLock<Option<File>>,
    journal: OnceLock<Option<systemd_journal_logger::JournalLog>>,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.setup.level || metadata.level() <= self.setup.stderr
    }

    fn log(&self, record: &Record<'_>) {
        let level = record.level();
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = clean(&record.args().to_string());
        let now = SystemTime::now();
        if level <= self.setup.stderr {
            // Best effort: a closed stderr must not hide the other sinks.
            let _ = std::io::stderr().write_all(stderr_line(level, &msg).as_bytes());
        }
        if level > self.setup.level {
            return;
        }
        if let Some(dir) = &self.setup.state_dir {
            let file = self.file.get_or_init(|| {
                crate::state_dir::ensure(dir).ok()?;
                open_append(&log_file(dir), true).ok()
            });
            if let Some(f) = file {
                let _ = write_line(f, &file_line(now, &self.setup.what, level, &msg));
            }
        }
        if let Some((path, format)) = &self.setup.engine_log {
            let file = self.engine.get_or_init(|| open_append(path, false).ok());
            if let Some(f) = file {
                let line = engine_line(*format, now, level, &format!("linkshim: {msg}"));
                let _ = write_line(f, &line);
            }
        }
        if self.setup.journal {
            let journal = self.journal.get_or_init(|| {
                Path::new(JOURNAL_SOCKET).exists().then_some(())?;
                let j = systemd_journal_logger::JournalLog::new().ok()?;
                Some(
                    j.with_syslog_identifier("linkshim".to_string())
                        .add_extra_field("LINKSHIM_STAGE", &self.setup.what),
                )
            });
            if let Some(j) = journal {
                let _ = j.journal_send(
                    &Record::builder()
                        .level(level)
                        .target(record.target())
                        .args(format_args!("{}: {msg}", self.setup.what))
                        .build(),
                );
            }
        }
    }

    fn flush(&self) {}
}

/// Open `path` to append, never through a symlink and never blocking;
/// refuse anything but a regular file. Created 0600; with `tighten`, a
/// looser mode of a file of ours is brought back to 0600.
pub fn open_append(path: &Path, tighten: bool) -> std::io::Result<File> {
    let f = File::options()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    if tighten && meta.permissions().mode() & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(f)
}

/// One bounded write of a whole line: a file that will not take it now
/// (`EAGAIN`) loses the line rather than stalling the process.
fn write_line(mut f: &File, line: &str) -> std::io::Result<()> {
    let bytes = line.as_bytes();
    let n = f.write(bytes)?;
    if n < bytes.len() {
        // A short append on a regular file: finish it, or give up.
        f.write_all(&bytes[n..])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_come_from_the_environment_then_the_runtime() {
        let cases = [
            (
                "env wins",
                Some("debug"),
                Some("error"),
                false,
                LevelFilter::Debug,
            ),
            (
                "env is case-blind",
                Some("WARN"),
                None,
                false,
                LevelFilter::Warn,
            ),
            (
                "a bad env value falls through",
                Some("loud"),
                Some("warning"),
                false,
                LevelFilter::Warn,
            ),
            (
                "runc's fatal is an error",
                None,
                Some("fatal"),
                false,
                LevelFilter::Error,
            ),
            ("runc's --debug", None, None, true, LevelFilter::Debug),
            ("default", None, None, false, DEFAULT_LEVEL),
            ("off", Some("off"), None, false, LevelFilter::Off),
        ];
        for (desc, env, runtime, debug, want) in cases {
            assert_eq!(level(env, runtime, debug), want, "{desc}");
        }
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // No reader: ENXIO at once. (With a reader it opens, and is refused.)
        assert!(open_append(&fifo, false).is_err());
        let _reader = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let err = open_append(&fifo, false).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let target = dir.path().join("target");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(
            open_append(&link, false).is_err(),
            "a symlink is not followed"
        );
    }

    #[test]
    fn the_log_file_is_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_file(dir.path());
        open_append(&path, true).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        open_append(&path, true).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
