//! The one TCP flow tracker: every analysis that follows TCP connections through packets (the
//! annotator, `wirelab annotate`, the phases, head-of-line waits, slow-start rounds,
//! retransmission counts, keepalive bytes) reads segments through [`Tracker`], so they agree on
//! what a segment is.
//!
//! It is fed one segment at a time ([`Tracker::push`]) and keeps, per connection, a few words
//! per direction and the ranges waiting behind holes ([`Assembler`], at most
//! [`MAX_PENDING`] of them): memory grows with open connections and outstanding holes, not with
//! the capture. Connections are keyed by their 4-tuple; the side that sent the SYN is the
//! *opener* (RFC 9293 §3.5). Sequence numbers are compared modulo 2^32 (RFC 9293 §3.4) and
//! payload bytes are placed at 64-bit stream offsets, so nothing breaks at wraparound or past
//! 4 GiB.
//!
//! Each segment is classified ([`Kind`]) as seen at the vantage point:
//! - a *keep-alive probe* (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): sequence number SND.NXT − 1
//!   with no payload or one byte, no FIN;
//! - a *retransmission*: it occupies sequence space (payload, SYN or FIN) all of which was seen
//!   before;
//! - a *hole* before it ([`SegmentInfo::hole`]): it starts past every sequence number seen from
//!   its sender, so the ones in between were lost before this vantage point (or missed by the
//!   capture).
//!
//! A segment carrying some old payload bytes (full or partial overlap, below the highest byte
//! seen) is [`SegmentInfo::old_data`]: Wireshark's `tcp.analysis.retransmission ||
//! tcp.analysis.out_of_order`, the rule retransmission counts use.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::ip::{Summary, TcpFlags, Transport};
use super::tcp::{seq_after, seq_before, Ranges, StreamOffsets};

/// Ranges waiting behind holes kept per direction; past it, later ranges are not tracked (an
/// input that never fills its holes cannot grow memory without bound).
pub const MAX_PENDING: usize = 4096;

/// Connections kept: past it, closed ones (RST seen, or a FIN from each side) are forgotten,
/// then the oldest.
pub const MAX_CONNECTIONS: usize = 65_536;

/// When bytes `[start, end)` of a stream arrived, and when they could be delivered in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery<T> {
    pub start: u64,
    pub end: u64,
    pub arrived: T,
    pub delivered: T,
}

/// What one arrival did to an [`Assembler`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival<T> {
    /// The part of the arrival above the delivered edge as it stood before it: `(start, end)`.
    pub range: (u64, u64),
    /// Ranges delivered by this arrival (itself included, if it was), in release order.
    pub released: Vec<Delivery<T>>,
    /// How many of them had arrived earlier than this one: ranges that waited for it.
    pub waited: usize,
    /// The delivered edge after it: every byte below it has been delivered.
    pub delivered_edge: u64,
}

/// In-order delivery of one byte stream from ranges that arrive in any order (RFC 9293
/// §3.10.7.4 for TCP, RFC 9000 §2.2 for a QUIC stream): the delivered edge, the ranges waiting
/// behind a hole, and when each byte became deliverable.
#[derive(Clone, Debug)]
pub struct Assembler<T> {
    edge: u64,
    /// Ranges above the edge, as they arrived (overlapping ones too), with their arrival time.
    pending: Vec<(u64, u64, T)>,
    /// The bytes above the edge that arrived, merged.
    above: Ranges,
}

impl<T> Default for Assembler<T> {
    fn default() -> Self {
        Assembler { edge: 0, pending: Vec::new(), above: Ranges::default() }
    }
}

impl<T: Copy + Ord> Assembler<T> {
    /// Every byte below this offset has been delivered.
    pub fn delivered_edge(&self) -> u64 {
        self.edge
    }

    /// Ranges waiting behind a hole.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether `[start, end)` holds a byte that has not arrived yet.
    pub fn is_new(&self, start: u64, end: u64) -> bool {
        end > self.edge && !self.above.covers(start.max(self.edge), end)
    }

