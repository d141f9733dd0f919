//! The delay of a hedge after a percentile: the recent calls' latencies, and the percentile of
//! them, estimated again as they come.

use std::time::Duration;

/// Recent call latencies kept to estimate a hedge percentile.
pub const HEDGE_WINDOW: usize = 1000;
/// Calls observed before hedging by percentile starts.
pub const HEDGE_MIN_SAMPLES: usize = 100;
/// Calls between two estimates, once there is one.
const REESTIMATE_EVERY: usize = 64;

/// The last [`HEDGE_WINDOW`] call latencies (µs), in a ring.
#[derive(Default)]
pub(super) struct Recent {
    latencies: Vec<u64>,
    next: usize,
    since_estimate: usize,
}

impl Recent {
    /// Keeps a call's latency; returns a new estimate of the `p`th percentile (nearest rank)
    /// once [`HEDGE_MIN_SAMPLES`] calls are in, at once when there is none yet (`first`), else
    /// every [`REESTIMATE_EVERY`] calls.
    pub(super) fn observe(&mut self, us: u64, p: f64, first: bool) -> Option<Duration> {
        if self.latencies.len() < HEDGE_WINDOW {
            self.latencies.push(us);
        } else {
            self.latencies[self.next] = us;
            self.next = (self.next + 1) % HEDGE_WINDOW;
        }
        self.since_estimate += 1;
        if self.latencies.len() < HEDGE_MIN_SAMPLES || !(first || self.since_estimate >= REESTIMATE_EVERY) {
            return None;
        }
        self.since_estimate = 0;
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        Some(Duration::from_micros(sorted[rank.clamp(1, sorted.len()) - 1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_starts_after_enough_calls_and_follows_the_window() {
        let mut r = Recent::default();
        for us in 1..HEDGE_MIN_SAMPLES as u64 {
            assert_eq!(r.observe(us, 95.0, true), None);
        }
        // 1..=100: the p95 by nearest rank is 95.
        assert_eq!(r.observe(100, 95.0, true), Some(Duration::from_micros(95)));
        // Not again until 64 more calls.
        assert_eq!(r.observe(1000, 95.0, false), None);
    }
}
