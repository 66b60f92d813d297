//! What /proc says about a process: CPU time, resident memory, threads.

/// Linux reports utime/stime in USER_HZ ticks, 100 per second on every
/// architecture the agent ships for.
pub const TICK_MS: f64 = 10.0;

/// utime + stime of every thread, living or exited, in ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `/proc/<pid>/status` value in KiB (`VmRSS`, `VmHWM`) or a count (`Threads`).
pub fn status(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS, so the next
/// read of `VmHWM` is the peak of what follows (Linux ≥ 4.0, needs ptrace
/// rights over the process: same user or root).
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// A snapshot of one process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// CPU ticks so far.
    pub ticks: u64,
    /// Resident set, KiB.
    pub rss_kib: u64,
    /// Peak resident set since start or the last reset, KiB.
    pub hwm_kib: u64,
    /// Threads now.
    pub threads: u64,
    /// Anonymous part of the RSS (heap, stacks), KiB.
    pub anon_kib: u64,
    /// File-backed part of the RSS (the binary, libc), KiB.
    pub file_kib: u64,
}

/// Reads a snapshot; zeros where /proc has nothing (the process is gone).
pub fn snapshot(pid: u32) -> Snapshot {
    Snapshot {
        ticks: cpu_ticks(pid).unwrap_or(0),
        rss_kib: status(pid, "VmRSS").unwrap_or(0),
        hwm_kib: status(pid, "VmHWM").unwrap_or(0),
        threads: status(pid, "Threads").unwrap_or(0),
        anon_kib: status(pid, "RssAnon").unwrap_or(0),
        file_kib: status(pid, "RssFile").unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_itself() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_some());
        assert!(status(me, "VmRSS").unwrap() > 0);
        assert!(status(me, "Threads").unwrap() >= 1);
    }
}
