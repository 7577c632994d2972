//! Is a registered container still the process it was? pid, its start time
//! and the boot id together say so.

use crate::proc_file;

/// The kernel's boot id: records from another boot are stale.
pub fn boot_id() -> String {
    proc_file::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The start time of `pid` in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), or None when there is no such process or it has
/// exited (a zombie waiting to be reaped is no running container).
pub fn pid_start_time(pid: i32) -> Option<u64> {
    let stat = proc_file::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_is_not_alive() {
        let me = std::process::id() as i32;
        assert!(pid_start_time(me).is_some());
        let child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Not waited for: once it exits it is a zombie until reaped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pid_start_time(pid).is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(
            pid_start_time(pid),
            None,
            "an exited, unreaped child counts as gone"
        );
        assert!(
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok(),
            "it is a zombie"
        );
        drop(child);
    }
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
