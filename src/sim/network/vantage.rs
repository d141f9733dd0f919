//! The vantage points of the network: which hosts are captured, and how each frame is
//! labelled. The client's tap labels a frame with the phase of its connection at the client
//! ([`Network::bind`]), or the phase current when it was recorded; a tap elsewhere labels it
//! with its connection ([`super::tap`]). Programs say why they send what they send
//! ([`Network::explain_next`]), and scheduled events are noted on the next frame of every tap.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::{Expect, Network, Tap};
use crate::capture::{Capture, Keep};
use crate::packet::{PacketSummary, Transport};
use crate::time::Instant;

impl Network {
    pub(super) fn new_capture(&self, host: usize) -> Capture {
        let names = self.hosts.iter().map(|h| (h.addr, h.name.clone())).collect();
        let (keep, snaplen) = self.keep;
        Capture::new(&self.hosts[host].name, names).describing().keeping(keep).with_snaplen(snaplen)
    }

    /// Every tap, those added later too, keeps only the packets `keep` allows, and of each
    /// only its first `snaplen` bytes (0: all of it). Call it before the run records anything.
    pub fn keep_captures(&mut self, keep: Keep, snaplen: usize) {
        self.keep = (keep, snaplen);
        for t in std::iter::once(&mut self.tap).chain(&mut self.other_taps) {
            t.capture = std::mem::take(&mut t.capture).keeping(keep).with_snaplen(snaplen);
        }
    }

    /// Also captures at `host` (another vantage point; its own file).
    pub fn add_tap(&mut self, host: usize) {
        if host != self.tap.host && !self.other_taps.iter().any(|t| t.host == host) && host < self.hosts.len() {
            let capture = self.new_capture(host);
            self.other_taps.push(Tap::new(host, capture));
            self.explanations.on = true;
        }
    }

    /// A tap at `host`, or at the host with address `peer`, will record what `host` sends next.
    pub fn captured_between(&self, host: usize, peer: Ipv4Addr) -> bool {
        let peer = self.by_addr.get(&peer).copied();
        std::iter::once(&self.tap)
            .chain(&self.other_taps)
            .any(|t| (t.host == host || Some(t.host) == peer) && t.capture.keeps_next())
    }

    /// Says why `host` sends its next `what` (data, or a reset) from its TCP port `port` to
    /// `remote`: `why()` goes into that packet's comment at the taps of both ends, and is
    /// called only when one of them will record it.
    pub fn explain_next(
        &mut self,
        host: usize,
        port: u16,
        remote: SocketAddrV4,
        what: Expect,
        why: impl FnOnce() -> String,
    ) {
        if self.captured_between(host, *remote.ip()) {
            let from = SocketAddrV4::new(self.hosts[host].addr, port);
            self.explanations.expect(from, remote, what, why());
        }
    }

    pub(super) fn tap_of(&mut self, host: usize) -> Option<&mut Tap> {
        if self.tap.host == host {
            return Some(&mut self.tap);
        }
        self.other_taps.iter_mut().find(|t| t.host == host)
    }

    /// Records `bytes` at `host`'s tap, if it has one, in the phase of the packet's own
    /// connection where the client bound one ([`Network::bind`]), else in the current phase
    /// (the connections of a page or a pool, DNS, anything unbound).
    pub(super) fn record_at(
        &mut self,
        host: usize,
        now: Instant,
        bytes: &[u8],
        summary: Option<&PacketSummary>,
    ) -> Option<u64> {
        let is_tapped = self.tap.host == host || self.other_taps.iter().any(|t| t.host == host);
        if !is_tapped {
            return None;
        }
        let client = self.hosts[self.tap.host].addr;
        let port = summary.and_then(|s| client_port(s, client));
        let (phase, mut label) = match port.and_then(|p| self.bound.get(&p)) {
            Some((phase, label)) => (*phase, label.as_str()),
            None => (self.phase, self.label.as_str()),
        };
        // Away from the client, a frame is labelled with its connection (and the client's
        // phase only where the client is one end).
        let away;
        if host != self.tap.host {
            away = self.explanations.away_label(summary, client, label, &self.hosts);
            label = &away;
        }
        let tap =
            if self.tap.host == host { &mut self.tap } else { self.other_taps.iter_mut().find(|t| t.host == host)? };
        let frame = tap.record(now, bytes, summary, label, phase);
        let from_peer_with_data = summary.is_some_and(|s| {
            s.dst == client && matches!(s.transport, Transport::Tcp { payload_len, .. } if payload_len > 0)
        });
        if let (Some(p), true) = (port, host == self.tap.host) {
            // From the peer's first data on, every frame of the connection (the client's ACKs
            // of that data too) goes with it.
            match self.peer_data_since_bind.get_mut(&p) {
                Some(frames) => frames.push(frame),
                None if from_peer_with_data => {
                    self.peer_data_since_bind.insert(p, vec![frame]);
                }
                None => {}
            }
        }
        Some(frame)
    }

    /// The client's connection on `port` is now in the client's current phase.
    pub fn bind(&mut self, port: u16) {
        self.bound.insert(port, (self.phase, self.label.clone()));
        self.peer_data_since_bind.remove(&port);
    }

    /// The frames the client recorded on `port` from the peer's first data since the
    /// connection's phase began.
    pub fn take_peer_data(&mut self, port: u16) -> Vec<u64> {
        self.peer_data_since_bind.remove(&port).unwrap_or_default()
    }

    /// Moves `frames` of the client's capture into the current phase.
    pub fn relabel_to_current(&mut self, frames: &[u64]) {
        for &frame in frames {
            self.tap.capture.relabel(frame, &self.label, self.phase);
        }
    }

    /// Notes `what` (a scheduled event) on the first frame each tap records at or after `at`.
    pub fn note_event(&mut self, at: Instant, what: &str) {
        for t in std::iter::once(&mut self.tap).chain(&mut self.other_taps) {
            let i = t.lost.partition_point(|(d, _)| *d <= at);
            t.lost.insert(i, (at, what.to_string()));
        }
    }

    /// Ends the captures: lost packets no later frame took up are noted on the last frame, and
    /// TLS records are named from the streams (decrypted with `key_log`, the run's secrets).
    /// Then the other taps' frames of the client's packets take the phase the client's
    /// capture ended up giving them (a response's first data is the response's, though the
    /// server sent it while the client was still in its request phase).
    pub fn finish_captures(&mut self, key_log: &str) {
        self.tap.finish(key_log);
        for t in &mut self.other_taps {
            t.finish(key_log);
        }
        if self.other_taps.is_empty() {
            return;
        }
        let client = self.hosts[self.tap.host].addr;
        let labels = crate::sim::tap::labels_by_packet(&self.tap.capture);
        for t in &mut self.other_taps {
            self.explanations.relabel_as_client(&mut t.capture, &labels, client, &self.hosts);
        }
    }
}

/// The client's port of a TCP packet to or from `client`.
fn client_port(s: &PacketSummary, client: Ipv4Addr) -> Option<u16> {
    match s.transport {
        Transport::Tcp { src_port, dst_port, .. } => {
            if s.src == client {
                Some(src_port)
            } else if s.dst == client {
                Some(dst_port)
            } else {
                None
            }
        }
        _ => None,
    }
}
