//! Classifying and describing packets for comments, diagrams and scripted drops. Packets are
//! parsed by [`crate::wire::ip`] (re-exported here), the one parser wirelab has.
//!
//! Nothing here panics on any input: every field is read through bounds-checked parsers
//! (etherparse, hickory-proto) and slices are taken with `get`.

use std::fmt::Write as _;

use hickory_proto::op::{Message, MessageType};

use crate::link::PacketKind;
use crate::wire::http;
pub use crate::wire::ip::{summarize, tcp_window_scale, Summary as PacketSummary, TcpFlags, Transport};

mod short;
pub use short::{Plain, Short};

impl PacketSummary {
    /// The class used by scripted drops (see [`PacketKind`] for the TCP precedence).
    pub fn kind(&self) -> PacketKind {
        match &self.transport {
            Transport::Tcp { flags, payload_len, .. } => {
                if flags.rst {
                    PacketKind::Rst
                } else if flags.syn && flags.ack {
                    PacketKind::SynAck
                } else if flags.syn {
                    PacketKind::Syn
                } else if flags.fin {
                    PacketKind::Fin
                } else if *payload_len > 0 {
                    PacketKind::Data
                } else {
                    PacketKind::Ack
                }
            }
            Transport::Udp { .. } => PacketKind::Udp,
            Transport::Icmp { .. } | Transport::Other { .. } => PacketKind::Other,
        }
    }

    /// One short line for a packet comment: TCP flags ("SYN/ACK"), or the payload size and
    /// what it starts with ("517 bytes: TLS ClientHello", "GET / HTTP/1.1",
    /// "DNS query A server.lab"). Streams are not tracked: a segment that does not start
    /// with a recognisable message is just "N bytes".
    pub fn describe(&self, bytes: &[u8]) -> String {
        self.describe_as(bytes, None)
    }

    /// [`PacketSummary::describe`], naming the payload `what` when the caller knows more than
    /// the segment shows (TLS records read from the whole stream, decrypted).
    pub fn describe_as(&self, bytes: &[u8], what: Option<&str>) -> String {
        let mut s = String::new();
        self.describe_into(bytes, what, &mut s);
        s
    }

    /// [`PacketSummary::describe_as`], appended to `out`: no allocation for a plain segment
    /// (what a capture's comments are rendered with, once per frame).
    pub fn describe_into(&self, bytes: &[u8], what: Option<&str>, out: &mut String) {
        let payload = self.payload(bytes);
        match &self.transport {
            Transport::Tcp { flags, payload_len, .. } => describe_tcp(flags, payload, *payload_len, what, out),
            Transport::Udp { src_port, dst_port, .. } => {
                if *src_port == 53 || *dst_port == 53 {
                    if let Some(d) = describe_dns(payload) {
                        out.push_str(&d);
                        return;
                    }
                }
                let _ = write!(out, "UDP {} bytes", payload.len());
            }
            Transport::Icmp { v6, icmp_type, code } => out.push_str(&icmp_name(*v6, *icmp_type, *code)),
            Transport::Other { protocol } => {
                let _ = write!(out, "IP protocol {protocol}, {} bytes", payload.len());
            }
        }
    }
}

/// The description of a TCP segment with `flags` whose payload is `payload_len` bytes on the
/// wire, of which the frame holds `payload` ([`PacketSummary::describe_as`]; a capture renders
/// its segments with this straight from what it kept of their parse: [`crate::capture::sketch`]).
pub fn describe_tcp(flags: &TcpFlags, payload: &[u8], payload_len: usize, what: Option<&str>, out: &mut String) {
    let names = [(flags.syn, "SYN"), (flags.fin, "FIN"), (flags.rst, "RST"), (flags.ack, "ACK")];
    let put_flags = |out: &mut String| {
        for (i, (_, name)) in names.iter().filter(|(on, _)| *on).enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(name);
        }
    };
    let control = flags.syn || flags.fin || flags.rst;
    if payload.is_empty() && payload_len == 0 {
        if names.iter().any(|(on, _)| *on) {
            put_flags(out);
        } else {
            out.push_str("TCP (no flags)");
        }
        return;
    }
    // A frame cut short (a snap length) still says its size on the wire.
    push_decimal(out, payload.len().max(payload_len));
    out.push_str(" bytes");
    match what {
        Some(what) => {
            out.push_str(": ");
            out.push_str(what);
        }
        None if may_name(payload) => {
            if let Some(tls) = describe_tls(payload) {
                out.push_str(": ");
                out.push_str(&tls);
            } else if let Some(line) = http::start_line(payload) {
                out.push_str(": ");
                out.push_str(line);
            }
        }
        None => {}
    }
    if control {
        out.push_str(" [");
        put_flags(out);
        out.push(']');
    }
}

