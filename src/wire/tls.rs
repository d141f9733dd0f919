//! TLS records and handshake messages, read from one direction of a connection's byte stream,
//! decrypted where the key log holds the secrets, so a capture's comments name what Wireshark
//! names after decryption (EncryptedExtensions, Certificate, CertificateVerify, Finished,
//! NewSessionTicket) rather than "Application Data".
//!
//! - Records: RFC 8446 §5.1 (TLS 1.3) and RFC 5246 §6.2 (TLS 1.2): a 5-byte header (content
//!   type, legacy version, length) and a body; handshake messages (RFC 8446 §4: type, 24-bit
//!   length) may be coalesced into one record or span several.
//! - TLS 1.3 record protection (RFC 8446 §5.2–5.4): the AEAD key and IV come from a traffic
//!   secret by HKDF-Expand-Label (§7.1, §7.3); the nonce is the IV XOR the record's sequence
//!   number; the additional data is the record header; the plaintext ends with its real content
//!   type and zero padding. Keys change at the end of each flight, so the reader tries the
//!   secrets of its direction in order (early, handshake, application) and moves on to the next
//!   when a record does not open: an AEAD tag never opens under a wrong key.
//! - TLS 1.2: the only handshake message after ChangeCipherSpec in a handshake is Finished
//!   (RFC 5246 §7.4.9), so it is named without decrypting; application data stays opaque.
//!
//! HKDF and the AEADs are ring's (rustls' own provider). Nothing here panics on any bytes.

use std::collections::HashMap;

use ring::{aead, hkdf};

/// The secrets of one connection, from an NSS key log (the `.keys` file), by label.
#[derive(Clone, Debug, Default)]
pub struct KeyLog {
    /// client_random -> label -> secret.
    by_random: HashMap<[u8; 32], HashMap<String, Vec<u8>>>,
}

impl KeyLog {
    /// Parses `LABEL <client_random hex> <secret hex>` lines; others are ignored.
    pub fn parse(text: &str) -> KeyLog {
        let mut log = KeyLog::default();
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(label), Some(random), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let (Some(random), Some(secret)) = (unhex(random), unhex(secret)) else { continue };
            let Ok(random) = <[u8; 32]>::try_from(random) else { continue };
            log.by_random.entry(random).or_default().insert(label.to_string(), secret);
        }
        log
    }

    fn secret(&self, random: &[u8; 32], label: &str) -> Option<&[u8]> {
        self.by_random.get(random)?.get(label).map(Vec::as_slice)
    }

    /// Whether the connection with this ClientHello random negotiated TLS 1.3 (its log has
    /// handshake traffic secrets; TLS 1.2 logs a `CLIENT_RANDOM` master secret instead).
    pub fn is_tls13(&self, random: &[u8; 32]) -> bool {
        self.secret(random, "CLIENT_HANDSHAKE_TRAFFIC_SECRET").is_some()
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// A TLS 1.3 cipher suite (RFC 8446 §B.4): its AEAD and its HKDF hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    aead: &'static aead::Algorithm,
    hkdf: hkdf::Algorithm,
}