    /// Bytes `[start, end)` arrived at `at`. `None` if they were all delivered already (a
    /// duplicate), empty, or dropped because [`MAX_PENDING`] ranges are already waiting.
    pub fn arrive(&mut self, start: u64, end: u64, at: T) -> Option<Arrival<T>> {
        if end <= self.edge || start >= end {
            return None;
        }
        let range = (start.max(self.edge), end);
        if range.0 > self.edge && self.pending.len() >= MAX_PENDING {
            return None;
        }
        self.pending.push((range.0, end, at));
        self.above.insert(range.0, end);
        let mut released = Vec::new();
        let mut waited = 0;
        loop {
            let edge = self.edge;
            let Some(i) = self.pending.iter().position(|(s, e, _)| *s <= edge && *e > edge) else { break };
            self.edge = self.pending[i].1;
            // Everything now below the edge is delivered at `at`.
            let mut k = 0;
            while k < self.pending.len() {
                let (s, e, arrived) = self.pending[k];
                if e <= self.edge {
                    waited += usize::from(arrived < at);
                    released.push(Delivery { start: s, end: e, arrived, delivered: at });
                    self.pending.swap_remove(k);
                } else {
                    k += 1;
                }
            }
        }
        self.above.forget_below(self.edge);
        Some(Arrival { range, released, waited, delivered_edge: self.edge })
    }
}

/// What a segment is, judged from its headers and what its connection showed before it. The
/// first that applies, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Reset,
    Syn,
    SynAck,
    /// SND.NXT − 1 with at most one byte (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6).
    KeepAliveProbe,
    /// One new byte at SND.NXT while the peer's last advertised window was zero (RFC 9293
    /// §3.8.6.1), as Wireshark's `tcp.analysis.zero_window_probe`.
    ZeroWindowProbe,
    /// Every sequence number it occupies (payload, SYN, FIN) was seen before.
    Retransmission,
    Fin,
    /// New payload (all or part of it).
    Data,
    /// No payload, no SYN, FIN or RST.
    Ack,
}

/// A TCP segment's header fields, as the tracker reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// The advertised window, unscaled (only whether it is zero matters here).
    pub window: u16,
    pub len: usize,
}

impl Segment {
    /// The TCP segment `s` is, if it is one.
    pub fn of(s: &Summary) -> Option<Segment> {
        let Transport::Tcp { src_port, dst_port, seq, ack, flags, window, payload_len } = s.transport else {
            return None;
        };
        let (from, to) = (SocketAddr::new(s.src, src_port), SocketAddr::new(s.dst, dst_port));
        Some(Segment { from, to, seq, ack, flags, window, len: payload_len })
    }

    /// Sequence numbers it occupies: payload, plus one each for SYN and FIN (RFC 9293 §3.4).
    pub fn seq_len(&self) -> u32 {
        (self.len as u32).wrapping_add(u32::from(self.flags.syn)).wrapping_add(u32::from(self.flags.fin))
    }
}

/// What the tracker says about one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo<T> {
    /// The connection, unique over the tracker's life (a port reused after a close is another).
    pub conn: u64,
    /// 0-based among connections whose SYN was seen, in the order of their SYNs; `None` for a
    /// connection that was already open when the tracker started.
    pub number: Option<usize>,
    /// Sent by the side that sent the SYN; `None` when the SYN was not seen.
    pub from_opener: Option<bool>,
    /// The sender's initial sequence number, when its SYN was seen (then offsets count from
    /// the byte after it).
    pub sender_isn: Option<u32>,
    pub kind: Kind,
    /// Sequence numbers between the highest seen from this sender and this segment's start,
    /// never seen: lost before the vantage point. Not for a SYN or an RST.
    pub hole: Option<u32>,
    /// Payload bytes between the highest payload byte seen from this sender and this
    /// segment's start (a hole in the data alone; for payload-carrying segments only).
    pub data_hole: Option<u32>,
    /// It carries payload below the highest payload byte seen, and is not a keep-alive probe:
    /// a retransmission or a segment out of order, full or partial overlap.
    pub old_data: bool,
    /// Some of its payload had not been seen before (it may fill a hole below the highest byte
    /// seen: new to this vantage point, though sent before).
    pub fresh: bool,
    /// The stream offsets of its payload (from the first byte after the SYN, or the first
    /// payload seen when the SYN was not), when it has payload and they are known.
    pub offsets: Option<(u64, u64)>,
    /// What its payload did to the sender's stream reassembly, when it delivered anything new.
    pub arrival: Option<Arrival<T>>,
    /// Its acknowledgement number as an offset in the other side's stream (ACK set, and that
    /// stream's start known).
    pub ack_offset: Option<u64>,
}

