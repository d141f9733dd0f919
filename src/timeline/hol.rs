//! Head-of-line blocking, measured: how long received bytes waited to be delivered.
//!
//! TCP delivers bytes in order. When a segment is lost, the segments after it arrive but
//! cannot be handed to the application until the retransmission fills the hole (RFC 9293
//! §3.10.7.4): they are *received but undeliverable*. For every byte range of a connection this
//! module computes, from the client's capture, when it arrived and when the in-order frontier
//! reached it. QUIC does the same per stream (RFC 9000 §2.2), so a gap in one stream holds back
//! only that stream; [`StreamReassembly`] measures it from the chunks the client receives. Both
//! run on the one assembler of `wire::flow`, TCP's through the flow tracker.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::capture::Capture;
use crate::packet::{self, Transport};
use crate::time::Instant;
use crate::wire::flow::{Arrival, Assembler, Kind, Tracker};

/// When a byte range `[start, end)` of a stream arrived, and when it could be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub start: u64,
    pub end: u64,
    pub arrived: Instant,
    pub delivered: Instant,
}

impl Timing {
    pub fn wait(&self) -> Duration {
        self.delivered - self.arrived
    }
}

/// In-order delivery of one byte stream from ranges that arrive in any order, with the
/// arrival and delivery time of every range: the one assembler ([`Assembler`], shared with the
/// TCP flow tracker) and what it released.
#[derive(Clone, Debug, Default)]
pub struct StreamReassembly {
    assembler: Assembler<Instant>,
    pub timings: Vec<Timing>,
    /// Ranges whose arrival filled a hole and released bytes that had been waiting: (start,
    /// end, how many earlier ranges they released, when).
    pub fillers: Vec<(u64, u64, usize, Instant)>,
}

impl StreamReassembly {
    /// Bytes `[start, end)` arrived at `at` (a QUIC stream's chunk).
    pub fn arrive(&mut self, start: u64, end: u64, at: Instant) {
        if let Some(a) = self.assembler.arrive(start, end, at) {
            self.record(&a, at);
        }
    }

    /// Records what one arrival at `at` released (the flow tracker's, for a TCP stream).
    fn record(&mut self, a: &Arrival<Instant>, at: Instant) {
        self.timings.extend(a.released.iter().map(|d| Timing {
            start: d.start,
            end: d.end,
            arrived: d.arrived,
            delivered: d.delivered,
        }));
        if a.waited > 0 {
            self.fillers.push((a.range.0, a.range.1, a.waited, at));
        }
    }

    /// The longest time any byte in `[start, end)` waited.
    pub fn max_wait(&self, start: u64, end: u64) -> Duration {
        max_wait(&self.timings, start, end)
    }

    /// When the byte before `offset` was delivered, if it was.
    pub fn delivered_by(&self, offset: u64) -> Option<Instant> {
        (self.assembler.delivered_edge() >= offset).then(|| {
            self.timings.iter().filter(|t| t.start < offset).map(|t| t.delivered).max().unwrap_or(Instant::ZERO)
        })
    }
}

/// The longest wait among `timings` overlapping `[start, end)`.
pub fn max_wait(timings: &[Timing], start: u64, end: u64) -> Duration {
    timings.iter().filter(|t| t.start < end && t.end > start).map(Timing::wait).max().unwrap_or(Duration::ZERO)
}

/// Server-to-client TCP data of every connection in the capture, keyed by the client's port:
/// byte offsets from the first byte after the SYN, arrival and delivery times.
pub fn tcp_deliveries(capture: &Capture, client: Ipv4Addr, server: Ipv4Addr) -> HashMap<u16, StreamReassembly> {
    tcp_deliveries_with_frames(capture, client, server).0
}

/// [`tcp_deliveries`], and the frame that carried each (port, start offset).
pub fn tcp_deliveries_with_frames(
    capture: &Capture,
    client: Ipv4Addr,
    server: Ipv4Addr,
) -> (HashMap<u16, StreamReassembly>, HashMap<(u16, u64), u64>) {
    let mut tracker = Tracker::default();
    let mut streams: HashMap<u16, StreamReassembly> = HashMap::new();
    let mut frames: HashMap<(u16, u64), u64> = HashMap::new();
    for f in capture.packets() {
        if f.lost {
            continue;
        }
        let Some(s) = packet::summarize(f.bytes) else { continue };
        let Transport::Tcp { dst_port, .. } = s.transport else { continue };
        if s.src != server || s.dst != client {
            continue;
        }
        let Some(info) = tracker.push(f.at, &s) else { continue };
        if matches!(info.kind, Kind::Syn | Kind::SynAck) {
            streams.insert(dst_port, StreamReassembly::default());
            continue;
        }
        // Only connections whose SYN/ACK was seen (they have a stream): offsets from the ISN.
        let Some((start, _)) = info.offsets else { continue };
        if let Some(r) = streams.get_mut(&dst_port) {
            if let Some(a) = &info.arrival {
                r.record(a, f.at);
            }
            frames.insert((dst_port, start), f.number);
        }
    }
    (streams, frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    #[test]
    fn bytes_behind_a_hole_wait_for_the_retransmission() {
        let mut r = StreamReassembly::default();
        r.arrive(0, 100, t(10));
        // [100, 200) is lost; [200, 300) and [300, 400) arrive and wait.
        r.arrive(200, 300, t(11));
        r.arrive(300, 400, t(12));
        assert_eq!(r.max_wait(200, 400), Duration::ZERO, "not delivered yet: no timing");
        r.arrive(100, 200, t(50));
        assert_eq!(r.max_wait(0, 100), Duration::ZERO);
        assert_eq!(r.max_wait(200, 300), Duration::from_millis(39));
        assert_eq!(r.max_wait(300, 400), Duration::from_millis(38));
        assert_eq!(r.max_wait(100, 200), Duration::ZERO, "the retransmission itself did not wait");
        assert_eq!(r.delivered_by(400), Some(t(50)));
        // A duplicate changes nothing.
        r.arrive(0, 100, t(60));
        assert_eq!(r.timings.len(), 4);
    }
}
