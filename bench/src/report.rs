//! Latency summaries and the tables: plain text, or Markdown rows for
//! docs/benchmarks.md.

use std::time::Duration;

/// The latencies of one phase.
#[derive(Debug, Clone, Default)]
pub struct Lat {
    /// Requests answered.
    pub n: usize,
    /// Requests that failed or were not answered.
    pub errors: usize,
    /// The first error, to show.
    pub first_error: Option<String>,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
    /// Wall time of the phase.
    pub wall: Duration,
}

impl Lat {
    /// Summarises `samples` (answered requests) over `wall`.
    pub fn new(
        mut samples: Vec<Duration>,
        errors: usize,
        first_error: Option<String>,
        wall: Duration,
    ) -> Self {
        samples.sort_unstable();
        let pick = |q: f64| -> Duration {
            if samples.is_empty() {
                return Duration::ZERO;
            }
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i]
        };
        Lat {
            n: samples.len(),
            errors,
            first_error,
            p50: pick(0.50),
            p99: pick(0.99),
            max: samples.last().copied().unwrap_or_default(),
            wall,
        }
    }

    /// Answered requests per second.
    pub fn rps(&self) -> f64 {
        let s = self.wall.as_secs_f64();
        if s > 0.0 { self.n as f64 / s } else { 0.0 }
    }
}

/// Milliseconds with three decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// One method at one concurrency: the agent and its floors.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// Method label (e.g. `list_users (1000)`).
    pub method: String,
    /// Requests in flight.
    pub concurrency: usize,
    /// Through the agent.
    pub agent: Lat,
    /// AMQP echo, no transaction (the floor).
    pub echo: Lat,
    /// AMQP echo answering in a broker transaction, as the agent does.
    pub echo_tx: Lat,
    /// The SQL alone.
    pub sql: Lat,
    /// Agent CPU (utime+stime) per request, ms.
    pub agent_cpu_ms: f64,
    /// Echo server CPU per request (plain echo phase), ms.
    pub echo_cpu_ms: f64,
    /// Echo server CPU per request when answering in transactions, ms.
    pub echo_tx_cpu_ms: f64,
    /// Agent peak RSS during its phase (VmHWM after a reset), KiB.
    pub agent_peak_kib: u64,
}

impl Row {
    /// The floor: AMQP echo p50 + SQL p50.
    pub fn floor(&self) -> Duration {
        self.echo.p50 + self.sql.p50
    }

    /// Agent p50 over the floor.
    pub fn ratio(&self) -> f64 {
        let f = self.floor().as_secs_f64();
        if f > 0.0 {
            self.agent.p50.as_secs_f64() / f
        } else {
            0.0
        }
    }
}

/// Prints the rows as a text table.
pub fn print_text(rows: &[Row]) {
    println!(
        "{:<20} {:>3} {:>6} {:>4} {:>8} {:>8} {:>8} {:>8} | {:>8} {:>6} | {:>8} {:>8} {:>8} {:>8} {:>8} | {:>7} {:>7} {:>7} {:>6}",
        "method",
        "c",
        "n",
        "err",
        "p50ms",
        "p99ms",
        "maxms",
        "req/s",
        "floor50",
        "xfloor",
        "echo50",
        "echo/s",
        "echotx50",
        "sql50",
        "sql/s",
        "cpu/req",
        "echocpu",
        "txcpu",
        "peakMB",
    );
    for r in rows {
        println!(
            "{:<20} {:>3} {:>6} {:>4} {:>8} {:>8} {:>8} {:>8.0} | {:>8} {:>6.2} | {:>8} {:>8.0} {:>8} {:>8} {:>8.0} | {:>7.3} {:>7.3} {:>7.3} {:>6}",
            r.method,
            r.concurrency,
            r.agent.n,
            r.agent.errors,
            ms(r.agent.p50),
            ms(r.agent.p99),
            ms(r.agent.max),
            r.agent.rps(),
            ms(r.floor()),
            r.ratio(),
            ms(r.echo.p50),
            r.echo.rps(),
            ms(r.echo_tx.p50),
            ms(r.sql.p50),
            r.sql.rps(),
            r.agent_cpu_ms,
            r.echo_cpu_ms,
            r.echo_tx_cpu_ms,
            mib(r.agent_peak_kib),
        );
        for (what, l) in [
            ("agent", &r.agent),
            ("echo", &r.echo),
            ("echo-tx", &r.echo_tx),
            ("sql", &r.sql),
        ] {
            if let Some(e) = &l.first_error {
                println!("    {what}: {} errors, first: {e}", l.errors);
            }
        }
    }
}

/// Prints the two Markdown tables: the agent against its floor, and the
/// floor's parts.
pub fn print_markdown(rows: &[Row]) {
    println!(
        "| method | in flight | n | errors | p50 ms | p99 ms | max ms | req/s | floor p50 ms (echo + SQL) | p50 ÷ floor | agent CPU ms/req | agent peak RSS MiB |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {:.2} | {:.3} | {} |",
            r.method,
            r.concurrency,
            r.agent.n,
            r.agent.errors,
            ms(r.agent.p50),
            ms(r.agent.p99),
            ms(r.agent.max),
            r.agent.rps(),
            ms(r.floor()),
            r.ratio(),
            r.agent_cpu_ms,
            mib(r.agent_peak_kib),
        );
    }
    println!();
    println!(
        "| method | in flight | echo p50 ms | echo p99 ms | echo req/s | echo CPU ms/req | echo+tx p50 ms | echo+tx req/s | echo+tx CPU ms/req | SQL p50 ms | SQL p99 ms | SQL req/s |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.3} | {} | {:.0} | {:.3} | {} | {} | {:.0} |",
            r.method,
            r.concurrency,
            ms(r.echo.p50),
            ms(r.echo.p99),
            r.echo.rps(),
            r.echo_cpu_ms,
            ms(r.echo_tx.p50),
            r.echo_tx.rps(),
            r.echo_tx_cpu_ms,
            ms(r.sql.p50),
            ms(r.sql.p99),
            r.sql.rps(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Lat::new(s, 0, None, Duration::from_secs(1));
        assert_eq!(l.p50, Duration::from_millis(50));
        assert_eq!(l.p99, Duration::from_millis(99));
        assert_eq!(l.max, Duration::from_millis(100));
        assert_eq!(l.rps(), 100.0);
    }
}