/// One direction of a connection.
#[derive(Clone, Debug)]
struct Side<T> {
    isn: Option<u32>,
    /// After the highest sequence number seen (SYN and FIN count one).
    next: Option<u32>,
    /// After the highest payload byte seen (the ISN + 1 after a SYN).
    data_next: Option<u32>,
    offsets: Option<StreamOffsets>,
    assembler: Assembler<T>,
    fin: bool,
    /// Its last acknowledgement advertised a zero window.
    window_zero: bool,
}

impl<T> Default for Side<T> {
    fn default() -> Self {
        Side {
            isn: None,
            next: None,
            data_next: None,
            offsets: None,
            assembler: Assembler::default(),
            fin: false,
            window_zero: false,
        }
    }
}

impl<T> Side<T> {
    fn opened(isn: u32) -> Self {
        let base = isn.wrapping_add(1);
        Side {
            isn: Some(isn),
            next: Some(base),
            data_next: Some(base),
            offsets: Some(StreamOffsets::new(base)),
            ..Side::default()
        }
    }
}

#[derive(Clone, Debug)]
struct Conn<T> {
    id: u64,
    number: Option<usize>,
    /// The opener's address, when its SYN was seen.
    opener: Option<SocketAddr>,
    /// Sides by address: `sides[0]` is the lower `SocketAddr`'s.
    sides: [Side<T>; 2],
    reset: bool,
}

/// TCP connections followed segment by segment. `T` is the time type (any ordered stamp).
#[derive(Clone, Debug)]
pub struct Tracker<T> {
    conns: HashMap<(SocketAddr, SocketAddr), Conn<T>>,
    ids: u64,
    opened: usize,
}

impl<T> Default for Tracker<T> {
    fn default() -> Self {
        Tracker { conns: HashMap::new(), ids: 0, opened: 0 }
    }
}

fn key(a: SocketAddr, b: SocketAddr) -> ((SocketAddr, SocketAddr), usize) {
    if a <= b {
        ((a, b), 0)
    } else {
        ((b, a), 1)
    }
}

impl<T: Copy + Ord> Tracker<T> {
    /// Connections tracked now.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Ranges waiting behind holes, over every connection.
    pub fn pending(&self) -> usize {
        self.conns.values().flat_map(|c| &c.sides).map(|s| s.assembler.pending()).sum()
    }

    /// Reads the packet `s` seen at `at`: `None` if it is not a TCP segment.
    pub fn push(&mut self, at: T, s: &Summary) -> Option<SegmentInfo<T>> {
        Some(self.push_segment(at, &Segment::of(s)?))
    }

