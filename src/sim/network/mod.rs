//! The lab network: hosts joined pairwise by [`Link`]s, a record of every packet, and capture
//! taps at the vantage hosts.
//!
//! Sans-IO: every method takes `now`. The network routes by destination address (all hosts
//! share one /24, one hop apart), hands each packet to the link of its (source, destination)
//! pair, and keeps a [`PacketRecord`] per packet: who sent it to whom, when it was sent and
//! delivered, or which rule lost it. A [`Tap`] records what its host sent and received, and
//! nothing else: a packet lost on its way to the host is not in the host's capture (the next
//! frame the host records carries a note saying what was lost before it); a packet the host
//! sent that was lost stays in its capture, marked lost after leaving.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;

use super::fault::{rejection, Faults, HostFault};
use super::tap::{lost_note, Explanations};
pub use super::tap::{Expect, Tap};
use crate::capture::{Capture, Keep, Note};
use crate::host::Host;
use crate::link::{DropReason, DropRule, Link, LinkConfig, SendOutcome};
use crate::packet::{self, PacketSummary};
use crate::time::Instant;

#[cfg(test)]
mod tests;
mod vantage;

/// A packet in flight between two hosts (indices into [`Network::hosts`]).
#[derive(Clone, Debug)]
pub struct Packet {
    pub bytes: Vec<u8>,
    pub from: usize,
    pub to: usize,
    /// The order packets were sent in, network-wide: the index of its [`PacketRecord`], where
    /// records are kept.
    pub seq: u64,
    /// Its frame in the sender's capture, if the sender is tapped (to mark it lost later).
    pub sent_frame: Option<u64>,
}

/// Changes packets in flight, just before the link hands them to their receiver: a hook for
/// the whole-network fuzz target (`wirelab::fuzz_targets::network`), which corrupts bytes of
/// chosen packets. Unset in every real run (one `Option` check per delivered packet).
pub type Mutator = Box<dyn FnMut(&mut Packet) + Send>;

/// What happened to one packet, as data.
#[derive(Clone, Debug, PartialEq)]
pub struct PacketRecord {
    pub from: usize,
    pub to: usize,
    /// IP packet length in bytes.
    pub len: usize,
    pub sent: Instant,
    /// When the link delivered it to the receiver (the first copy, if duplicated).
    pub arrived: Option<Instant>,
    /// Why the link lost it, if it did.
    pub lost: Option<DropReason>,
    /// The timeline phase current at the scenario's client when it was sent.
    pub phase: Option<usize>,
    /// Its frame number in the vantage (client) capture, where the client sent or received it
    /// and the capture kept it.
    pub frame: Option<u64>,
    /// What it is, for a packet the vantage capture does not hold (or did not keep), when
    /// [`Network::describe_records`] is on (pictures draw every host's packets).
    pub described: Option<Described>,
}

/// A packet described for a picture: at length (`DNS query A …`, the tooltip) and short.
#[derive(Clone, Debug, PartialEq)]
pub struct Described {
    pub what: String,
    pub short: packet::Short,
}

impl Described {
    fn of(s: &PacketSummary, bytes: &[u8]) -> Described {
        Described { what: s.describe(bytes), short: s.short(bytes, None) }
    }
}

/// Hashes the keys [`Network`] looks up for every packet (the receiver's address, the
/// client's port) with a multiply per byte, where SipHash (std's default, made to resist
/// crafted keys, which the lab's own addresses and ports are not) cost as much as the rest of
/// routing a packet.
#[derive(Default)]
struct LabHasher(u64);

type LabHash = BuildHasherDefault<LabHasher>;

