//! The client's TLS handshake, read off the records of both directions (`tls_records`): where
//! it ends at the client and which version it is (RFC 8446 §2 for TLS 1.3's 1-RTT handshake,
//! RFC 5246 §7.3 for TLS 1.2's full and resumed ones), from the ServerHello (RFC 8446 §4.1.3,
//! RFC 5246 §7.4.1.3) and the flights' shape, and where the client's first request record is.

use super::tls_records::Record;

/// The `random` of a ServerHello that is a HelloRetryRequest (RFC 8446 §4.1.3).
pub(super) const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// How the client answered the ServerHello.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// With its ChangeCipherSpec or Finished: the handshake is complete at the client.
    Finished,
    /// With handshake messages (ClientKeyExchange): the server's ChangeCipherSpec follows.
    Handshake,
}

/// The TLS handshake that starts with the client's ClientHello in segment `hello`: its label,
/// the segment it ends in, and the segment the client's first application-data record is in
/// (if it sent one). `None` if it does not complete or an alert ends it.
pub(super) fn tls(hello: usize, client: &[Record], server: &[Record]) -> Option<(String, usize, Option<usize>)> {
    let mut from = 0;
    let (server_hello, answer, at) = loop {
        let k = from + server[from..].iter().position(|r| r.content_type == 21 || r.handshake_type() == Some(2))?;
        if server[k].content_type == 21 {
            return None;
        }
        from = k + 1;
        if server[k].seg < hello || ServerHello::parse(&server[k].body).is_some_and(|h| h.retry) {
            continue;
        }
        // The client's first record sent after the ServerHello arrived.
        let c = client.iter().position(|r| r.seg > server[k].seg)?;
        match (client[c].content_type, client[c].handshake_type()) {
            // A second ClientHello: that ServerHello was a HelloRetryRequest after all.
            (22, Some(1)) => continue,
            (22, _) => break (k, Answer::Handshake, c),
            (20 | 23, _) => break (k, Answer::Finished, c),
            _ => return None,
        }
    };
    let end = match answer {
        Answer::Finished => client[at].seg,
        Answer::Handshake => {
            let flight = client[at].seg;
            let r = server.iter().find(|r| r.seg > flight && matches!(r.content_type, 20 | 21))?;
            if r.content_type == 21 {
                return None;
            }
            r.seg
        }
    };
    let version = ServerHello::parse(&server[server_hello].body).and_then(|h| h.version);
    let version = version.unwrap_or(if answer == Answer::Finished { 0x0304 } else { 0x0303 });
    let label = match version {
        0x0304 => "TLS 1.3 handshake",
        0x0303 => "TLS 1.2 handshake",
        0x0302 => "TLS 1.1 handshake",
        0x0301 => "TLS 1.0 handshake",
        _ => "TLS handshake",
    };
    // TLS 1.3 encrypts the client's Finished as application data (RFC 8446 §5.2): the request is
    // the record after it. TLS 1.2's Finished is a handshake record (RFC 5246 §7.4.9).
    let skip = usize::from(version == 0x0304);
    let request = client[at..].iter().filter(|r| r.content_type == 23).nth(skip).map(|r| r.seg);
    Some((label.to_string(), end, request))
}

/// What a ServerHello says (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3).
pub(super) struct ServerHello {
    /// Its random is the HelloRetryRequest one.
    pub(super) retry: bool,
    /// The version chosen: supported_versions (extension 43) if present, else the version
    /// field; `None` if the message is cut short before it could be known.
    pub(super) version: Option<u16>,
}

impl ServerHello {
    /// Reads a handshake message (type, 3-byte length, body) if it is a ServerHello whose
    /// random was captured.
    pub(super) fn parse(message: &[u8]) -> Option<ServerHello> {
        let mut r = Reader(message);
        if r.u8()? != 2 {
            return None;
        }
        let len = r.u24()?;
        let legacy_version = r.u16()?;
        let retry = r.take(32)? == HELLO_RETRY_RANDOM;
        let version = message.get(4..4 + len).and_then(|whole| {
            let mut r = Reader(whole.get(34..)?);
            let session_id = r.u8()?;
            r.take(usize::from(session_id))?;
            r.take(3)?; // cipher_suite, compression_method
            if r.0.is_empty() {
                return Some(legacy_version);
            }
            let len = r.u16()?;
            let mut extensions = Reader(r.take(usize::from(len))?);
            while !extensions.0.is_empty() {
                let kind = extensions.u16()?;
                let len = extensions.u16()?;
                let value = extensions.take(usize::from(len))?;
                if kind == 43 {
                    return Reader(value).u16();
                }
            }
            Some(legacy_version)
        });
        Some(ServerHello { retry, version })
    }
}

/// Bounds-checked big-endian reads.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3).map(|b| usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
}
