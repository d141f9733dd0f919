//! Pictures: the data a scenario's ladder and plots are drawn from, gathered from the network's
//! packet records, the client's capture and the measured phases (drawing them is `picture`'s).

use std::collections::BTreeMap;

use super::{Analyser, Run};
use crate::packet::{self, Plain, Transport};
use crate::picture::ladder::{Bracket, Kind, Ladder, Packet};
use crate::picture::plot::TimeSeq;
use crate::picture::plots::connections::Connections;
use crate::picture::plots::streams::{ObjectDeliveries, Stall, Streams};
use crate::proto::stream::TaggedRange;
use crate::runner::page::Page;
use crate::runner::pool::Pool;
use crate::script::plan::ScenarioPlan;
use crate::script::steps::{Protocol, Step};
use crate::sim::network::Network;
use crate::time::Instant;
use crate::timeline::{self, Phase};
use crate::wire::flow::Tracker;

/// The ladder of every scenario that asks for pictures; the time-sequence graph of its response
/// when it has slow-start rounds; a page's deliveries per object; a pool's connections. It runs
/// last: the ladder shows every phase the others measured.
pub struct Pictures;

impl Analyser for Pictures {
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario) {
        let (plan, net, t0) = (run.plan, &run.net, run.t0);
        let ladder = ladder(plan, net, &scenario.phases, t0, run.rtt_ms);
        let time_seq = if scenario.rounds.is_empty() { None } else { time_sequence(plan, net, t0) };
        let streams = run.client.page.as_ref().map(|p| streams(p, plan, net, &run.tagged_ranges(), t0));
        let end = run.client.end.or_else(|| net.tap.capture.packets().last().map(|f| f.at)).unwrap_or(t0);
        let connections = run.client.pool.as_ref().map(|p| connections(plan, net, p, t0, end));
        run.pictures = super::Drawn { ladder: Some(ladder), time_seq, streams, connections };
    }
}

/// The ladder of one finished scenario: every packet the network carried, on one lane per
/// host that sent or received one (the client first), with the measured phases beside the
/// client's lane. Times are ms since `t0`, as the phases are.
pub fn ladder(plan: &ScenarioPlan, net: &Network, phases: &[Phase], t0: Instant, rtt_ms: f64) -> Ladder {
    let vantage = net.tap.host;
    let mut lanes_of: Vec<Option<usize>> = vec![None; plan.hosts.len()];
    let mut lanes = vec![plan.hosts[vantage].name.clone()];
    lanes_of[vantage] = Some(0);
    for r in net.records() {
        for h in [r.from, r.to] {
            if lanes_of[h].is_none() {
                lanes_of[h] = Some(lanes.len());
                lanes.push(plan.hosts[h].name.clone());
            }
        }
    }
    // What each frame the records name is, read once (not the frames themselves: a spilled
    // capture's bytes stay on disk).
    let last_frame = net.records().iter().filter_map(|r| r.frame).max().unwrap_or(0);
    let frames: Vec<(Option<packet::Short>, String)> = net
        .tap
        .capture
        .packets()
        .take(usize::try_from(last_frame).unwrap_or(usize::MAX))
        .map(|f| {
            let names = f.tls.map(|t| t.names.as_slice());
            (packet::summarize(f.bytes).map(|s| s.short(f.bytes, names)), f.what())
        })
        .collect();
    let rel = |t: Instant| timeline::ms(t.micros()) - timeline::ms(t0.micros());
    let packets = net
        .records()
        .iter()
        .map(|r| {
            let frame = r.frame.and_then(|f| frames.get(f as usize - 1));
            let (short, what) = match frame {
                Some((short, what)) => (short.clone(), what.clone()),
                None => match &r.described {
                    Some(d) => (Some(d.short.clone()), d.what.clone()),
                    None => (None, format!("{} bytes", r.len)),
                },
            };
            let short =
                short.unwrap_or(packet::Short { label: format!("{} B", r.len), plain: Plain::Named, payload: r.len });
            let sent_ms = rel(r.sent);
            let delay_ms = plan.link(r.from, r.to).delay.as_secs_f64() * 1000.0;
            Packet {
                from: lanes_of[r.from].unwrap_or(0),
                to: lanes_of[r.to].unwrap_or(0),
                sent_ms,
                arrived_ms: r.arrived.map(rel),
                due_ms: sent_ms + delay_ms,
                lost: r.lost.as_ref().map(ToString::to_string),
                frame: r.frame,
                label: short.label,
                what,
                kind: match short.plain {
                    Plain::Named => Kind::Named,
                    Plain::Data => Kind::Data,
                    Plain::Ack => Kind::Ack,
                },
                payload: short.payload,
            }
        })
        .collect();
    let brackets = phases
        .iter()
        .map(|p| Bracket { label: p.label.clone(), start_ms: p.start_ms, end_ms: p.end_ms, rtts: p.rtts })
        .collect();
    let capture = match plan.capture {
        crate::capture::Keep::None => "no capture (--capture none)".to_string(),
        _ => format!("frame numbers (#) are those of {}-{}.pcapng", plan.lab, plan.name),
    };
    let left_out = net.records_left_out();
    let left_out = if left_out > 0 {
        let drawn = net.records().len();
        format!(" · the first {drawn} packets of {} drawn (the rest are in the capture)", drawn as u64 + left_out)
    } else {
        String::new()
    };
    Ladder {
        id: plan.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect(),
        title: format!("{} · {}: {}", plan.lab, plan.name, plan.title),
        subtitle: format!(
            "path {} · RTT {rtt_ms} ms · {capture}{left_out}",
            crate::runner::netem_words(plan.link(plan.client, plan.server))
        ),
        rtt_ms: (rtt_ms > 0.0).then_some(rtt_ms),
        lanes,
        packets,
        brackets,
    }
}

