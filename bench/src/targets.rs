//! Issue 9's targets, checked against the run that just finished, so that
//! each run says whether the agent meets them, not only what it measured.

use crate::procfs;
use crate::report::{Row, mib, ms};
use crate::soak::Soak;

/// Issue 9's targets, checked against this run.
pub(crate) fn targets(rows: &[Row], idle: &procfs::Snapshot, peak: u64, soak: Option<&Soak>) {
    println!();
    println!("targets (issue 9):");
    let check = |ok: bool| if ok { "ok  " } else { "MISS" };
    let find = |m: &str, c: usize| rows.iter().find(|r| r.method == m && r.concurrency == c);
    if let Some(r) = find("get_user", 1) {
        println!(
            "  {} get_user p50 {} ms = {:.2}x floor {} ms (target <= 1.3x)",
            check(r.ratio() <= 1.3),
            ms(r.agent.p50),
            r.ratio(),
            ms(r.floor())
        );
    }
    let gets: Vec<&Row> = rows.iter().filter(|r| r.method == "get_user").collect();
    if let Some(worst) = gets.iter().map(|r| r.agent_cpu_ms).reduce(f64::max) {
        println!(
            "  {} CPU per get_user {:.3} ms (worst in-flight level; target <= 0.3 ms)",
            check(worst <= 0.3),
            worst
        );
    }
    let lists: Vec<&Row> = rows
        .iter()
        .filter(|r| r.method == "list_users (1000)")
        .collect();
    if let Some(worst) = lists.iter().map(|r| r.agent_cpu_ms).reduce(f64::max) {
        println!(
            "  {} CPU per list_users(1000) {:.3} ms (target <= 5 ms)",
            check(worst <= 5.0),
            worst
        );
    }
    println!(
        "  {} RSS idle {} MiB (target <= 8 MiB)",
        check(idle.rss_kib <= 8 * 1024),
        mib(idle.rss_kib)
    );
    println!(
        "  {} RSS peak under load {} MiB (target <= 12 MiB)",
        check(peak <= 12 * 1024),
        mib(peak)
    );
    if let Some(s) = soak {
        let tenth = s
            .samples
            .iter()
            .find(|x| x.0 >= s.lat.n / 10)
            .map_or(0, |x| x.2);
        let last = s.samples.last().map_or(0, |x| x.2);
        println!(
            "  {} RSS growth over the soak: {} MiB at 10% -> {} MiB at the end ({} requests, {} errors)",
            check(last <= tenth + 256 && s.lat.errors == 0),
            mib(tenth),
            mib(last),
            s.lat.n + s.lat.errors,
            s.lat.errors
        );
    }
    if let Some(r) = find("get_user", 32) {
        println!(
            "  {} get_user with 32 in flight: {:.0}/s, {} errors (target >= 1000/s, none)",
            check(r.agent.rps() >= 1000.0 && r.agent.errors == 0),
            r.agent.rps(),
            r.agent.errors
        );
    }
}
