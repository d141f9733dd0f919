//! Names the TLS messages in a capture's TCP connections, by reading each direction's byte
//! stream in sequence order (RFC 9293 §3.4: a retransmitted or overlapping byte counts once;
//! a segment past a hole waits for it; connections and stream offsets are the flow tracker's,
//! `crate::wire::flow`) and its TLS records with [`crate::wire::tls`], decrypted
//! with the run's key log. The names are kept per frame (the frame where a record starts) and
//! rendered into comments; the TCP bytes are never changed.
//!
//! A stream that is not TLS but HTTP/2 in plain text (h2c with prior knowledge, RFC 9113
//! §3.3: the client's preface, the server's SETTINGS) has its HTTP/2 frames named the same way.
//!
//! Memory stays small: each direction holds at most one incomplete record and the segments
//! past a hole, never the whole stream.

use std::collections::{BTreeMap, VecDeque};

use crate::capture::Frame;
use crate::packet;
use crate::wire::flow::{Kind, Tracker};
use crate::wire::h2::{self, Walked, Walker};
use crate::wire::reorder::Reorder;
use crate::wire::tls::{self, KeyLog, Protection, RecordReader};

/// The TLS content of one frame: the records that start in it, named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsNames {
    /// Record (or message) names in order, e.g. `["ServerHello", "ChangeCipherSpec",
    /// "EncryptedExtensions", ...]`.
    pub names: Vec<&'static str>,
    /// Every record starting here holds only post-handshake messages (NewSessionTicket).
    pub post_handshake: bool,
    /// The frame where this direction's Finished started, if it came before.
    pub finished_frame: Option<u64>,
    /// The HTTP/2 frames whose headers are in the decrypted application data of these
    /// records (RFC 9113 §4.1), where the stream is HTTP/2.
    pub h2: Walked,
}

impl TlsNames {
    /// "TLS ServerHello, ChangeCipherSpec, Application Data x3".
    pub fn describe(&self) -> String {
        let mut runs: Vec<(&str, usize)> = Vec::new();
        for n in &self.names {
            match runs.last_mut() {
                Some((last, k)) if last == n => *k += 1,
                _ => runs.push((n, 1)),
            }
        }
        let parts: Vec<String> =
            runs.iter().map(|(n, k)| if *k > 1 { format!("{n} x{k}") } else { n.to_string() }).collect();
        let tls = format!("TLS {}", parts.join(", "));
        match self.h2.describe() {
            // HTTP/2 in plain text: no TLS records, only frames.
            Some(h2) if self.names.is_empty() => h2,
            Some(h2) => format!("{tls}; {h2}"),
            None => tls,
        }
    }
}

/// One direction of a connection.
#[derive(Default)]
struct Direction {
    /// Stream offset of the next byte expected.
    next: u64,
    /// Segments past a hole, by stream offset: (frame, bytes).
    ahead: Reorder<(u64, Vec<u8>)>,
    /// Bytes of the record being assembled and the frames they came in: (stream offset, frame).
    pending: Vec<u8>,
    pieces: VecDeque<(u64, u64)>,
    /// Stream offset of `pending[0]`.
    pending_at: u64,
    /// The stream is not TLS (plain HTTP, or it lost record framing): stop reading it.
    not_tls: bool,
    reader: Option<RecordReader>,
    /// Whole records read before this direction's protection was known (the client's early
    /// data comes before the ServerHello names the cipher suite).
    waiting: Vec<(u64, Vec<u8>)>,
    finished_frame: Option<u64>,
    /// The HTTP/2 frames in the decrypted application data, and how much of it was read;
    /// `None` until the first application data shows whether the stream is HTTP/2.
    h2: Option<(Walker, u64)>,
    /// The stream is HTTP/2 in plain text: its frames, read straight off the TCP stream.
    plain_h2: Option<Walker>,
}

#[derive(Default)]
struct Connection {
    client: Direction,
    server: Direction,
    random: Option<[u8; 32]>,
    suite: Option<tls::Suite>,
    server_hello_seen: bool,
}

