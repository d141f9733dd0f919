//! Tests of phases read off captures.

use super::tls_handshake::{ServerHello, HELLO_RETRY_RANDOM};
use super::*;
use crate::time::Instant;
use etherparse::PacketBuilder;

use crate::packet::testing::CLIENT;
const RESOLVER: [u8; 4] = [10, 0, 0, 53];
const RTT: f64 = 40.0;

/// A client's view of one connection: sequence numbers follow the bytes sent.
struct Lab {
    cap: Capture,
    /// The next sequence number of the client and of the server.
    next: [u32; 2],
}

impl Lab {
    fn new(client_isn: u32) -> Self {
        Lab { cap: Capture::new("client", vec![]), next: [client_isn, 7_000] }
    }

    /// Records a segment at `ms` from the client or the server with flags from "SAFRP";
    /// returns its frame number.
    fn tcp(&mut self, ms: f64, from_client: bool, flags: &str, payload: &[u8]) -> u64 {
        let bytes = self.next_segment(from_client, flags, payload);
        self.record(ms, &bytes, "")
    }

    /// A segment from the server lost on its way to the client: it takes its sequence numbers
    /// but is not in the client's capture.
    fn lose(&mut self, flags: &str, payload: &[u8]) {
        self.next_segment(false, flags, payload);
    }

    fn next_segment(&mut self, from_client: bool, flags: &str, payload: &[u8]) -> Vec<u8> {
        let me = usize::from(!from_client);
        let seq = self.next[me];
        let bytes = self.segment(from_client, seq, flags, payload);
        let len = payload.len() as u32 + u32::from(flags.contains('S')) + u32::from(flags.contains('F'));
        self.next[me] = seq.wrapping_add(len);
        bytes
    }

    /// The bytes of a segment at `seq`, acknowledging all the other side sent.
    fn segment(&self, from_client: bool, seq: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
        crate::packet::testing::segment(from_client, seq, self.next[usize::from(from_client)], flags, payload)
    }

    fn record(&mut self, ms: f64, bytes: &[u8], note: &str) -> u64 {
        self.cap.record(Instant::from_micros((ms * 1000.0).round() as u64), bytes, note)
    }

    /// A DNS query for server.lab from port 5353, or its response.
    fn dns(&mut self, ms: f64, query: bool) -> u64 {
        use hickory_proto::op::{MessageType, Query};
        use hickory_proto::rr::{Name, RecordType};
        let mut m = Message::new();
        m.set_id(9).add_query(Query::query(Name::from_ascii("server.lab.").unwrap(), RecordType::A));
        if !query {
            m.set_message_type(MessageType::Response);
        }
        let b = if query {
            PacketBuilder::ipv4(CLIENT, RESOLVER, 64).udp(5353, 53)
        } else {
            PacketBuilder::ipv4(RESOLVER, CLIENT, 64).udp(53, 5353)
        };
        let mut out = Vec::new();
        b.write(&mut out, &m.to_vec().unwrap()).unwrap();
        self.record(ms, &out, "")
    }

    /// SYN at `ms`, SYN/ACK and ACK one RTT later; returns the SYN's and the ACK's frames.
    fn connect(&mut self, ms: f64) -> (u64, u64) {
        let syn = self.tcp(ms, true, "S", b"");
        self.tcp(ms + RTT, false, "SA", b"");
        (syn, self.tcp(ms + RTT, true, "A", b""))
    }

    fn phases(&self) -> Vec<Phase> {
        phases(&self.cap, CLIENT.into(), RTT)
    }
}

fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A handshake record holding one message of type `t` with `body`.
fn handshake(t: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len();
    record(22, &[&[t, (len >> 16) as u8, (len >> 8) as u8, len as u8][..], body].concat())
}

fn client_hello() -> Vec<u8> {
    let mut r = handshake(1, &[0x33; 508]);
    r[2] = 1; // record version 0x0301, as ClientHellos say
    r
}

/// A ServerHello with `extensions` (type, value) and the given random.
fn server_hello(random: [u8; 32], extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend(random);
    body.push(32);
    body.extend([0x5a; 32]);
    body.extend([0x13, 0x01, 0]);
    let mut ext = Vec::new();
    for (kind, value) in extensions {
        ext.extend(kind.to_be_bytes());
        ext.extend((value.len() as u16).to_be_bytes());
        ext.extend(value);
    }
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    handshake(2, &body)
}

