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
/// flights carry `bytes` from an initial window of `initial_window` bytes.
pub fn flights(bytes: u64, initial_window: u64) -> Option<u32> {
    if initial_window == 0 {
        return None;
    }
    let (mut sent, mut window, mut n) = (0u64, initial_window, 0u32);
    while sent < bytes {
        sent = sent.saturating_add(window);
        window = window.saturating_mul(2);
        n += 1;
    }
    Some(n)
}

/// The bytes that flight `n` (1-based) of slow start carries, from `initial_window`.
pub fn flight_bytes(n: u32, initial_window: u64) -> u64 {
    initial_window.saturating_mul(1u64 << (n.saturating_sub(1)).min(40))
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
        assert_eq!(flights(200_000, 14_600), Some(4));
        assert_eq!(flights(14_600, 14_600), Some(1));
        assert_eq!(flights(14_601, 14_600), Some(2));
        assert_eq!(flights(0, 14_600), Some(0));
        assert_eq!(flights(10, 0), None);
        assert_eq!(flight_bytes(3, 14_600), 58_400);
        assert_eq!(tls13_stream_bytes(16_384), 16_406);
        assert_eq!(tls13_stream_bytes(16_385), 16_429);
    }
}
