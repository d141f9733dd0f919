//! pcapng captures: one vantage point (one host) per file.
//!
//! A [`Capture`] records raw IPv4 packets (LINKTYPE_RAW) with a virtual timestamp and a comment
//! (the phase label) into two growing arenas, so recording costs no allocation per packet beyond
//! amortised growth. [`Capture::to_pcapng`] then writes the file in one pass (see [`pcapng`] for
//! the block layout). Output depends only on the inputs: no wall clock, host name or randomness.

pub mod annotate;
pub mod pcapng;

use std::net::Ipv4Addr;

use crate::sim::time::Instant;

/// 2026-01-01T00:00:00Z in µs since the Unix epoch: virtual time zero in every capture, fixed so
/// that captures are byte-identical for a seed.
pub const DEFAULT_EPOCH_UNIX_MICROS: u64 = 1_767_225_600_000_000;

/// Where one packet lives in the arenas.
#[derive(Clone, Copy, Debug)]
struct Entry {
    at: u64,
    data_end: usize,
    comment_end: usize,
    /// The packet's length on the wire (more than what is kept when a snap length cuts it).
    orig_len: u32,
}

/// An in-memory capture from one vantage point.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    interface: String,
    names: Vec<(Ipv4Addr, String)>,
    entries: Vec<Entry>,
    data: Vec<u8>,
    comments: String,
    /// Bytes kept of each packet (0: all), like tcpdump's `-s`.
    snaplen: usize,
}

/// One recorded packet, borrowed from a [`Capture`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 1-based, as Wireshark numbers it.
    pub number: u64,
    pub at: Instant,
    pub bytes: &'a [u8],
    pub comment: &'a str,
    /// The packet's length on the wire (`bytes` may be shorter: see [`Capture::with_snaplen`]).
    pub orig_len: usize,
}

impl Capture {
    /// `interface`: the host name of the vantage point (the IDB's if_name and if_description);
    /// `names`: (address, host name) pairs for the Name Resolution Block.
    pub fn new(interface: &str, names: Vec<(Ipv4Addr, String)>) -> Self {
        Capture { interface: interface.to_string(), names, ..Default::default() }
    }

    /// Keeps only the first `snaplen` bytes of each packet (0: whole packets), so that long
    /// high-rate real-time runs fit in memory; headers are what Wireshark's analysis needs.
    pub fn with_snaplen(mut self, snaplen: usize) -> Self {
        self.snaplen = snaplen;
        self
    }

    /// Records one packet (raw IPv4 bytes) at virtual time `at` with its comment; returns its
    /// 1-based frame number as Wireshark numbers it. Calls must come in non-decreasing time order.
    pub fn record(&mut self, at: Instant, bytes: &[u8], comment: String) -> u64 {
        self.record_with(at, bytes, |c| c.push_str(&comment))
    }

    /// Like [`Capture::record`], with the comment written by `comment` straight into the
    /// capture's own buffer (no allocation per packet on the hot path).
    pub fn record_with(&mut self, at: Instant, bytes: &[u8], comment: impl FnOnce(&mut String)) -> u64 {
        debug_assert!(
            self.entries.last().is_none_or(|e| e.at <= at.micros()),
            "capture {}: packet at {at} recorded after a later one",
            self.interface
        );
        let kept = if self.snaplen == 0 { bytes.len() } else { bytes.len().min(self.snaplen) };
        self.data.extend_from_slice(&bytes[..kept]);
        comment(&mut self.comments);
        self.entries.push(Entry {
            at: at.micros(),
            data_end: self.data.len(),
            comment_end: self.comments.len(),
            orig_len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        });
        self.entries.len() as u64
    }

    /// The comment of the last packet recorded.
    pub fn last_comment(&self) -> Option<&str> {
        let start = self.entries.len().checked_sub(2).map_or(0, |p| self.entries[p].comment_end);
        self.entries.last().map(|e| &self.comments[start..e.comment_end])
    }

    /// Replaces the comment of the last packet recorded (a packet found lost after it was sent).
    pub fn set_last_comment(&mut self, comment: &str) {
        let start = self.entries.len().checked_sub(2).map_or(0, |p| self.entries[p].comment_end);
        if let Some(e) = self.entries.last_mut() {
            self.comments.truncate(start);
            self.comments.push_str(comment);
            e.comment_end = self.comments.len();
        }
    }

    /// Rewrites comments after the fact: `f(frame, comment)` returns the new comment, or
    /// `None` to keep it. One pass over the capture.
    pub fn rewrite_comments(&mut self, mut f: impl FnMut(u64, &str) -> Option<String>) {
        let mut comments = String::with_capacity(self.comments.len());
        let mut start = 0;
        for (i, e) in self.entries.iter_mut().enumerate() {
            let old = &self.comments[start..e.comment_end];
            match f(i as u64 + 1, old) {
                Some(new) => comments.push_str(&new),
                None => comments.push_str(old),
            }
            start = e.comment_end;
            e.comment_end = comments.len();
        }
        self.comments = comments;
    }

    /// When the last packet was recorded.
    pub fn last_time(&self) -> Option<Instant> {
        self.entries.last().map(|e| Instant::from_micros(e.at))
    }

    /// How many packets have been recorded (the number of the last frame).
    pub fn frames(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The vantage point's host name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The (address, host name) pairs written to the Name Resolution Block.
    pub fn names(&self) -> &[(Ipv4Addr, String)] {
        &self.names
    }

    /// The recorded packets in order.
    pub fn packets(&self) -> impl ExactSizeIterator<Item = Frame<'_>> + '_ {
        self.entries.iter().enumerate().map(move |(i, e)| {
            let (data_start, comment_start) = match i.checked_sub(1) {
                Some(p) => (self.entries[p].data_end, self.entries[p].comment_end),
                None => (0, 0),
            };
            Frame {
                number: i as u64 + 1,
                at: Instant::from_micros(e.at),
                bytes: &self.data[data_start..e.data_end],
                comment: &self.comments[comment_start..e.comment_end],
                orig_len: e.orig_len as usize,
            }
        })
    }

    /// Serialises the capture: SHB, one IDB (LINKTYPE_RAW, µs timestamps), an NRB with the host
    /// names, then, if `key_log` is non-empty, a Decryption Secrets Block before the first packet,
    /// then one EPB per packet with its comment. Timestamps are `epoch_unix_micros + at`.
    pub fn to_pcapng(&self, key_log: Option<&str>, epoch_unix_micros: u64) -> Vec<u8> {
        let estimate = 256 + self.data.len() + self.comments.len() + 48 * self.entries.len();
        let mut out = Vec::with_capacity(estimate + key_log.map_or(0, |k| k.len() + 32));
        pcapng::write_header(&mut out, &self.interface, &self.names);
        if let Some(keys) = key_log.filter(|k| !k.is_empty()) {
            pcapng::write_dsb(&mut out, pcapng::SECRETS_TYPE_TLS, keys.as_bytes());
        }
        for f in self.packets() {
            let ts = epoch_unix_micros.saturating_add(f.at.micros());
            pcapng::write_epb(&mut out, ts, f.bytes, f.orig_len, f.comment);
        }
        out
    }
}

#[cfg(test)]
mod tests;
