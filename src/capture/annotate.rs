//! Naming protocol events from the packets themselves, for captures that no script annotates
//! (real-time runs of real programs): TCP handshakes, retransmissions, keepalive probes,
//! closes and resets, and, from the first bytes of a segment's payload, plaintext TLS records
//! and HTTP/1.x start lines. TCP connections are followed by the one flow tracker
//! ([`crate::wire::flow::Tracker`]); the annotator adds per side whether it has sent a TLS
//! ChangeCipherSpec.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::packet::{PacketSummary, Transport};
use crate::wire::flow::{Kind, SegmentInfo, Tracker};
use crate::wire::h2::{self, Walker};
use crate::wire::http;

/// Recognises events in a stream of packets seen at one vantage point.
#[derive(Debug, Default)]
pub struct Annotator {
    /// The TCP connections, followed by the one flow tracker (`wire::flow`).
    tracker: Tracker<()>,
    /// Per connection and sender: it has sent a TLS ChangeCipherSpec, so its later handshake
    /// records are encrypted (RFC 5246 §7.1).
    sent_ccs: HashMap<(u64, SocketAddr), bool>,
    /// Per connection and sender, on connections that began with the HTTP/2 client preface
    /// (h2c with prior knowledge, RFC 9113 §3.3): the frames of its stream.
    h2c: HashMap<(u64, SocketAddr), Walker>,
    /// What the tracker said about the last segment.
    last: Option<SegmentInfo<()>>,
}

impl Annotator {
    /// How many sequence numbers before the last segment observed its sender had not been
    /// seen sending (RFC 9293 §3.4: it starts past the highest sequence number seen): bytes
    /// lost before this vantage point, or missed by the capture. `None` when it continued.
    pub fn last_hole(&self) -> Option<u32> {
        self.last.as_ref().and_then(|i| i.hole)
    }

    /// What the flow tracker said about the last packet, if it was a TCP segment: its
    /// connection (numbered in the order of the SYNs), its sender, its kind.
    pub fn last_segment(&self) -> Option<&SegmentInfo<()>> {
        self.last.as_ref()
    }

    /// The event this packet is, if it is one worth naming, judged from its headers only
    /// (TCP events and DNS; no TLS or HTTP names, which need the payload: see
    /// [`Annotator::observe_packet`]).
    pub fn observe(&mut self, s: &PacketSummary) -> Option<&'static str> {
        self.observe_packet(s, &[])
    }

    /// The event this packet is, if it is one worth naming. `bytes` is the packet `s` was
    /// parsed from (anything else, or a packet cut short, only loses the payload names).
    ///
    /// TCP events come first (reset, handshake, keepalive probe, retransmission, close), as
    /// the flow tracker classifies the segment ([`Kind`]). A segment that is none of them is
    /// named from the start of its payload: the first TLS record, if the payload begins with a
    /// plaintext record header (see `tls_record_name`), an HTTP/1.x request or status line
    /// ("HTTP request", "HTTP response").
    pub fn observe_packet(&mut self, s: &PacketSummary, bytes: &[u8]) -> Option<&'static str> {
        self.last = None;
        let Transport::Tcp { src_port, payload_len, .. } = s.transport else {
            return match s.transport {
                Transport::Udp { src_port: 53, .. } | Transport::Udp { dst_port: 53, .. } => Some("DNS"),
                _ => None,
            };
        };
        let info = self.tracker.push((), s)?;
        let side = (info.conn, SocketAddr::new(s.src, src_port));
        let event = match info.kind {
            Kind::Reset => Some("reset"),
            Kind::Syn => Some("TCP handshake (SYN)"),
            Kind::SynAck => Some("TCP handshake (SYN/ACK)"),
            Kind::KeepAliveProbe => Some("TCP keepalive probe"),
            Kind::ZeroWindowProbe => Some("TCP zero window probe"),
            Kind::Retransmission => Some("retransmission"),
            Kind::Fin => Some("connection close (FIN)"),
            Kind::Data | Kind::Ack => None,
        };
        if matches!(info.kind, Kind::Syn | Kind::SynAck) {
            self.sent_ccs.remove(&side);
            self.h2c.remove(&side);
        }
        let offsets = info.offsets;
        let info_opener = info.from_opener;
        self.last = Some(info);
        if event.is_some() || payload_len == 0 {
            return event;
        }
        let payload = s.payload(bytes);
        if let Some(name) = offsets.and_then(|(start, _)| self.h2c_name(side, info_opener, start, payload)) {
            return Some(name);
        }
        let sent_ccs = self.sent_ccs.entry(side).or_default();
        let name = tls_record_name(payload, *sent_ccs).or_else(|| http_name(payload));
        // RFC 5246 §7.1: after its ChangeCipherSpec a side's handshake records are encrypted.
        *sent_ccs |= sends_ccs(payload);
        name
    }
}

