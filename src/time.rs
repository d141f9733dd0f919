//! Virtual time.
//!
//! The core never reads a clock: every function that needs the time takes an [`Instant`].
//! Resolution is one microsecond, the resolution of smoltcp and of pcapng's default
//! timestamps.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in virtual time: microseconds since the start of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The start of a run.
    pub const ZERO: Instant = Instant(0);

    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    pub const fn micros(self) -> u64 {
        self.0
    }

    /// Milliseconds as a float, for timelines.
    pub fn millis_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Time elapsed since `earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// The same instant as smoltcp sees it.
    pub fn to_smoltcp(self) -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros(self.0 as i64)
    }

    /// Converts smoltcp's instant back (negative values clamp to zero).
    pub fn from_smoltcp(at: smoltcp::time::Instant) -> Self {
        Instant(at.total_micros().max(0) as u64)
    }
}

/// Whole microseconds of a duration, rounded up so that a timer never fires early.
pub fn ceil_micros(d: Duration) -> u64 {
    let micros = d.as_micros();
    let rounded = if d.subsec_nanos() % 1000 != 0 { micros + 1 } else { micros };
    u64::try_from(rounded).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(ceil_micros(d)))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} ms", self.millis_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_rounds_up_to_the_microsecond() {
        let t = Instant::from_micros(10) + Duration::from_nanos(1);
        assert_eq!(t.micros(), 11);
        let t = Instant::from_micros(10) + Duration::from_micros(5);
        assert_eq!(t.micros(), 15);
    }

    #[test]
    fn since_saturates() {
        let a = Instant::from_micros(5);
        let b = Instant::from_micros(9);
        assert_eq!(b - a, Duration::from_micros(4));
        assert_eq!(a - b, Duration::ZERO);
    }
}