impl Hasher for LabHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The most packets [`Network::records`] holds: what a picture can show (a ladder of more is
/// unreadable), and what keeps a long run's memory flat with pictures on.
pub const MAX_RECORDS: usize = 20_000;

/// Hosts, links, packet records and taps.
pub struct Network {
    pub hosts: Vec<Host>,
    /// Directed links, indexed `from * hosts + to`.
    links: Vec<Option<Link<Packet>>>,
    by_addr: HashMap<Ipv4Addr, usize, LabHash>,
    /// The scenario's own vantage point (its client).
    pub tap: Tap,
    /// Other vantage points asked for (`--tap`).
    pub other_taps: Vec<Tap>,
    /// The label of the phase current at the client: each frame's comment starts with it.
    pub label: String,
    /// The timeline phase current at the client, if any.
    pub phase: Option<usize>,
    /// The phase and label of each TCP connection the scripted client opened, by the client's
    /// port: a packet takes its own connection's phase, whatever the client does on another.
    bound: HashMap<u16, (Option<usize>, String), LabHash>,
    /// The frames the client's tap recorded on each connection since the peer's first data
    /// after the connection was last bound to a phase.
    peer_data_since_bind: HashMap<u16, Vec<u64>, LabHash>,
    /// Packets addressed to no host of the lab (counted, never delivered anywhere).
    pub unroutable: u64,
    /// No packet in any link is due before this instant (`None`: none is in flight), so a
    /// [`Network::deliver_due`] before it returns at once instead of asking every link. A
    /// settle round calls it once per packet a host reads, and all but the first call at an
    /// instant find nothing. Lowered to each queued packet's arrival as it is sent; set to
    /// the links' earliest arrival by each delivery, which asks them all.
    due_from: Option<Instant>,
    /// Packets sent so far, network-wide (the next packet's [`Packet::seq`]).
    sent: u64,
    /// A record of every packet, by [`Packet::seq`], when `describe_records` is on: the
    /// first [`MAX_RECORDS`] of them.
    records: Vec<PacketRecord>,
    /// Packets sent past [`MAX_RECORDS`], not recorded.
    records_left_out: u64,
    /// Per host, the record index of each packet waiting in its receive queue (in step with
    /// the device's queue), so the frame a tap records on ingress is tied to its record.
    rx_seqs: Vec<VecDeque<u64>>,
    /// Keep a [`PacketRecord`] of every packet, and describe those the vantage capture does
    /// not hold ([`PacketRecord::described`]): what the pictures are drawn from. Set it before
    /// anything is sent. Off, no per-packet state outlives the packet (a long run's memory
    /// stays flat, with `--capture none`).
    pub describe_records: bool,
    /// Changes packets as they are delivered (fuzzing only; see [`Mutator`]).
    pub mutator: Option<Mutator>,
    /// Packets delivered corrupted (netem `corrupt`) and not yet read by their receiver, by
    /// [`Packet::seq`], with the checksum whose bit was flipped.
    corrupted: HashMap<u64, &'static str>,
    /// What every tap's capture keeps (`--capture`), and its snap length (0: whole packets).
    keep: (Keep, usize),
    /// Hosts that are down and paths that are cut, by scheduled events.
    pub faults: Faults,
    /// Who opened each TCP connection (for taps away from the client), and why programs send
    /// what they send ([`Network::explain_next`]).
    explanations: Explanations,
}

impl Network {
    /// Joins every pair of `hosts` with the link `path(from, to)` returns; `vantage` is the
    /// host whose capture [`Network::tap`] holds.
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
        let mut net = Network {
            hosts,
            links,
            by_addr,
            tap: Tap::new(vantage, Capture::default()),
            other_taps: Vec::new(),
            label: String::new(),
            phase: None,
            bound: HashMap::default(),
            peer_data_since_bind: HashMap::default(),
            unroutable: 0,
            due_from: None,
            sent: 0,
            records: Vec::new(),
            records_left_out: 0,
            rx_seqs: vec![VecDeque::new(); n],
            describe_records: false,
            mutator: None,
            corrupted: HashMap::new(),
            keep: (Keep::All, 0),
            explanations: Explanations::default(),
            faults: Faults::default(),
        };
        net.tap.capture = net.new_capture(vantage);
        net
    }

    pub fn link(&self, from: usize, to: usize) -> Option<&Link<Packet>> {
        self.links.get(from * self.hosts.len() + to)?.as_ref()
    }

    /// Every packet sent so far, in send order, when [`Network::describe_records`] is on
    /// (empty otherwise), up to the first [`MAX_RECORDS`].
    pub fn records(&self) -> &[PacketRecord] {
        &self.records
    }

    /// Packets sent after the first [`MAX_RECORDS`], which have no record.
    pub fn records_left_out(&self) -> u64 {
        self.records_left_out
    }

    /// Moves what `host` has sent into the links (nothing leaves a host that is down).
    pub fn collect(&mut self, host: usize, now: Instant) {
        while let Some(bytes) = self.hosts[host].device.tx.pop_front() {
            if !self.faults.is_empty() && self.faults.host(host).is_some() {
                continue;
            }
            self.send(host, now, bytes, None);
        }
    }

    /// Puts one packet `host` sent into its link (or drops it, as the link or a cut path
    /// decides). `why`, if given, goes into its comment at the receiver's tap.
    fn send(&mut self, host: usize, now: Instant, bytes: Vec<u8>, why: Option<String>) {
        let n = self.hosts.len();
        {
            let summary = packet::summarize(&bytes);
            let to = summary.as_ref().and_then(|s| match s.dst {
                std::net::IpAddr::V4(dst) => self.by_addr.get(&dst).copied(),
                std::net::IpAddr::V6(_) => None,
            });
            let Some(to) = to.filter(|&t| t != host) else {
                self.unroutable += 1;
                return;
            };
            let kind = summary.as_ref().map_or(crate::link::PacketKind::Other, |s| s.kind());
            if let (true, Some(s)) = (self.explanations.on, &summary) {
                self.explanations.observe(s);
            }
            let sent_frame = self.record_at(host, now, &bytes, summary.as_ref());
            if let (Some(why), Some(_)) = (&why, self.tap_of(to)) {
                self.explanations.in_flight.insert(self.sent, why.clone());
            }
            if let Some(why) = summary.as_ref().and_then(|s| self.explanations.take(s)) {
                if let (Some(f), Some(t)) = (sent_frame, self.tap_of(host)) {
                    t.capture.add_note(f, Note::After(format!(" [{why}]")));
                }
                if self.tap_of(to).is_some() {
                    // Its record's index, below.
                    self.explanations.in_flight.insert(self.sent, why);
                }
            }
            let len = bytes.len();
            let Some(link) = self.links[host * n + to].as_mut() else { return };
            let seq = self.sent;
            self.sent += 1;
            let at_vantage = host == self.tap.host || to == self.tap.host;
            // The vantage capture's frame, if it keeps it.
            let frame = sent_frame.filter(|&f| host == self.tap.host && self.tap.kept(f));
            // What the vantage capture will not hold: another host's packet to someone else, or
            // one past what it keeps. (One to the vantage host that is lost is described below;
            // one it receives, when it reads it.)
            let unkept = if host == self.tap.host { frame.is_none() } else { !at_vantage };
            let recording = self.describe_records && self.records.len() < MAX_RECORDS;
            self.records_left_out += u64::from(self.describe_records && !recording);
            let described = summary.as_ref().filter(|_| recording && unkept).map(|s| Described::of(s, &bytes));
            if recording {
                self.records.push(PacketRecord {
                    from: host,
                    to,
                    len,
                    sent: now,
                    arrived: None,
                    lost: None,
                    phase: self.phase,
                    frame,
                    described,
                });
            }
            let packet = Packet { bytes, from: host, to, seq, sent_frame };
            let flow = if link.has_flows() { summary.as_ref().and_then(super::impair::flow_key) } else { None };
            let cut = if self.faults.is_empty() { None } else { self.faults.path(host, to) };
            let sent = match cut {
                Some(event) => Err((DropReason::Event(format!("the path is cut ({event})")), packet)),
                None => link.send_flow_or_return(now, kind, flow.as_ref(), len, packet),
            };
            let delay = link.config().delay;
            if let Ok(SendOutcome::Queued { deliver_at, .. }) = sent {
                self.due_from = Some(self.due_from.map_or(deliver_at, |d| d.min(deliver_at)));
            }
            if let Ok(SendOutcome::Queued { corrupted: true, .. }) = sent {
                if let (Some(f), Some(t)) = (sent_frame, self.tap_of(host)) {
                    t.capture.mark_never_received(f, super::impair::sent_note(), None);
                }
                if let Some(r) = self.records.get_mut(seq as usize) {
                    r.lost = Some(DropReason::Corrupted);
                }
                return;
            }
            if let Err((reason, packet)) = sent {
                if sent_frame.is_some() {
                    if let Some(t) = self.tap_of(host) {
                        t.capture.mark_last_lost(&reason.to_string());
                    }
                }
                if let Some(t) = self.tap_of(to).filter(|t| t.capture.keeps_next()) {
                    // Noted on the first frame at or after the time it would have arrived.
                    let due = now + delay;
                    let note = lost_note(summary.as_ref(), &packet.bytes, &reason, now);
                    let i = t.lost.partition_point(|(d, _)| *d <= due);
                    t.lost.insert(i, (due, note));
                }
                self.explanations.in_flight.remove(&seq);
                if let Some(r) = self.records.get_mut(seq as usize) {
                    if host != self.tap.host && r.described.is_none() {
                        r.described = summary.as_ref().map(|s| Described::of(s, &packet.bytes));
                    }
                    r.lost = Some(reason);
                }
            }
        }
    }

    /// Hands every packet due by `now` to its destination host; returns how many.
    pub fn deliver_due(&mut self, now: Instant) -> usize {
        if self.due_from.is_none_or(|due| due > now) {
            return 0;
        }
        let mut delivered = 0;
        let mut due_from: Option<Instant> = None;
        let (mut refused, mut black_holed) = (Vec::new(), Vec::new());
        for i in 0..self.links.len() {
            let Some(link) = self.links[i].as_mut() else { continue };
            while let Some((mut packet, corruption)) = link.pop_due_with_fate(now) {
                if let Some(mutate) = self.mutator.as_mut() {
                    mutate(&mut packet);
                }
                let down = if self.faults.is_empty() { None } else { self.faults.host(packet.to) };
                if let Some((fault, event)) = down {
                    // It reached a host that is down: lost there, or answered for it.
                    match fault {
                        HostFault::Blackhole => {
                            let reason = DropReason::Event(format!(
                                "{} is down, black-holed ({event})",
                                self.hosts[packet.to].name
                            ));
                            if let Some(f) = packet.sent_frame {
                                black_holed.push((packet.from, f, reason.to_string()));
                            }
                            if let Some(r) = self.records.get_mut(packet.seq as usize) {
                                r.lost = Some(reason);
                            }
                        }
                        HostFault::Reject => {
                            if let Some(r) = self.records.get_mut(packet.seq as usize) {
                                r.arrived.get_or_insert(now);
                            }
                            if let Some(reply) = rejection(&packet.bytes) {
                                let what = if reply.get(9) == Some(&1) { "ICMP port unreachable" } else { "reset" };
                                let why =
                                    format!("{what}: {} is down and rejects ({event})", self.hosts[packet.to].name);
                                refused.push((packet.to, reply, why));
                            }
                        }
                    }
                    continue;
                }
                if let Some(what) = corruption.and_then(|c| super::impair::corrupt(&mut packet.bytes, c)) {
                    self.corrupted.insert(packet.seq, what);
                }
                if let Some(r) = self.records.get_mut(packet.seq as usize) {
                    r.arrived.get_or_insert(now);
                }
                self.hosts[packet.to].device.rx.push_back(packet.bytes);
                self.rx_seqs[packet.to].push_back(packet.seq);
                delivered += 1;
            }
            if let Some(next) = link.next_delivery() {
                due_from = Some(due_from.map_or(next, |d| d.min(next)));
            }
        }
        self.due_from = due_from;
        for (host, frame, why) in black_holed {
            if let Some(t) = self.tap_of(host) {
                t.capture.mark_lost(frame, &why);
            }
        }
        for (host, reply, why) in refused {
            self.send(host, now, reply, Some(why));
        }
        delivered
    }

    /// Lets `host` process one delivered packet (recorded first by the host's tap, if it has
    /// one, so it carries the label current when the host reads it).
    pub fn ingress_one(&mut self, host: usize, now: Instant) -> bool {
        self.hosts[host].device.prefetch_next();
        // The host reads the front packet, if any: its record leaves the queue with it.
        let seq = if self.hosts[host].device.rx.is_empty() { None } else { self.rx_seqs[host].pop_front() };
        let corrupted = if self.corrupted.is_empty() { None } else { seq.and_then(|s| self.corrupted.remove(&s)) };
        if self.tap.host == host || self.other_taps.iter().any(|t| t.host == host) {
            // Taken out and put back, so the tap can record it without a copy.
            if let Some(bytes) = self.hosts[host].device.rx.pop_front() {
                let summary = packet::summarize(&bytes);
                let frame = self.record_at(host, now, &bytes, summary.as_ref());
                if let (Some(what), Some(f), Some(t)) = (corrupted, frame, self.tap_of(host)) {
                    t.capture.mark_never_received(
                        f,
                        super::impair::received_note(what),
                        super::impair::headers_len(&bytes),
                    );
                }
                let why = (!self.explanations.in_flight.is_empty())
                    .then(|| seq.and_then(|s| self.explanations.in_flight.remove(&s)))
                    .flatten();
                if let (Some(why), Some(f)) = (why, frame) {
                    if let Some(t) = self.tap_of(host) {
                        t.capture.add_note(f, Note::After(format!(" [{why}]")));
                    }
                }
                let kept = frame.filter(|&f| self.tap.kept(f));
                if let (true, Some(r)) = (host == self.tap.host, seq.and_then(|s| self.records.get_mut(s as usize))) {
                    r.frame = kept;
                    if kept.is_none() && self.describe_records && r.described.is_none() {
                        r.described = summary.as_ref().map(|s| Described::of(s, &bytes));
                    }
                }
                self.hosts[host].device.rx.push_front(bytes);
            }
        }
        self.hosts[host].ingress_one(now)
    }

    /// Sends what `host` is ready to send and moves it into the links.
    pub fn flush(&mut self, host: usize, now: Instant) {
        self.hosts[host].egress(now);
        self.collect(host, now);
    }

    /// The next instant something is due: a delivery or a host's timer.
    pub fn next_event(&mut self, now: Instant) -> Option<Instant> {
        let links = self.links.iter().flatten().filter_map(|l| l.next_delivery()).min();
        let hosts = self.hosts.iter_mut().filter_map(|h| h.poll_at(now)).min();
        links.into_iter().chain(hosts).min()
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
            t.corrupted += s.corrupted;
        }
        t
    }

    /// From `now` on, the link from host `from` to host `to` works with `config` (see
    /// [`Link::reconfigure`]: what is queued or in flight keeps its times).
    pub fn reconfigure_link(&mut self, from: usize, to: usize, now: Instant, config: LinkConfig) {
        let n = self.hosts.len();
        if let Some(Some(link)) =
            (from != to && from < n && to < n).then(|| self.links.get_mut(from * n + to)).flatten()
        {
            link.reconfigure(now, config);
            // Its packets keep their times; scan anyway at the next delivery.
            self.due_from = Some(Instant::ZERO);
        }
    }

    /// Scripted drops that matched no packet, in words: "260th data server->client: only 120
    /// data packets were sent on that path".
    pub fn unmatched_drops(&self) -> Vec<String> {
        self.links
            .iter()
            .flatten()
            .flat_map(|l| l.unmatched_rules())
            .map(|(r, sent)| {
                format!("scripted drop `{}` matched no packet: only {sent} were sent on that path", r.label)
            })
            .collect()
    }

    /// Packets dropped on all links so far.
    pub fn dropped(&self) -> u64 {
        self.links.iter().flatten().map(|l| l.stats().dropped).sum()
    }
}