/// The most data segments a time-sequence graph draws (a bounded picture, and flat memory for
/// a long transfer); the title says how many there were.
pub const MAX_SEGMENTS: usize = 20_000;

/// The time-sequence graph of the TCP connection that carried the most data from the server
/// to the client, from the client's capture: each data segment where it arrived, the client's
/// ACKs and its receive window (scaled by the window scale its SYN announced, RFC 7323 §2.2).
/// `None` when no TCP data reached the client.
pub fn time_sequence(plan: &ScenarioPlan, net: &Network, t0: Instant) -> Option<TimeSeq> {
    let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
    let rel = |t: Instant| timeline::ms(t.micros()) - timeline::ms(t0.micros());
    // The client port whose connection received the most payload.
    let mut bytes: BTreeMap<u16, u64> = BTreeMap::new();
    for f in net.tap.capture.packets() {
        if let Some(s) = packet::summarize(f.bytes) {
            if let (true, Transport::Tcp { dst_port, payload_len, .. }) =
                (s.src == server && s.dst == client, s.transport)
            {
                *bytes.entry(dst_port).or_default() += payload_len as u64;
            }
        }
    }
    let (&port, _) = bytes.iter().filter(|(_, &b)| b > 0).max_by_key(|(&p, &b)| (b, std::cmp::Reverse(p)))?;
    let mut ts = TimeSeq { title: String::new(), ..Default::default() };
    // The one flow tracker: the server's bytes as stream offsets, its acknowledgements too.
    let (mut tracker, mut scale) = (Tracker::default(), 0u8);
    // Data segments seen; those past MAX_SEGMENTS (and the ACKs after them) are not drawn.
    let mut seen = 0u64;
    for f in net.tap.capture.packets() {
        let Some(s) = packet::summarize(f.bytes) else { continue };
        let Transport::Tcp { src_port, dst_port, flags, window, payload_len, .. } = s.transport else {
            continue;
        };
        let t = rel(f.at);
        if s.src == client && src_port == port {
            let Some(info) = tracker.push((), &s) else { continue };
            if flags.syn {
                scale = packet::tcp_window_scale(f.bytes).unwrap_or(0);
            } else if let (Some(a), true) = (info.ack_offset, ts.segments.len() < MAX_SEGMENTS) {
                ts.acks.push((t, a));
                ts.window.push((t, a + (u64::from(window) << scale)));
            }
        } else if s.src == server && dst_port == port && !f.lost {
            let Some(info) = tracker.push((), &s) else { continue };
            if let (false, true, Some((start, end))) = (flags.syn, payload_len > 0, info.offsets) {
                // The same rule the timeline's retransmission count uses.
                seen += 1;
                if ts.segments.len() < MAX_SEGMENTS {
                    ts.segments.push((t, start, end, info.old_data));
                }
            }
        }
    }
    let capture = format!("{}-{}.pcapng", plan.lab, plan.name);
    ts.title = format!("{} · {}: time-sequence of {server} → {client}:{port} ({capture})", plan.lab, plan.name);
    if seen > ts.segments.len() as u64 {
        ts.title.push_str(&format!(", the first {} of {seen} data segments", ts.segments.len()));
    }
    Some(ts)
}