fn tls13_server_hello() -> Vec<u8> {
    let key_share = [&[0, 0x1d, 0, 32][..], &[0x77; 32]].concat();
    server_hello([0x11; 32], &[(0x33, key_share), (43, vec![3, 4])])
}

fn ccs() -> Vec<u8> {
    record(20, &[1])
}

fn app_data(len: usize) -> Vec<u8> {
    record(23, &vec![0xee; len])
}

fn phase_of(p: &[Phase], id: &str) -> Option<Phase> {
    p.iter().find(|p| p.id == id).cloned()
}

/// Checks a phase's times (ms), RTTs and frames.
#[track_caller]
fn check(p: &[Phase], id: &str, label: &str, ms: (f64, f64), rtts: f64, frames: (u64, u64)) {
    let got = phase_of(p, id).unwrap_or_else(|| panic!("no {id} in {p:#?}"));
    let want = Phase {
        id: id.into(),
        label: label.into(),
        start_ms: ms.0,
        end_ms: Some(ms.1),
        rtts: Some(rtts),
        first_frame: Some(frames.0),
        last_frame: Some(frames.1),
    };
    assert_eq!(got, want);
}

fn ids(p: &[Phase]) -> Vec<&str> {
    p.iter().map(|p| p.id.as_str()).collect()
}

/// DNS, then HTTPS with TLS 1.3 at 40 ms RTT. The request rides with the client's
/// Finished, or follows 1 ms later. Returns the capture and the frames of note.
fn tls13(rides: bool) -> (Lab, [u64; 10]) {
    let mut lab = Lab::new(1_000);
    let q = lab.dns(0.0, true);
    let r = lab.dns(40.0, false);
    let (syn, ack) = lab.connect(41.0);
    let hello = lab.tcp(81.0, true, "PA", &client_hello());
    // The server's flight: ServerHello, ChangeCipherSpec and encrypted records, one of them
    // (the certificate) spanning two segments.
    let flight = [tls13_server_hello(), ccs(), app_data(40), app_data(2500), app_data(300), app_data(80)].concat();
    lab.tcp(121.0, false, "A", &flight[..1448]);
    lab.tcp(121.0, false, "PA", &flight[1448..]);
    let request = app_data(90);
    let finished = if rides {
        lab.tcp(121.0, true, "PA", &[ccs(), app_data(53), request.clone()].concat())
    } else {
        lab.tcp(121.0, true, "PA", &[ccs(), app_data(53)].concat())
    };
    let sent = if rides { finished } else { lab.tcp(122.0, true, "PA", &request) };
    let start = if rides { 161.0 } else { 162.0 };
    // Two session tickets, then a 4000-byte response in three segments; one duplicate.
    let first = lab.tcp(start, false, "PA", &[app_data(200), app_data(200)].concat());
    let response = app_data(4000);
    lab.tcp(start, false, "A", &response[..1448]);
    let seq = lab.next[1];
    lab.tcp(start + 1.0, false, "A", &response[1448..2896]);
    let last = lab.tcp(start + 2.0, false, "PA", &response[2896..]);
    let dup = lab.segment(false, seq, "A", &response[1448..2896]);
    let dup = lab.record(start + 3.0, &dup, "");
    // close_notify both ways, FINs.
    lab.tcp(start + 10.0, true, "PA", &app_data(19));
    lab.tcp(start + 10.0, true, "FA", b"");
    lab.tcp(start + 50.0, false, "PA", &app_data(19));
    lab.tcp(start + 50.0, false, "FA", b"");
    lab.tcp(start + 50.0, true, "A", b"");
    (lab, [q, r, syn, ack, hello, finished, sent, first, last, dup])
}

#[test]
fn tls_1_3_exchange() {
    let (lab, f) = tls13(false);
    let [q, r, syn, ack, hello, finished, sent, first, last, _] = f;
    let p = lab.phases();
    assert_eq!(ids(&p), ["dns", "tcp_handshake", "tls_handshake", "http_request", "http_response"]);
    check(&p, "dns", "DNS lookup of server.lab", (0.0, 40.0), 1.0, (q, r));
    check(&p, "tcp_handshake", "TCP handshake with 10.0.0.2:443", (41.0, 81.0), 1.0, (syn, ack));
    check(&p, "tls_handshake", "TLS 1.3 handshake", (81.0, 121.0), 1.0, (hello, finished));
    check(&p, "http_request", "HTTP request", (122.0, 162.0), 1.0, (sent, first));
    check(&p, "http_response", "HTTP response", (162.0, 164.0), 0.05, (first, last));
}