/// Appends `n` in decimal: what `write!(out, "{n}")` writes, without the formatting machinery
/// (a tenth of a capture's render went to it, once per data segment).
pub fn push_decimal(out: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

/// Whether the description of a TCP segment with this payload names what the payload starts
/// with (a TLS record, an HTTP start line), or only says its length.
pub fn names_in_payload(payload: &[u8]) -> bool {
    may_name(payload) && (!tls_record_names(payload).is_empty() || http::start_line(payload).is_some())
}

/// Whether the payload's first byte can start what a description names: a TLS record's
/// content type (20 to 23) or the capital letter of a method or of "HTTP/". Most payloads
/// (a body's bytes) are so told from those in one comparison.
fn may_name(payload: &[u8]) -> bool {
    payload.first().is_some_and(|b| (20..=23).contains(b) || b.is_ascii_uppercase())
}

/// "ICMP echo request", "ICMPv6 destination unreachable (code 4)" (RFC 792, RFC 4443 §2.1).
fn icmp_name(v6: bool, icmp_type: u8, code: u8) -> String {
    let name = match (v6, icmp_type) {
        (false, 0) | (true, 129) => "echo reply",
        (false, 8) | (true, 128) => "echo request",
        (false, 3) | (true, 1) => "destination unreachable",
        (false, 11) | (true, 3) => "time exceeded",
        (true, 2) => "packet too big",
        (true, 135) => "neighbor solicitation",
        (true, 136) => "neighbor advertisement",
        (true, 133) => "router solicitation",
        (true, 134) => "router advertisement",
        _ => "",
    };
    let family = if v6 { "ICMPv6" } else { "ICMP" };
    match (name, code) {
        ("", _) => format!("{family} type {icmp_type} code {code}"),
        (name, 0) => format!("{family} {name}"),
        (name, code) => format!("{family} {name} (code {code})"),
    }
}

/// Names a TLS record's content: content types per RFC 8446 §5.1 / RFC 5246 §6.2.1, handshake
/// message types per RFC 8446 §4 / RFC 5246 §7.4. `body` is what the segment holds of a record
/// declared `len` bytes long. A handshake record whose first message cannot fit in it, or that
/// follows a ChangeCipherSpec, is encrypted (TLS 1.2's Finished, RFC 5246 §7.4.9).
fn record_name(content_type: u8, body: &[u8], len: usize, after_ccs: bool) -> &'static str {
    match content_type {
        20 => "ChangeCipherSpec",
        21 => "Alert",
        23 => "Application Data",
        _ => {
            let msg_len = body.get(1..4).map(|l| u32::from_be_bytes([0, l[0], l[1], l[2]]));
            let fits = msg_len.is_none_or(|l| l as usize + 4 <= len) && len >= 4;
            if after_ccs || !fits {
                return "Handshake (encrypted)";
            }
            match body.first() {
                Some(1) => "ClientHello",
                Some(2) => "ServerHello",
                Some(4) => "NewSessionTicket",
                Some(8) => "EncryptedExtensions",
                Some(11) => "Certificate",
                Some(12) => "ServerKeyExchange",
                Some(13) => "CertificateRequest",
                Some(14) => "ServerHelloDone",
                Some(15) => "CertificateVerify",
                Some(16) => "ClientKeyExchange",
                Some(20) => "Finished",
                _ => "Handshake (encrypted)",
            }
        }
    }
}

/// Sniffs TLS records starting at the payload's first byte: type 20..=23, version 0x0301..=0x0304.
/// Runs of the same name are collapsed ("Application Data x3"); a record continuing past the
/// segment is still named.
fn describe_tls(payload: &[u8]) -> Option<String> {
    let mut names: Vec<(&'static str, usize)> = Vec::new();
    for name in tls_record_names(payload) {
        match names.last_mut() {
            Some((last, n)) if *last == name => *n += 1,
            _ => names.push((name, 1)),
        }
    }
    if names.is_empty() {
        return None;
    }
    let mut s = String::from("TLS ");
    for (i, (name, n)) in names.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(name);
        if *n > 1 {
            let _ = write!(s, " x{n}");
        }
    }
    Some(s)
}

