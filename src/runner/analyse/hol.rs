//! Head-of-line blocking (the hol lab): per object of a page, when it completed and how long
//! its bytes waited behind a hole, and, in the capture's comments, which segments (or QUIC
//! datagrams) waited and which one filled the hole.
//!
//! Over TCP, the waits come from the capture (`timeline::hol`) and the server's record of which
//! bytes carried which object or HTTP/2 stream; over QUIC, from the stream chunks as the client
//! received them.

use std::collections::BTreeMap;

use super::{Analyser, Run};
use crate::capture::Note;
use crate::packet::{self, Transport};
use crate::proto::stream::TaggedRange;
use crate::runner::page::Page;
use crate::script::plan::ScenarioPlan;
use crate::script::steps::Protocol;
use crate::sim::network::Network;
use crate::timeline;

/// The page's streams (`streams` in the JSON), `streams_stalled`, `max_stall_ms`,
/// `page_load_ms`, and the hole comments.
pub struct PageStreams;

impl Analyser for PageStreams {
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario) {
        let ranges = run.tagged_ranges();
        let Some(page) = &run.client.page else { return };
        comment_holes(page, run.plan, &mut run.net, &ranges);
        let streams = page_streams(page, run, &ranges);
        if !streams.is_empty() {
            let stalled = streams.iter().filter(|s| s.stall_ms > 0.0).count();
            let metrics = &mut scenario.metrics;
            metrics.insert("streams_stalled".into(), stalled as f64);
            metrics.insert("max_stall_ms".into(), streams.iter().map(|s| s.stall_ms).fold(0.0, f64::max));
            if let Some(ms) = scenario.phases.iter().find(|p| p.id == "page_load").and_then(|p| p.duration_ms()) {
                metrics.insert("page_load_ms".into(), ms);
            }
        }
        scenario.streams = streams;
    }
}

/// Per object of a page: completion time, and the longest wait of its bytes behind a hole
/// (TCP: from the capture and the server's record of which bytes carried which object or
/// HTTP/2 stream; QUIC: from the stream chunks as the client received them).
fn page_streams(page: &Page, run: &Run<'_>, ranges: &[(u16, TaggedRange)]) -> Vec<timeline::StreamStat> {
    let (plan, t0) = (run.plan, run.t0);
    let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
    let tcp = timeline::hol::tcp_deliveries(run.capture(), client, server);
    let ms = |d: std::time::Duration| d.as_micros() as f64 / 1000.0;
    page.objects
        .iter()
        .enumerate()
        .map(|(k, o)| {
            let (carried_by, stall) = match page.protocol() {
                Protocol::H3 => {
                    let stream = o.stream.unwrap_or(u64::MAX);
                    let wait = page.quic_reassembly().and_then(|r| r.get(&stream)).map(|r| r.max_wait(0, u64::MAX));
                    (format!("QUIC stream {stream}"), wait.unwrap_or_default())
                }
                proto => {
                    let port = o.port.unwrap_or(0);
                    let tag = if proto == Protocol::H2 { o.stream.unwrap_or(u64::MAX) } else { k as u64 };
                    let wait = ranges
                        .iter()
                        .filter(|(p, r)| *p == port && r.tag == tag)
                        .filter_map(|(_, r)| tcp.get(&port).map(|d| d.max_wait(r.start, r.end)))
                        .max()
                        .unwrap_or_default();
                    let by = match proto {
                        Protocol::H2 => format!("HTTP/2 stream {tag}"),
                        _ => format!("TCP connection from port {port}"),
                    };
                    (by, wait)
                }
            };
            timeline::StreamStat {
                id: k as u64,
                carried_by,
                bytes: o.bytes,
                complete_ms: o.completed.map(|c| timeline::ms(c.micros().saturating_sub(t0.micros()))),
                stall_ms: ms(stall),
            }
        })
        .collect()
}

/// Names, in the packet comments of a TCP page, the segments whose data waited behind a hole
/// (how long, and for which objects or HTTP/2 streams) and the segment that filled it.
fn comment_holes(page: &Page, plan: &ScenarioPlan, net: &mut Network, ranges: &[(u16, TaggedRange)]) {
    let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
    if page.protocol() == Protocol::H3 {
        comment_quic_gaps(page, net, server);
        return;
    }
    let (tcp, frames) = timeline::hol::tcp_deliveries_with_frames(&net.tap.capture, client, server);
    let by_stream: std::collections::HashMap<u64, usize> =
        page.objects.iter().enumerate().filter_map(|(k, o)| Some((o.stream?, k))).collect();
    let name = |tag: u64| match page.protocol() {
        Protocol::H2 => format!("HTTP/2 stream {tag} (object {})", by_stream.get(&tag).map_or(-1, |k| *k as i64)),
        _ => format!("object {tag}"),
    };
    let capture = &mut net.tap.capture;
    for (&port, r) in &tcp {
        for t in r.timings.iter().filter(|t| t.delivered > t.arrived) {
            let Some(&frame) = frames.get(&(port, t.start)) else { continue };
            let mut tags: Vec<u64> = ranges
                .iter()
                .filter(|(p, g)| *p == port && g.start < t.end && g.end > t.start)
                .map(|(_, g)| g.tag)
                .collect();
            tags.dedup();
            let whose = tags.into_iter().map(name).collect::<Vec<_>>().join(", ");
            let ms = t.wait().as_micros() as f64 / 1000.0;
            capture.add_note(frame, Note::After(format!(" [held behind a hole for {ms:.1} ms: {whose}]")));
        }
        for &(start, _, released, _) in &r.fillers {
            if let Some(&frame) = frames.get(&(port, start)) {
                capture
                    .add_note(frame, Note::After(format!(" [fills the hole: releases {released} waiting segments]")));
            }
        }
    }
}

/// QUIC's version of [`comment_holes`]. The packets are encrypted, but the client knows which
/// datagram (in the order it received them) carried each chunk of stream data: the datagrams
/// whose data waited behind a gap in its own stream are named, with the stream, and so is the
/// datagram that filled the gap.
fn comment_quic_gaps(page: &Page, net: &mut Network, server: std::net::Ipv4Addr) {
    let Some(streams) = page.quic_reassembly() else { return };
    let mut notes: BTreeMap<u64, String> = BTreeMap::new();
    for (stream, r) in streams {
        for t in r.timings.iter().filter(|t| t.delivered > t.arrived) {
            if let Some(d) = page.quic_datagram_of(*stream, t.start) {
                let ms = t.wait().as_micros() as f64 / 1000.0;
                notes.insert(
                    d,
                    format!(" [held behind a gap in QUIC stream {stream} for {ms:.1} ms; other streams not held]"),
                );
            }
        }
        for &(start, _, released, _) in &r.fillers {
            if let Some(d) = page.quic_datagram_of(*stream, start) {
                notes
                    .insert(d, format!(" [fills the gap in QUIC stream {stream}: releases {released} waiting chunks]"));
            }
        }
    }
    if notes.is_empty() {
        return;
    }
    // The n-th server datagram the client received is the n-th one from the server in its capture
    // (the capture holds only what the client received).
    let frames: Vec<u64> = net
        .tap
        .capture
        .packets()
        .filter(|f| {
            packet::summarize(f.bytes).is_some_and(|s| s.src == server && matches!(s.transport, Transport::Udp { .. }))
        })
        .map(|f| f.number)
        .collect();
    for (d, note) in notes {
        if let Some(&frame) = d.checked_sub(1).and_then(|i| frames.get(i as usize)) {
            net.tap.capture.add_note(frame, Note::After(note));
        }
    }
}