#[test]
fn a_request_riding_with_the_finished() {
    let (lab, f) = tls13(true);
    let [.., hello, finished, sent, first, last, _] = f;
    assert_eq!(finished, sent);
    let p = lab.phases();
    check(&p, "tls_handshake", "TLS 1.3 handshake", (81.0, 121.0), 1.0, (hello, finished));
    check(&p, "http_request", "HTTP request", (121.0, 161.0), 1.0, (sent, first));
    check(&p, "http_response", "HTTP response", (161.0, 163.0), 0.05, (first, last));
}

#[test]
fn a_snap_length_keeps_the_phases() {
    let (lab, _) = tls13(false);
    let want = lab.phases();
    assert_eq!(want.len(), 5);
    for snaplen in [60, 80, 200] {
        let mut cut = Capture::new("client", vec![]).with_snaplen(snaplen);
        for f in lab.cap.packets() {
            cut.record(f.at, f.bytes, f.label);
        }
        assert_eq!(phases(&cut, CLIENT.into(), RTT), want, "snaplen {snaplen}");
    }
    // Too short for the transport header: only DNS is left.
    let mut cut = Capture::new("client", vec![]).with_snaplen(30);
    for f in lab.cap.packets() {
        cut.record(f.at, f.bytes, f.label);
    }
    assert_eq!(ids(&phases(&cut, CLIENT.into(), RTT)), ["dns"]);
}

#[test]
fn tls_1_2_takes_two_round_trips() {
    // Sequence numbers wrap during the exchange.
    let mut lab = Lab::new(u32::MAX - 600);
    let (syn, ack) = lab.connect(0.0);
    let hello = lab.tcp(40.0, true, "PA", &client_hello());
    let sh = server_hello([0x22; 32], &[(0xff01, vec![0]), (11, vec![1, 0])]);
    let flight = [sh, handshake(11, &[0x30; 3000]), handshake(12, &[0x31; 300]), handshake(14, &[])].concat();
    for (i, chunk) in flight.chunks(1448).enumerate() {
        lab.tcp(80.0 + i as f64 * 0.25, false, "A", chunk);
    }
    let finished = record(22, &[0x14; 40]); // encrypted: it follows the ChangeCipherSpec
    lab.tcp(80.75, true, "PA", &[handshake(16, &[0x44; 33]), ccs(), finished.clone()].concat());
    let server_ccs = lab.tcp(120.75, false, "PA", &[handshake(4, &[0x55; 180]), ccs(), finished].concat());
    let sent = lab.tcp(120.75, true, "PA", &app_data(100));
    let first = lab.tcp(160.75, false, "PA", &app_data(1000));
    let last = lab.tcp(161.0, false, "PA", &app_data(1000));
    // The server's close_notify (a plaintext alert header) is not part of the response.
    lab.tcp(170.0, false, "PA", &record(21, &[0x66; 26]));
    lab.tcp(170.0, false, "FA", b"");
    let p = lab.phases();
    assert_eq!(ids(&p), ["tcp_handshake", "tls_handshake", "http_request", "http_response"]);
    check(&p, "tcp_handshake", "TCP handshake with 10.0.0.2:443", (0.0, 40.0), 1.0, (syn, ack));
    check(&p, "tls_handshake", "TLS 1.2 handshake", (40.0, 120.75), 2.019, (hello, server_ccs));
    check(&p, "http_request", "HTTP request", (120.75, 160.75), 1.0, (sent, first));
    check(&p, "http_response", "HTTP response", (160.75, 161.0), 0.006, (first, last));
}

#[test]
fn a_hello_retry_request_is_another_round_trip() {
    let mut lab = Lab::new(1);
    lab.connect(0.0);
    let hello = lab.tcp(40.0, true, "PA", &client_hello());
    let mut retry = [0u8; 32];
    retry.copy_from_slice(&HELLO_RETRY_RANDOM);
    lab.tcp(80.0, false, "PA", &[server_hello(retry, &[(43, vec![3, 4])]), ccs()].concat());
    lab.tcp(80.0, true, "PA", &[ccs(), client_hello()].concat());
    lab.tcp(120.0, false, "PA", &[tls13_server_hello(), app_data(900)].concat());
    let finished = lab.tcp(120.0, true, "PA", &app_data(53));
    let p = lab.phases();
    check(&p, "tls_handshake", "TLS 1.3 handshake", (40.0, 120.0), 2.0, (hello, finished));
    // No request yet: nothing after the handshake.
    assert_eq!(ids(&p), ["tcp_handshake", "tls_handshake"]);
}

