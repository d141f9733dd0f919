//! Naming protocol events from the packets themselves, for captures that no script annotates
//! (real-time runs of real programs): TCP handshakes, retransmissions, keepalive probes,
//! closes and resets. It keeps a little state per TCP flow (RFC 9293 §3.3: the next sequence
//! number each side will send).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::packet::{PacketSummary, Transport};

type Flow = (Ipv4Addr, u16, Ipv4Addr, u16);

/// What one side of a flow has sent so far.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    /// Sequence number after the highest byte sent (SYN and FIN count one).
    next: Option<u32>,
}

/// Recognises events in a stream of packets seen at one vantage point.
#[derive(Debug, Default)]
pub struct Annotator {
    flows: HashMap<Flow, Side>,
}

/// `a` is after `b` in sequence space (RFC 9293 §3.4).
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl Annotator {
    /// The event this packet is, if it is one worth naming.
    pub fn observe(&mut self, s: &PacketSummary) -> Option<&'static str> {
        let Transport::Tcp { src_port, dst_port, seq, flags, payload_len, .. } = s.transport else {
            return match s.transport {
                Transport::Udp { src_port: 53, .. } | Transport::Udp { dst_port: 53, .. } => Some("DNS"),
                _ => None,
            };
        };
        let flow = (s.src, src_port, s.dst, dst_port);
        let len = payload_len as u32 + u32::from(flags.syn) + u32::from(flags.fin);
        let side = self.flows.entry(flow).or_default();
        let end = seq.wrapping_add(len);
        let event = if flags.rst {
            Some("reset")
        } else if flags.syn {
            side.next = None;
            Some(if flags.ack { "TCP handshake (SYN/ACK)" } else { "TCP handshake (SYN)" })
        } else if let Some(next) = side.next {
            if payload_len <= 1 && seq.wrapping_add(1) == next && !flags.fin {
                Some("TCP keepalive probe")
            } else if len > 0 && !after(end, next) {
                Some("retransmission")
            } else if flags.fin {
                Some("connection close (FIN)")
            } else {
                None
            }
        } else if flags.fin {
            Some("connection close (FIN)")
        } else {
            None
        };
        if side.next.is_none_or(|n| after(end, n)) {
            side.next = Some(end);
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::summarize;
    use etherparse::PacketBuilder;

    fn tcp(seq: u32, payload: usize, syn: bool, ack: bool, fin: bool) -> Vec<u8> {
        let mut b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(40000, 443, seq, 65535);
        if syn {
            b = b.syn();
        }
        if ack {
            b = b.ack(1);
        }
        if fin {
            b = b.fin();
        }
        let mut out = Vec::new();
        b.write(&mut out, &vec![0u8; payload]).unwrap();
        out
    }

    #[test]
    fn names_handshake_retransmission_keepalive_and_close() {
        let mut a = Annotator::default();
        let mut see = |p: Vec<u8>| a.observe(&summarize(&p).unwrap());
        assert_eq!(see(tcp(100, 0, true, false, false)), Some("TCP handshake (SYN)"));
        assert_eq!(see(tcp(101, 500, false, true, false)), None);
        assert_eq!(see(tcp(601, 500, false, true, false)), None);
        assert_eq!(see(tcp(101, 500, false, true, false)), Some("retransmission"));
        assert_eq!(see(tcp(1100, 1, false, true, false)), Some("TCP keepalive probe"));
        assert_eq!(see(tcp(1101, 0, false, true, true)), Some("connection close (FIN)"));
    }
}