impl Suite {
    /// The suite with this IANA code, if it is one of TLS 1.3's.
    pub fn from_code(code: u16) -> Option<Suite> {
        match code {
            0x1301 => Some(Suite { aead: &aead::AES_128_GCM, hkdf: hkdf::HKDF_SHA256 }),
            0x1302 => Some(Suite { aead: &aead::AES_256_GCM, hkdf: hkdf::HKDF_SHA384 }),
            0x1303 => Some(Suite { aead: &aead::CHACHA20_POLY1305, hkdf: hkdf::HKDF_SHA256 }),
            _ => None,
        }
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label(secret, label, "", len) (RFC 8446 §7.1).
fn expand_label(alg: hkdf::Algorithm, secret: &[u8], label: &str, len: usize) -> Option<Vec<u8>> {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    info.push(u8::try_from(full.len()).ok()?);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    let prk = hkdf::Prk::new_less_safe(alg, secret);
    let info = [info.as_slice()];
    let okm = prk.expand(&info, Len(len)).ok()?;
    let mut out = vec![0; len];
    okm.fill(&mut out).ok()?;
    Some(out)
}

/// One traffic key (RFC 8446 §7.3) and the sequence number of the next record under it.
pub struct TrafficKey {
    key: aead::LessSafeKey,
    iv: [u8; 12],
    seq: u64,
}

impl TrafficKey {
    pub(crate) fn new(suite: Suite, secret: &[u8]) -> Option<TrafficKey> {
        let key = expand_label(suite.hkdf, secret, "key", suite.aead.key_len())?;
        let iv = expand_label(suite.hkdf, secret, "iv", 12)?;
        let key = aead::LessSafeKey::new(aead::UnboundKey::new(suite.aead, &key).ok()?);
        Some(TrafficKey { key, iv: iv.try_into().ok()?, seq: 0 })
    }

    /// Opens one protected record (`header` and `body` as on the wire): its real content type
    /// and plaintext content (RFC 8446 §5.2, §5.3); `None` only when it does not authenticate.
    /// A plaintext of nothing but padding has no content type (a peer must reject it, §5.4):
    /// it opens as type 0, so that it still takes its sequence number.
    fn open(&self, header: &[u8], body: &[u8]) -> Option<(u8, Vec<u8>)> {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        let mut buf = body.to_vec();
        let aad = aead::Aad::from(header);
        let plain = self.key.open_in_place(aead::Nonce::assume_unique_for_key(nonce), aad, &mut buf).ok()?;
        let Some(end) = plain.iter().rposition(|&b| b != 0) else { return Some((0, Vec::new())) };
        let content_type = plain[end];
        Some((content_type, plain[..end].to_vec()))
    }

    /// Protects `plain` of `content_type` as the record with sequence number `seq` (the inverse
    /// of `open`): the whole record, header included. For the fuzz targets and tests, which
    /// need records that open.
    pub(crate) fn seal(&self, seq: u64, content_type: u8, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        let mut body = plain.to_vec();
        body.push(content_type);
        let len = u16::try_from(body.len() + self.key.algorithm().tag_len()).ok()?;
        let mut record = vec![23, 3, 3];
        record.extend_from_slice(&len.to_be_bytes());
        let aad = aead::Aad::from(&record[..5]);
        self.key.seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), aad, &mut body).ok()?;
        record.extend_from_slice(&body);
        Some(record)
    }
}

/// The secrets, by key-log label, that protect one direction's records in TLS 1.3, in the
/// order they take over (RFC 8446 §7.1 key schedule; early data only from a client).
pub fn secret_labels(from_client: bool) -> &'static [&'static str] {
    if from_client {
        &["CLIENT_EARLY_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"]
    } else {
        &["SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"]
    }
}

/// What one direction of a connection is known to be.
pub enum Protection {
    /// No keys (or not TLS 1.3): TLS 1.2's Finished is named by position, the rest stays opaque.
    Opaque,
    /// TLS 1.3 with these traffic keys, in the order they take over.
    Tls13(Vec<TrafficKey>),
}

impl Protection {
    /// The protection of one direction of the connection whose ClientHello carried `random`,
    /// under `suite` (from the ServerHello).
    pub fn for_direction(log: &KeyLog, random: &[u8; 32], suite: Option<Suite>, from_client: bool) -> Protection {
        let Some(suite) = suite.filter(|_| log.is_tls13(random)) else { return Protection::Opaque };
        let keys = secret_labels(from_client)
            .iter()
            .filter_map(|l| log.secret(random, l))
            .filter_map(|s| TrafficKey::new(suite, s))
            .collect();
        Protection::Tls13(keys)
    }
}

