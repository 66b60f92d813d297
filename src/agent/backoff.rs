//! Waiting between attempts: [`Backoff`] (capped exponential, for mysqld)
//! and [`Reconnect`] (oslo's schedule, for the broker), both jittered so a
//! fleet of agents that lost the same server does not come back in lock
//! step.

use std::time::Duration;

use crate::config::RabbitConfig;

const FIRST: Duration = Duration::from_millis(250);
const CAP: Duration = Duration::from_secs(30);

/// Delays of 0.25 s doubling up to 30 s, each drawn from [d/2, d].
#[derive(Debug)]
pub struct Backoff {
    current: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// A number in [0.5, 1], from the OS random source when it answers.
fn jitter() -> f64 {
    let mut b = [0u8; 2];
    // Without randomness the delay is merely not jittered; never fail on it.
    let _ = getrandom::fill(&mut b);
    0.5 + 0.5 * f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
}

impl Backoff {
    /// Starts at the first delay.
    pub fn new() -> Self {
        Backoff { current: FIRST }
    }

    /// The next delay to wait.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(CAP);
        d.mul_f64(jitter())
    }
}

/// Probes this far apart while the broker has just gone away...
const PROBE: Duration = Duration::from_millis(200);
/// ...this many times (about ten seconds), before oslo's schedule.
const PROBES: u32 = 50;

/// The wait between rounds of connection attempts (a round tries every host
/// of the URL once, without waiting in between, as kombu does).
///
/// oslo.messaging waits `rabbit_retry_interval + k × rabbit_retry_backoff`
/// seconds, at most `rabbit_interval_max` (1, 3, 5, ... 29, 30 s by
/// default), growing while the broker stays away. A guest's queues are
/// transient by default: a broker restart deletes them, and a cast the
/// control plane publishes before the agent declares them again is dropped
/// by the exchange. So the first ten seconds are probed every 200 ms (a
/// refused connection costs nothing), and oslo's schedule follows: a broker
/// back within them (a restart of the service or of its application) finds
/// the agent's queues declared again within 200 ms, before oslo's client
/// republishes (after 1 s, then 2 s). Two seconds of probes were too few:
/// a 4.4 s `stop_app` left the agent in a 3 s wait, and a cast published
/// 3.07 s after `start_app` found no queue. The
/// schedule starts over only once a session has lived a while (`reset`,
/// called by the agent), not at every successful connection.
#[derive(Debug)]
pub struct Reconnect {
    probes_left: u32,
    round: u32,
    interval: Duration,
    backoff: Duration,
    max: Duration,
}

impl Reconnect {
    /// oslo's schedule under `rabbit`.
    pub fn new(rabbit: &RabbitConfig) -> Self {
        Reconnect {
            probes_left: PROBES,
            round: 0,
            interval: rabbit.retry_interval,
            backoff: rabbit.retry_backoff,
            max: rabbit.interval_max,
        }
    }

    /// Back to the first, fast attempts.
    pub fn reset(&mut self) {
        self.probes_left = PROBES;
        self.round = 0;
    }

    /// The wait before the next round.
    pub fn next_delay(&mut self) -> Duration {
        if self.probes_left > 0 {
            self.probes_left -= 1;
            return PROBE.mul_f64(jitter());
        }
        let d = self
            .interval
            .saturating_add(self.backoff.saturating_mul(self.round))
            .min(self.max);
        self.round = self.round.saturating_add(1);
        d.mul_f64(jitter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_cap_with_jitter() {
        let mut b = Backoff::new();
        let delays: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= FIRST / 2 && delays[0] <= FIRST);
        assert!(delays.iter().all(|d| *d <= CAP));
        assert!(delays[11] >= CAP / 2);
    }

    #[test]
    fn reconnect_probes_fast_then_follows_oslo() {
        let mut r = Reconnect::new(&RabbitConfig::default());
        let delays: Vec<Duration> = (0..80).map(|_| r.next_delay()).collect();
        let probing: Duration = delays[..PROBES as usize].iter().sum();
        assert!(probing <= Duration::from_secs(10), "{probing:?}");
        assert!(probing >= Duration::from_secs(5), "{probing:?}");
        // Then 1, 3, 5, ... capped at 30 (each jittered down to half).
        let oslo = &delays[PROBES as usize..];
        for (k, d) in oslo.iter().enumerate() {
            let want = Duration::from_secs((1 + 2 * k as u64).min(30));
            assert!(*d <= want && *d >= want / 2, "{k}: {d:?} vs {want:?}");
        }
        r.reset();
        assert!(r.next_delay() <= PROBE);
    }
}
