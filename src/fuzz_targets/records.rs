//! Targets on TLS records (sealed and plain, and the ClientHello's server name) and QUIC headers.

use super::*;

/// A key log with one TLS 1.3 connection (client random all `0x11`) whose every secret is
/// derived from its label, for the targets that need records that decrypt.
const FUZZ_RANDOM: [u8; 32] = [0x11; 32];

pub(super) fn fuzz_key_log() -> String {
    let random = "11".repeat(32);
    let mut log = String::new();
    for label in tls::secret_labels(true).iter().chain(tls::secret_labels(false)) {
        let secret: String = label.bytes().cycle().take(32).map(|b| format!("{b:02x}")).collect();
        log.push_str(&format!("{label} {random} {secret}\n"));
    }
    log
}

/// TLS records as [`tls::RecordReader`] reads one direction's stream (RFC 8446 §5), plaintext
/// and TLS 1.3-protected. Input: a header byte (bit 0: the client's direction; bits 1-2: the
/// cipher suite; bit 3: TLS 1.2, opaque), then chunks (u16 BE length) whose first byte says
/// what to do with the rest: odd, pass it to the reader as it is (records cut at their
/// declared length); even, seal it under the direction's next key in turn as a record of
/// content type `first >> 1`, so the decrypting path reads fuzzer-chosen plaintext: sealed
/// alerts and handshake records must open (be named as such), sealed application data is
/// named so; no record gets more names than it has bytes.
/// The hello parsers ([`tls::client_hello_random`], [`tls::server_hello_suite`],
/// [`tls::client_hello_server_name`]) and
/// [`tls::KeyLog::parse`] take the raw input too.
pub fn tls_records(data: &[u8]) {
    let _ = tls::client_hello_random(data);
    let _ = tls::server_hello_suite(data);
    let _ = tls::client_hello_server_name(data);
    let _ = tls::KeyLog::parse(&String::from_utf8_lossy(data));
    let Some((&head, rest)) = data.split_first() else { return };
    let from_client = head & 1 != 0;
    let code = [0x1301, 0x1302, 0x1303, 0x1304][usize::from(head >> 1 & 3)];
    let suite = tls::Suite::from_code(code);
    let log = if head & 8 != 0 { tls::KeyLog::default() } else { tls::KeyLog::parse(&fuzz_key_log()) };
    let protection = tls::Protection::for_direction(&log, &FUZZ_RANDOM, suite, from_client);
    // The sealing side: the same secrets, derived independently of the reader.
    let sealers: Vec<tls::TrafficKey> = match suite {
        Some(suite) if head & 8 == 0 => tls::secret_labels(from_client)
            .iter()
            .filter_map(|l| {
                let secret: Vec<u8> = l.bytes().cycle().take(32).collect();
                tls::TrafficKey::new(suite, &secret)
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut reader = tls::RecordReader::new(protection);
    let mut seqs = vec![0u64; sealers.len()];
    for (i, chunk) in length_prefixed(rest).into_iter().enumerate() {
        let Some((&op, body)) = chunk.split_first() else { continue };
        if op & 1 == 1 {
            let mut stream = body;
            while let Some(len) = tls::RecordReader::record_len(stream) {
                assert!(len >= 5);
                let record = &stream[..len.min(stream.len())];
                let names = reader.read(record);
                assert!(names.names.len() <= record.len(), "more names than bytes");
                stream = &stream[record.len()..];
            }
            let _ = reader.read(stream);
        } else if !sealers.is_empty() {
            // Seal under the keys in turn: a reader may move on to a later key, never back.
            let k = (i / 4).min(sealers.len() - 1);
            if let Some(record) = sealers[k].seal(seqs[k], op >> 1, body) {
                seqs[k] += 1;
                let names = reader.read(&record).names;
                match op >> 1 {
                    23 => assert_eq!(names, ["Application Data"], "sealed application data"),
                    // What does not open is "Application Data": these opened.
                    21 => assert!(names.len() == 1 && names[0].starts_with("Alert"), "sealed alert: {names:?}"),
                    22 => assert!(!names.contains(&"Application Data"), "sealed handshake: {names:?}"),
                    _ => {}
                }
            }
        }
    }
}

/// QUIC header types ([`quic::packet_type`], RFC 9000 §17): a short header (high bit clear)
/// is always 1-RTT; a long header is named only for versions 0 and 1 and needs 5 bytes.
pub fn quic_header(data: &[u8]) {
    let t = quic::packet_type(data);
    match data {
        [] => assert_eq!(t, None),
        [first, ..] if first & 0x80 == 0 => assert_eq!(t, Some("1-RTT")),
        [_, 0, 0, 0, 0 | 1, ..] => assert!(t.is_some_and(|t| t != "1-RTT")),
        _ => assert_eq!(t, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_records_open() {
        let mut data = vec![0x01];
        for (op, body) in [(23u8 << 1, &b"GET /"[..]), (22 << 1, &[20, 0, 0, 1, 9][..]), (21 << 1, &[1, 0][..])] {
            let mut chunk = vec![op];
            chunk.extend_from_slice(body);
            data.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            data.extend_from_slice(&chunk);
        }
        tls_records(&data);
    }
}