/// Reads the records of one direction, in stream order, and names what each holds.
pub struct RecordReader {
    protection: Protection,
    /// Index of the key now in use (TLS 1.3).
    current: usize,
    /// A ChangeCipherSpec has been sent in this direction (TLS 1.2: what follows is encrypted).
    after_ccs: bool,
    /// Bytes still to come of a handshake message that spans records.
    message_left: usize,
}

/// A record's content, named: its messages (for handshake records) or its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordNames {
    pub names: Vec<&'static str>,
    /// Every message in it comes after the handshake (NewSessionTicket, KeyUpdate; RFC 8446
    /// §4.6): the record is TLS's own, not part of the application's exchange.
    pub post_handshake: bool,
    /// The plaintext of a decrypted application-data record (TLS 1.3 with the keys), for
    /// naming what the application sent in it (HTTP/2 frames: `super::h2`).
    pub application_data: Option<Vec<u8>>,
}

/// The ClientHello's random (RFC 8446 §4.1.2), from the first record of the client's stream.
pub fn client_hello_random(stream: &[u8]) -> Option<[u8; 32]> {
    if stream.first() != Some(&22) || stream.get(5) != Some(&1) {
        return None;
    }
    stream.get(11..43)?.try_into().ok()
}

/// The cipher suite the ServerHello chose (RFC 8446 §4.1.3), from the server's first record.
pub fn server_hello_suite(stream: &[u8]) -> Option<Suite> {
    if stream.first() != Some(&22) || stream.get(5) != Some(&2) {
        return None;
    }
    let sid_len = usize::from(*stream.get(43)?);
    let at = 44 + sid_len;
    let code = u16::from_be_bytes([*stream.get(at)?, *stream.get(at + 1)?]);
    Suite::from_code(code)
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([*b.get(at)?, *b.get(at.checked_add(1)?)?])))
}

/// The host name in the server_name extension of the ClientHello in `record` (a whole
/// handshake record, header included; RFC 8446 §4.1.2, RFC 6066 §3): what an SNI proxy
/// routes by, in the clear.
pub fn client_hello_server_name(record: &[u8]) -> Option<String> {
    let hello = record.get(5..)?;
    if *hello.first()? != 1 {
        return None;
    }
    // Handshake header (4), legacy_version (2), random (32).
    let mut at: usize = 4 + 2 + 32;
    at = at.checked_add(1 + usize::from(*hello.get(at)?))?; // legacy_session_id
    at = at.checked_add(2 + u16_at(hello, at)?)?; // cipher_suites
    at = at.checked_add(1 + usize::from(*hello.get(at)?))?; // legacy_compression_methods
    let end = at.checked_add(2 + u16_at(hello, at)?)?.min(hello.len());
    at += 2;
    while at.checked_add(4)? <= end {
        let (kind, len) = (u16_at(hello, at)?, u16_at(hello, at + 2)?);
        at += 4;
        if kind == 0 {
            // server_name_list: its length, then (name_type 0 = host_name, length, name).
            let ext = hello.get(at..at.checked_add(len)?)?;
            if *ext.get(2)? != 0 {
                return None;
            }
            let name = ext.get(5..5 + u16_at(ext, 3)?)?;
            let name = std::str::from_utf8(name).ok()?;
            return name.bytes().all(|c| c.is_ascii_graphic()).then(|| name.to_string());
        }
        at = at.checked_add(len)?;
    }
    None
}

impl RecordReader {
    pub fn new(protection: Protection) -> RecordReader {
        RecordReader { protection, current: 0, after_ccs: false, message_left: 0 }
    }

    /// The length of the record at the start of `stream` (header included), if its header
    /// is a TLS record header (types 20..=23, version 3.1..=3.4).
    pub fn record_len(stream: &[u8]) -> Option<usize> {
        let &[ct, major, minor, hi, lo] = stream.get(..5)? else { return None };
        if !(20..=23).contains(&ct) || major != 3 || !(1..=4).contains(&minor) {
            return None;
        }
        Some(5 + usize::from(u16::from_be_bytes([hi, lo])))
    }