#[test]
fn plain_http_with_losses() {
    let mut lab = Lab::new(5);
    let syn = lab.tcp(0.0, true, "S", b"");
    // The SYN/ACK is lost on its way: the client never saw it, so it is not in its capture.
    let again = lab.segment(true, 5, "S", b"");
    lab.record(1000.0, &again, "");
    lab.tcp(1040.0, false, "SA", b"");
    let ack = lab.tcp(1040.0, true, "A", b"");
    let get = lab.tcp(1040.0, true, "PA", b"GET /bytes/4000 HTTP/1.1\r\nHost: server.lab\r\n\r\n");
    let first = lab.tcp(1080.0, false, "A", &[&b"HTTP/1.1 200 OK\r\n\r\n"[..], &[b'x'; 1429]].concat());
    // The second segment is lost, the third arrives, the second's resend completes it.
    let seq = lab.next[1];
    lab.lose("A", &[b'x'; 1448]);
    lab.tcp(1082.0, false, "PA", &[b'x'; 1000]);
    lab.tcp(1082.0, true, "A", b"");
    let resend = lab.segment(false, seq, "A", &[b'x'; 1448]);
    let last = lab.record(1122.0, &resend, "");
    lab.tcp(1123.0, false, "FA", b"");
    lab.tcp(1124.0, true, "RA", b"");
    let p = lab.phases();
    assert_eq!(ids(&p), ["tcp_handshake", "http_request", "http_response"]);
    check(&p, "tcp_handshake", "TCP handshake with 10.0.0.2:443", (0.0, 1040.0), 26.0, (syn, ack));
    check(&p, "http_request", "HTTP request", (1040.0, 1080.0), 1.0, (get, first));
    check(&p, "http_response", "HTTP response", (1080.0, 1122.0), 1.05, (first, last));
}

#[test]
fn resets_end_the_timeline() {
    // Refused: no handshake.
    let mut lab = Lab::new(9);
    lab.dns(0.0, true);
    lab.tcp(10.0, true, "S", b"");
    lab.tcp(50.0, false, "RA", b"");
    assert!(lab.phases().iter().all(|p| p.id != "tcp_handshake"));
    assert_eq!(ids(&lab.phases()), Vec::<&str>::new(), "no DNS response either");

    // Reset after the ClientHello: the handshake only.
    let mut lab = Lab::new(9);
    lab.connect(0.0);
    lab.tcp(40.0, true, "PA", &client_hello());
    lab.tcp(80.0, false, "RA", b"");
    lab.tcp(80.0, false, "PA", &tls13_server_hello());
    assert_eq!(ids(&lab.phases()), ["tcp_handshake"]);

    // A TLS alert instead of a ServerHello.
    let mut lab = Lab::new(9);
    lab.connect(0.0);
    lab.tcp(40.0, true, "PA", &client_hello());
    lab.tcp(80.0, false, "PA", &record(21, &[2, 40]));
    assert_eq!(ids(&lab.phases()), ["tcp_handshake"]);

    // Reset while the response arrives: it may be cut short, so it is left out.
    let mut lab = Lab::new(9);
    lab.connect(0.0);
    lab.tcp(40.0, true, "PA", b"GET / HTTP/1.1\r\n\r\n");
    lab.tcp(80.0, false, "PA", b"HTTP/1.1 200 OK\r\nContent-Length: 9000\r\n\r\n");
    lab.tcp(81.0, false, "PA", &[0; 1000]);
    lab.tcp(82.0, false, "RA", b"");
    assert_eq!(ids(&lab.phases()), ["tcp_handshake", "http_request"]);

    // ... but a capture that simply ends keeps it, as does a reset after the server's FIN.
    let mut lab = Lab::new(9);
    lab.connect(0.0);
    lab.tcp(40.0, true, "PA", b"GET / HTTP/1.1\r\n\r\n");
    lab.tcp(80.0, false, "PA", b"HTTP/1.1 200 OK\r\n\r\n");
    let last = lab.tcp(81.0, false, "PA", &[0; 1000]);
    let p = lab.phases();
    check(&p, "http_response", "HTTP response", (80.0, 81.0), 0.025, (last - 1, last));
    lab.tcp(82.0, false, "FA", b"");
    lab.tcp(82.0, true, "RA", b"");
    check(&lab.phases(), "http_response", "HTTP response", (80.0, 81.0), 0.025, (last - 1, last));
}

