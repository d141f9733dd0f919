//! HTTP/2 frame headers (RFC 9113 §4.1) and the client connection preface (§3.4), read
//! passively for naming, as Wireshark's dissector does: [`Walker`] follows one direction's
//! byte stream (plain h2c with prior knowledge, or TLS application data once decrypted) and
//! names each frame whose header it sees: `HEADERS stream 1`, `DATA stream 3 (16384 bytes,
//! END_STREAM)`, `SETTINGS`, `WINDOW_UPDATE`. It never panics on any bytes, keeps nine bytes of
//! state, and never reads a frame's payload. Real connections use the `h2` crate.

use std::fmt;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A frame header's length: 24-bit length, type, flags, 31-bit stream id (RFC 9113 §4.1).
pub const HEADER_LEN: usize = 9;

/// The largest frame payload a peer may allow (RFC 9113 §4.2: 2^24 − 1).
const MAX_LEN: u32 = (1 << 24) - 1;

/// One frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub len: u32,
    pub frame_type: u8,
    pub flags: u8,
    pub stream: u32,
}

impl FrameHeader {
    /// The header at the start of `bytes`, if nine bytes are there.
    pub fn parse(bytes: &[u8]) -> Option<FrameHeader> {
        let h: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            frame_type: h[3],
            flags: h[4],
            // The reserved bit is ignored on receipt (§4.1).
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        })
    }

    /// The frame type's name (RFC 9113 §6; PRIORITY_UPDATE from RFC 9218 §7.1).
    pub fn type_name(&self) -> &'static str {
        match self.frame_type {
            0x0 => "DATA",
            0x1 => "HEADERS",
            0x2 => "PRIORITY",
            0x3 => "RST_STREAM",
            0x4 => "SETTINGS",
            0x5 => "PUSH_PROMISE",
            0x6 => "PING",
            0x7 => "GOAWAY",
            0x8 => "WINDOW_UPDATE",
            0x9 => "CONTINUATION",
            0x10 => "PRIORITY_UPDATE",
            _ => "unknown frame",
        }
    }

    /// `HTTP/2 HEADERS`, `HTTP/2 DATA`: the type alone, as a static name (for the annotator's
    /// one-name-per-packet events).
    pub fn event_name(&self) -> &'static str {
        match self.frame_type {
            0x0 => "HTTP/2 DATA",
            0x1 => "HTTP/2 HEADERS",
            0x2 => "HTTP/2 PRIORITY",
            0x3 => "HTTP/2 RST_STREAM",
            0x4 => "HTTP/2 SETTINGS",
            0x5 => "HTTP/2 PUSH_PROMISE",
            0x6 => "HTTP/2 PING",
            0x7 => "HTTP/2 GOAWAY",
            0x8 => "HTTP/2 WINDOW_UPDATE",
            0x9 => "HTTP/2 CONTINUATION",
            0x10 => "HTTP/2 PRIORITY_UPDATE",
            _ => "HTTP/2 unknown frame",
        }
    }

    /// The flags that mean something for this type (RFC 9113 §6): END_STREAM, END_HEADERS,
    /// PADDED, PRIORITY, ACK.
    fn flag_names(&self) -> Vec<&'static str> {
        let f = self.flags;
        let mut out = Vec::new();
        match self.frame_type {
            0x0 | 0x1 if f & 0x1 != 0 => out.push("END_STREAM"),
            0x4 | 0x6 if f & 0x1 != 0 => out.push("ACK"),
            _ => {}
        }
        if matches!(self.frame_type, 0x1 | 0x5 | 0x9) && f & 0x4 != 0 {
            out.push("END_HEADERS");
        }
        if matches!(self.frame_type, 0x0 | 0x1 | 0x5) && f & 0x8 != 0 {
            out.push("PADDED");
        }
        if self.frame_type == 0x1 && f & 0x20 != 0 {
            out.push("PRIORITY");
        }
        out
    }
}

/// `HEADERS stream 1 (END_HEADERS)`, `DATA stream 3 (16384 bytes, END_STREAM)`, `SETTINGS`,
/// `WINDOW_UPDATE stream 5`, `unknown frame 0x2a`.
impl fmt::Display for FrameHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())?;
        if self.type_name() == "unknown frame" {
            write!(f, " 0x{:02x}", self.frame_type)?;
        }
        if self.stream != 0 {
            write!(f, " stream {}", self.stream)?;
        }
        let mut notes: Vec<String> = Vec::new();
        if self.frame_type == 0x0 {
            notes.push(format!("{} bytes", self.len));
        }
        notes.extend(self.flag_names().into_iter().map(String::from));
        if !notes.is_empty() {
            write!(f, " ({})", notes.join(", "))?;
        }
        Ok(())
    }
}