impl Annotator {
    /// On an h2c connection, the first HTTP/2 frame whose header is in `payload` (at stream
    /// offset `start` of `side`'s stream): the client's stream must begin with the preface
    /// (RFC 9113 §3.4), the server's is followed once the client's did. Frames are found by
    /// walking the headers in stream order ([`Walker`]), so a frame's header may be anywhere in
    /// a segment; a segment that holds only payload names nothing.
    fn h2c_name(
        &mut self,
        side: (u64, SocketAddr),
        opener: Option<bool>,
        start: u64,
        payload: &[u8],
    ) -> Option<&'static str> {
        if start == 0 && !self.h2c.contains_key(&side) {
            let conn_is_h2c = self.h2c.keys().any(|(c, _)| *c == side.0);
            if opener == Some(true) && payload.starts_with(h2::PREFACE) {
                self.h2c.insert(side, Walker::client());
            } else if opener == Some(false) && conn_is_h2c && h2::starts_with_settings(payload) {
                self.h2c.insert(side, Walker::server());
            }
        }
        let walked = self.h2c.get_mut(&side)?.feed(start, payload);
        match walked.frames.first() {
            Some(_) if walked.preface => Some("HTTP/2 client preface"),
            Some(f) => Some(f.event_name()),
            None => walked.preface.then_some("HTTP/2 client preface"),
        }
    }
}

/// The plaintext TLS record header at the start of `bytes` (RFC 8446 §5.1, RFC 5246 §6.2.1):
/// content type 20 to 23, version 0x0301 to 0x0304, a non-zero length. Returns the content type
/// and the declared length.
fn tls_header(bytes: &[u8]) -> Option<(u8, usize)> {
    let [content_type, 3, minor, hi, lo, ..] = *bytes else { return None };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    ((20..=23).contains(&content_type) && (1..=4).contains(&minor) && len > 0).then_some((content_type, len))
}

/// Whether the TLS records starting at the payload's first byte include a ChangeCipherSpec
/// (walking the record headers that lie within the payload).
fn sends_ccs(payload: &[u8]) -> bool {
    let mut rest = payload;
    while let Some((content_type, len)) = tls_header(rest) {
        if content_type == 20 {
            return true;
        }
        let Some(next) = rest.get(5 + len..) else { return false };
        rest = next;
    }
    false
}

/// The name of the first TLS record of `payload`, if the payload starts with a plaintext record
/// header (see [`tls_header`]); nothing past the first record is read. A handshake record is
/// named by its first message's type (RFC 8446 §4, RFC 5246 §7.4), unless that message cannot be
/// plaintext: it follows this side's ChangeCipherSpec (`encrypted`, TLS 1.2's Finished; a
/// ClientHello, never encrypted, is still named), or its declared length overruns the record.
fn tls_record_name(payload: &[u8], encrypted: bool) -> Option<&'static str> {
    let (content_type, record_len) = tls_header(payload)?;
    Some(match content_type {
        20 => "TLS ChangeCipherSpec",
        21 => "TLS alert",
        23 => "TLS application data (encrypted)",
        _ => {
            let body = &payload[5..];
            let message_len = body.get(1..4).map(|l| u32::from_be_bytes([0, l[0], l[1], l[2]]) as usize);
            if message_len.is_some_and(|l| l + 4 > record_len) || (encrypted && body.first() != Some(&1)) {
                return Some("TLS handshake");
            }
            match body.first() {
                Some(1) => "TLS ClientHello",
                Some(2) => "TLS ServerHello",
                Some(4) => "TLS NewSessionTicket",
                Some(8) => "TLS EncryptedExtensions",
                Some(11) => "TLS Certificate",
                Some(12) => "TLS ServerKeyExchange",
                Some(13) => "TLS CertificateRequest",
                Some(14) => "TLS ServerHelloDone",
                Some(15) => "TLS CertificateVerify",
                Some(16) => "TLS ClientKeyExchange",
                Some(20) => "TLS Finished",
                _ => "TLS handshake",
            }
        }
    })
}

