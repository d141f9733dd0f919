//! The virtual wall clock rustls reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::UnixTime;
use rustls::time_provider::TimeProvider;

/// Virtual wall clock for rustls (ticket ages and lifetimes, certificate validity):
/// microseconds since the Unix epoch, set by the runner as virtual time advances.
///
/// Clones share the same value. It starts at 0 (1970-01-01), which the lab certificate
/// accepts (its validity starts then), so a runner that never sets it still works, but
/// ticket ages only move when it is set.
///
/// rustls works in whole seconds: `UnixTime` truncates to seconds, ticket ages are
/// `seconds * 1000` ms, stateful tickets live 86 400 s.
#[derive(Clone, Debug, Default)]
pub struct TlsClock(Arc<AtomicU64>);

impl TlsClock {
    /// A clock reading `unix_micros`.
    pub fn at_unix_micros(unix_micros: u64) -> Self {
        let clock = Self::default();
        clock.set_unix_micros(unix_micros);
        clock
    }

    /// Sets the current wall time, in microseconds since the Unix epoch.
    pub fn set_unix_micros(&self, v: u64) {
        self.0.store(v, Ordering::SeqCst);
    }

    /// The current wall time, in microseconds since the Unix epoch.
    pub fn unix_micros(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl TimeProvider for TlsClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_micros(self.unix_micros())))
    }
}
