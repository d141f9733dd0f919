//! What a frame's comment needs of its packet's parse, kept with the frame when it is recorded
//! so that rendering the file does not parse every packet again.
//!
//! A tap parses each packet as it records it ([`crate::packet::summarize`]), while its bytes
//! are in the cache. For the packets that make up nearly every capture (TCP segments whose
//! payload runs to the end of the frame) the description in the comment
//! ([`crate::packet::describe_tcp`]) depends on nothing but the TCP flags, where the payload
//! starts and whether it starts with something the description names (a TLS record, an HTTP
//! start line): four bytes in the frame's entry. Rendering then reads none of a data segment's
//! bytes (they go to the file straight from the capture): parsing each frame again, from
//! memory long out of the cache, was about half of the render's time in the throughput
//! benchmark. Anything else (UDP, ICMP, a frame cut by a snap length or after its headers) has
//! no sketch and is parsed when rendered, as before; the result is the same bytes either way.

use crate::packet::{self, PacketSummary, TcpFlags, Transport};

/// A TCP segment's flags and the offset of its payload, which runs to the end of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sketch {
    pub flags: TcpFlags,
    pub payload_offset: usize,
    /// The description names nothing in the payload ([`packet::names_in_payload`] is false):
    /// it is its length alone.
    pub plain: bool,
}

/// Set in an encoded sketch (0 is "none").
const PRESENT: u32 = 1 << 31;
/// [`Sketch::plain`].
const PLAIN: u32 = 1 << 30;

impl Sketch {
    /// The sketch of `bytes`, whose parse is `s`, if it is a TCP segment whose payload, as
    /// long on the wire as in the frame, runs to the frame's end.
    pub fn of(s: &PacketSummary, bytes: &[u8]) -> Option<Sketch> {
        let Transport::Tcp { flags, payload_len, .. } = s.transport else { return None };
        let whole = payload_len == s.payload_kept && s.payload_offset + s.payload_kept == bytes.len();
        if !whole || s.payload_offset > usize::from(u16::MAX) {
            return None;
        }
        let plain = !packet::names_in_payload(s.payload(bytes));
        Some(Sketch { flags, payload_offset: s.payload_offset, plain })
    }

    /// The sketch as a `u32` for the frame's entry (0: none).
    pub fn encode(sketch: Option<Sketch>) -> u32 {
        let Some(k) = sketch else { return 0 };
        let f = k.flags;
        let bits: u32 =
            [f.syn, f.ack, f.fin, f.rst, f.psh].into_iter().enumerate().map(|(i, on)| u32::from(on) << (16 + i)).sum();
        PRESENT | if k.plain { PLAIN } else { 0 } | bits | k.payload_offset as u32
    }

    /// The sketch an entry holds, if any.
    pub fn decode(v: u32) -> Option<Sketch> {
        if v & PRESENT == 0 {
            return None;
        }
        let bit = |i: u32| v & (1 << (16 + i)) != 0;
        let flags = TcpFlags { syn: bit(0), ack: bit(1), fin: bit(2), rst: bit(3), psh: bit(4) };
        Some(Sketch { flags, payload_offset: (v & 0xffff) as usize, plain: v & PLAIN != 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{summarize, testing::segment};

    #[test]
    fn a_whole_segment_is_sketched_and_read_back() {
        for (flags, payload) in [("S", &b""[..]), ("A", b""), ("PA", b"hello"), ("FA", b"hi"), ("RA", b"")] {
            let bytes = segment(true, 1000, 7, flags, payload);
            let s = summarize(&bytes).unwrap();
            let k = Sketch::of(&s, &bytes).expect("a whole segment");
            let Transport::Tcp { flags, .. } = s.transport else { panic!() };
            assert_eq!(k, Sketch { flags, payload_offset: 40, plain: true });
            assert_eq!(Sketch::decode(Sketch::encode(Some(k))), Some(k));
        }
        let request = segment(true, 1000, 7, "PA", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let k = Sketch::of(&summarize(&request).unwrap(), &request).unwrap();
        assert!(!k.plain);
        assert_eq!(Sketch::decode(Sketch::encode(Some(k))), Some(k));
        assert_eq!(Sketch::encode(None), 0);
        assert_eq!(Sketch::decode(0), None);
    }

    #[test]
    fn padding_after_the_packet_or_a_cut_frame_has_none() {
        let bytes = segment(true, 1000, 7, "PA", b"hello");
        let s = summarize(&bytes).unwrap();
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(Sketch::of(&summarize(&padded).unwrap(), &padded), None);
        let cut = &bytes[..42];
        assert_eq!(Sketch::of(&summarize(cut).unwrap(), cut), None);
        assert!(Sketch::of(&s, &bytes).is_some());
    }
}
