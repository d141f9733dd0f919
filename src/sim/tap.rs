//! Vantage points ([`Tap`]) and what their comments say beyond the client's phases.
//!
//! The client's tap labels each frame with the phase of its connection at the client. A tap at
//! another host (`--tap`) sees connections the client has no part in (a gateway's calls to its
//! backends): it labels a TCP frame with its connection, opener first
//! (`connection gateway:49969 → backend-1:80`), after the client's phase when the client is
//! one end, and a frame between two other hosts with nothing but what it is. The programs on
//! the hosts can also say why they send a packet ([`Explanations`]: which request a call
//! serves, why a connection is reset, which request a response answers); that note is added
//! to the packet's frame at both ends' taps.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

use crate::capture::{Capture, Note};
use crate::host::Host;
use crate::link::DropReason;
use crate::packet::{self, PacketSummary, Transport};
use crate::time::Instant;

/// One vantage point: what its host sent and received.
pub struct Tap {
    pub host: usize,
    pub capture: Capture,
    /// Names protocol events in comments, where no script labels phases (real time).
    pub annotator: Option<crate::capture::annotate::Annotator>,
    /// Packets lost on their way to this host, by when they would have arrived: noted on the
    /// first frame the host records at or after that time.
    pub(super) lost: VecDeque<(Instant, String)>,
}

impl Tap {
    pub(super) fn new(host: usize, capture: Capture) -> Tap {
        Tap { host, capture, annotator: None, lost: VecDeque::new() }
    }

    /// Records `bytes`, whose parse is `summary`, under `label` (or what the annotator names).
    pub(super) fn record(
        &mut self,
        at: Instant,
        bytes: &[u8],
        summary: Option<&PacketSummary>,
        label: &str,
        phase: Option<usize>,
    ) -> u64 {
        let event = match &mut self.annotator {
            Some(a) => summary.and_then(|s| a.observe_packet(s, bytes).map(str::to_string)),
            None => None,
        };
        let frame = self.capture.record_parsed(at, bytes, summary, event.as_deref().unwrap_or(label), phase);
        while self.lost.front().is_some_and(|(due, _)| *due <= at) {
            if let Some((_, note)) = self.lost.pop_front() {
                self.capture.add_note(frame, Note::LostBefore(note));
            }
        }
        frame
    }

    /// Notes the packets lost on their way here that no later frame took up, and names the
    /// TLS records from the streams, decrypted with `key_log`. (A cut capture ends before
    /// those losses: its last frame says where it was cut instead.)
    pub(super) fn finish(&mut self, key_log: &str) {
        self.capture.name_tls(key_log);
        let last = self.capture.frames();
        let lost = std::mem::take(&mut self.lost);
        if self.capture.is_cut() {
            return;
        }
        for (due, note) in lost {
            self.capture.add_note(last, Note::After(format!(" [then, at {due}, {note}]")));
        }
    }

    /// `frame` (as [`Tap::record`] numbered it) is in the capture.
    pub(super) fn kept(&self, frame: u64) -> bool {
        frame <= self.capture.frames()
    }
}

/// What a program's explanation waits for on its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The next segment that carries data (a request or a response).
    Data,
    /// The next reset (an aborted connection).
    Reset,
    /// The next SYN that opens a connection.
    Syn,
    /// The next segment that carries a FIN (a side closing).
    Fin,
    /// The next UDP datagram between the two endpoints.
    Datagram,
}

/// The TCP endpoints of a packet, (source, destination), when it is TCP over IPv4.
pub(super) fn tcp_endpoints(s: &PacketSummary) -> Option<(SocketAddrV4, SocketAddrV4)> {
    match (s.src, s.dst, &s.transport) {
        (IpAddr::V4(src), IpAddr::V4(dst), Transport::Tcp { src_port, dst_port, .. }) => {
            Some((SocketAddrV4::new(src, *src_port), SocketAddrV4::new(dst, *dst_port)))
        }
        _ => None,
    }
}

/// A connection's endpoints in a fixed order, whichever way a packet goes.
fn key(a: SocketAddrV4, b: SocketAddrV4) -> (SocketAddrV4, SocketAddrV4) {
    if (a.ip(), a.port()) <= (b.ip(), b.port()) {
        (a, b)
    } else {
        (b, a)
    }
}

/// The network's knowledge of TCP connections, for taps away from the client: who opened each
/// (sent its SYN), and the programs' explanations of the packets they are about to send.
/// Kept only when such taps exist (`Explanations::on`).
#[derive(Default)]
pub struct Explanations {
    pub(super) on: bool,
    /// The endpoint that opened each connection, by [`key`].
    opener: HashMap<(SocketAddrV4, SocketAddrV4), SocketAddrV4>,
    /// Why the sender will send its next data or reset on a connection, by (sender, receiver).
    pending: HashMap<(SocketAddrV4, SocketAddrV4), (Expect, String)>,
    /// The explanation of each packet in flight to a tapped receiver, by record index.
    pub(super) in_flight: HashMap<u64, String>,
}

impl Explanations {
    /// Remembers who opened the connection of a SYN.
    pub(super) fn observe(&mut self, s: &PacketSummary) {
        if let (Some((src, dst)), Transport::Tcp { flags, .. }) = (tcp_endpoints(s), &s.transport) {
            if flags.syn && !flags.ack {
                self.opener.insert(key(src, dst), src);
            }
        }
    }

    /// `why` the host at `from` sends its next `what` to `to`.
    pub(super) fn expect(&mut self, from: SocketAddrV4, to: SocketAddrV4, what: Expect, why: String) {
        self.pending.insert((from, to), (what, why));
    }

