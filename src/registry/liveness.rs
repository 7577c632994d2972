//! Is a registered container still the process it was? pid, its start time
//! and the boot id together say so.

use std::fs;

/// The kernel's boot id: records from another boot are stale.
pub fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The start time of `pid` in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), or None when there is no such process.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// What the current machine says about liveness, read once per process.
#[derive(Debug, Clone)]
pub struct Liveness {
    pub boot_id: String,
}

impl Liveness {
    pub fn current() -> Liveness {
        Liveness { boot_id: boot_id() }
    }

    /// A record is live when it is from this boot and its pid, if it has
    /// one, is the same process that registered.
    pub fn is_live(&self, boot: &str, pid: Option<i32>, start: Option<u64>) -> bool {
        if boot != self.boot_id {
            return false;
        }
        match pid {
            None => true,
            Some(pid) => pid_start_time(pid).is_some_and(|now| start.is_none_or(|s| s == now)),
        }
    }
}