/// Names the TLS records of every TCP connection in `frames`, using `key_log` to decrypt
/// TLS 1.3 records; returns the names by frame number.
pub fn name_records<'a>(frames: impl Iterator<Item = Frame<'a>>, key_log: &str) -> BTreeMap<u64, TlsNames> {
    let log = KeyLog::parse(key_log);
    // Connections and stream offsets are the one flow tracker's (`wire::flow`).
    let mut tracker = Tracker::default();
    let mut conns: BTreeMap<u64, Connection> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for f in frames {
        let Some(s) = packet::summarize(f.bytes) else { continue };
        let Some(info) = tracker.push((), &s) else { continue };
        let payload = s.payload(f.bytes);
        if info.kind == Kind::Syn {
            conns.insert(info.conn, Connection::default());
            continue;
        }
        // Only connections whose SYN was seen, and sides whose ISN was.
        let (Some(from_client), Some(c)) = (info.from_opener, conns.get_mut(&info.conn)) else { continue };
        let (Some(_), Some((at, _))) = (info.sender_isn, info.offsets) else { continue };
        if info.kind != Kind::SynAck && !payload.is_empty() && payload.len() + s.payload_offset <= f.bytes.len() {
            c.segment(from_client, at, payload, f.number, &log, &mut out);
        }
    }
    for c in conns.values_mut() {
        c.release_waiting(&log, &mut out);
    }
    out
}

impl Connection {
    /// `payload` at stream offset `at` of one direction, in frame `frame`.
    fn segment(&mut self, from_client: bool, at: u64, payload: &[u8], frame: u64, log: &KeyLog, out: &mut Names) {
        let dir = if from_client { &mut self.client } else { &mut self.server };
        if let Some(walker) = &mut dir.plain_h2 {
            name_plain_h2(walker.feed(at, payload), frame, out);
            return;
        }
        if dir.not_tls {
            return;
        }
        let end = at + payload.len() as u64;
        if end <= dir.next {
            return; // all of it already read
        }
        if at > dir.next {
            dir.ahead.hold(at, payload.len() as u64, (frame, payload.to_vec()));
            return;
        }
        let skip = (dir.next - at) as usize;
        self.take(from_client, &payload[skip..], frame, log, out);
        loop {
            let dir = if from_client { &mut self.client } else { &mut self.server };
            let Some((at, _, (frame, bytes))) = dir.ahead.ready(dir.next) else { break };
            let skip = (dir.next - at).min(bytes.len() as u64) as usize;
            self.take(from_client, &bytes[skip..], frame, log, out);
        }
    }

    /// In-order bytes of one direction: completes records and reads them.
    fn take(&mut self, from_client: bool, bytes: &[u8], frame: u64, log: &KeyLog, out: &mut Names) {
        let dir = if from_client { &mut self.client } else { &mut self.server };
        dir.pieces.push_back((dir.next, frame));
        dir.pending.extend_from_slice(bytes);
        dir.next += bytes.len() as u64;
        loop {
            let dir = if from_client { &mut self.client } else { &mut self.server };
            if dir.pending.len() < 5 {
                return;
            }
            let Some(len) = RecordReader::record_len(&dir.pending) else {
                dir.not_tls = true;
                if dir.pending_at == 0 {
                    dir.start_plain_h2(from_client, out);
                }
                dir.pending = Vec::new();
                dir.pieces.clear();
                return;
            };
            if dir.pending.len() < len {
                return;
            }
            let record: Vec<u8> = dir.pending.drain(..len).collect();
            let start = dir.pending_at;
            dir.pending_at += len as u64;
            let frame = dir.frame_of(start);
            while dir.pieces.len() > 1 && dir.pieces[1].0 <= dir.pending_at {
                dir.pieces.pop_front();
            }
            self.record(from_client, frame, record, log, out);
        }
    }

    fn record(&mut self, from_client: bool, frame: u64, record: Vec<u8>, log: &KeyLog, out: &mut Names) {
        if from_client {
            if self.random.is_none() {
                self.random = tls::client_hello_random(&record);
            }
            if self.client.reader.is_none() {
                self.client.waiting.push((frame, record));
                return;
            }
        } else if !self.server_hello_seen {
            self.server_hello_seen = true;
            self.suite = tls::server_hello_suite(&record);
            let random = self.random.unwrap_or([0; 32]);
            self.server.reader = Some(RecordReader::new(Protection::for_direction(log, &random, self.suite, false)));
            self.client.reader = Some(RecordReader::new(Protection::for_direction(log, &random, self.suite, true)));
            for (frame, record) in std::mem::take(&mut self.client.waiting) {
                read(&mut self.client, true, frame, &record, out);
            }
        }
        let dir = if from_client { &mut self.client } else { &mut self.server };
        read(dir, from_client, frame, &record, out);
    }

