//! The lab network: hosts joined pairwise by [`Link`]s, and one capture tap.
//!
//! Sans-IO: every method takes `now`. The network routes by destination address (all hosts
//! share one /24, one hop apart), hands each packet to the link of its (source, destination)
//! pair, and records what the vantage host sees into the [`Capture`]: packets it sends, packets
//! delivered to it, and packets lost on its way to or from it (commented with the reason).

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::capture::Capture;
use crate::host::Host;
use crate::link::{DropRule, Link, LinkConfig};
use crate::packet;
use crate::sim::time::Instant;

/// A packet in flight between two hosts (indices into [`Network::hosts`]).
#[derive(Clone, Debug)]
pub struct Packet {
    pub bytes: Vec<u8>,
    pub from: usize,
    pub to: usize,
    /// The order packets were sent in, network-wide.
    pub seq: u64,
}

/// Where the capture is taken and how packets are labelled.
pub struct Tap {
    pub host: usize,
    pub capture: Capture,
    /// The label of the phase current at the vantage host; becomes each packet's comment prefix.
    pub label: String,
    /// The timeline phase current at the vantage host, if any.
    pub phase: Option<usize>,
    /// First and last frame recorded in each phase.
    pub phase_frames: Vec<Option<(u64, u64)>>,
    /// Names protocol events in comments, where no script labels phases (real time).
    pub annotator: Option<crate::capture::annotate::Annotator>,
}

impl Tap {
    fn record(&mut self, at: Instant, bytes: &[u8], note: &str) {
        let summary = packet::summarize(bytes);
        let event = self.annotator.as_mut().zip(summary.as_ref()).and_then(|(a, s)| a.observe_packet(s, bytes));
        let label = event.unwrap_or(&self.label);
        let frame = self.capture.record_with(at, bytes, |c| {
            c.push_str(label);
            c.push_str(": ");
            if !note.is_empty() {
                c.push_str(note);
                c.push_str(": ");
            }
            match &summary {
                Some(s) => c.push_str(&s.describe(bytes)),
                None => {
                    let _ = write!(c, "{} bytes", bytes.len());
                }
            }
        });
        self.note_frame(frame);
    }

    /// Counts `frame` in the current phase's frame range.
    fn note_frame(&mut self, frame: u64) {
        if let Some(p) = self.phase {
            if self.phase_frames.len() <= p {
                self.phase_frames.resize(p + 1, None);
            }
            let slot = &mut self.phase_frames[p];
            *slot = Some(slot.map_or((frame, frame), |(first, _)| (first, frame)));
        }
    }

    /// Adds `note` to the comment of the packet just recorded.
    fn amend_last(&mut self, note: &str) {
        let Some(comment) = self.capture.last_comment() else { return };
        let prefix = format!("{}: ", self.label);
        let what = comment.strip_prefix(&prefix).unwrap_or(comment);
        let amended = format!("{prefix}{note}: {what}");
        self.capture.set_last_comment(&amended);
    }
}

/// Hosts, links and the tap.
pub struct Network {
    pub hosts: Vec<Host>,
    /// Directed links, indexed `from * hosts + to`.
    links: Vec<Option<Link<Packet>>>,
    by_addr: HashMap<Ipv4Addr, usize>,
    pub tap: Tap,
    /// Packets addressed to no host of the lab (counted, never delivered anywhere).
    pub unroutable: u64,
    /// Packets lost on their way to the vantage host, waiting to be recorded where they would
    /// have arrived, in (arrival time, send order).
    lost: VecDeque<Lost>,
    /// Send order of the packets waiting in the vantage host's receive queue.
    vantage_rx: VecDeque<u64>,
    /// Packets sent so far (the next packet's `seq`).
    sent: u64,
}

/// A packet lost on its way to the vantage host.
struct Lost {
    at: Instant,
    seq: u64,
    bytes: Vec<u8>,
    note: String,
}

impl Network {
    /// Joins every pair of `hosts` with the link `path(from, to)` returns.
    pub fn new(
        hosts: Vec<Host>,
        mut path: impl FnMut(usize, usize) -> (LinkConfig, Vec<DropRule>, rand_chacha::ChaCha8Rng),
        vantage: usize,
    ) -> Network {
        let n = hosts.len();
        let mut links = Vec::with_capacity(n * n);
        for from in 0..n {
            for to in 0..n {
                links.push((from != to).then(|| {
                    let (config, rules, rng) = path(from, to);
                    Link::new(config, rules, rng)
                }));
            }
        }
        let by_addr = hosts.iter().enumerate().map(|(i, h)| (h.addr, i)).collect();
        let names = hosts.iter().map(|h| (h.addr, h.name.clone())).collect();
        let capture = Capture::new(&hosts[vantage].name, names);
        let tap = Tap {
            host: vantage,
            capture,
            label: String::new(),
            phase: None,
            phase_frames: Vec::new(),
            annotator: None,
        };
        Network {
            hosts,
            links,
            by_addr,
            tap,
            unroutable: 0,
            lost: VecDeque::new(),
            vantage_rx: VecDeque::new(),
            sent: 0,
        }
    }

