//! The teaching text's figures, computed from the parameters that ran, beside what was
//! measured. A row says which model gave its figure; where the text's own worked example
//! (at its settings) differs, the row quotes it.

use serde::{Deserialize, Serialize};

/// One theory-versus-measured row (`theory` in the timeline JSON).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TheoryRow {
    pub claim: String,
    /// The figure the model gives for the settings that ran; `None` where the model does not
    /// apply to them (it says why).
    pub theory: Option<f64>,
    /// `rtts`, `ms`, `bytes`, `segments`, `count`, `fraction`, `percentile`, `ratio`, or `MB/s`.
    pub unit: String,
    pub measured: Option<f64>,
    /// The model, or "the teaching text" for a figure that does not depend on the settings.
    pub source: String,
    /// Why the measurement differs from the figure, or how the figure was reached.
    pub why: String,
    /// The text's own worked example, when it differs from `theory` at these settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// What was measured (`<phase>.<field>` or `metrics.<name>`).
    pub measure: String,
}

/// Slow start without loss (RFC 5681 §3.1, one window per round trip, doubling): how many
/// flights carry `bytes` from an initial window of `initial_window` bytes, when no flight can
/// be larger than `max_window` (the receiver's advertised window or the sender's buffer,
/// RFC 9293 §3.8.6: once the doubling reaches it, every round trip carries one such window).
pub fn flights(bytes: u64, initial_window: u64, max_window: u64) -> Option<u32> {
    if initial_window == 0 || max_window == 0 {
        return None;
    }
    let (mut sent, mut window, mut n) = (0u64, initial_window.min(max_window), 0u32);
    while sent < bytes {
        if window == max_window {
            // The window no longer grows: the rest goes one full window per flight.
            let rest = (bytes - sent).div_ceil(window);
            return Some(n.saturating_add(u32::try_from(rest).unwrap_or(u32::MAX)));
        }
        sent = sent.saturating_add(window);
        window = window.saturating_mul(2).min(max_window);
        n += 1;
    }
    Some(n)
}

/// The first flight of slow start that [`flights`] sends with a window of `max_window` (1-based),
/// or `None` if `bytes` are all sent before the window reaches it.
pub fn first_capped_flight(bytes: u64, initial_window: u64, max_window: u64) -> Option<u32> {
    if initial_window == 0 || max_window == 0 {
        return None;
    }
    let (mut sent, mut window, mut n) = (0u64, initial_window, 1u32);
    while sent < bytes {
        if window >= max_window {
            return Some(n);
        }
        sent = sent.saturating_add(window);
        window = window.saturating_mul(2);
        n += 1;
    }
    None
}

/// Slow start's window for the rounds table: doubling from `initial_window`, at most `max_window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub initial_window: u64,
    pub max_window: u64,
}

impl Window {
    /// The bytes flight `n` (1-based) carries: [`flight_bytes`].
    pub fn flight_bytes(self, n: u32) -> u64 {
        flight_bytes(n, self.initial_window, self.max_window)
    }
}

/// The bytes that flight `n` (1-based) of slow start carries, from `initial_window`, at most
/// `max_window` (see [`flights`]).
pub fn flight_bytes(n: u32, initial_window: u64, max_window: u64) -> u64 {
    initial_window.saturating_mul(1u64 << (n.saturating_sub(1)).min(40)).min(max_window)
}

/// Bytes on the TCP stream for a TLS stream of `plaintext` bytes: each record of up to 16 KiB
/// of plaintext adds a 5-byte header, a content-type byte and a 16-byte AEAD tag (RFC 8446
/// §5.2, TLS 1.3), 22 bytes.
pub fn tls13_stream_bytes(plaintext: u64) -> u64 {
    plaintext + plaintext.div_ceil(16_384) * 22
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flights_of_slow_start() {
        // The text: 14 KB, then 28, 56, 112: 200 KB needs 4 flights, 3 RTTs first to last byte.
        let no_cap = u64::MAX;
        assert_eq!(flights(200_000, 14_600, no_cap), Some(4));
        assert_eq!(flights(14_600, 14_600, no_cap), Some(1));
        assert_eq!(flights(14_601, 14_600, no_cap), Some(2));
        assert_eq!(flights(0, 14_600, no_cap), Some(0));
        assert_eq!(flights(10, 0, no_cap), None);
        // A 1 MiB window: 7 doubling flights carry 14,600 x 127 = 1,854,200 bytes; the 8th
        // would be 1,868,800 but is capped, so the other 98,145,800 of 100 MB take 94 flights
        // of 1,048,576 (measured on the wire: 101 rounds, slow-start at --rtt 2ms).
        assert_eq!(flights(100_000_000, 14_600, 1 << 20), Some(101));
        assert_eq!(first_capped_flight(100_000_000, 14_600, 1 << 20), Some(8));
        assert_eq!(first_capped_flight(200_000, 14_600, 1 << 20), None);
        assert_eq!(flights(200_000, 14_600, 1 << 20), Some(4));
        // A window smaller than IW: every flight is the window.
        assert_eq!(flights(10_000, 14_600, 4_096), Some(3));
        assert_eq!(flight_bytes(3, 14_600, u64::MAX), 58_400);
        assert_eq!(flight_bytes(8, 14_600, 1 << 20), 1 << 20);
        assert_eq!(tls13_stream_bytes(16_384), 16_406);
        assert_eq!(tls13_stream_bytes(16_385), 16_429);
    }
}
