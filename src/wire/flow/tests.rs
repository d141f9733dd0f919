use std::net::SocketAddr;

use super::*;

fn a() -> SocketAddr {
    "10.0.0.1:40000".parse().unwrap()
}
fn b() -> SocketAddr {
    "10.0.0.2:443".parse().unwrap()
}

/// A segment: `from_a`, seq, length, flags ("S", "SA", "A", "F", "R").
fn seg(from_a: bool, seq: u32, len: usize, flags: &str) -> Segment {
    let (from, to) = if from_a { (a(), b()) } else { (b(), a()) };
    let flags = TcpFlags {
        syn: flags.contains('S'),
        ack: flags.contains('A'),
        fin: flags.contains('F'),
        rst: flags.contains('R'),
        psh: false,
    };
    Segment { from, to, seq, ack: 1, flags, window: 65535, len }
}

#[test]
fn opener_isns_and_kinds() {
    let mut t = Tracker::<u64>::default();
    let syn = t.push_segment(0, &seg(true, 100, 0, "S"));
    assert_eq!((syn.kind, syn.number, syn.from_opener), (Kind::Syn, Some(0), Some(true)));
    let synack = t.push_segment(1, &seg(false, 7000, 0, "SA"));
    assert_eq!((synack.kind, synack.from_opener, synack.conn), (Kind::SynAck, Some(false), syn.conn));
    assert_eq!(t.push_segment(2, &seg(true, 101, 0, "A")).kind, Kind::Ack);
    let data = t.push_segment(3, &seg(true, 101, 100, "A"));
    assert_eq!((data.kind, data.offsets, data.old_data), (Kind::Data, Some((0, 100)), false));
    assert_eq!(t.push_segment(4, &seg(false, 7001, 0, "FA")).kind, Kind::Fin);
    assert_eq!(t.push_segment(5, &seg(false, 7001, 0, "FA")).kind, Kind::Retransmission, "the FIN again");
    assert_eq!(t.push_segment(6, &seg(true, 201, 0, "RA")).kind, Kind::Reset);
    // The same port again with another ISN: a second connection.
    let again = t.push_segment(7, &seg(true, 9000, 0, "S"));
    assert_eq!((again.number, again.from_opener), (Some(1), Some(true)));
    assert_ne!(again.conn, syn.conn);
    // A connection whose SYN was not seen: no number, no opener.
    let c: SocketAddr = "10.0.0.3:1".parse().unwrap();
    let mid = t.push_segment(8, &Segment { from: c, ..seg(true, 5, 10, "A") });
    assert_eq!((mid.number, mid.from_opener, mid.kind, mid.offsets), (None, None, Kind::Data, Some((0, 10))));
}

#[test]
fn sequence_numbers_wrap_and_offsets_keep_counting() {
    let mut t = Tracker::<u64>::default();
    let isn = u32::MAX - 100;
    t.push_segment(0, &seg(false, isn, 0, "S"));
    let first = t.push_segment(1, &seg(false, isn.wrapping_add(1), 1460, "A"));
    assert_eq!(first.offsets, Some((0, 1460)));
    let across = t.push_segment(2, &seg(false, isn.wrapping_add(1461), 1460, "A"));
    assert_eq!((across.kind, across.offsets, across.hole), (Kind::Data, Some((1460, 2920)), None));
    let again = t.push_segment(3, &seg(false, isn.wrapping_add(1), 1460, "A"));
    assert_eq!((again.kind, again.old_data, again.offsets), (Kind::Retransmission, true, Some((0, 1460))));
    assert!(again.arrival.is_none(), "nothing new to deliver");
    assert_eq!(t.push_segment(4, &seg(false, isn.wrapping_add(2921), 10, "A")).arrival.unwrap().delivered_edge, 2930);
}

#[test]
fn a_partial_overlap_is_old_data_but_not_a_full_retransmission() {
    let mut t = Tracker::<u64>::default();
    t.push_segment(0, &seg(true, 0, 0, "S"));
    t.push_segment(1, &seg(true, 1, 1000, "A"));
    let partial = t.push_segment(2, &seg(true, 501, 1000, "A"));
    assert_eq!((partial.kind, partial.old_data, partial.offsets), (Kind::Data, true, Some((500, 1500))));
    let arrival = partial.arrival.unwrap();
    assert_eq!((arrival.range, arrival.delivered_edge), ((1000, 1500), 1500));
    let full = t.push_segment(3, &seg(true, 1001, 500, "A"));
    assert_eq!((full.kind, full.old_data), (Kind::Retransmission, true));
}

