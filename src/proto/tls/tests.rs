//! End-to-end tests: a client and a server connection exchanging records through
//! in-memory buffers, one flight at a time.

use std::io::{ErrorKind, Read, Write};

use rustls::{ClientConnection, HandshakeKind, ProtocolVersion, ServerConnection};

use super::*;

/// 2026-01-01T00:00:00Z in microseconds since the Unix epoch.
const T0: u64 = 1_767_225_600_000_000;
const SECOND: u64 = 1_000_000;
const NAME: &str = "server.lab";
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: server.lab\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

const TLS13_LABELS: [&str; 5] = [
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
    "EXPORTER_SECRET",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    ToServer,
    ToClient,
}

/// A client and a server connection and the bytes that went between them.
struct Pair {
    c: ClientConnection,
    s: ServerConnection,
    wire: Vec<(Dir, Vec<u8>)>,
    client_got: Vec<u8>,
    server_got: Vec<u8>,
    server_early: Vec<u8>,
    rounds: usize,
}

fn drain(mut reader: impl Read, into: &mut Vec<u8>) {
    match reader.read_to_end(into) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(e) => panic!("reading plaintext: {e}"),
    }
}

impl Pair {
    fn new(lab: &LabTls, version: TlsVersion) -> Self {
        Self {
            c: ClientConnection::new(lab.client(version), lab.server_name()).unwrap(),
            s: ServerConnection::new(lab.server()).unwrap(),
            wire: Vec::new(),
            client_got: Vec::new(),
            server_got: Vec::new(),
            server_early: Vec::new(),
            rounds: 0,
        }
    }

    /// Everything the client has queued, as one flight.
    fn client_send(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.c.wants_write() {
            self.c.write_tls(&mut out).unwrap();
        }
        self.wire.push((Dir::ToServer, out.clone()));
        out
    }

    fn server_send(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.s.wants_write() {
            self.s.write_tls(&mut out).unwrap();
        }
        self.wire.push((Dir::ToClient, out.clone()));
        out
    }

    /// Feeds bytes to the server, draining plaintext after every `process_new_packets`.
    fn server_recv(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            self.s.read_tls(&mut bytes).unwrap();
            self.s.process_new_packets().unwrap();
            if let Some(early) = self.s.early_data() {
                drain(early, &mut self.server_early);
            }
            drain(self.s.reader(), &mut self.server_got);
        }
    }

    fn client_recv(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            self.c.read_tls(&mut bytes).unwrap();
            self.c.process_new_packets().unwrap();
            drain(self.c.reader(), &mut self.client_got);
        }
    }

    /// One client flight and the server's answer. Returns both flights' sizes.
    fn round_trip(&mut self) -> (usize, usize) {
        let to_server = self.client_send();
        assert!(!to_server.is_empty(), "client had nothing to send");
        self.server_recv(&to_server);
        let to_client = self.server_send();
        self.client_recv(&to_client);
        self.rounds += 1;
        (to_server.len(), to_client.len())
    }

    /// Round trips until the client may send application data; returns how many, and
    /// the size of the server's first flight.
    fn handshake(&mut self) -> (usize, usize) {
        let mut first_server_flight = 0;
        while self.c.is_handshaking() {
            let (_, s) = self.round_trip();
            if self.rounds == 1 {
                first_server_flight = s;
            }
            assert!(self.rounds <= 3, "handshake does not finish");
        }
        (self.rounds, first_server_flight)
    }

    /// The client sends `REQUEST` (and whatever handshake bytes are pending, e.g. its
    /// Finished); the server answers `RESPONSE` (after any tickets).
    fn exchange(&mut self) {
        self.c.writer().write_all(REQUEST).unwrap();
        let to_server = self.client_send();
        self.server_recv(&to_server);
        assert_eq!(self.server_got, REQUEST);
        assert!(!self.s.is_handshaking());
        self.s.writer().write_all(RESPONSE).unwrap();
        let to_client = self.server_send();
        self.client_recv(&to_client);
        assert_eq!(self.client_got, RESPONSE);
    }
}

fn lab(seed: u64) -> LabTls {
    LabTls::new(seed, NAME, TlsClock::at_unix_micros(T0 + SECOND)).unwrap()
}

fn lines_with(log: &str, label: &str) -> usize {
    log.lines().filter(|l| l.split(' ').next() == Some(label)).count()
}

fn assert_well_formed(log: &str) {
    assert!(log.ends_with('\n'));
    for line in log.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[1].len(), 64, "client random is 32 bytes: {line}");
        assert!(fields[1..].iter().all(|f| f.bytes().all(|b| b.is_ascii_hexdigit())));
    }
}