/// Per object of a page: its bytes delivered in order over time and its stalls, from the same
/// measurements as the JSON's `streams` (TCP: the client's capture and the server's record of
/// which TCP bytes carried which object or HTTP/2 stream; QUIC: the stream chunks as the client
/// received them). A stall is the set of an object's waiting bytes released by one fill: it
/// lasts from the first of them arriving to the fill, so an object's longest stall is its
/// `stall_ms`.
pub fn streams(page: &Page, plan: &ScenarioPlan, net: &Network, ranges: &[(u16, TaggedRange)], t0: Instant) -> Streams {
    let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
    let tcp = timeline::hol::tcp_deliveries(&net.tap.capture, client, server);
    let rel = |t: Instant| timeline::ms(t.micros()) - timeline::ms(t0.micros());
    let objects = page
        .objects
        .iter()
        .enumerate()
        .map(|(k, o)| {
            // (bytes of the object, arrived, delivered) per measured range.
            let (carried_by, mut timings): (String, Vec<(u64, Instant, Instant)>) = match page.protocol() {
                Protocol::H3 => {
                    let stream = o.stream.unwrap_or(u64::MAX);
                    let r = page.quic_reassembly().and_then(|r| r.get(&stream));
                    let t = r.map_or(Vec::new(), |r| {
                        r.timings.iter().map(|t| (t.end - t.start, t.arrived, t.delivered)).collect()
                    });
                    (format!("QUIC stream {stream}"), t)
                }
                proto => {
                    let port = o.port.unwrap_or(0);
                    let tag = if proto == Protocol::H2 { o.stream.unwrap_or(u64::MAX) } else { k as u64 };
                    let mine: Vec<_> =
                        ranges.iter().filter(|(p, r)| *p == port && r.tag == tag).map(|(_, r)| r).collect();
                    let t = tcp.get(&port).map_or(Vec::new(), |d| {
                        d.timings
                            .iter()
                            .filter_map(|t| {
                                let overlap: u64 =
                                    mine.iter().map(|r| t.end.min(r.end).saturating_sub(t.start.max(r.start))).sum();
                                (overlap > 0).then_some((overlap, t.arrived, t.delivered))
                            })
                            .collect()
                    });
                    let by = match proto {
                        Protocol::H2 => format!("HTTP/2 stream {tag}"),
                        _ => format!("TCP connection from port {port}"),
                    };
                    (by, t)
                }
            };
            timings.sort_by_key(|&(_, arrived, delivered)| (delivered, arrived));
            let mut delivered: Vec<(f64, u64)> = Vec::new();
            let mut stalls: Vec<Stall> = Vec::new();
            let mut total = 0u64;
            for (i, &(bytes, arrived, at)) in timings.iter().enumerate() {
                total += bytes;
                match delivered.last_mut() {
                    Some(last) if i > 0 && timings[i - 1].2 == at => last.1 = total,
                    _ => delivered.push((rel(at), total)),
                }
                if at > arrived {
                    match stalls.last_mut() {
                        Some(s) if s.to_ms == rel(at) => {
                            s.from_ms = s.from_ms.min(rel(arrived));
                            s.bytes += bytes;
                        }
                        _ => stalls.push(Stall { from_ms: rel(arrived), to_ms: rel(at), bytes }),
                    }
                }
            }
            ObjectDeliveries { id: k as u64, carried_by, delivered, stalls }
        })
        .collect();
    let y_label = match page.protocol() {
        Protocol::H3 => "the bytes of each object's QUIC stream",
        _ => "the TLS records carrying each object (TCP bytes)",
    };
    Streams {
        title: format!("{} · {}", plan.lab, plan.name),
        subtitle: plan.title.clone(),
        y_label: y_label.to_string(),
        objects,
        at_least: (0.0, 0),
    }
}

/// The pool's connections over time: open from the client's SYN until the first FIN or RST
/// of that connection (either side; a server's that never reached the client does not count),
/// read from the client's capture; and when each handshake completed, as the pool saw it.
pub fn connections(plan: &ScenarioPlan, net: &Network, pool: &Pool, t0: Instant, end: Instant) -> Connections {
    let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
    let rel = |t: Instant| timeline::ms(t.micros()) - timeline::ms(t0.micros());
    let mut open_ports: std::collections::BTreeSet<u16> = Default::default();
    let mut open: Vec<(f64, u32)> = Vec::new();
    let mut opened = 0u32;
    for f in net.tap.capture.packets() {
        let Some(s) = packet::summarize(f.bytes) else { continue };
        let Transport::Tcp { src_port, dst_port, flags, .. } = s.transport else { continue };
        let (port, from_client) = match (s.src, s.dst) {
            (a, b) if a == client && b == server => (src_port, true),
            (a, b) if a == server && b == client => (dst_port, false),
            _ => continue,
        };
        if f.lost && !from_client {
            continue;
        }
        let changed = if from_client && flags.syn && !flags.ack {
            opened += u32::from(open_ports.insert(port));
            true
        } else if flags.fin || flags.rst {
            open_ports.remove(&port)
        } else {
            false
        };
        if changed {
            let (t, n) = (rel(f.at), open_ports.len() as u32);
            match open.last_mut() {
                Some(last) if last.0 == t => last.1 = n,
                _ => open.push((t, n)),
            }
        }
    }
    let tls = plan.steps.iter().any(|s| matches!(s, Step::Bursts(b) if b.tls.is_some()));
    let capture = format!("{}-{}.pcapng", plan.lab, plan.name);
    Connections {
        title: format!("{} · {}: {}", plan.lab, plan.name, plan.title),
        subtitle: format!("connections from {capture}; handshakes as the client's pool completed them"),
        open,
        opened,
        handshakes: pool.stats.handshakes_at.iter().map(|&t| rel(t)).collect(),
        handshake_label: if tls { "TLS handshakes completed" } else { "handshakes completed" }.to_string(),
        end_ms: rel(end),
    }
}
