//! Driving phases: a number of requests with a fixed number in flight, the
//! CPU and peak memory of the process behind the target, and a table row
//! run as interleaved rounds, so that a drift in the machine's load touches
//! the agent and its floor alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::procfs;
use crate::report::{Lat, Row, ms};
use crate::request::{Ctx, Op, Target, one, revive};

/// Raw results of one or more phases against one target.
#[derive(Debug, Default)]
struct Samples {
    lat: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    wall: Duration,
    /// CPU ticks of the process behind the target.
    ticks: u64,
    /// Its peak RSS, KiB.
    hwm_kib: u64,
}

impl Samples {
    fn add(&mut self, o: Samples) {
        self.lat.extend(o.lat);
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        self.wall += o.wall;
        self.ticks += o.ticks;
        self.hwm_kib = self.hwm_kib.max(o.hwm_kib);
    }

    /// CPU per request, ms.
    fn cpu_ms(&self) -> f64 {
        self.ticks as f64 * procfs::TICK_MS / (self.lat.len() + self.errors).max(1) as f64
    }

    fn summary(self) -> Lat {
        Lat::new(self.lat, self.errors, self.first_error, self.wall)
    }
}

/// Requests `first..first + n` of `op`, `c` in flight.
#[derive(Debug, Clone, Copy)]
struct Phase {
    op: Op,
    c: usize,
    n: usize,
    first: usize,
}

/// Runs a phase against `target`.
async fn drive(ctx: &Arc<Ctx>, target: Target, phase: Phase) -> Samples {
    let Phase { op, c, n, first } = phase;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(c);
    for _ in 0..c.max(1) {
        let ctx = ctx.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Samples::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                match one(&ctx, target, op, first + i).await {
                    Ok((d, _)) => out.lat.push(d),
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert(e);
                    }
                }
            }
            out
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        match t.await {
            Ok(s) => all.add(s),
            Err(e) => {
                all.errors += 1;
                all.first_error.get_or_insert(e.to_string());
            }
        }
    }
    all.wall = started.elapsed();
    all
}

/// A phase with the CPU and peak memory of the process behind `target`.
async fn measured(ctx: &Arc<Ctx>, target: Target, phase: Phase) -> Samples {
    let pid = match target {
        Target::Agent => Some(ctx.agent_pid),
        Target::Echo | Target::EchoTx => Some(ctx.echo_pid),
        Target::Sql => None,
    };
    if let Some(p) = pid {
        procfs::reset_peak(p);
    }
    let before = pid.map(procfs::snapshot).unwrap_or_default();
    let mut out = drive(ctx, target, phase).await;
    let after = pid.map(procfs::snapshot).unwrap_or_default();
    out.ticks = after.ticks.saturating_sub(before.ticks);
    out.hwm_kib = after.hwm_kib;
    out
}

/// All phases of one row, in `rounds` interleaved rounds (agent, echo,
/// echo with transactions, SQL; then again) so that a drift in the
/// machine's load touches the agent and its floor alike.
pub(crate) async fn row(
    ctx: &Arc<Ctx>,
    label: &str,
    op: Op,
    c: usize,
    n: usize,
    first: usize,
    rounds: usize,
) -> Row {
    if !op.is_cast() {
        // Wake the agent's pool (idle connections close after 60 s) and the
        // broker's queues; not recorded.
        let warm = Phase {
            op,
            c,
            n: n.min(20),
            first: 0,
        };
        drive(ctx, Target::Agent, warm).await;
        drive(ctx, Target::Echo, warm).await;
    }
    let rounds = rounds.clamp(1, n);
    let mut agent = Samples::default();
    let mut echo = Samples::default();
    let mut echo_tx = Samples::default();
    let mut sql = Samples::default();
    let mut start = first;
    for r in 0..rounds {
        let k = n / rounds + usize::from(r < n % rounds);
        let phase = Phase {
            op,
            c,
            n: k,
            first: start,
        };
        agent.add(measured(ctx, Target::Agent, phase).await);
        echo.add(measured(ctx, Target::Echo, phase).await);
        echo_tx.add(measured(ctx, Target::EchoTx, phase).await);
        revive(ctx).await;
        let mut s = drive(ctx, Target::Sql, phase).await;
        if s.errors > 0 && !op.is_cast() {
            // mysqld restarted under the bench (something else on the
            // machine does that): measure the round again.
            eprintln!(
                "  {label}: SQL round repeated after {} errors ({})",
                s.errors,
                s.first_error.as_deref().unwrap_or("")
            );
            revive(ctx).await;
            s = drive(ctx, Target::Sql, phase).await;
        }
        sql.add(s);
        start += k;
    }
    let r = Row {
        method: label.to_owned(),
        concurrency: c,
        agent_cpu_ms: agent.cpu_ms(),
        echo_cpu_ms: echo.cpu_ms(),
        echo_tx_cpu_ms: echo_tx.cpu_ms(),
        agent_peak_kib: agent.hwm_kib,
        agent: agent.summary(),
        echo: echo.summary(),
        echo_tx: echo_tx.summary(),
        sql: sql.summary(),
    };
    eprintln!(
        "  {label:<20} c={c:<3} agent p50 {} ms, floor {} ms (echo {} + sql {}), {:.0} req/s, cpu {:.3} ms/req",
        ms(r.agent.p50),
        ms(r.floor()),
        ms(r.echo.p50),
        ms(r.sql.p50),
        r.agent.rps(),
        r.agent_cpu_ms
    );
    r
}