/// The names of the TLS records starting at the payload's first byte, in order (see
/// [`describe_tls`]).
fn tls_record_names(payload: &[u8]) -> Vec<&'static str> {
    let mut names = Vec::new();
    let mut rest = payload;
    let mut after_ccs = false;
    while let Some(&[ct, major, minor, hi, lo]) = rest.get(..5).and_then(|h| <&[u8; 5]>::try_from(h).ok()) {
        if !(20..=23).contains(&ct) || major != 3 || !(1..=4).contains(&minor) {
            break;
        }
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let body = &rest[5..];
        let body = body.get(..len).unwrap_or(body);
        names.push(record_name(ct, body, len, after_ccs));
        after_ccs |= ct == 20;
        rest = rest.get(5 + len..).unwrap_or(&[]);
    }
    names
}

/// "DNS query A server.lab" / "DNS response A server.lab -> 10.0.0.2 (TTL 300)" (RFC 1035).
fn describe_dns(payload: &[u8]) -> Option<String> {
    let msg = Message::from_vec(payload).ok()?;
    let mut s = String::from("DNS ");
    s.push_str(if msg.message_type() == MessageType::Query { "query" } else { "response" });
    if let Some(q) = msg.queries().first() {
        let name = q.name().to_utf8();
        let _ = write!(s, " {} {}", q.query_type(), name.trim_end_matches('.'));
    }
    if msg.message_type() == MessageType::Response {
        // hickory's Display of some record data (a malformed SVCB, CAA, ...) returns an error,
        // which `to_string` would turn into a panic: such a record is named by its type.
        let answers: Vec<String> = msg
            .answers()
            .iter()
            .map(|r| {
                let mut text = String::new();
                match write!(text, "{}", r.data()) {
                    Ok(()) => text,
                    Err(_) => format!("({} record)", r.record_type()),
                }
            })
            .collect();
        if let Some(first) = msg.answers().first() {
            let _ = write!(s, " -> {} (TTL {})", answers.join(", "), first.ttl());
        } else {
            let _ = write!(s, " -> {}", msg.response_code());
        }
    }
    Some(s)
}

/// Packets for unit tests: TCP segments between the client 10.0.0.1:40000 and the server
/// 10.0.0.2:443, built with etherparse.
#[cfg(test)]
pub(crate) mod testing {
    use etherparse::PacketBuilder;

    pub const CLIENT: [u8; 4] = [10, 0, 0, 1];
    pub const SERVER: [u8; 4] = [10, 0, 0, 2];

