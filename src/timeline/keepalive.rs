//! Keepalive traffic: the bytes a pooled connection costs while it carries no request.
//!
//! Measured from the capture: every packet between client and server on a connection during a
//! span when that connection sat idle in the pool (TCP keepalive probes and their ACKs, or
//! application pings and pongs with their ACKs), both directions, IP header included. The
//! connection's own teardown (FIN, RST and what follows them) and setup (SYN) are not keepalive.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use crate::capture::Capture;
use crate::packet::{self, Transport};
use crate::runner::pool::IdleSpan;

/// Keepalive bytes and packets, and the idle connection-time they were spread over.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Keepalive {
    pub bytes: u64,
    pub packets: u64,
    /// Sum over connections of the time they sat idle, in seconds.
    pub idle_seconds: f64,
}

impl Keepalive {
    /// Bytes per connection per 30 s of idle time.
    pub fn bytes_per_conn_per_30s(&self) -> Option<f64> {
        (self.idle_seconds > 0.0).then(|| self.bytes as f64 * 30.0 / self.idle_seconds)
    }
}

pub fn measure(capture: &Capture, client: Ipv4Addr, server: Ipv4Addr, spans: &[IdleSpan]) -> Keepalive {
    let mut k = Keepalive {
        idle_seconds: spans.iter().filter_map(|s| Some((s.to? - s.from).as_secs_f64())).sum(),
        ..Keepalive::default()
    };
    let mut ended: HashSet<u16> = HashSet::new();
    for f in capture.packets() {
        let Some(s) = packet::summarize(f.bytes) else { continue };
        let Transport::Tcp { src_port, dst_port, flags, .. } = s.transport else { continue };
        let port = match (s.src, s.dst) {
            (a, b) if a == client && b == server => src_port,
            (a, b) if a == server && b == client => dst_port,
            _ => continue,
        };
        if flags.fin || flags.rst {
            ended.insert(port);
        }
        if flags.syn || flags.fin || flags.rst || ended.contains(&port) {
            continue;
        }
        let at = f.at;
        if spans.iter().any(|sp| sp.port == port && sp.from < at && sp.to.is_none_or(|to| at < to)) {
            k.bytes += s.total_len as u64;
            k.packets += 1;
        }
    }
    k
}
