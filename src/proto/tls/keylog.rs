//! Key-log collection in SSLKEYLOGFILE (NSS) format.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use rustls::KeyLog;

/// Collects the secrets rustls logs, as `LABEL CLIENT_RANDOM_HEX SECRET_HEX` lines
/// (lower-case hex), in the order they are logged.
///
/// Labels are exactly those rustls passes: `CLIENT_RANDOM` (TLS 1.2 master secret);
/// `CLIENT_EARLY_TRAFFIC_SECRET`, `CLIENT_HANDSHAKE_TRAFFIC_SECRET`,
/// `SERVER_HANDSHAKE_TRAFFIC_SECRET`, `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`,
/// `EXPORTER_SECRET` (TLS 1.3).
///
/// The client and the server of a lab share one collector and both log every secret;
/// a line identical to one already collected is dropped, so each secret appears once,
/// at the position where the first of the two peers logged it.
#[derive(Debug, Default)]
pub struct KeyLogCollector {
    inner: Mutex<Collected>,
}

#[derive(Debug, Default)]
struct Collected {
    text: String,
    seen: HashSet<String>,
}

impl KeyLogCollector {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything collected so far, one `'\n'`-terminated line per secret.
    pub fn text(&self) -> String {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).text.clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl KeyLog for KeyLogCollector {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let line = format!("{label} {} {}", hex(client_random), hex(secret));
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.seen.insert(line.clone()) {
            inner.text.push_str(&line);
            inner.text.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_deduplicates() {
        let k = KeyLogCollector::new();
        k.log("CLIENT_RANDOM", &[0x01, 0xab], &[0xff]);
        k.log("CLIENT_RANDOM", &[0x01, 0xab], &[0xff]);
        k.log("EXPORTER_SECRET", &[0x00], &[0x10, 0x0a]);
        assert_eq!(k.text(), "CLIENT_RANDOM 01ab ff\nEXPORTER_SECRET 00 100a\n");
    }
}