    /// A segment from the client (or from the server) at `seq` with `payload` and flags from
    /// "SAFRP" (S SYN, A ACK of `ack`, F FIN, R RST, any other letter PSH).
    pub fn segment(from_client: bool, seq: u32, ack: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
        let mut b = if from_client {
            PacketBuilder::ipv4(CLIENT, SERVER, 64).tcp(40000, 443, seq, 64240)
        } else {
            PacketBuilder::ipv4(SERVER, CLIENT, 64).tcp(443, 40000, seq, 64240)
        };
        for f in flags.chars() {
            b = match f {
                'S' => b.syn(),
                'A' => b.ack(ack),
                'F' => b.fin(),
                'R' => b.rst(),
                _ => b.psh(),
            };
        }
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = b.write(&mut out, payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    use super::testing::{CLIENT as C, SERVER as S};

    /// A client-to-server segment with flags from "SAFRP" and `payload`.
    fn tcp(flags: &str, payload: &[u8]) -> Vec<u8> {
        super::testing::segment(true, 1000, 7, flags, payload)
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let b = PacketBuilder::ipv4(C, S, 64).udp(sport, dport);
        b.write(&mut out, payload).unwrap();
        out
    }

    fn kind_and_text(bytes: &[u8]) -> (PacketKind, String) {
        let s = summarize(bytes).expect("parses");
        (s.kind(), s.describe(bytes))
    }

    fn text(bytes: &[u8]) -> String {
        kind_and_text(bytes).1
    }

    fn record(ct: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ct, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn classifies_and_describes_tcp_segments() {
        use PacketKind::*;
        let cases = [
            ("S", &b""[..], Syn, "SYN"),
            ("SA", b"", SynAck, "SYN/ACK"),
            ("A", b"", Ack, "ACK"),
            ("FA", b"", Fin, "FIN/ACK"),
            ("RA", b"", Rst, "RST/ACK"),
            ("PA", b"hello", Data, "5 bytes"),
            ("FA", b"hi", Fin, "2 bytes [FIN/ACK]"),
        ];
        for (flags, payload, kind, want) in cases {
            assert_eq!(kind_and_text(&tcp(flags, payload)), (kind, want.to_string()));
        }
    }

    #[test]
    fn decimals_as_write_writes_them() {
        for n in [0, 7, 10, 1448, 65_535, usize::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn summary_fields_and_payload() {
        let bytes = tcp("PA", b"abc");
        let s = summarize(&bytes).unwrap();
        assert_eq!((s.src, s.dst, s.total_len), (C.into(), S.into(), 43));
        assert_eq!((s.payload_offset, s.payload(&bytes)), (40, &b"abc"[..]));
        let Transport::Tcp { seq, ack, flags, window, .. } = s.transport else { panic!() };
        assert_eq!((seq, ack, window, flags.psh), (1000, 7, 64240, true));
    }

    #[test]
    fn sniffs_tls_records() {
        let hello = record(22, &[1, 0, 0, 2, 3, 3]);
        assert_eq!(text(&tcp("PA", &hello)), "11 bytes: TLS ClientHello");
        // A ClientHello record longer than the segment is still a ClientHello.
        let mut big = record(22, &[[1, 0, 6, 0xfc].as_slice(), &[0; 1788]].concat());
        big.truncate(1448);
        assert_eq!(text(&tcp("PA", &big)), "1448 bytes: TLS ClientHello");
        let mut flight = record(22, &[2, 0, 0, 0]);
        flight.extend(record(20, &[1]));
        (0..3).for_each(|_| flight.extend(record(23, &[0; 20])));
        let want = "TLS ServerHello, ChangeCipherSpec, Application Data x3";
        assert_eq!(text(&tcp("PA", &flight)), format!("{} bytes: {want}", flight.len()));
        // TLS 1.2: the Finished after a ChangeCipherSpec is encrypted.
        let mut fin = record(20, &[1]);
        fin.extend(record(22, &[0x55; 40]));
        let want = "51 bytes: TLS ChangeCipherSpec, Handshake (encrypted)";
        assert_eq!(text(&tcp("PA", &fin)), want);
        assert_eq!(text(&tcp("PA", &record(22, &[0x14; 40]))), "45 bytes: TLS Handshake (encrypted)");
    }

    #[test]
    fn http_start_lines() {
        let req = b"GET / HTTP/1.1\r\nHost: server.lab\r\n\r\n";
        assert_eq!(text(&tcp("PA", req)), "36 bytes: GET / HTTP/1.1");
        let resp = b"HTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(text(&tcp("PA", resp)), "19 bytes: HTTP/1.1 200 OK");
    }

    #[test]
    fn describes_dns() {
        use hickory_proto::op::Query;
        use hickory_proto::rr::{rdata::A, Name, RData, Record, RecordType};
        let name = Name::from_ascii("server.lab.").unwrap();
        let mut m = Message::new();
        m.set_id(7).add_query(Query::query(name.clone(), RecordType::A));
        let q = udp(5353, 53, &m.to_vec().unwrap());
        assert_eq!(kind_and_text(&q), (PacketKind::Udp, "DNS query A server.lab".into()));
        m.set_message_type(MessageType::Response);
        m.add_answer(Record::from_rdata(name, 300, RData::A(A::new(10, 0, 0, 2))));
        let r = udp(53, 5353, &m.to_vec().unwrap());
        assert_eq!(text(&r), "DNS response A server.lab -> 10.0.0.2 (TTL 300)");
        assert_eq!(text(&udp(1000, 2000, b"xyz")), "UDP 3 bytes");
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds = [tcp("PA", &record(22, &[1, 0, 0, 9])), udp(53, 53, &[0; 30]), tcp("S", b"")];
        for i in 0..20_000 {
            let mut bytes = seeds[i % seeds.len()].clone();
            for _ in 0..(next() % 6) {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            bytes.truncate((next() as usize) % (bytes.len() + 1));
            if i % 7 == 0 {
                bytes = (0..next() % 80).map(|_| next() as u8).collect();
                if let Some(b) = bytes.first_mut() {
                    *b = 0x45;
                }
            }
            if let Some(s) = summarize(&bytes) {
                let _ = (s.kind(), s.payload(&bytes), s.describe(&bytes), s.payload(&[]));
            }
        }
    }
}
