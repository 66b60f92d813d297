//! What the machine is and how busy it is: the header of every result,
//! because numbers from different machines or loads do not compare, and the
//! wait for a quiet machine, because other work on it skews every number.

use std::time::{Duration, Instant};

use crate::floor;

fn sh(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub(crate) fn machine(probe: &floor::Probe) -> Vec<(String, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|x| x.1.trim().to_owned())
            })
        })
        .unwrap_or_default();
    let total_mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_default();
    let rabbit = sh("rabbitmqctl", &["-q", "version"]).unwrap_or_else(|| "unknown".into());
    vec![
        (
            "date (UTC)".into(),
            sh("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_default(),
        ),
        (
            "cores (nproc)".into(),
            std::thread::available_parallelism()
                .map(|n| n.to_string())
                .unwrap_or_default(),
        ),
        ("CPU".into(), cpu),
        ("memory".into(), total_mem),
        (
            "kernel".into(),
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        ),
        ("MariaDB".into(), probe.version.clone()),
        ("RabbitMQ".into(), rabbit),
        (
            "agent commit".into(),
            sh("git", &["describe", "--always", "--dirty"]).unwrap_or_else(|| "unknown".into()),
        ),
        ("load average before".into(), loadavg()),
    ]
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits (at most 30 minutes) until the 1-minute load average is at most `max`.
pub(crate) async fn wait_for_quiet(max: f64) {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let one: f64 = loadavg()
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if one <= max || Instant::now() >= deadline {
            return;
        }
        eprintln!("load average {one:.2} > {max}: waiting");
        tokio::time::sleep(Duration::from_secs(15)).await;
    }
}
