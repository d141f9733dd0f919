//! The ranges every lab value must lie in, in one place: a value is checked against the same
//! range whether it comes from a command-line flag, `--set` or the lab file, and refused at load
//! (exit 2, naming the field, the value and the range) before anything runs.

use std::time::Duration;

/// A round trip (`--rtt`, a link's `rtt`): 2 µs (1 µs each way, the clock's resolution) to 10 s.
pub const RTT: (Duration, Duration) = (Duration::from_micros(2), Duration::from_secs(10));
/// A one-way delay or jitter (a link's `delay`, `jitter`): up to 5 s.
pub const ONE_WAY: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(5));
/// `time_limit`: how much virtual (or wall-clock) time a scenario may take.
pub const TIME_LIMIT: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(168 * 3600));
/// An `idle` step's duration, a bursts step's `duration`.
pub const SPAN: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(168 * 3600));
/// A bursts step's `every`: below a millisecond it is no longer a pool between bursts.
pub const BURST_EVERY: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(24 * 3600));
/// The most bursts one step may send (`duration / every`).
pub const MAX_BURSTS: u64 = 1_000_000;
/// The largest response body: the server builds each body in memory.
pub const BODY: (u64, u64) = (0, crate::proto::http1::MAX_BODY);

/// `min..=max` of a duration range.
pub fn contains(range: (Duration, Duration), d: Duration) -> bool {
    (range.0..=range.1).contains(&d)
}
