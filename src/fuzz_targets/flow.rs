//! The fuzz targets of the wire layer's stream readers: the TCP flow tracker
//! ([`crate::wire::flow`]) and the HTTP/2 frame walker ([`crate::wire::h2`]).

/// Segments with chosen sequence numbers, flags and lengths through the one TCP flow tracker
/// ([`crate::wire::flow::Tracker`]). Input: two ISNs (4 bytes each, big-endian: near 2^32 they
/// wrap), then 7-byte segments: a control byte (bit 0: sent by the second host; bits 1-4: SYN,
/// ACK, FIN, RST; bit 5: on a second connection; bit 6: raw sequence number, not ISN-relative;
/// bit 7: a zero window),
/// a 24-bit sequence offset from the sender's ISN, a 12-bit length, a time step. Checked: no
/// panic; a payload's offsets span its length; what an arrival releases lies below the
/// delivered edge, was delivered at that instant and arrived no later; the delivered edge of
/// a stream never goes backwards (until a SYN starts it again); a segment of new data past the
/// highest seen is new to the vantage point (with ISN-relative sequence numbers: raw ones may
/// lie 2^31 apart, where sequence space is ambiguous); memory stays within the caps.
pub fn tcp_flow(data: &[u8]) {
    use std::collections::HashMap;
    use std::net::SocketAddr;

    use crate::wire::flow::{Kind, Segment, Tracker, MAX_CONNECTIONS, MAX_PENDING};
    use crate::wire::ip::TcpFlags;

    let Some((isns, mut rest)) = data.split_first_chunk::<8>() else { return };
    let isn = [
        u32::from_be_bytes([isns[0], isns[1], isns[2], isns[3]]),
        u32::from_be_bytes([isns[4], isns[5], isns[6], isns[7]]),
    ];
    let hosts: [SocketAddr; 3] =
        ["10.0.0.1:40000".parse().unwrap(), "10.0.0.2:443".parse().unwrap(), "10.0.0.1:40001".parse().unwrap()];
    let mut tracker = Tracker::<u64>::default();
    let mut edges: HashMap<(u64, SocketAddr), u64> = HashMap::new();
    let mut now = 0u64;
    let mut raw_seen = false;
    while let Some((r, tail)) = rest.split_first_chunk::<7>() {
        rest = tail;
        let ctl = r[0];
        let second_host = ctl & 1 != 0;
        let client = if ctl & 0x20 != 0 { hosts[2] } else { hosts[0] };
        let (from, to) = if second_host { (hosts[1], client) } else { (client, hosts[1]) };
        let offset = u32::from_be_bytes([0, r[1], r[2], r[3]]);
        raw_seen |= ctl & 0x40 != 0;
        let seq = if ctl & 0x40 != 0 {
            u32::from_be_bytes([r[1], r[2], r[3], r[4]])
        } else {
            isn[usize::from(second_host)].wrapping_add(offset)
        };
        let len = usize::from(u16::from_be_bytes([r[4], r[5]]) & 0x0fff);
        let flags =
            TcpFlags { syn: ctl & 2 != 0, ack: ctl & 4 != 0, fin: ctl & 8 != 0, rst: ctl & 0x10 != 0, psh: false };
        now += u64::from(r[6]);
        let ack = isn[usize::from(!second_host)].wrapping_add(offset / 2);
        let window = if ctl & 0x80 != 0 { 0 } else { 65535 };
        let g = Segment { from, to, seq, ack, flags, window, len };
        let info = tracker.push_segment(now, &g);
        if matches!(info.kind, Kind::Syn | Kind::SynAck) {
            edges.remove(&(info.conn, from));
        }
        if let Some((start, end)) = info.offsets {
            assert_eq!(end - start, len as u64, "{g:?}: offsets {start}..{end}");
            // Sequence numbers 2^31 or more apart are ambiguous by design (RFC 9293 §3.4; RFC
            // 7323 §2.3 keeps windows below 2^30): only ISN-relative ones (24-bit offsets) make
            // "past the highest" mean the same in sequence space and in stream offsets.
            if info.kind == Kind::Data && !raw_seen {
                assert!(info.fresh, "{g:?}: new data past the highest seen is new here");
            }
        } else {
            assert!(info.arrival.is_none() && !info.fresh);
        }
        if let Some(a) = &info.arrival {
            let (start, end) = info.offsets.expect("an arrival has offsets");
            assert!(start <= a.range.0 && a.range.1 == end && a.range.0 < a.range.1, "{a:?}");
            assert!(a.waited <= a.released.len());
            for d in &a.released {
                assert!(d.start < d.end && d.end <= a.delivered_edge, "{d:?} past the edge {}", a.delivered_edge);
                assert!(d.delivered == now && d.arrived <= now, "{d:?} at {now}");
            }
            let edge = edges.entry((info.conn, from)).or_insert(0);
            assert!(a.delivered_edge >= *edge, "the delivered edge went back from {edge} to {}", a.delivered_edge);
            *edge = a.delivered_edge;
        }
        assert!(tracker.connections() <= MAX_CONNECTIONS);
        assert!(tracker.pending() <= 2 * MAX_PENDING * tracker.connections());
    }
}

/// Bytes as HTTP/2 streams through the frame walker ([`crate::wire::h2::Walker`]). Input: a
/// byte (bit 0: a client's stream, which starts with the preface; the rest: the piece size),
/// then the stream. Checked: no panic; walking the stream in pieces names exactly the frames
/// walking it whole does; the frame headers found fit in the bytes; retransmitted pieces name
/// nothing.
pub fn h2_frames(data: &[u8]) {
    use crate::wire::h2::{Walked, Walker, HEADER_LEN, PREFACE};

    let Some((&pick, stream)) = data.split_first() else { return };
    let new = || if pick & 1 != 0 { Walker::client() } else { Walker::server() };
    let mut whole = new();
    let all = whole.feed(0, stream);
    let _ = all.describe();
    let before = if all.preface { PREFACE.len() } else { 0 };
    assert!(before + all.frames.len() * HEADER_LEN <= stream.len(), "more frames than bytes: {all:?}");
    let piece = usize::from(pick >> 1).max(1);
    let mut pieces = new();
    let mut got = Walked::default();
    for (i, chunk) in stream.chunks(piece).enumerate() {
        let at = (i * piece) as u64;
        let w = pieces.feed(at, chunk);
        let _ = w.describe();
        got.preface |= w.preface;
        got.frames.extend(w.frames);
        assert_eq!(pieces.feed(at, chunk), Walked::default(), "a piece read twice names nothing");
    }
    assert_eq!(got, all, "in pieces of {piece} and whole");
    assert_eq!(pieces.lost(), whole.lost());
}
