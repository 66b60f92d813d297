//! The soak: one method against the agent alone for a long time, its RSS
//! sampled every second, to tell memory that settles from memory that grows
//! with every request served.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::procfs;
use crate::report::{Lat, mib, ms};
use crate::request::{Ctx, Op, Target, one};

/// The soak: RSS samples (requests done, seconds, KiB) and the latencies.
#[derive(Debug, Default)]
pub(crate) struct Soak {
    method: &'static str,
    pub(crate) samples: Vec<(usize, f64, u64)>,
    pub(crate) lat: Lat,
    cpu_ms: f64,
    pub(crate) hwm_kib: u64,
}

pub(crate) async fn soak(ctx: &Arc<Ctx>, op: Op, total: usize, c: usize, max: Duration) -> Soak {
    let done = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + max;
    let pid = ctx.agent_pid;
    procfs::reset_peak(pid);
    let before = procfs::snapshot(pid);
    let started = Instant::now();
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let d = done.load(Ordering::Relaxed);
                let rss = procfs::status(pid, "VmRSS").unwrap_or(0);
                samples.push((d, started.elapsed().as_secs_f64(), rss));
                if d >= total || Instant::now() >= deadline {
                    return samples;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..c.max(1) {
        let (ctx, done, next) = (ctx.clone(), done.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut first_error) = (Vec::new(), 0usize, None);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                match one(&ctx, Target::Agent, op, i).await {
                    Ok((d, _)) => lat.push(d),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (lat, errors, first_error)
        }));
    }
    let (mut all, mut errors, mut first_error) = (Vec::new(), 0, None);
    for t in tasks {
        if let Ok((l, e, f)) = t.await {
            all.extend(l);
            errors += e;
            if first_error.is_none() {
                first_error = f;
            }
        }
    }
    let wall = started.elapsed();
    // The sampler stops on its own once everything is done.
    let mut samples = sampler.await.unwrap_or_default();
    samples.push((
        done.load(Ordering::Relaxed),
        wall.as_secs_f64(),
        procfs::status(pid, "VmRSS").unwrap_or(0),
    ));
    let after = procfs::snapshot(pid);
    let answered = done.load(Ordering::Relaxed).max(1) as f64;
    Soak {
        method: op.template(),
        samples,
        lat: Lat::new(all, errors, first_error, wall),
        cpu_ms: after.ticks.saturating_sub(before.ticks) as f64 * procfs::TICK_MS / answered,
        hwm_kib: after.hwm_kib,
    }
}

/// At most `k` samples, evenly spaced, first and last included.
pub(crate) fn thin(s: &[(usize, f64, u64)], k: usize) -> Vec<(usize, f64, u64)> {
    if s.len() <= k {
        return s.to_vec();
    }
    (0..k).map(|j| s[j * (s.len() - 1) / (k - 1)]).collect()
}

pub(crate) fn print_soak(s: &Soak) {
    println!();
    println!(
        "soak: {} {} in {:.0} s ({:.0}/s), {} errors, p50 {} ms, p99 {} ms, max {} ms, cpu {:.3} ms/req, peak {} MiB",
        s.lat.n,
        s.method,
        s.lat.wall.as_secs_f64(),
        s.lat.rps(),
        s.lat.errors,
        ms(s.lat.p50),
        ms(s.lat.p99),
        ms(s.lat.max),
        s.cpu_ms,
        mib(s.hwm_kib)
    );
    for (d, t, k) in thin(&s.samples, 12) {
        println!("  {d:>8} requests  {t:>6.0} s  RSS {} MiB", mib(k));
    }
    if let Some(e) = &s.lat.first_error {
        println!("  first error: {e}");
    }
}
