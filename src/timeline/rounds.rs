//! Slow-start rounds, measured from the packets on the wire.
//!
//! A *round* is one flight of data: the segments a sender puts on the wire before it has to
//! wait for ACKs, which arrive at the receiver together and are followed by a gap. At the
//! client's vantage point, a server data segment that arrives more than half an RTT after the
//! first segment of the current round starts a new round. The bytes of a round are what the
//! congestion window allowed during that round trip (RFC 5681 §3.1), so the sequence of rounds
//! shows slow start: with an initial window of 10 segments, about 14, 28, 56, 112 KB...

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::capture::Capture;
use crate::packet::{self, Transport};
use crate::time::Instant;
use crate::wire::flow::{Kind, Tracker};

/// One measured round.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Round {
    /// 1-based.
    pub round: u32,
    /// When its first segment arrived (absolute virtual ms; the runner makes it relative).
    pub start_ms: f64,
    pub segments: u32,
    /// Payload bytes in the round, retransmissions included.
    pub bytes: u64,
    /// Payload bytes of all rounds so far.
    pub cumulative_bytes: u64,
    /// Segments in this round that repeated bytes already seen (retransmissions).
    pub retransmissions: u32,
    pub first_frame: u64,
    pub last_frame: u64,
    /// This round's window in slow start without loss, from the initial window that ran (IW x
    /// MSS, doubling each round, RFC 5681 §3.1); `None` where that model does not apply
    /// (smoltcp's own Reno).
    pub theory_bytes: Option<u64>,
}

/// The rounds of the data `server` sent to `client` between `from` and `to` (inclusive).
pub fn measure(
    capture: &Capture,
    server: Ipv4Addr,
    client: Ipv4Addr,
    from: Instant,
    to: Instant,
    rtt: Duration,
    window: Option<super::theory::Window>,
) -> Vec<Round> {
    let gap = rtt.as_micros() as u64 / 2;
    let mut rounds: Vec<Round> = Vec::new();
    let mut round_start = 0u64;
    // The one flow tracker follows the server's connections through the whole capture, so a
    // segment in the window that repeats bytes sent before it counts as a retransmission too.
    let mut tracker = Tracker::default();
    for f in capture.packets() {
        let at = f.at.micros();
        let Some(s) = packet::summarize(f.bytes) else { continue };
        let Transport::Tcp { payload_len, .. } = s.transport else { continue };
        if s.src != server || s.dst != client || f.lost {
            continue;
        }
        let Some(info) = tracker.push((), &s) else { continue };
        if at < from.micros() || at > to.micros() || payload_len == 0 || info.kind == Kind::Syn {
            continue;
        }
        // A retransmission carries bytes below the highest already received, by the one rule
        // the timeline's count and the time-sequence graph use too (`SegmentInfo::old_data`).
        let retransmitted = info.old_data;
        if rounds.is_empty() || at > round_start + gap {
            round_start = at;
            let n = rounds.len() as u32 + 1;
            let cumulative = rounds.last().map_or(0, |r| r.cumulative_bytes);
            rounds.push(Round {
                round: n,
                start_ms: at as f64 / 1000.0,
                segments: 0,
                bytes: 0,
                cumulative_bytes: cumulative,
                retransmissions: 0,
                first_frame: f.number,
                last_frame: f.number,
                theory_bytes: window.map(|w| w.flight_bytes(n)),
            });
        }
        let r = rounds.last_mut().expect("a round was just pushed");
        r.segments += 1;
        r.bytes += payload_len as u64;
        r.cumulative_bytes += payload_len as u64;
        r.retransmissions += u32::from(retransmitted);
        r.last_frame = f.number;
    }
    rounds
}

/// Data segments from `server` to `client` in the capture that carry bytes below the highest
/// already received on their connection (per connection; a new SYN starts a new sequence
/// space): retransmissions as the client saw them, over the whole capture. This is Wireshark's
/// rule, and its count equals `tcp.analysis.retransmission || tcp.analysis.out_of_order`
/// (one byte just below the highest is a probe, not a retransmission):
/// Wireshark calls a resend that fills a hole within its out-of-order window "out-of-order",
/// though the server had sent those bytes before.
pub fn retransmitted_segments(capture: &Capture, server: Ipv4Addr, client: Ipv4Addr) -> u32 {
    let mut tracker = Tracker::default();
    let mut count = 0;
    for f in capture.packets() {
        let Some(s) = packet::summarize(f.bytes) else { continue };
        if s.src != server || s.dst != client || f.lost {
            continue;
        }
        if let Some(info) = tracker.push((), &s) {
            count += u32::from(info.old_data);
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::theory::Window;
    use etherparse::PacketBuilder;

    fn segment(seq: u32, len: usize) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64).tcp(443, 50000, seq, 65535).ack(1);
        let mut out = Vec::new();
        b.write(&mut out, &vec![0u8; len]).unwrap();
        out
    }

    #[test]
    fn groups_segments_by_gaps_and_counts_retransmissions() {
        let mut cap = Capture::new("client", vec![]);
        let t = |ms: u64| Instant::from_micros(ms * 1000);
        // Round 1: two segments at 100 ms; round 2: three at 250 ms (one a retransmission).
        cap.record(t(100), &segment(1000, 1460), "x");
        cap.record(t(100), &segment(2460, 1460), "x");
        cap.record(t(250), &segment(3920, 1460), "x");
        cap.record(t(250), &segment(2460, 1460), "x");
        cap.record(t(251), &segment(5380, 100), "x");
        let server = Ipv4Addr::new(10, 0, 0, 2);
        let client = Ipv4Addr::new(10, 0, 0, 1);
        let rounds = measure(
            &cap,
            server,
            client,
            t(0),
            t(1000),
            Duration::from_millis(150),
            Some(Window { initial_window: 14_600, max_window: 1 << 20 }),
        );
        assert_eq!(rounds.len(), 2);
        assert_eq!((rounds[0].segments, rounds[0].bytes), (2, 2920));
        assert_eq!((rounds[1].segments, rounds[1].retransmissions, rounds[1].cumulative_bytes), (3, 1, 2920 + 3020));
        assert_eq!((rounds[1].first_frame, rounds[1].last_frame), (3, 5));
        assert_eq!(rounds[1].theory_bytes, Some(29_200));
        // Outside the window nothing counts.
        assert!(measure(
            &cap,
            server,
            client,
            t(300),
            t(400),
            Duration::from_millis(150),
            Some(Window { initial_window: 14_600, max_window: 1 << 20 })
        )
        .is_empty());
    }
}
