//! Facts about the host and the agent's own process, read from `/proc`, for
//! `get_hwinfo` and `get_diagnostics`.

use serde_json::{Value, json};

/// `{"mem_total": kB, "num_cpus": n}`, as Trove's `HwInfoView` reads it.
pub fn hwinfo() -> Value {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    json!({"mem_total": field_kb(&meminfo, "MemTotal:"), "num_cpus": cpus})
}

/// The agent's version and process figures (sizes in kB), as Trove's
/// `DiagnosticsView` reads them.
pub fn diagnostics() -> Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "fd_size": field_kb(&status, "FDSize:"),
        "vm_size": field_kb(&status, "VmSize:"),
        "vm_peak": field_kb(&status, "VmPeak:"),
        "vm_rss": field_kb(&status, "VmRSS:"),
        "vm_hwm": field_kb(&status, "VmHWM:"),
        "threads": field_kb(&status, "Threads:"),
    })
}

/// The first number on the line starting with `key`, 0 when absent.
fn field_kb(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_real_proc() {
        let h = hwinfo();
        assert!(h["mem_total"].as_u64().unwrap() > 0);
        assert!(h["num_cpus"].as_u64().unwrap() >= 1);
        let d = diagnostics();
        assert!(d["vm_rss"].as_u64().unwrap() > 0);
        assert!(d["threads"].as_u64().unwrap() >= 1);
    }

    #[test]
    fn field_parsing() {
        assert_eq!(field_kb("VmRSS:\t  1234 kB\nX: 1", "VmRSS:"), 1234);
        assert_eq!(field_kb("", "VmRSS:"), 0);
    }
}