    /// Reads one segment seen at `at`.
    pub fn push_segment(&mut self, at: T, g: &Segment) -> SegmentInfo<T> {
        let (k, d) = key(g.from, g.to);
        let opens = g.flags.syn && !g.flags.ack;
        let new_conn = match self.conns.get(&k) {
            None => true,
            // A SYN with another ISN (or from the other side) opens a new connection on the
            // same addresses (RFC 9293 §3.5: a port reused after a close).
            Some(c) => opens && (c.opener != Some(g.from) || c.sides[d].isn != Some(g.seq)),
        };
        if new_conn {
            if self.conns.len() >= MAX_CONNECTIONS {
                self.conns.retain(|_, c| !(c.reset || c.sides[0].fin && c.sides[1].fin));
            }
            if self.conns.len() >= MAX_CONNECTIONS {
                // Still full of open connections: the oldest goes.
                let oldest = self.conns.iter().min_by_key(|(_, c)| c.id).map(|(k, _)| *k);
                oldest.and_then(|k| self.conns.remove(&k));
            }
            let number = opens.then(|| {
                self.opened += 1;
                self.opened - 1
            });
            self.ids += 1;
            let conn = Conn {
                id: self.ids,
                number,
                opener: opens.then_some(g.from),
                sides: [Side::default(), Side::default()],
                reset: false,
            };
            self.conns.insert(k, conn);
        }
        let conn = self.conns.get_mut(&k).expect("inserted above");
        let from_opener = conn.opener.map(|o| o == g.from);
        let peer_window_zero = conn.sides[1 - d].window_zero;
        let peer = &mut conn.sides[1 - d].offsets;
        let ack_offset = if g.flags.ack { peer.as_mut().and_then(|o| o.offset(g.ack)) } else { None };
        let side = &mut conn.sides[d];
        let flags = g.flags;
        let end = g.seq.wrapping_add(g.seq_len());
        let hole = match side.next {
            Some(next) if !flags.syn && !flags.rst && seq_after(g.seq, next) => Some(g.seq.wrapping_sub(next)),
            _ => None,
        };
        let kind = if flags.rst {
            Kind::Reset
        } else if flags.syn {
            if side.isn != Some(g.seq) {
                *side = Side::opened(g.seq);
            }
            if flags.ack {
                Kind::SynAck
            } else {
                Kind::Syn
            }
        } else {
            match side.next {
                Some(next) if g.len <= 1 && g.seq.wrapping_add(1) == next && !flags.fin => Kind::KeepAliveProbe,
                Some(next) if g.len == 1 && g.seq == next && peer_window_zero && !flags.fin => Kind::ZeroWindowProbe,
                Some(next) if g.seq_len() > 0 && !seq_after(end, next) => Kind::Retransmission,
                _ if flags.fin => Kind::Fin,
                _ if g.len > 0 => Kind::Data,
                _ => Kind::Ack,
            }
        };
        if side.next.is_none_or(|n| seq_after(end, n)) {
            side.next = Some(end);
        }
        let sender_isn = side.isn;
        conn.reset |= flags.rst;
        side.fin |= flags.fin;
        if flags.ack && !flags.rst {
            side.window_zero = g.window == 0;
        }
        let mut info = SegmentInfo {
            conn: conn.id,
            number: conn.number,
            from_opener,
            sender_isn,
            kind,
            hole,
            data_hole: None,
            old_data: false,
            fresh: false,
            offsets: None,
            arrival: None,
            ack_offset,
        };
        if g.len == 0 {
            return info;
        }
        // A SYN's payload (TCP Fast Open, RFC 7413) starts after the SYN's sequence number.
        let seq = g.seq.wrapping_add(u32::from(flags.syn));
        let data_end = seq.wrapping_add(g.len as u32);
        let data_next = *side.data_next.get_or_insert(seq);
        info.data_hole = seq_after(seq, data_next).then(|| seq.wrapping_sub(data_next));
        // One byte just below the highest is a keep-alive or window probe (RFC 9293 §3.8.4).
        let probe = g.len <= 1 && seq.wrapping_add(1) == data_next;
        info.old_data = seq_before(seq, data_next) && !probe;
        if seq_after(data_end, data_next) {
            side.data_next = Some(data_end);
        }
        let offsets = side.offsets.get_or_insert_with(|| StreamOffsets::new(seq));
        if let Some(start) = offsets.offset(seq) {
            let span = (start, start + g.len as u64);
            info.offsets = Some(span);
            info.fresh = side.assembler.is_new(span.0, span.1);
            info.arrival = side.assembler.arrive(span.0, span.1, at);
        }
        info
    }
}

#[cfg(test)]
mod tests;