    /// Names one whole record (`record`: header and body).
    pub fn read(&mut self, record: &[u8]) -> RecordNames {
        let (header, body) = record.split_at(5.min(record.len()));
        let outer = header.first().copied().unwrap_or(0);
        let mut names = Vec::new();
        let mut post_handshake = false;
        let mut application_data = None;
        match outer {
            20 => {
                self.after_ccs = true;
                names.push("ChangeCipherSpec");
            }
            21 => names.push("Alert"),
            22 if self.after_ccs && !matches!(self.protection, Protection::Tls13(_)) => names.push("Finished"),
            22 => post_handshake = self.messages(body, false, &mut names),
            23 => match self.open(header, body) {
                Some((22, plain)) => post_handshake = self.messages(&plain, true, &mut names),
                Some((21, plain)) => names.push(alert_name(&plain)),
                Some((23, plain)) => {
                    names.push("Application Data");
                    application_data = Some(plain);
                }
                Some(_) | None => names.push("Application Data"),
            },
            _ => names.push("Unknown record"),
        }
        let post_handshake = post_handshake && !names.is_empty();
        RecordNames { names, post_handshake, application_data }
    }

    /// Opens a TLS 1.3 record with the key in use or a later one.
    fn open(&mut self, header: &[u8], body: &[u8]) -> Option<(u8, Vec<u8>)> {
        let Protection::Tls13(keys) = &mut self.protection else { return None };
        let start = self.current;
        for (i, key) in keys.iter_mut().enumerate().skip(start) {
            if let Some(opened) = key.open(header, body) {
                self.current = i;
                key.seq += 1;
                return Some(opened);
            }
        }
        None
    }

    /// Pushes the names of the handshake messages that start in `data`; true when every one
    /// is a post-handshake message.
    fn messages(&mut self, mut data: &[u8], encrypted: bool, names: &mut Vec<&'static str>) -> bool {
        let skip = self.message_left.min(data.len());
        self.message_left -= skip;
        data = &data[skip..];
        let mut all_post = true;
        while let Some(&[t, a, b, c]) = data.get(..4) {
            let len = u32::from_be_bytes([0, a, b, c]) as usize;
            names.push(handshake_name(t));
            all_post &= matches!(t, 4 | 24);
            let have = data.len() - 4;
            if len > have {
                self.message_left = len - have;
                break;
            }
            data = &data[4 + len..];
        }
        encrypted && all_post
    }
}

/// Handshake message types (RFC 8446 §4, RFC 5246 §7.4), as Wireshark spells them without
/// spaces.
fn handshake_name(t: u8) -> &'static str {
    match t {
        0 => "HelloRequest",
        1 => "ClientHello",
        2 => "ServerHello",
        4 => "NewSessionTicket",
        5 => "EndOfEarlyData",
        8 => "EncryptedExtensions",
        11 => "Certificate",
        12 => "ServerKeyExchange",
        13 => "CertificateRequest",
        14 => "ServerHelloDone",
        15 => "CertificateVerify",
        16 => "ClientKeyExchange",
        20 => "Finished",
        24 => "KeyUpdate",
        _ => "Handshake",
    }
}