/// A stream's first bytes as the server's side begins it: a SETTINGS frame on stream 0 (RFC
/// 9113 §3.4: the server's preface).
pub fn starts_with_settings(bytes: &[u8]) -> bool {
    FrameHeader::parse(bytes).is_some_and(|h| h.frame_type == 0x4 && h.stream == 0 && h.len % 6 == 0)
}

/// What one piece of a stream held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walked {
    /// The client preface ended in it.
    pub preface: bool,
    /// Frames whose header completed in it, in order.
    pub frames: Vec<FrameHeader>,
}

impl Walked {
    /// `HTTP/2 preface, SETTINGS, HEADERS stream 1 (END_STREAM, END_HEADERS)`; `None` if it
    /// named nothing. Runs of one name are counted (`DATA stream 1 (16384 bytes) x3`).
    pub fn describe(&self) -> Option<String> {
        let mut runs: Vec<(String, usize)> = Vec::new();
        if self.preface {
            runs.push(("preface".into(), 1));
        }
        for f in &self.frames {
            let name = f.to_string();
            match runs.last_mut() {
                Some((last, k)) if *last == name => *k += 1,
                _ => runs.push((name, 1)),
            }
        }
        if runs.is_empty() {
            return None;
        }
        let parts: Vec<String> = runs.into_iter().map(|(n, k)| if k > 1 { format!("{n} x{k}") } else { n }).collect();
        Some(format!("HTTP/2 {}", parts.join(", ")))
    }
}

/// Follows one direction's HTTP/2 byte stream, frame header by frame header. Feed it the
/// stream in order ([`Walker::feed`] with each piece's offset); a piece past a gap is followed
/// when the gap lies inside a frame's payload, and otherwise the walker stops (it lost the
/// framing). Bytes that cannot be a frame (a length over 2^24 − 1, a preface that does not
/// match) stop it too.
#[derive(Clone, Debug)]
pub struct Walker {
    /// The stream offset of the next byte it expects.
    at: u64,
    /// Payload bytes of the current frame still to pass (or preface bytes still to match).
    skip: u64,
    /// The client preface is still being matched: its bytes matched so far.
    preface: Option<usize>,
    header: [u8; HEADER_LEN],
    have: usize,
    lost: bool,
}

impl Walker {
    /// A walker of a client's stream, which starts with the preface (RFC 9113 §3.4).
    pub fn client() -> Walker {
        Walker { preface: Some(0), ..Walker::server() }
    }

    /// A walker of a server's stream (or any stream that starts with a frame).
    pub fn server() -> Walker {
        Walker { at: 0, skip: 0, preface: None, header: [0; HEADER_LEN], have: 0, lost: false }
    }

    /// A walker that names nothing: for a stream that is not HTTP/2.
    pub fn stopped() -> Walker {
        Walker { lost: true, ..Walker::server() }
    }

    /// It has lost the framing and names nothing more.
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// Reads `bytes`, which start at stream offset `offset`.
    pub fn feed(&mut self, offset: u64, bytes: &[u8]) -> Walked {
        let mut out = Walked::default();
        if self.lost {
            return out;
        }
        let end = offset.saturating_add(bytes.len() as u64);
        if end <= self.at {
            return out;
        }
        let mut rest = if offset <= self.at {
            let already = usize::try_from(self.at - offset).unwrap_or(usize::MAX);
            bytes.get(already..).unwrap_or(&[])
        } else {
            // A gap: fine while it falls inside a frame's payload.
            let gap = offset - self.at;
            if self.preface.is_some() || self.have > 0 || gap > self.skip {
                self.lost = true;
                return out;
            }
            self.skip -= gap;
            self.at = offset;
            bytes
        };
        while !rest.is_empty() && !self.lost {
            if let Some(matched) = self.preface {
                let n = (PREFACE.len() - matched).min(rest.len());
                if rest[..n] != PREFACE[matched..matched + n] {
                    self.lost = true;
                    break;
                }
                // Named where it completes, so a stream read in pieces names it where one
                // read whole does.
                out.preface |= matched + n == PREFACE.len();
                self.preface = (matched + n < PREFACE.len()).then_some(matched + n);
                self.advance(&mut rest, n);
            } else if self.skip > 0 {
                let n = usize::try_from(self.skip).unwrap_or(usize::MAX).min(rest.len());
                self.skip -= n as u64;
                self.advance(&mut rest, n);
            } else {
                let n = (HEADER_LEN - self.have).min(rest.len());
                self.header[self.have..self.have + n].copy_from_slice(&rest[..n]);
                self.have += n;
                self.advance(&mut rest, n);
                if self.have == HEADER_LEN {
                    self.have = 0;
                    match FrameHeader::parse(&self.header) {
                        Some(h) if h.len <= MAX_LEN => {
                            self.skip = u64::from(h.len);
                            out.frames.push(h);
                        }
                        _ => self.lost = true,
                    }
                }
            }
        }
        out
    }