    /// A client whose server never answered with TLS: its records are named without keys.
    fn release_waiting(&mut self, log: &KeyLog, out: &mut Names) {
        if self.client.waiting.is_empty() {
            return;
        }
        let random = self.random.unwrap_or([0; 32]);
        let reader = RecordReader::new(Protection::for_direction(log, &random, self.suite, true));
        let dir = &mut self.client;
        dir.reader = Some(reader);
        for (frame, record) in std::mem::take(&mut dir.waiting) {
            read(dir, true, frame, &record, out);
        }
    }
}

type Names = BTreeMap<u64, TlsNames>;

fn read(dir: &mut Direction, from_client: bool, frame: u64, record: &[u8], out: &mut Names) {
    let Some(reader) = dir.reader.as_mut() else { return };
    let mut named = reader.read(record);
    let h2 = named.application_data.take().map(|plain| {
        // A client's HTTP/2 stream starts with the preface, a server's with SETTINGS (RFC 9113
        // §3.4); any other application data is not followed.
        let (walker, at) = dir.h2.get_or_insert_with(|| {
            let walker = match from_client {
                true if plain.starts_with(h2::PREFACE) => Walker::client(),
                false if h2::starts_with_settings(&plain) => Walker::server(),
                _ => Walker::stopped(),
            };
            (walker, 0)
        });
        let walked = walker.feed(*at, &plain);
        *at += plain.len() as u64;
        walked
    });
    let entry = out.entry(frame).or_insert_with(|| TlsNames { post_handshake: true, ..Default::default() });
    entry.post_handshake &= named.post_handshake;
    entry.finished_frame = dir.finished_frame;
    if dir.finished_frame.is_none() && named.names.contains(&"Finished") {
        dir.finished_frame = Some(frame);
    }
    entry.names.extend(named.names);
    if let Some(walked) = h2 {
        entry.h2.preface |= walked.preface;
        entry.h2.frames.extend(walked.frames);
    }
}

/// The HTTP/2 frames a plain-text segment in `frame` held.
fn name_plain_h2(walked: Walked, frame: u64, out: &mut Names) {
    if walked.preface || !walked.frames.is_empty() {
        let entry = out.entry(frame).or_default();
        entry.h2.preface |= walked.preface;
        entry.h2.frames.extend(walked.frames);
    }
}

impl Direction {
    /// A stream that is not TLS from its first byte: if it begins as HTTP/2 does (the client's
    /// preface, the server's SETTINGS, RFC 9113 §3.4), its frames are named from here on,
    /// starting with the bytes read so far, each piece in the frame that brought it.
    fn start_plain_h2(&mut self, from_client: bool, out: &mut Names) {
        let mut walker = match from_client {
            true if self.pending.starts_with(h2::PREFACE) => Walker::client(),
            false if h2::starts_with_settings(&self.pending) => Walker::server(),
            _ => return,
        };
        let pieces: Vec<(u64, u64)> = self.pieces.iter().copied().collect();
        for (i, &(start, frame)) in pieces.iter().enumerate() {
            let end = pieces.get(i + 1).map_or(self.next, |p| p.0);
            let from = usize::try_from(start.saturating_sub(self.pending_at)).unwrap_or(usize::MAX);
            let to = usize::try_from(end.saturating_sub(self.pending_at)).unwrap_or(usize::MAX);
            if let Some(bytes) = self.pending.get(from..to.min(self.pending.len())) {
                name_plain_h2(walker.feed(start, bytes), frame, out);
            }
        }
        self.plain_h2 = Some(walker);
    }

    /// The frame that brought stream offset `at`.
    fn frame_of(&self, at: u64) -> u64 {
        self.pieces.iter().take_while(|(start, _)| *start <= at).last().map_or(0, |p| p.1)
    }
}