    pub fn link(&self, from: usize, to: usize) -> Option<&Link<Packet>> {
        self.links.get(from * self.hosts.len() + to)?.as_ref()
    }

    /// Moves what `host` has sent into the links.
    pub fn collect(&mut self, host: usize, now: Instant) {
        let n = self.hosts.len();
        while let Some(bytes) = self.hosts[host].device.tx.pop_front() {
            let summary = packet::summarize(&bytes);
            let to = summary.as_ref().and_then(|s| self.by_addr.get(&s.dst).copied());
            let Some(to) = to.filter(|&t| t != host) else {
                self.unroutable += 1;
                continue;
            };
            let kind = summary.map_or(crate::link::PacketKind::Other, |s| s.kind());
            let sender_is_tap = host == self.tap.host;
            if sender_is_tap {
                self.tap.record(now, &bytes, "");
            }
            let len = bytes.len();
            let Some(link) = self.links[host * n + to].as_mut() else { continue };
            let seq = self.sent;
            self.sent += 1;
            if let Err((reason, packet)) = link.send_or_return(now, kind, len, Packet { bytes, from: host, to, seq }) {
                if sender_is_tap || to == self.tap.host {
                    let note = format!("LOST on the link ({reason}), never delivered");
                    if sender_is_tap {
                        self.tap.amend_last(&note);
                    } else {
                        // Shown where it would have arrived, so the capture stays in the
                        // order the vantage host would have seen it (Wireshark's TCP analysis
                        // then calls the resend a retransmission, as it should).
                        let delay = self.links[host * n + to].as_ref().map_or(Duration::ZERO, |l| l.config().delay);
                        let at = now + delay;
                        let i = self.lost.partition_point(|l| (l.at, l.seq) <= (at, seq));
                        self.lost.insert(i, Lost { at, seq, bytes: packet.bytes, note });
                    }
                }
            }
        }
    }

    /// Hands every packet due by `now` to its destination host; returns how many.
    pub fn deliver_due(&mut self, now: Instant) -> usize {
        let mut delivered = 0;
        for i in 0..self.links.len() {
            let Some(link) = self.links[i].as_mut() else { continue };
            while let Some(packet) = link.pop_due(now) {
                if packet.to == self.tap.host {
                    self.vantage_rx.push_back(packet.seq);
                }
                self.hosts[packet.to].device.rx.push_back(packet.bytes);
                delivered += 1;
            }
        }
        delivered
    }

    /// Lets `host` process one delivered packet (recorded by the tap first if the host is
    /// the vantage point, so it carries the label current when the host reads it).
    pub fn ingress_one(&mut self, host: usize, now: Instant) -> bool {
        if host != self.tap.host {
            return self.hosts[host].ingress_one(now);
        }
        if let Some(&seq) = self.vantage_rx.front() {
            // A lost packet sent before this one would have arrived before it.
            self.record_lost(now, seq);
        }
        if let Some(bytes) = self.hosts[host].device.rx.front() {
            self.tap.record(now, bytes, "");
        }
        let consumed = self.hosts[host].ingress_one(now);
        if consumed {
            self.vantage_rx.pop_front();
        }
        consumed
    }

    /// Records the lost packets due by `now` that were sent before packet `before`.
    fn record_lost(&mut self, now: Instant, before: u64) {
        while self.lost.front().is_some_and(|l| l.at <= now && l.seq < before) {
            if let Some(l) = self.lost.pop_front() {
                // On the wall clock the driver may wake after the packet's time: never record
                // before what is already in the capture.
                let at = self.tap.capture.last_time().map_or(l.at, |t| t.max(l.at));
                self.tap.record(at, &l.bytes, &l.note);
            }
        }
    }

    /// Records every lost packet due by `now` (when nothing else arrives at that instant).
    pub fn flush_lost(&mut self, now: Instant) {
        self.record_lost(now, u64::MAX);
    }

    /// Sends what `host` is ready to send and moves it into the links.
    pub fn flush(&mut self, host: usize, now: Instant) {
        self.hosts[host].egress(now);
        self.collect(host, now);
    }

    /// The next instant something is due: a delivery or a host's timer.
    pub fn next_event(&mut self, now: Instant) -> Option<Instant> {
        let links = self.links.iter().flatten().filter_map(|l| l.next_delivery());
        let hosts: Vec<Instant> = self.hosts.iter_mut().filter_map(|h| h.poll_at(now)).collect();
        let lost = self.lost.front().map(|l| l.at);
        links.chain(hosts).chain(lost).min()
    }

    /// Packets sent, bytes sent and packets dropped, over all links so far.
    pub fn totals(&self) -> crate::link::LinkStats {
        let mut t = crate::link::LinkStats::default();
        for s in self.links.iter().flatten().map(|l| l.stats()) {
            t.sent += s.sent;
            t.bytes_sent += s.bytes_sent;
            t.dropped += s.dropped;
            t.delivered += s.delivered;
            t.duplicated += s.duplicated;
        }
        t
    }

    /// Packets dropped on all links so far.
    pub fn dropped(&self) -> u64 {
        self.links.iter().flatten().map(|l| l.stats().dropped).sum()
    }
}