    /// The explanation `s` carries, if its sender gave one for it (taken: it is said once).
    pub(super) fn take(&mut self, s: &PacketSummary) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        let (src, dst) = match (s.src, s.dst, &s.transport) {
            (IpAddr::V4(src), IpAddr::V4(dst), Transport::Udp { src_port, dst_port, .. }) => {
                (SocketAddrV4::new(src, *src_port), SocketAddrV4::new(dst, *dst_port))
            }
            _ => tcp_endpoints(s)?,
        };
        let (what, _) = self.pending.get(&(src, dst))?;
        let due = match (what, &s.transport) {
            (Expect::Data, Transport::Tcp { payload_len, .. }) => *payload_len > 0,
            (Expect::Reset, Transport::Tcp { flags, .. }) => flags.rst,
            (Expect::Syn, Transport::Tcp { flags, .. }) => flags.syn && !flags.ack,
            (Expect::Fin, Transport::Tcp { flags, .. }) => flags.fin,
            (Expect::Datagram, Transport::Udp { .. }) => true,
            _ => false,
        };
        due.then(|| self.pending.remove(&(src, dst)).map(|(_, why)| why)).flatten()
    }

    /// `connection opener:port → other:port`, hosts by name.
    fn connection(&self, s: &PacketSummary, hosts: &[Host]) -> Option<String> {
        let (src, dst) = tcp_endpoints(s)?;
        // Without a SYN seen, the side with the higher (ephemeral) port is taken for the opener.
        let opener =
            self.opener.get(&key(src, dst)).copied().unwrap_or(if src.port() > dst.port() { src } else { dst });
        let (from, to) = if opener == src { (src, dst) } else { (dst, src) };
        let name = |a: &Ipv4Addr| hosts.iter().find(|h| h.addr == *a).map_or_else(|| a.to_string(), |h| h.name.clone());
        Some(format!("connection {}:{} → {}:{}", name(from.ip()), from.port(), name(to.ip()), to.port()))
    }

    /// The label of a frame at a tap away from the client: its connection, after `label` (the
    /// client's phase) where the client is one end; for a packet between two other hosts that
    /// is not TCP, nothing (its description says what it is).
    pub(super) fn away_label(
        &self,
        s: Option<&PacketSummary>,
        client: Ipv4Addr,
        label: &str,
        hosts: &[Host],
    ) -> String {
        let with_client = s.is_some_and(|s| s.src == client || s.dst == client);
        match s.and_then(|s| self.connection(s, hosts)) {
            Some(c) if with_client && !label.is_empty() => format!("{label} · {c}"),
            Some(c) => c,
            None if with_client => label.to_string(),
            None => String::new(),
        }
    }

    /// Gives `capture`'s frames of packets the client sent or received the label the
    /// client's capture (`labels`, from [`labels_by_packet`]) gave the same packet.
    pub(super) fn relabel_as_client(
        &self,
        capture: &mut Capture,
        labels: &HashMap<u64, &str>,
        client: Ipv4Addr,
        hosts: &[Host],
    ) {
        let mut moved = Vec::new();
        for f in capture.packets() {
            let Some(label) = labels.get(&packet_hash(f.bytes)) else { continue };
            let s = packet::summarize(f.bytes);
            let new = self.away_label(s.as_ref(), client, label, hosts);
            if new != f.label {
                moved.push((f.number, new, f.phase));
            }
        }
        for (frame, label, phase) in moved {
            capture.relabel(frame, &label, phase);
        }
    }
}

/// The same packet's bytes at any tap hash the same.
fn packet_hash(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// The client capture's label of each packet it holds, by the packet's bytes.
pub(super) fn labels_by_packet(client: &Capture) -> HashMap<u64, &str> {
    client.packets().map(|f| (packet_hash(f.bytes), f.label)).collect()
}

/// What a tap says about a packet lost on its way to it: which packet (flow, sequence range,
/// size, content) and which rule dropped it.
pub(super) fn lost_note(summary: Option<&PacketSummary>, bytes: &[u8], reason: &DropReason, sent: Instant) -> String {
    let mut note = String::from("LOST on the way here (never received): ");
    match summary {
        Some(s) => {
            let what = s.describe(bytes);
            // The protocol and addresses first; the description, without the protocol it may
            // name again ("UDP 1472 bytes").
            let _ = match &s.transport {
                Transport::Tcp { src_port, dst_port, seq, payload_len, .. } => {
                    let _ = write!(note, "TCP {}:{src_port} > {}:{dst_port} ", s.src, s.dst);
                    if *payload_len > 0 {
                        let end = seq.wrapping_add(*payload_len as u32);
                        let _ = write!(note, "seq {seq}..{end} (absolute), ");
                    }
                    write!(note, "{what}")
                }
                Transport::Udp { src_port, dst_port, .. } => {
                    let what = what.strip_prefix("UDP ").unwrap_or(&what);
                    write!(note, "UDP {}:{src_port} > {}:{dst_port}, {what}", s.src, s.dst)
                }
                Transport::Icmp { v6, icmp_type, .. } => {
                    let family = if *v6 { "ICMPv6" } else { "ICMP" };
                    write!(note, "{family} type {icmp_type} {} > {}, {what}", s.src, s.dst)
                }
                Transport::Other { protocol } => {
                    let what = what.strip_prefix(&format!("IP protocol {protocol}, ")).unwrap_or(&what);
                    write!(note, "IP protocol {protocol} {} > {}, {what}", s.src, s.dst)
                }
            };
        }
        None => {
            let _ = write!(note, "{} bytes", bytes.len());
        }
    }
    let _ = write!(note, ", sent at {sent}, dropped by {reason}");
    note
}
