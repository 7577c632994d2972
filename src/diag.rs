//! Diagnostics for the operator.
//!
//! A hook's stderr is often thrown away (podman shows only `exit status 1`),
//! so every failure is also appended to `<state dir>/linkshim.log` and sent
//! to journald when it runs. Nothing here ever writes to stdout.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The operator's log file in a state directory.
pub fn log_file(state_dir: &Path) -> PathBuf {
    state_dir.join("linkshim.log")
}

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Report a failure of `what` (`hook precreate`, `runtime create`, ...):
/// stderr, the log file, and journald when present. Best effort: a log
/// that cannot be written does not hide the error on stderr.
pub fn failure(state_dir: &Path, what: &str, message: &str) {
    eprintln!("linkshim: {message}");
    let line = format!(
        "{} linkshim[{}] {what}: {message}\n",
        humantime::format_rfc3339_seconds(SystemTime::now()),
        std::process::id()
    );
    if crate::state_dir::ensure(state_dir).is_ok() {
        let _ = append(&log_file(state_dir), line.as_bytes());
    }
    if Path::new(JOURNAL_SOCKET).exists() {
        journal(what, message);
    }
}

/// Append to a file that is never a symlink, created 0600.
pub fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    f.write_all(bytes)
}

fn journal(what: &str, message: &str) {
    use log::Log;
    if let Ok(journal) = systemd_journal_logger::JournalLog::new() {
        let journal = journal.with_syslog_identifier("linkshim".to_string());
        journal.log(
            &log::Record::builder()
                .level(log::Level::Error)
                .target("linkshim")
                .args(format_args!("{what}: {message}"))
                .build(),
        );
    }
}
