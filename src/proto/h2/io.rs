//! The in-memory transport h2 runs over, and HTTP/2 frame-header parsing (RFC 9113 §4.1).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Length of an HTTP/2 frame header (RFC 9113 §4.1).
pub const FRAME_HEADER_LEN: usize = 9;

/// Frame type of DATA frames (RFC 9113 §6.1).
pub const FRAME_DATA: u8 = 0x0;

/// A parsed HTTP/2 frame header (RFC 9113 §4.1): 24-bit length, 8-bit type, 8-bit flags,
/// one reserved bit and a 31-bit stream identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (not counting the 9-byte header).
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    /// Stream identifier with the reserved bit masked off.
    pub stream: u32,
}

impl FrameHeader {
    /// Parses the first 9 bytes of `b`, if there are that many.
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        let h = b.get(..FRAME_HEADER_LEN)?;
        Some(FrameHeader {
            len: (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]),
            kind: h[3],
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        })
    }
}

/// Byte buffers shared between the owner (H2Client / H2Server) and the [`PipeIo`] that h2 owns.
#[derive(Debug, Default)]
pub struct Pipe {
    /// Received bytes h2 has not read yet.
    pub inbound: VecDeque<u8>,
    /// Total bytes h2 has read so far.
    pub consumed: u64,
    /// If set, h2 may not read past this absolute stream offset (used to hand h2 one frame at a
    /// time so that events come out in wire order).
    pub gate: Option<u64>,
    /// Bytes h2 has written and the owner has not taken yet.
    pub outbound: Vec<u8>,
}

/// A `tokio::io::AsyncRead + AsyncWrite` over a shared [`Pipe`]: reads return `Pending` when
/// nothing is readable (the owner polls again after `receive`), writes always succeed in full.
/// The waker is never used: the owner re-polls everything itself.
#[derive(Clone, Debug, Default)]
pub struct PipeIo(Arc<Mutex<Pipe>>);

impl PipeIo {
    pub fn lock(&self) -> MutexGuard<'_, Pipe> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AsyncRead for PipeIo {
    fn poll_read(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let mut p = self.lock();
        let allowed = match p.gate {
            Some(g) => usize::try_from(g.saturating_sub(p.consumed)).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let n = p.inbound.len().min(allowed).min(buf.remaining());
        if n == 0 {
            return Poll::Pending;
        }
        let (a, b) = p.inbound.as_slices();
        let from_a = n.min(a.len());
        buf.put_slice(&a[..from_a]);
        buf.put_slice(&b[..n - from_a]);
        p.inbound.drain(..n);
        p.consumed += n as u64;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for PipeIo {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.lock().outbound.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Streaming frame-boundary scanner over received bytes (RFC 9113 §4.1): records the absolute
/// end offset of every frame whose header has been seen.
#[derive(Debug, Default)]
pub struct FrameScanner {
    /// Absolute offset of the next byte fed.
    pos: u64,
    hdr: [u8; FRAME_HEADER_LEN],
    hdr_len: usize,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// End offsets of frames not yet fully consumed.
    ends: VecDeque<u64>,
}

impl FrameScanner {
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = usize::try_from(self.skip).unwrap_or(usize::MAX).min(data.len());
                self.skip -= n as u64;
                self.pos += n as u64;
                data = &data[n..];
                continue;
            }
            let n = (FRAME_HEADER_LEN - self.hdr_len).min(data.len());
            self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&data[..n]);
            self.hdr_len += n;
            self.pos += n as u64;
            data = &data[n..];
            if self.hdr_len == FRAME_HEADER_LEN {
                let len = FrameHeader::parse(&self.hdr).map_or(0, |h| h.len) as u64;
                self.hdr_len = 0;
                self.skip = len;
                self.ends.push_back(self.pos + len);
            }
        }
    }

    /// The end of the first frame not entirely read by the time `consumed` bytes were read, or
    /// `None` if only part of a frame header is pending.
    pub fn gate(&mut self, consumed: u64) -> Option<u64> {
        while self.ends.front().is_some_and(|&e| e <= consumed) {
            self.ends.pop_front();
        }
        self.ends.front().copied()
    }
}

/// Splits whole frames off the front of `buf` (RFC 9113 §4.1); an incomplete trailing frame stays.
pub fn split_frames(buf: &mut Vec<u8>) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 0;
    while let Some(h) = FrameHeader::parse(&buf[off..]) {
        let end = off + FRAME_HEADER_LEN + h.len;
        if end > buf.len() {
            break;
        }
        out.push((h, buf[off..end].to_vec()));
        off = end;
    }
    buf.drain(..off);
    out
}