#[test]
fn keepalive_probes_are_not_retransmissions() {
    let mut t = Tracker::<u64>::default();
    t.push_segment(0, &seg(true, 0, 0, "S"));
    t.push_segment(1, &seg(true, 1, 100, "A"));
    // RFC 9293 §3.8.4: SND.NXT − 1, with one garbage byte or none.
    let one = t.push_segment(70_000, &seg(true, 100, 1, "A"));
    assert_eq!((one.kind, one.old_data), (Kind::KeepAliveProbe, false));
    let zero = t.push_segment(140_000, &seg(true, 100, 0, "A"));
    assert_eq!(zero.kind, Kind::KeepAliveProbe);
    let two = t.push_segment(140_001, &seg(true, 99, 2, "A"));
    assert_eq!((two.kind, two.old_data), (Kind::Retransmission, true));
    assert_eq!(t.push_segment(140_002, &seg(true, 101, 0, "A")).kind, Kind::Ack);
}

#[test]
fn a_hole_then_its_fill_delivers_what_waited_at_the_fill_time() {
    let mut t = Tracker::<u64>::default();
    t.push_segment(0, &seg(false, 999, 0, "SA"));
    t.push_segment(10, &seg(false, 1000, 100, "A"));
    // [100, 200) lost before the vantage point.
    let after = t.push_segment(11, &seg(false, 1200, 100, "A"));
    assert_eq!((after.hole, after.data_hole, after.kind), (Some(100), Some(100), Kind::Data));
    let waiting = after.arrival.unwrap();
    assert!(waiting.released.is_empty() && waiting.delivered_edge == 100);
    // Out of order: [300, 400) arrives, then [200, 300)'s sender goes quiet.
    let later = t.push_segment(12, &seg(false, 1300, 100, "A"));
    assert_eq!(later.hole, None);
    assert_eq!(t.pending(), 2);
    let fill = t.push_segment(50, &seg(false, 1100, 100, "A"));
    assert_eq!((fill.kind, fill.old_data, fill.hole), (Kind::Retransmission, true, None));
    let arrival = fill.arrival.unwrap();
    assert_eq!((arrival.waited, arrival.delivered_edge), (2, 400));
    let mut released = arrival.released.clone();
    released.sort_by_key(|d| d.start);
    let got: Vec<_> = released.iter().map(|d| (d.start, d.arrived, d.delivered)).collect();
    assert_eq!(got, [(100, 50, 50), (200, 11, 50), (300, 12, 50)]);
    assert_eq!(t.pending(), 0);
}

#[test]
fn an_assembler_delivers_out_of_order_ranges_once() {
    let mut r = Assembler::<u32>::default();
    assert!(r.arrive(5, 5, 0).is_none(), "empty");
    let a = r.arrive(10, 20, 1).unwrap();
    assert_eq!((a.range, a.released.len(), a.delivered_edge), ((10, 20), 0, 0));
    let b = r.arrive(0, 15, 2).unwrap();
    assert_eq!((b.waited, b.delivered_edge), (1, 20));
    assert!(r.arrive(0, 20, 3).is_none(), "a duplicate of delivered bytes");
    let c = r.arrive(15, 30, 4).unwrap();
    assert_eq!((c.range, c.delivered_edge), ((20, 30), 30));
    for i in 0..(MAX_PENDING as u64 + 10) {
        r.arrive(100 + 2 * i, 101 + 2 * i, 5);
    }
    assert_eq!(r.pending(), MAX_PENDING, "holes that never fill are capped");
}

#[test]
fn a_byte_sent_into_a_zero_window_is_a_probe() {
    let mut t = Tracker::<u64>::default();
    t.push_segment(0, &seg(true, 0, 0, "S"));
    t.push_segment(1, &seg(false, 500, 0, "SA"));
    t.push_segment(2, &seg(true, 1, 1000, "A"));
    // The receiver's buffer is full: it advertises a zero window (RFC 9293 §3.8.6.1).
    t.push_segment(3, &Segment { window: 0, ..seg(false, 501, 0, "A") });
    let probe = t.push_segment(200, &seg(true, 1001, 1, "A"));
    assert_eq!((probe.kind, probe.old_data, probe.offsets), (Kind::ZeroWindowProbe, false, Some((1000, 1001))));
    // The window opens: the same byte again is a retransmission, the next one data.
    t.push_segment(400, &seg(false, 501, 0, "A"));
    assert_eq!(t.push_segment(401, &seg(true, 1001, 1, "A")).kind, Kind::KeepAliveProbe, "SND.NXT − 1, one byte");
    assert_eq!(t.push_segment(402, &seg(true, 1002, 100, "A")).kind, Kind::Data);
}