#[test]
fn not_http_or_missing_pieces() {
    // No SYN/ACK: nothing.
    let mut lab = Lab::new(3);
    lab.tcp(0.0, true, "S", b"");
    lab.tcp(40.0, false, "A", b"");
    assert!(lab.phases().is_empty());
    // A SYN/ACK for another ISN does not count.
    let mut lab = Lab::new(3);
    lab.tcp(0.0, true, "S", b"");
    lab.next[0] = 77;
    lab.tcp(40.0, false, "SA", b"");
    assert!(lab.phases().is_empty());
    // A protocol that is neither TLS nor HTTP: the handshake only.
    let mut lab = Lab::new(3);
    lab.connect(0.0);
    lab.tcp(40.0, true, "PA", b"iperf3 cookie....");
    lab.tcp(80.0, false, "PA", &[9]);
    assert_eq!(ids(&lab.phases()), ["tcp_handshake"]);
    // Only the first connection counts.
    let mut lab = Lab::new(3);
    lab.connect(5.0);
    let b = Lab::new(50).segment(true, 50, "S", b"");
    let b = [&b[..20], &[0x9c, 0x41], &b[22..]].concat(); // another source port
    lab.record(100.0, &b, "");
    let p = lab.phases();
    check(&p, "tcp_handshake", "TCP handshake with 10.0.0.2:443", (0.0, 40.0), 1.0, (1, 3));
}

#[test]
fn empty_and_garbage_captures() {
    assert!(phases(&Capture::new("client", vec![]), CLIENT.into(), RTT).is_empty());
    let mut cap = Capture::new("client", vec![]);
    for (i, bytes) in [&[][..], &[0x45], &[0x45, 0, 0, 20], &[0xff; 64], &[0x45; 40]].iter().enumerate() {
        cap.record(Instant::from_micros(i as u64), bytes, "");
    }
    assert!(phases(&cap, CLIENT.into(), RTT).is_empty());
    assert!(phases(&cap, CLIENT.into(), 0.0).is_empty());
}

#[test]
fn never_panics_on_mangled_captures() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (lab, _) = tls13(false);
    for round in 0..300 {
        let snaplen = [0, 0, 45, 70, 300][round % 5];
        let mut cap = Capture::new("client", vec![]).with_snaplen(snaplen);
        for f in lab.cap.packets() {
            let mut bytes = f.bytes.to_vec();
            if next() % 3 == 0 {
                for _ in 0..(next() % 4) {
                    let at = (next() as usize) % bytes.len();
                    bytes[at] = next() as u8;
                }
            }
            if next() % 7 == 0 {
                bytes.truncate((next() as usize) % (bytes.len() + 1));
            }
            if next() % 11 != 0 {
                cap.record(f.at, &bytes, "");
            }
        }
        let _ = phases(&cap, CLIENT.into(), RTT);
    }
}

#[test]
fn server_hello_versions() {
    let parse = |r: Vec<u8>| ServerHello::parse(&r[5..]).map(|h| (h.retry, h.version));
    assert_eq!(parse(tls13_server_hello()), Some((false, Some(0x0304))));
    assert_eq!(parse(server_hello([0; 32], &[(0xff01, vec![0])])), Some((false, Some(0x0303))));
    let mut bare = handshake(2, &[&[3, 3][..], &[1; 32], &[0], &[0xc0, 0x2f, 0]].concat());
    assert_eq!(parse(bare.clone()), Some((false, Some(0x0303))));
    bare.truncate(bare.len() - 2);
    assert_eq!(parse(bare), Some((false, None)));
    assert_eq!(parse(handshake(2, &[3, 3, 0])), None);
    assert_eq!(parse(handshake(1, &[3, 3])), None);
    assert_eq!(parse(server_hello([0; 32], &[(43, vec![3])])), Some((false, None)));
}