/// "HTTP request" or "HTTP response" when the payload starts with an HTTP/1.x request or
/// status line.
fn http_name(payload: &[u8]) -> Option<&'static str> {
    if http::is_response(payload) {
        Some("HTTP response")
    } else if http::is_request(payload) {
        Some("HTTP request")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::summarize;
    use etherparse::PacketBuilder;

    fn tcp(seq: u32, payload: usize, syn: bool, ack: bool, fin: bool) -> Vec<u8> {
        let mut b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(40000, 443, seq, 65535);
        if syn {
            b = b.syn();
        }
        if ack {
            b = b.ack(1);
        }
        if fin {
            b = b.fin();
        }
        let mut out = Vec::new();
        b.write(&mut out, &vec![0u8; payload]).unwrap();
        out
    }

    #[test]
    fn names_handshake_retransmission_keepalive_and_close() {
        let mut a = Annotator::default();
        let mut see = |p: Vec<u8>| a.observe(&summarize(&p).unwrap());
        assert_eq!(see(tcp(100, 0, true, false, false)), Some("TCP handshake (SYN)"));
        assert_eq!(see(tcp(101, 500, false, true, false)), None);
        assert_eq!(see(tcp(601, 500, false, true, false)), None);
        assert_eq!(see(tcp(101, 500, false, true, false)), Some("retransmission"));
        assert_eq!(see(tcp(1100, 1, false, true, false)), Some("TCP keepalive probe"));
        assert_eq!(see(tcp(1101, 0, false, true, true)), Some("connection close (FIN)"));
    }

    /// A segment from the client (10.0.0.1:40000) or the server (10.0.0.2:443) at `seq`.
    fn seg(from_client: bool, seq: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
        crate::packet::testing::segment(from_client, seq, 1, flags, payload)
    }

    fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    /// A handshake record holding one message of type `t` with `len` body bytes.
    fn handshake(t: u8, len: usize) -> Vec<u8> {
        let mut m = vec![t, 0, (len >> 8) as u8, len as u8];
        m.resize(4 + len, 0x42);
        record(22, &m)
    }

    fn names(a: &mut Annotator, packets: &[Vec<u8>]) -> Vec<Option<&'static str>> {
        packets.iter().map(|p| a.observe_packet(&summarize(p).unwrap(), p)).collect()
    }

    #[test]
    fn names_a_tls_1_2_handshake_and_http() {
        let hello = handshake(1, 200);
        let mut server_flight = handshake(2, 70);
        server_flight.extend(handshake(11, 300));
        let mut client_flight = handshake(16, 33);
        client_flight.extend(record(20, &[1]));
        let mut finished = record(22, &[0x14, 0xff, 0xff, 0xff]);
        finished.resize(45, 0x99);
        let mut server_finish = record(20, &[1]);
        server_finish.extend(&finished);
        let packets = [
            seg(true, 100, "S", b""),
            seg(false, 500, "SA", b""),
            seg(true, 101, "A", b""),
            seg(true, 101, "PA", &hello),
            seg(false, 501, "PA", &server_flight),
            seg(false, 501 + server_flight.len() as u32, "PA", &handshake(14, 0)),
            seg(true, 101 + hello.len() as u32, "PA", &client_flight),
            // The client's Finished, alone: encrypted after its ChangeCipherSpec.
            seg(true, 101 + (hello.len() + client_flight.len()) as u32, "PA", &finished),
            seg(false, 1000, "PA", &server_finish),
            seg(true, 2000, "PA", &record(23, &[7; 30])),
            seg(true, 2035, "PA", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            seg(false, 3000, "PA", b"HTTP/1.1 200 OK\r\n\r\n"),
            seg(false, 3000, "PA", b"HTTP/1.1 200 OK\r\n\r\n"),
            seg(true, 2200, "PA", &record(21, &[1, 0])),
            seg(true, 2300, "PA", b"\x16\x03"),
        ];
        let want = [
            Some("TCP handshake (SYN)"),
            Some("TCP handshake (SYN/ACK)"),
            None,
            Some("TLS ClientHello"),
            Some("TLS ServerHello"),
            Some("TLS ServerHelloDone"),
            Some("TLS ClientKeyExchange"),
            Some("TLS handshake"),
            Some("TLS ChangeCipherSpec"),
            Some("TLS application data (encrypted)"),
            Some("HTTP request"),
            Some("HTTP response"),
            Some("retransmission"),
            Some("TLS alert"),
            None,
        ];
        assert_eq!(names(&mut Annotator::default(), &packets), want);
    }

    #[test]
    fn tcp_events_come_before_payload_names() {
        let hello = handshake(1, 100);
        let packets = [
            seg(true, 100, "S", b""),
            seg(true, 101, "PA", &hello),
            seg(true, 101, "PA", &hello),
            seg(true, 101 + hello.len() as u32, "FA", b"GET / HTTP/1.1\r\n"),
            seg(false, 7, "RA", &record(21, &[2, 40])),
        ];
        let want = [
            Some("TCP handshake (SYN)"),
            Some("TLS ClientHello"),
            Some("retransmission"),
            Some("connection close (FIN)"),
            Some("reset"),
        ];
        assert_eq!(names(&mut Annotator::default(), &packets), want);
        // Without the bytes, only TCP events are named.
        let mut a = Annotator::default();
        assert_eq!(a.observe(&summarize(&seg(true, 5, "PA", &hello)).unwrap()), None);
        assert_eq!(a.observe_packet(&summarize(&seg(true, 5, "PA", &hello)).unwrap(), &[]), Some("retransmission"));
    }

    #[test]
    fn tls_records_are_named_from_their_first_bytes_only() {
        let name = |payload: &[u8]| tls_record_name(payload, false);
        assert_eq!(name(&handshake(2, 60)), Some("TLS ServerHello"));
        assert_eq!(name(&handshake(4, 60)), Some("TLS NewSessionTicket"));
        assert_eq!(name(&handshake(0x63, 60)), Some("TLS handshake"));
        // A message longer than its record is not plaintext.
        assert_eq!(name(&record(22, &[1, 0, 9, 0, 0])), Some("TLS handshake"));
        // Only the first record counts; a record longer than the segment is still named.
        let mut flight = handshake(2, 60);
        flight.extend(record(20, &[1]));
        assert_eq!(name(&flight), Some("TLS ServerHello"));
        assert_eq!(name(&handshake(11, 3000)[..1448]), Some("TLS Certificate"));
        assert_eq!(name(&[22, 3, 3, 0, 9, 1]), Some("TLS ClientHello"));
        assert_eq!(tls_record_name(&handshake(1, 60), true), Some("TLS ClientHello"));
        assert_eq!(tls_record_name(&handshake(2, 60), true), Some("TLS handshake"));
        for bad in [
            &[22u8, 3, 3, 0][..],
            &[22, 3, 0, 0, 5, 1],
            &[22, 2, 3, 0, 5, 1],
            &[24, 3, 3, 0, 5],
            &[],
            &[22, 3, 3, 0, 0],
        ] {
            assert_eq!(name(bad), None, "{bad:?}");
        }
        assert!(sends_ccs(&[handshake(16, 10), record(20, &[1])].concat()));
        assert!(!sends_ccs(&[handshake(16, 10), vec![20, 3]].concat()));
        assert_eq!(http_name(b"POST /x HTTP/1.1"), Some("HTTP request"));
        assert_eq!(http_name(b"HTTP/1.0 404 Not Found"), Some("HTTP response"));
        assert_eq!(http_name(b"GETX"), None);
    }

    /// An HTTP/2 frame: header and `len` payload bytes.
    fn h2_frame(frame_type: u8, flags: u8, stream: u32, len: usize) -> Vec<u8> {
        let mut f = (len as u32).to_be_bytes()[1..].to_vec();
        f.extend([frame_type, flags]);
        f.extend(stream.to_be_bytes());
        f.resize(9 + len, 0);
        f
    }

    #[test]
    fn names_http2_frames_on_h2c_with_prior_knowledge() {
        let preface = [h2::PREFACE, &h2_frame(4, 0, 0, 12)].concat();
        let headers = h2_frame(1, 5, 1, 20);
        let data = h2_frame(0, 1, 1, 3000);
        let (c, s) = (101 + preface.len() as u32, 501u32);
        let packets = [
            seg(true, 100, "S", b""),
            seg(false, 500, "SA", b""),
            seg(true, 101, "PA", &preface),
            seg(false, s, "PA", &h2_frame(4, 0, 0, 6)),
            seg(true, c, "PA", &headers),
            seg(false, s + 15, "PA", &data[..1400]),
            seg(false, s + 15 + 1400, "PA", &data[1400..]),
            seg(false, s + 15 + data.len() as u32, "PA", &h2_frame(7, 0, 0, 8)),
        ];
        let want = [
            Some("TCP handshake (SYN)"),
            Some("TCP handshake (SYN/ACK)"),
            Some("HTTP/2 client preface"),
            Some("HTTP/2 SETTINGS"),
            Some("HTTP/2 HEADERS"),
            Some("HTTP/2 DATA"),
            None,
            Some("HTTP/2 GOAWAY"),
        ];
        assert_eq!(names(&mut Annotator::default(), &packets), want);
        // HTTP/1 on another connection is not read as HTTP/2.
        let plain = [seg(true, 100, "S", b""), seg(true, 101, "PA", b"GET / HTTP/1.1\r\n")];
        assert_eq!(names(&mut Annotator::default(), &plain)[1], Some("HTTP request"));
    }

    #[test]
    fn never_panics_on_any_payload() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut a = Annotator::default();
        let seeds = [handshake(1, 40), record(20, &[1]), b"GET / HTTP/1.1".to_vec(), record(23, &[0; 9])];
        for i in 0..20_000 {
            let mut payload = seeds[i % seeds.len()].clone();
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % payload.len();
                payload[at] = next() as u8;
            }
            payload.truncate((next() as usize) % (payload.len() + 1));
            let bytes = seg(next() % 2 == 0, next() as u32, ["PA", "A", "FA", "S"][i % 4], &payload);
            let s = summarize(&bytes).unwrap();
            let _ = a.observe_packet(&s, &bytes);
            let _ = a.observe_packet(&s, &bytes[..(next() as usize) % bytes.len()]);
        }
    }
}