    fn advance(&mut self, rest: &mut &[u8], n: usize) {
        *rest = &rest[n..];
        self.at += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(frame_type: u8, flags: u8, stream: u32, len: usize) -> Vec<u8> {
        let mut f = (len as u32).to_be_bytes()[1..].to_vec();
        f.extend([frame_type, flags]);
        f.extend((stream | 0x8000_0000).to_be_bytes());
        f.resize(HEADER_LEN + len, 0xab);
        f
    }

    #[test]
    fn frame_headers_are_named() {
        let h = FrameHeader::parse(&frame(0, 1, 3, 16384)).unwrap();
        assert_eq!((h.len, h.stream), (16384, 3), "the reserved bit is dropped");
        assert_eq!(h.to_string(), "DATA stream 3 (16384 bytes, END_STREAM)");
        assert_eq!(
            FrameHeader::parse(&frame(1, 0x24, 1, 5)).unwrap().to_string(),
            "HEADERS stream 1 (END_HEADERS, PRIORITY)"
        );
        assert_eq!(FrameHeader::parse(&frame(4, 1, 0, 0)).unwrap().to_string(), "SETTINGS (ACK)");
        assert_eq!(FrameHeader::parse(&frame(8, 0, 0, 4)).unwrap().to_string(), "WINDOW_UPDATE");
        assert_eq!(FrameHeader::parse(&frame(3, 0, 5, 4)).unwrap().to_string(), "RST_STREAM stream 5");
        assert_eq!(FrameHeader::parse(&frame(7, 0, 0, 8)).unwrap().to_string(), "GOAWAY");
        assert_eq!(FrameHeader::parse(&frame(0x2a, 0, 0, 0)).unwrap().to_string(), "unknown frame 0x2a");
        assert_eq!(FrameHeader::parse(&[0; 8]), None);
        assert!(starts_with_settings(&frame(4, 0, 0, 12)) && !starts_with_settings(&frame(4, 0, 1, 12)));
    }

    #[test]
    fn a_walker_follows_frames_across_pieces_and_gaps_inside_payloads() {
        let mut stream = PREFACE.to_vec();
        stream.extend(frame(4, 0, 0, 12));
        stream.extend(frame(1, 5, 1, 30));
        stream.extend(frame(0, 0, 3, 2000));
        stream.extend(frame(0, 1, 3, 100));
        let mut w = Walker::client();
        let a = w.feed(0, &stream[..30]);
        assert!(a.preface && a.frames.is_empty(), "the SETTINGS header is cut: not yet named");
        let b = w.feed(30, &stream[30..60]);
        assert_eq!(b.describe().as_deref(), Some("HTTP/2 SETTINGS, HEADERS stream 1 (END_STREAM, END_HEADERS)"));
        // A retransmission of read bytes names nothing; a gap inside DATA's payload is fine.
        assert_eq!(w.feed(0, &stream[..60]), Walked::default());
        let data_start = PREFACE.len() + 21 + 39;
        let c = w.feed(60, &stream[60..data_start + 20]);
        assert_eq!(c.describe().as_deref(), Some("HTTP/2 DATA stream 3 (2000 bytes)"));
        let d = w.feed(data_start as u64 + 1500, &stream[data_start + 1500..]);
        assert_eq!(d.describe().as_deref(), Some("HTTP/2 DATA stream 3 (100 bytes, END_STREAM)"));
        assert!(!w.lost());
        // A gap over a header loses the framing.
        let mut w = Walker::server();
        w.feed(0, &frame(4, 0, 0, 0));
        w.feed(20, &frame(4, 0, 0, 0));
        assert!(w.lost());
        // Not HTTP/2.
        let mut w = Walker::client();
        assert_eq!(w.feed(0, b"GET / HTTP/1.1\r\n"), Walked::default());
        assert!(w.lost());
    }

    #[test]
    fn never_panics_on_any_bytes() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..2000 {
            let mut w = if round % 2 == 0 { Walker::client() } else { Walker::server() };
            let mut at = 0u64;
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let bytes: Vec<u8> = (0..(x % 40)).map(|i| (x >> (i % 56)) as u8).collect();
                let walked = w.feed(at, &bytes);
                let _ = walked.describe();
                at = at.wrapping_add(x % 50).saturating_sub(x % 7);
            }
        }
        let mut w = Walker::server();
        let _ = w.feed(u64::MAX - 3, &[0; 9]);
    }
}
