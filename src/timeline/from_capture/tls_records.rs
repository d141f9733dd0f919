//! TLS records (RFC 8446 §5.1, RFC 5246 §6.2) as a capture shows them: each direction's
//! reassembled byte stream read record by record, each record's content type and the segment
//! its header arrived in kept, and the first bytes of each hello, for the handshake's reading
//! (`tls_handshake`).

use crate::wire::reorder::Reorder;

/// The most bytes kept of a hello's handshake record: enough for a ServerHello with a
/// post-quantum key share (X25519MLKEM768's is 1120 bytes) before its supported_versions.
const HELLO_PREFIX: usize = 4096;

/// Out-of-order segments waited for per direction before TLS records are no longer followed.
const MAX_PENDING: usize = 4096;

/// The longest TLS record (RFC 5246 §6.2.3: 2^14 + 2048 bytes of TLSCiphertext).
const MAX_RECORD: usize = (1 << 14) + 2048;

/// A TLS record: its content type, the segment (index) its header arrived in, and, for a
/// ClientHello or ServerHello, the first bytes of its body.
#[derive(Debug)]
pub(super) struct Record {
    pub(super) content_type: u8,
    pub(super) seg: usize,
    pub(super) body: Vec<u8>,
}

impl Record {
    /// The type of the handshake message a plaintext handshake record starts with.
    pub(super) fn handshake_type(&self) -> Option<u8> {
        (self.content_type == 22).then(|| self.body.first().copied()).flatten()
    }
}

/// Follows TLS records (RFC 8446 §5.1, RFC 5246 §6.2) through one direction's byte stream,
/// reassembled in order: segments past a hole wait for it to fill. It stops following (goes
/// blind) at bytes that are not a record header, and where a snap length cut a header off.
#[derive(Default)]
pub(super) struct Records<'a> {
    /// The stream offset of the next byte to read.
    next: u64,
    /// Segments past a hole: offset -> (captured bytes, length on the wire).
    pending: Reorder<(&'a [u8], usize)>,
    header: [u8; 5],
    have: usize,
    /// Body bytes of the current record not yet read.
    left: usize,
    /// The record (index in `out`) whose body is being kept.
    keeping: Option<usize>,
    blind: bool,
    pub(super) out: Vec<Record>,
}

impl<'a> Records<'a> {
    /// Takes `len` bytes at stream offset `off` (`data`: those of them the capture kept), which
    /// arrived in segment `seg`.
    pub(super) fn feed(&mut self, seg: usize, off: u64, data: &'a [u8], len: usize) {
        if self.blind {
            return;
        }
        if off > self.next {
            if self.pending.len() >= MAX_PENDING {
                self.blind = true;
            } else {
                self.pending.hold(off, len as u64, (data, len));
            }
            return;
        }
        self.take(seg, off, data, len);
        while let Some((off, _, (data, len))) = self.pending.ready(self.next) {
            self.take(seg, off, data, len);
        }
    }

    /// Reads what lies past `next` of `len` bytes at `off <= next`.
    fn take(&mut self, seg: usize, off: u64, data: &[u8], len: usize) {
        let end = off + len as u64;
        if end <= self.next || self.blind {
            return;
        }
        let skip = usize::try_from(self.next - off).unwrap_or(len).min(len);
        let known = data.get(skip..len.min(data.len())).unwrap_or(&[]);
        self.read(seg, known);
        self.skip(len - skip - known.len());
        self.next = end;
    }

    fn read(&mut self, seg: usize, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.blind {
            if self.left == 0 {
                let n = (5 - self.have).min(bytes.len());
                self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                bytes = &bytes[n..];
                if self.have == 5 {
                    self.start(seg);
                }
            } else {
                let n = self.left.min(bytes.len());
                if let Some(r) = self.keeping.and_then(|k| self.out.get_mut(k)) {
                    let room = HELLO_PREFIX.saturating_sub(r.body.len()).min(n);
                    r.body.extend_from_slice(&bytes[..room]);
                    // Only hellos are read further than their type.
                    if r.body.len() >= HELLO_PREFIX || !matches!(r.body.first(), Some(1 | 2)) {
                        self.keeping = None;
                    }
                }
                self.left -= n;
                bytes = &bytes[n..];
                if self.left == 0 {
                    self.keeping = None;
                }
            }
        }
    }

    /// A record header is complete: checks it and opens the record.
    fn start(&mut self, seg: usize) {
        self.have = 0;
        let [content_type, major, minor, hi, lo] = self.header;
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if !(20..=23).contains(&content_type) || major != 3 || !(1..=4).contains(&minor) || len == 0 || len > MAX_RECORD
        {
            self.blind = true;
            return;
        }
        self.left = len;
        self.keeping = (content_type == 22).then_some(self.out.len());
        self.out.push(Record { content_type, seg, body: Vec::new() });
    }

    /// Steps over `n` bytes the capture did not keep: fine inside a record's body, blinding
    /// where a header would be.
    fn skip(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.keeping = None;
        if self.have > 0 || n > self.left {
            self.blind = true;
        } else {
            self.left -= n;
        }
    }
}
