//! Capped exponential back-off with jitter, so a fleet of agents that lost
//! the same broker does not reconnect in lock step.

use std::time::Duration;

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

impl Backoff {
    /// Starts at the first delay.
    pub fn new() -> Self {
        Backoff { current: FIRST }
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        self.current = FIRST;
    }

    /// The next delay to wait.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(CAP);
        let mut b = [0u8; 2];
        // Without randomness the delay is merely not jittered; never fail on it.
        let _ = getrandom::fill(&mut b);
        let frac = f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX);
        d.mul_f64(0.5 + 0.5 * frac)
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
        b.reset();
        assert!(b.next_delay() <= FIRST);
    }
}
