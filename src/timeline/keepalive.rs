//! Keepalive traffic: the bytes a pooled connection costs while it carries no request.
//!
//! Measured from the capture: every packet between client and server on a connection during a
//! span when that connection sat idle in the pool (TCP keepalive probes and their ACKs, or
//! application pings and pongs with their ACKs), both directions, IP header included. The
//! connection's own teardown (FIN, RST and what follows them) and setup (SYN) are not keepalive.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use crate::capture::Capture;
use crate::packet::{self, Transport};
use crate::time::Instant;
use crate::wire::flow::{Kind, Tracker};

/// A time span during which a pooled connection sat idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleSpan {
    pub port: u16,
    pub from: Instant,
    pub to: Option<Instant>,
}

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
    // Spans by port, in time order (a port is reused only after its connection ended).
    let mut by_port: HashMap<u16, Vec<(Instant, Option<Instant>)>> = HashMap::new();
    for sp in spans {
        by_port.entry(sp.port).or_default().push((sp.from, sp.to));
    }
    let mut ended: HashSet<u16> = HashSet::new();
    // Per connection: where the server's data stood (a stream offset) while it was busy. The
    // client's delayed ACK of the last response arrives after the connection went idle, but
    // it belongs to the request, not to keepalive. Probes are the flow tracker's (RFC 9293
    // §3.8.4: SND.NXT − 1 with at most one byte).
    let mut server_end: HashMap<u16, u64> = HashMap::new();
    let mut tracker = Tracker::default();
    for f in capture.packets() {
        let Some(s) = packet::summarize(f.bytes) else { continue };
        let Transport::Tcp { src_port, dst_port, flags, payload_len, .. } = s.transport else { continue };
        let (port, from_client) = match (s.src, s.dst) {
            (a, b) if a == client && b == server => (src_port, true),
            (a, b) if a == server && b == client => (dst_port, false),
            _ => continue,
        };
        let Some(info) = tracker.push((), &s) else { continue };
        if flags.syn {
            // A new connection on a reused port.
            ended.remove(&port);
            server_end.remove(&port);
        }
        if flags.fin || flags.rst {
            ended.insert(port);
        }
        if flags.syn || flags.fin || flags.rst || ended.contains(&port) {
            continue;
        }
        let at = f.at;
        let idle = by_port.get(&port).is_some_and(|v| {
            // The last span that started before `at`.
            let i = v.partition_point(|(from, _)| *from < at);
            i > 0 && v[i - 1].1.is_none_or(|to| at < to)
        });
        if !idle {
            if let (false, Some((_, end))) = (from_client, info.offsets) {
                let e = server_end.entry(port).or_insert(end);
                *e = (*e).max(end);
            }
            continue;
        }
        if from_client && payload_len == 0 {
            let probe = info.kind == Kind::KeepAliveProbe;
            let acks_request_data = server_end.get(&port).zip(info.ack_offset).is_some_and(|(&end, ack)| ack <= end);
            if !probe && acks_request_data {
                continue;
            }
        }
        k.bytes += s.total_len as u64;
        k.packets += 1;
    }
    k
}