/// An alert's description (RFC 8446 §6).
fn alert_name(plain: &[u8]) -> &'static str {
    match plain.get(1) {
        Some(0) => "Alert (close_notify)",
        Some(10) => "Alert (unexpected_message)",
        Some(20) => "Alert (bad_record_mac)",
        Some(40) => "Alert (handshake_failure)",
        Some(42) => "Alert (bad_certificate)",
        Some(48) => "Alert (unknown_ca)",
        Some(80) => "Alert (internal_error)",
        Some(90) => "Alert (user_canceled)",
        _ => "Alert",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8448 §3 (simple 1-RTT handshake): the server handshake traffic secret and the key
    /// and IV it expands to.
    #[test]
    fn expand_label_matches_rfc8448() {
        let secret = unhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38").unwrap();
        let suite = Suite::from_code(0x1301).unwrap();
        let key = expand_label(suite.hkdf, &secret, "key", 16).unwrap();
        let iv = expand_label(suite.hkdf, &secret, "iv", 12).unwrap();
        assert_eq!(key, unhex("3fce516009c21727d0f2e4e86ee403bc").unwrap());
        assert_eq!(iv, unhex("5d313eb2671276ee13000b30").unwrap());
    }

    #[test]
    fn key_log_lines_are_parsed_and_junk_ignored() {
        let r = "ab".repeat(32);
        let log = KeyLog::parse(&format!(
            "# comment\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {r} 0011\nCLIENT_RANDOM zz 00\nSHORT {r}\n"
        ));
        let random = [0xab; 32];
        assert!(log.is_tls13(&random));
        assert_eq!(log.secret(&random, "CLIENT_HANDSHAKE_TRAFFIC_SECRET"), Some(&[0u8, 0x11][..]));
        assert!(!log.is_tls13(&[0; 32]));
    }

    #[test]
    fn plaintext_records_name_every_coalesced_message() {
        // ServerHello, Certificate, ServerHelloDone in one TLS 1.2 handshake record, then the
        // Finished after ChangeCipherSpec.
        let msgs = [2u8, 0, 0, 1, 0xaa, 11, 0, 0, 0, 14, 0, 0, 0];
        let mut record = vec![22, 3, 3, 0, msgs.len() as u8];
        record.extend_from_slice(&msgs);
        let mut r = RecordReader::new(Protection::Opaque);
        assert_eq!(r.read(&record).names, ["ServerHello", "Certificate", "ServerHelloDone"]);
        assert_eq!(r.read(&[20, 3, 3, 0, 1, 1]).names, ["ChangeCipherSpec"]);
        assert_eq!(r.read(&[22, 3, 3, 0, 3, 9, 9, 9]).names, ["Finished"]);
        assert_eq!(r.read(&[23, 3, 3, 0, 2, 9, 9]).names, ["Application Data"]);
    }

    #[test]
    fn a_message_spanning_records_is_named_once() {
        let mut r = RecordReader::new(Protection::Opaque);
        assert_eq!(r.read(&[22, 3, 3, 0, 6, 11, 0, 0, 5, 1, 2]).names, ["Certificate"]);
        // The last 3 bytes of the Certificate, then a ServerHelloDone.
        assert_eq!(r.read(&[22, 3, 3, 0, 7, 3, 4, 5, 14, 0, 0, 0]).names, ["ServerHelloDone"]);
    }

    /// Found by the `tls_records` fuzz target: a record that authenticated but held only
    /// padding did not take its sequence number, so no later record under that key opened.
    #[test]
    fn a_record_of_only_padding_still_takes_its_sequence_number() {
        let suite = Suite::from_code(0x1301).unwrap();
        let secret = [7u8; 32];
        let sealer = TrafficKey::new(suite, &secret).unwrap();
        let reader_key = TrafficKey::new(suite, &secret).unwrap();
        let mut r = RecordReader::new(Protection::Tls13(vec![reader_key]));
        let padding = sealer.seal(0, 0, &[]).unwrap();
        assert_eq!(r.read(&padding).names, ["Application Data"]);
        let finished = sealer.seal(1, 22, &[20, 0, 0, 1, 9]).unwrap();
        assert_eq!(r.read(&finished).names, ["Finished"]);
    }

    #[test]
    fn garbage_never_panics() {
        let mut r = RecordReader::new(Protection::Tls13(Vec::new()));
        for len in 0..40 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 22) as u8).collect();
            let _ = r.read(&junk);
            let _ = RecordReader::record_len(&junk);
            let _ = client_hello_random(&junk);
            let _ = server_hello_suite(&junk);
        }
    }
}
