//! What a relay can see of the bytes it passes on, holding no key: whether they are TLS, the
//! record headers (RFC 8446 §5.1: content type, version and length travel in the clear) and
//! the ClientHello's server name (RFC 6066 §3), which an SNI proxy routes by. Everything after
//! the ServerHello is encrypted between the two ends; in TLS 1.3 even the rest of the
//! handshake travels as `application_data` records (RFC 8446 §5.2), so the relay cannot tell
//! the server's certificate from an HTTP response.
//!
//! It only names what it saw, for the captures' comments: the relay copies every byte
//! whatever this makes of it, and a stream that is not TLS is simply said to be so.

use crate::wire::tls::{client_hello_server_name as server_name, RecordReader};

/// The largest record body a header may announce: TLS 1.2's ciphertext limit, 2^14 + 2048
/// (RFC 5246 §6.2.3; TLS 1.3 allows less, RFC 8446 §5.2).
const MAX_BODY: usize = 16384 + 2048;

/// The record headers seen so far in one direction of a connection.
#[derive(Debug, Default)]
pub struct Records {
    /// `None` before the first byte; then whether every header so far was a TLS record's.
    tls: Option<bool>,
    /// Bytes of the current record's body still to come.
    left: usize,
    /// A record header that arrived in part.
    header: Vec<u8>,
    /// The first record while it arrives, when it is a handshake record (a ClientHello is
    /// read for its server name).
    first: Option<Vec<u8>>,
}

/// What one chunk of a direction held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Whether the direction is TLS (`None`: no byte yet).
    pub tls: Option<bool>,
    /// The content types of the records whose headers were in the chunk, in order.
    pub types: Vec<u8>,
    /// The server name a ClientHello in the chunk asked for.
    pub server_name: Option<String>,
}

impl Records {
    /// Reads the headers in `chunk`, the next bytes of the direction.
    pub fn observe(&mut self, chunk: &[u8]) -> Seen {
        let mut seen = Seen::default();
        let mut i = 0;
        while i < chunk.len() && self.tls != Some(false) {
            if self.left > 0 {
                let n = self.left.min(chunk.len() - i);
                if let Some(first) = &mut self.first {
                    first.extend_from_slice(&chunk[i..i + n]);
                }
                self.left -= n;
                i += n;
                if self.left == 0 {
                    seen.server_name = self.first.take().and_then(|r| server_name(&r));
                }
                continue;
            }
            let n = (5 - self.header.len()).min(chunk.len() - i);
            self.header.extend_from_slice(&chunk[i..i + n]);
            i += n;
            if self.header.len() < 5 {
                break;
            }
            match RecordReader::record_len(&self.header) {
                Some(len) if len - 5 <= MAX_BODY => {
                    let opening = self.tls.is_none();
                    self.tls = Some(true);
                    seen.types.push(self.header[0]);
                    if opening && self.header[0] == 22 {
                        self.first = Some(self.header.clone());
                    }
                    self.left = len - 5;
                    self.header.clear();
                    if self.left == 0 {
                        seen.server_name = self.first.take().and_then(|r| server_name(&r));
                    }
                }
                _ => {
                    self.tls = Some(false);
                    self.first = None;
                }
            }
        }
        seen.tls = self.tls;
        seen
    }
}

impl Seen {
    /// What the chunk was, in words, for a capture's comment.
    pub fn words(&self) -> String {
        if self.tls == Some(false) {
            return "bytes that are not TLS, copied without being parsed (an L4 relay reads no protocol)".into();
        }
        if let Some(name) = &self.server_name {
            return format!(
                "a TLS ClientHello for `{name}` (the server name is in the clear: what an SNI proxy routes by)"
            );
        }
        if self.types.is_empty() {
            return "the rest of a TLS record".into();
        }
        let mut parts: Vec<(u8, usize)> = Vec::new();
        for &t in &self.types {
            match parts.last_mut() {
                Some((last, n)) if *last == t => *n += 1,
                _ => parts.push((t, 1)),
            }
        }
        let list: Vec<String> = parts
            .iter()
            .map(|&(t, n)| if n > 1 { format!("{} x{n}", type_name(t)) } else { type_name(t).to_string() })
            .collect();
        let sealed = if self.types.contains(&23) {
            "; it cannot read the encrypted ones, the keys are the two ends'"
        } else {
            ""
        };
        format!("TLS records ({}): the relay reads only their 5-byte headers{sealed}", list.join(", "))
    }
}

/// A record's content type as RFC 8446 §5.1 names it.
fn type_name(t: u8) -> &'static str {
    match t {
        20 => "change_cipher_spec",
        21 => "alert",
        22 => "handshake",
        23 => "application_data",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record for `name` (the fields a relay skips, filled with zeros).
    fn client_hello(name: &str) -> Vec<u8> {
        let mut ext = vec![0, 0]; // server_name
        let list_len = 3 + name.len();
        ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(list_len as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        ext.extend_from_slice(name.as_bytes());
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0; 32]);
        body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut record = vec![22, 3, 1];
        record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        record.extend_from_slice(&hs);
        record
    }

    #[test]
    fn reads_the_server_name_across_chunks_and_the_headers_after() {
        let hello = client_hello("origin");
        for cut in [1, 3, 5, 6, 40, hello.len() - 1] {
            let mut r = Records::default();
            let a = r.observe(&hello[..cut]);
            let b = r.observe(&hello[cut..]);
            assert_eq!(a.server_name.or(b.server_name).as_deref(), Some("origin"), "cut at {cut}");
        }
        let mut r = Records::default();
        r.observe(&hello);
        let mut more = vec![20, 3, 3, 0, 1, 1];
        more.extend_from_slice(&[23, 3, 3, 0, 2, 9, 9, 23, 3, 3, 0, 1]);
        let seen = r.observe(&more);
        assert_eq!(seen.types, vec![20, 23, 23]);
        assert!(seen.words().contains("change_cipher_spec, application_data x2"), "{}", seen.words());
        assert_eq!(r.observe(&[7]).types, Vec::<u8>::new(), "the rest of the last record");
    }

    #[test]
    fn plain_text_and_garbage_are_named_and_never_panic() {
        let mut r = Records::default();
        assert_eq!(r.observe(b"GET /r/0 HTTP/1.1\r\n").tls, Some(false));
        assert_eq!(r.observe(&[22, 3, 3, 0, 1]).tls, Some(false), "once plain, always plain");
        // Every cut of short records and truncated hellos: no panic.
        let hello = client_hello("x");
        for end in 0..hello.len() {
            let mut bad = hello[..end].to_vec();
            if bad.len() > 4 {
                bad[3..5].copy_from_slice(&((end - 5) as u16).to_be_bytes());
            }
            let mut r = Records::default();
            let _ = r.observe(&bad).words();
        }
        let mut r = Records::default();
        assert_eq!(r.observe(&[23, 3, 3, 0xff, 0xff]).tls, Some(false), "a record longer than TLS allows");
    }
}
