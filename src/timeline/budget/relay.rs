//! A request's hops through a relay that passes TLS through (`crate::service::relay`).
//!
//! The relay sees turns, not requests: the caller's bytes, then the upstream's answer
//! ([`Turn`]). The turns of the caller's connection that fall within the caller's wait are
//! the relay's time **inside** that request, each from when it began to cost the caller
//! ([`RelayConn::turn_start`]) to the answer's last byte handed back; the caller's hop is its
//! wait minus that. The same time is the relay's own **wait** on its upstream, whose hop is
//! that minus the upstream's time inside, as for any caller.
//!
//! The first turn begins at the accept when its bytes had to wait for the upstream
//! connection: the relay opened it then, and the caller's own handshake and first bytes,
//! which fit inside it, cost nothing on top. So the hops follow the request's critical path,
//! and add up to its time.
//!
//! Handshakes: the caller's hop keeps what the relay did not spend of the caller's handshake
//! span; the relay's hop counts its own connection's opening (when the caller waited for it)
//! and its turns within the caller's handshake span (passing the TLS handshake on).

use std::net::{Ipv4Addr, SocketAddrV4};

use super::Wait;
use crate::service::relay::{RelayConn, RelayLog, Turn};
use crate::service::Replica;
use crate::time::Instant;

/// A relay's records, and where it is.
pub struct RelaySite<'a> {
    pub host: usize,
    pub addr: Ipv4Addr,
    pub port: u16,
    pub replicas: &'a [Replica],
    pub log: &'a RelayLog,
}

/// The relay's part in one request.
pub(super) struct Through {
    /// The caller's hop, and how much of it went on handshakes, µs.
    pub caller_us: i64,
    pub caller_handshake_us: u64,
    /// What the relay waited on its upstream for the request, as a caller does.
    pub relay_wait: Wait,
    /// The upstream replica it went to (host, port).
    pub upstream: (usize, u16),
}

fn us(a: Instant, b: Instant) -> u64 {
    b.saturating_since(a).as_micros() as u64
}

/// How long `[a0, a1]` and `[b0, b1]` overlap, µs.
fn overlap((a0, a1): (Instant, Instant), (b0, b1): (Instant, Instant)) -> u64 {
    us(a0.max(b0), a1.min(b1))
}

/// The relay's part in the request a caller at `from` waited for as `wait` says (the caller's
/// port names its connection), or `None` when the relay has no record of that connection.
pub(super) fn through(site: &RelaySite<'_>, from: Ipv4Addr, wait: &Wait) -> Option<Through> {
    let caller = SocketAddrV4::new(from, wait.port?);
    // The latest connection from that port accepted by the answer (a port may be reused).
    let conn: &RelayConn = site.log.conns.iter().rev().find(|c| c.caller == caller && c.accepted <= wait.done)?;
    let within = |(a, b): (Instant, Instant)| a >= wait.sent && b <= wait.done;
    let spans: Vec<(Instant, Instant)> = (0..conn.turns.len())
        .filter_map(|i| Some((conn.turn_start(i)?, conn.turns.get(i).and_then(|t: &Turn| t.answered)?)))
        .filter(|&s| within(s))
        .collect();
    let inside: u64 = spans.iter().map(|&(a, b)| us(a, b)).sum();
    // The caller's handshake span: what of it the relay spent (passing the handshake on, or
    // opening its own connection meanwhile) is not the caller's hop's.
    let in_handshake: u64 = wait.handshake.map_or(0, |h| spans.iter().map(|&s| overlap(s, h)).sum());
    let connect = conn.connect_wait().filter(|&c| within(c));
    let connect_us = connect.map_or(0, |(a, b)| us(a, b));
    let connect_in_handshake = match (connect, wait.handshake) {
        (Some(c), Some(h)) => overlap(c, h),
        _ => 0,
    };
    let upstream = site.replicas.get(conn.replica).map(|r| (r.host, r.addr.port()))?;
    Some(Through {
        caller_us: wait.us as i64 - inside as i64,
        caller_handshake_us: wait.handshake_us.saturating_sub(in_handshake),
        relay_wait: Wait {
            sent: wait.sent,
            done: wait.done,
            us: inside,
            handshake_us: (connect_us + in_handshake).saturating_sub(connect_in_handshake),
            port: Some(conn.local_port),
            handshake: wait.handshake,
        },
        upstream,
    })
}