#[test]
fn tls13_full_handshake_is_one_round_trip() {
    let lab = lab(1);
    let mut p = Pair::new(&lab, TlsVersion::Tls13);
    // Written before the handshake: rustls holds it and sends it right after Finished.
    p.c.writer().write_all(REQUEST).unwrap();
    let (rounds, _) = p.handshake();
    assert_eq!(rounds, 1);
    assert_eq!(p.c.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(p.c.handshake_kind(), Some(HandshakeKind::Full));
    assert_eq!(p.c.alpn_protocol(), Some(&b"http/1.1"[..]));
    // The client is done, but its Finished is still queued: it must be flushed now.
    assert!(p.c.wants_write());
    assert!(p.s.is_handshaking());
    let fin_and_request = p.client_send();
    p.server_recv(&fin_and_request);
    assert!(!p.s.is_handshaking());
    assert_eq!(p.server_got, REQUEST);
    // The server answers the Finished with its tickets, without being asked.
    assert!(p.s.wants_write());

    let log = lab.key_log();
    assert_well_formed(&log);
    for label in TLS13_LABELS {
        assert_eq!(lines_with(&log, label), 1, "{label} in\n{log}");
    }
    assert_eq!(lines_with(&log, "CLIENT_RANDOM"), 0);
    assert_eq!(lines_with(&log, "CLIENT_EARLY_TRAFFIC_SECRET"), 0);
}

#[test]
fn tls12_full_handshake_is_two_round_trips() {
    let lab = lab(1);
    let mut p = Pair::new(&lab, TlsVersion::Tls12);
    p.round_trip();
    assert!(p.c.is_handshaking(), "no False Start: still handshaking after 1 RTT");
    p.round_trip();
    assert!(!p.c.is_handshaking());
    assert!(!p.s.is_handshaking());
    assert_eq!(p.c.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(p.c.alpn_protocol(), Some(&b"http/1.1"[..]));
    p.exchange();

    let log = lab.key_log();
    assert_well_formed(&log);
    assert_eq!(lines_with(&log, "CLIENT_RANDOM"), 1, "{log}");
    for label in TLS13_LABELS {
        assert_eq!(lines_with(&log, label), 0);
    }
}

/// A scenario touching every random draw: TLS 1.3 full + app data, TLS 1.3 resumed with
/// 0-RTT, TLS 1.2 full and resumed.
fn transcript(seed: u64) -> (Vec<(Dir, Vec<u8>)>, String) {
    let lab = lab(seed);
    let mut wire = Vec::new();

    let mut p = Pair::new(&lab, TlsVersion::Tls13);
    p.handshake();
    p.exchange();
    wire.append(&mut p.wire);

    lab.clock().set_unix_micros(T0 + 3 * SECOND);
    let mut p = Pair::new(&lab, TlsVersion::Tls13);
    p.c.early_data().unwrap().write_all(REQUEST).unwrap();
    p.handshake();
    assert!(p.c.is_early_data_accepted());
    p.exchange();
    wire.append(&mut p.wire);

    for _ in 0..2 {
        let mut p = Pair::new(&lab, TlsVersion::Tls12);
        p.handshake();
        p.exchange();
        wire.append(&mut p.wire);
    }
    (wire, lab.key_log())
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (wire_a, log_a) = transcript(7);
    let (wire_b, log_b) = transcript(7);
    let (wire_c, log_c) = transcript(8);
    assert!(wire_a.len() > 10);
    assert_eq!(wire_a, wire_b);
    assert_eq!(log_a, log_b);
    assert_eq!(wire_a.len(), wire_c.len());
    // Every flight that carries randomness or ciphertext differs under another seed.
    let different = wire_a.iter().zip(&wire_c).filter(|(a, c)| a.1 != c.1).count();
    assert_eq!(different, wire_a.iter().filter(|f| !f.1.is_empty()).count());
    assert_ne!(log_a, log_c);
    assert_eq!(lines_with(&log_a, "CLIENT_EARLY_TRAFFIC_SECRET"), 1);
    assert_eq!(lines_with(&log_a, "CLIENT_RANDOM"), 2);
}

#[test]
fn tls13_resumes_without_certificate() {
    let lab = lab(2);
    let mut full = Pair::new(&lab, TlsVersion::Tls13);
    let (_, full_flight) = full.handshake();
    // No tickets yet: they come only after the server has the client Finished.
    let mut early = Pair::new(&lab, TlsVersion::Tls13);
    assert!(early.c.early_data().is_none());
    early.handshake();
    assert_eq!(early.c.handshake_kind(), Some(HandshakeKind::Full));

    full.exchange(); // delivers Finished; tickets come back with the response
    let mut resumed = Pair::new(&lab, TlsVersion::Tls13);
    let (rounds, resumed_flight) = resumed.handshake();
    assert_eq!(rounds, 1);
    assert_eq!(resumed.c.handshake_kind(), Some(HandshakeKind::Resumed));
    assert_eq!(resumed.s.handshake_kind(), Some(HandshakeKind::Resumed));
    // No Certificate / CertificateVerify in the server's flight.
    assert!(
        resumed_flight + lab.certificate().len() < full_flight,
        "resumed {resumed_flight} B vs full {full_flight} B"
    );
    resumed.exchange();
}

#[test]
fn tls12_resumes_by_session_id_in_one_round_trip() {
    let lab = lab(3);
    let mut full = Pair::new(&lab, TlsVersion::Tls12);
    let (rounds, full_flight) = full.handshake();
    assert_eq!(rounds, 2);
    full.exchange();
    let mut resumed = Pair::new(&lab, TlsVersion::Tls12);
    let (rounds, resumed_flight) = resumed.handshake();
    assert_eq!(rounds, 1);
    assert_eq!(resumed.c.handshake_kind(), Some(HandshakeKind::Resumed));
    assert!(resumed_flight + lab.certificate().len() < full_flight);
    resumed.exchange();
}

#[test]
fn zero_rtt_request_and_half_rtt_response() {
    let lab = lab(4);
    let mut first = Pair::new(&lab, TlsVersion::Tls13);
    first.handshake();
    first.exchange();

    let mut p = Pair::new(&lab, TlsVersion::Tls13);
    {
        let mut early = p.c.early_data().expect("a ticket allows 0-RTT");
        assert_eq!(early.bytes_left(), MAX_EARLY_DATA as usize);
        early.write_all(REQUEST).unwrap();
    }
    // ClientHello and the 0-RTT request leave in one flight, before any server byte.
    let hello = p.client_send();
    assert!(hello.len() > REQUEST.len());
    p.server_recv(&hello);
    assert_eq!(p.server_early, REQUEST, "server reads it via early_data()");
    assert!(p.server_got.is_empty());
    assert!(p.s.is_handshaking());
    // Half-RTT: the server answers right after its Finished, in its first flight.
    p.s.writer().write_all(RESPONSE).unwrap();
    let flight = p.server_send();
    p.client_recv(&flight);
    assert!(!p.c.is_handshaking());
    assert!(p.c.is_early_data_accepted());
    assert_eq!(p.c.handshake_kind(), Some(HandshakeKind::Resumed));
    assert_eq!(p.client_got, RESPONSE, "response arrives with the handshake");
    // EndOfEarlyData + Finished still have to be flushed.
    assert!(p.c.wants_write());
    let fin = p.client_send();
    p.server_recv(&fin);
    assert!(!p.s.is_handshaking());
    assert_eq!(lines_with(&lab.key_log(), "CLIENT_EARLY_TRAFFIC_SECRET"), 1);
}

#[test]
fn tickets_age_on_the_lab_clock() {
    use rustls::time_provider::TimeProvider;
    let clock = TlsClock::at_unix_micros(T0 + 5 * SECOND + 999_999);
    let now = clock.current_time().unwrap();
    assert_eq!(now.as_secs(), T0 / SECOND + 5, "whole seconds");
    let lab = LabTls::new(5, NAME, clock.clone()).unwrap();

    let mut first = Pair::new(&lab, TlsVersion::Tls13);
    first.handshake();
    first.exchange();

    // Ten seconds later: the ticket is fresh, 0-RTT is accepted.
    clock.set_unix_micros(T0 + 15 * SECOND);
    let mut p = Pair::new(&lab, TlsVersion::Tls13);
    p.c.early_data().unwrap().write_all(REQUEST).unwrap();
    p.handshake();
    assert!(p.c.is_early_data_accepted());
    p.exchange();

    // A day later every ticket (86 400 s lifetime) has expired: full handshake.
    clock.set_unix_micros(T0 + 25 * 3600 * SECOND);
    let mut p = Pair::new(&lab, TlsVersion::Tls13);
    assert!(p.c.early_data().is_none());
    p.handshake();
    assert_eq!(p.c.handshake_kind(), Some(HandshakeKind::Full));
}

#[test]
fn no_system_clock_or_rng_in_this_module() {
    let sources = [
        include_str!("mod.rs"),
        include_str!("clock.rs"),
        include_str!("provider.rs"),
        include_str!("identity.rs"),
        include_str!("keylog.rs"),
        include_str!("tests.rs"),
    ];
    let forbidden = [
        concat!("System", "Time"),
        concat!("UnixTime::", "now"),
        concat!("Instant::", "now"),
        concat!("OsR", "ng"),
        concat!("thread_", "rng"),
    ];
    for src in sources {
        for word in forbidden {
            assert!(!src.contains(word), "{word}");
        }
    }
}

#[test]
fn alpn_can_be_replaced() {
    let lab = lab(6).with_alpn(&[b"h2", b"http/1.1"]);
    let mut p = Pair::new(&lab, TlsVersion::Tls13);
    p.handshake();
    assert_eq!(p.c.alpn_protocol(), Some(&b"h2"[..]));
}
