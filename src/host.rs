//! Facts about the host and the agent's own process, read from `/proc` and
//! `statvfs`, for `get_hwinfo`, `get_diagnostics` and `get_filesystem_stats`.

use std::path::Path;

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

/// The filesystem holding `path`, in the shape and units of Trove's
/// `dbaas.get_filesystem_volume_stats`: block counts from `statvfs`,
/// `total` and `used` in GiB (two decimals, at least 0.01 unless zero),
/// `free` in bytes.
// The statvfs fields are u64 here and narrower on other targets.
#[allow(clippy::useless_conversion)]
pub fn filesystem_stats(path: &Path) -> Result<Value, String> {
    let st = nix::sys::statvfs::statvfs(path)
        .map_err(|e| format!("Filesystem not found ({}): {e}", path.display()))?;
    let bsize = u64::try_from(st.block_size()).unwrap_or(0);
    let blocks = u64::try_from(st.blocks()).unwrap_or(0);
    let bfree = u64::try_from(st.blocks_free()).unwrap_or(0);
    let bavail = u64::try_from(st.blocks_available()).unwrap_or(0);
    let total = blocks.saturating_mul(bsize);
    let free = bfree.saturating_mul(bsize);
    Ok(json!({
        "block_size": bsize,
        "total_blocks": blocks,
        "free_blocks": bfree,
        "avail_blocks": bavail,
        "total": to_gb(total),
        "free": free,
        "used": to_gb(total.saturating_sub(free)),
    }))
}

/// Trove's `utils.to_gb`: GiB rounded to two decimals, never 0.0 for a
/// non-zero size.
fn to_gb(bytes: u64) -> f64 {
    if bytes == 0 {
        return 0.0;
    }
    let gib = bytes as f64 / 1024f64.powi(3);
    ((gib * 100.0).round() / 100.0).max(0.01)
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
    fn filesystem_stats_in_trove_units() {
        let v = filesystem_stats(Path::new("/")).unwrap();
        let (bs, tb, fb) = (
            v["block_size"].as_u64().unwrap(),
            v["total_blocks"].as_u64().unwrap(),
            v["free_blocks"].as_u64().unwrap(),
        );
        assert!(bs > 0 && tb >= fb);
        assert_eq!(v["free"].as_u64().unwrap(), fb * bs);
        let used = v["used"].as_f64().unwrap();
        let want = ((tb - fb) * bs) as f64 / 1024f64.powi(3);
        assert!((used - want).abs() <= 0.01, "{used} vs {want}");
        assert!(filesystem_stats(Path::new("/nonexistent/x")).is_err());
        assert_eq!(to_gb(0), 0.0);
        assert_eq!(to_gb(1), 0.01);
        assert_eq!(to_gb(3 * 1024 * 1024 * 1024 / 2), 1.5);
    }

    #[test]
    fn field_parsing() {
        assert_eq!(field_kb("VmRSS:\t  1234 kB\nX: 1", "VmRSS:"), 1234);
        assert_eq!(field_kb("", "VmRSS:"), 0);
    }
}
