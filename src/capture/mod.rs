//! pcapng captures: one vantage point (one host) per file.
//!
//! A [`Capture`] records raw IPv4 packets (LINKTYPE_RAW) with a virtual timestamp, the label of
//! the phase they were recorded in and what is known about them (lost after leaving, notes from
//! analyses) into growing arenas, so recording costs no allocation per packet beyond amortised
//! growth; past 32 MiB the oldest go to an unnamed temporary file ([`store`]), so memory stays
//! flat however long the run. [`Capture::to_pcapng`] renders the comments and writes the file
//! in one pass (see [`pcapng`] for the block layout). Output depends only on the inputs: no wall clock, host name
//! or randomness.

pub mod annotate;
mod frame;
pub mod keep;
mod notes;
pub mod pcapng;
pub mod sketch;
pub mod store;
pub mod tls_names;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::packet::PacketSummary;
use crate::time::Instant;

pub use frame::Frame;
pub use keep::Keep;
use notes::Notes;
use sketch::Sketch;
pub use store::SpillError;
use store::{Entry, Store};

/// 2026-01-01T00:00:00Z in µs since the Unix epoch: virtual time zero in every capture, fixed so
/// that captures are byte-identical for a seed.
pub const DEFAULT_EPOCH_UNIX_MICROS: u64 = 1_767_225_600_000_000;

/// [`Entry::phase`] of a frame that belongs to no timeline phase.
const NO_PHASE: u32 = u32::MAX;

/// Something said about one frame, rendered into its comment when the file is written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Note {
    /// Appended to the frame's label (`, slow start round 3`).
    Label(String),
    /// Between the label and the packet's description (`lost on the link after leaving`).
    Before(String),
    /// A packet lost on its way to this host before this frame arrived (`LOST on the way here
    /// (never received): TCP ...`): about another packet, so it comes first, ends with a full
    /// stop, and `This frame:` introduces what is said about the frame itself.
    LostBefore(String),
    /// After the description (` [held behind a hole for 100 ms]`).
    After(String),
}

/// An in-memory capture from one vantage point.
///
/// It holds the packets and what is known about each as data: the label of the phase it was
/// recorded in, whether the link lost it after the host sent it, and notes that analyses add.
/// Comments are rendered from that data only when the file is written ([`Frame::comment`]), so
/// no analysis reads comment text.
#[derive(Debug, Default)]
pub struct Capture {
    interface: String,
    names: Vec<(Ipv4Addr, String)>,
    /// The packets and their entries, in memory and spilled to disk.
    entries: Store,
    /// Distinct labels, in the order first used.
    labels: Vec<String>,
    /// Each label's index in `labels`.
    label_index: HashMap<String, u32>,
    /// The label interned last, compared first.
    last_label: u32,
    /// Notes by frame number, in the order added.
    notes: Notes,
    /// Bytes kept of each packet (0: all), like tcpdump's `-s`.
    snaplen: usize,
    /// Comments end with a description of the packet ([`crate::packet::Summary::describe`]).
    describe: bool,
    /// TLS records named from the whole stream, decrypted ([`Capture::name_tls`]), by frame.
    tls: BTreeMap<u64, tls_names::TlsNames>,
    /// The most frames kept (`None`: all); see [`Keep`].
    limit: Option<u64>,
    /// Frames recorded, kept or not: the number of the last frame of a full capture.
    recorded: u64,
    /// The first and last frame of each timeline phase among the frames not kept (index =
    /// phase), so phases name the same frames whatever the capture keeps.
    beyond: Vec<Option<(u64, u64)>>,
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

    /// Ends every comment with a description of the packet (SYN/ACK, 1448 bytes: TLS ...).
    pub fn describing(mut self) -> Self {
        self.describe = true;
        self
    }

    /// Spills packet bytes to disk once more than `bytes` are in memory (by 1 MiB chunk), and
    /// entries `block` at a time once twice as many are in memory (by default 32 MiB and
    /// [`store::ENTRY_BLOCK`]). What is written does not depend on it.
    pub fn spilling_after(mut self, bytes: usize, block: usize) -> Self {
        self.entries.spill_after(bytes, block);
        self
    }

    /// Puts the spill file in `dir` (by default the system's temporary directory).
    pub fn spilling_in(mut self, dir: PathBuf) -> Self {
        self.entries.spill_in(dir);
        self
    }

    /// The recording is over: a capture that has spilled to disk (a long one) spills the rest
    /// of its packets too, so that keeping it until its file is written costs little memory.
    pub fn finish_recording(&mut self) {
        self.entries.spill_rest();
    }

    /// Spilling to disk failed, and the capture went on in memory: why.
    pub fn spill_warning(&self) -> Option<&SpillError> {
        self.entries.spill_warning()
    }

    /// Keeps only the frames `keep` allows (before anything is recorded).
    pub fn keeping(mut self, keep: Keep) -> Self {
        self.limit = keep.limit();
        self
    }

    /// What this capture keeps.
    pub fn keep(&self) -> Keep {
        match self.limit {
            None => Keep::All,
            Some(0) => Keep::None,
            Some(n) => Keep::First(n),
        }
    }

    /// The next frame recorded will be kept.
    pub fn keeps_next(&self) -> bool {
        self.limit.is_none_or(|n| (self.entries.len() as u64) < n)
    }

    /// Frames were recorded and not kept: the capture ends before the run did.
    pub fn is_cut(&self) -> bool {
        self.recorded > self.frames()
    }

    /// Frames recorded, kept or not (what [`Capture::frames`] would be with every frame kept).
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// Records one packet (raw IPv4 bytes) at virtual time `at` under `label`; returns its
    /// 1-based frame number as Wireshark numbers it. Calls must come in non-decreasing time order.
    pub fn record(&mut self, at: Instant, bytes: &[u8], label: &str) -> u64 {
        self.record_in(at, bytes, label, None)
    }

    /// [`Capture::record`], the packet belonging to timeline phase `phase`. Past the capture's
    /// limit ([`Capture::keeping`]) the frame is only counted: its number is returned, and it
    /// counts towards its phase's frames, but nothing of it is stored.
    pub fn record_in(&mut self, at: Instant, bytes: &[u8], label: &str, phase: Option<usize>) -> u64 {
        self.record_parsed(at, bytes, None, label, phase)
    }

    /// [`Capture::record_in`] of a packet parsed already (`summary`, its parse), so that
    /// rendering its comment does not parse it again ([`sketch`]).
    pub fn record_parsed(
        &mut self,
        at: Instant,
        bytes: &[u8],
        summary: Option<&PacketSummary>,
        label: &str,
        phase: Option<usize>,
    ) -> u64 {
        debug_assert!(
            summary.is_none() || summary == crate::packet::summarize(bytes).as_ref(),
            "capture {}: a packet recorded with another packet's parse",
            self.interface
        );
        debug_assert!(
            self.entries.last().is_none_or(|e| e.at <= at.micros()),
            "capture {}: packet at {at} recorded after a later one",
            self.interface
        );
        if !self.keeps_next() {
            self.recorded += 1;
            let frame = self.recorded;
            if let Some(p) = phase {
                if self.beyond.len() <= p {
                    self.beyond.resize(p + 1, None);
                }
                let slot = &mut self.beyond[p];
                *slot = Some(slot.map_or((frame, frame), |(first, _)| (first, frame)));
            }
            return frame;
        }
        let label = self.intern(label);
        let kept = if self.snaplen == 0 { bytes.len() } else { bytes.len().min(self.snaplen) };
        let stored = &bytes[..kept];
        self.entries.push(
            stored,
            Entry {
                at: at.micros(),
                chunk: 0,
                start: 0,
                end: 0,
                orig_len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                label,
                phase: phase.and_then(|p| u32::try_from(p).ok()).unwrap_or(NO_PHASE),
                lost: false,
                sketch: Sketch::encode(summary.and_then(|s| Sketch::of(s, bytes))),
            },
        );
        self.recorded = self.entries.len() as u64;
        self.recorded
    }

    /// Moves frame `frame` (1-based) to another label and phase: a packet found to belong to a
    /// phase that began when it was read (the first byte of a response). A frame not kept
    /// stays where it was recorded (scenarios that move frames keep them all).
    pub fn relabel(&mut self, frame: u64, label: &str, phase: Option<usize>) {
        let label = self.intern(label);
        let phase = phase.and_then(|p| u32::try_from(p).ok()).unwrap_or(NO_PHASE);
        if let Some(i) = frame.checked_sub(1).and_then(|i| usize::try_from(i).ok()) {
            self.entries.update(i, |e| {
                e.label = label;
                e.phase = phase;
            });
        }
    }

    /// The first and last frame of each timeline phase (index = phase), from the frames'
    /// phases, those not kept included; `None` for a phase with no frame.
    pub fn phase_frames(&self) -> Vec<Option<(u64, u64)>> {
        let mut out: Vec<Option<(u64, u64)>> = Vec::new();
        for (i, e, _) in self.entries.iter() {
            if e.phase == NO_PHASE {
                continue;
            }
            let (p, frame) = (e.phase as usize, i as u64 + 1);
            if out.len() <= p {
                out.resize(p + 1, None);
            }
            let slot = &mut out[p];
            *slot = Some(slot.map_or((frame, frame), |(first, _)| (first, frame)));
        }
        // Frames not kept come after every kept one.
        if out.len() < self.beyond.len() {
            out.resize(self.beyond.len(), None);
        }
        for (slot, beyond) in out.iter_mut().zip(&self.beyond) {
            if let Some((first, last)) = *beyond {
                *slot = Some(slot.map_or((first, last), |(f, _)| (f, last)));
            }
        }
        out
    }

    /// The index of `label`, added if new. Labels change with phases, so the last one is
    /// checked first (no lookup per packet on the hot path).
    fn intern(&mut self, label: &str) -> u32 {
        if let Some(last) = self.labels.get(self.last_label as usize) {
            if same(last, label) {
                return self.last_label;
            }
        }
        // A connection's packets interleave with another's, and other vantage points label
        // frames by connection: one lookup.
        if let Some(&i) = self.label_index.get(label) {
            self.last_label = i;
            return i;
        }
        let i = self.labels.len() as u32;
        self.labels.push(label.to_string());
        self.label_index.insert(label.to_string(), i);
        self.last_label = i;
        i
    }

    /// Names the TLS records of every TCP connection from their streams, decrypted with
    /// `key_log` ([`tls_names`]). A frame that holds only post-handshake messages (a server's
    /// NewSessionTicket, RFC 8446 §4.6.1) is TLS's own, whatever the application was doing
    /// when it came: it takes the label of its direction's Finished and leaves the phase.
    pub fn name_tls(&mut self, key_log: &str) {
        self.tls = tls_names::name_records(self.packets(), key_log);
        let moved: Vec<(u64, u64)> = self
            .tls
            .iter()
            .filter(|(_, t)| t.post_handshake)
            .filter_map(|(&frame, t)| Some((frame, t.finished_frame?)))
            .collect();
        for (frame, finished) in moved {
            let Some(label) = self.entry(finished).map(|e| self.labels[e.label as usize].clone()) else { continue };
            self.relabel(frame, &label, None);
            self.add_note(frame, Note::Label(" (after the handshake)".into()));
        }
    }

    fn entry(&self, frame: u64) -> Option<Entry> {
        self.entries.get(usize::try_from(frame.checked_sub(1)?).ok()?)
    }

    /// Marks the last packet recorded as sent and then lost on the link, because of `rule`
    /// (nothing, if that packet was not kept).
    pub fn mark_last_lost(&mut self, rule: &str) {
        if self.is_cut() {
            return;
        }
        if let Some(last) = self.entries.len().checked_sub(1) {
            self.entries.update(last, |e| e.lost = true);
            let frame = self.entries.len() as u64;
            self.add_note(frame, Note::Before(format!("LOST on the link after leaving ({rule}), never delivered")));
        }
    }

    /// Marks frame `frame` as a packet that never reached its receiver's stack (analyses skip
    /// it, as they skip a lost one), saying why in its comment; nothing if it was not kept.
    /// With `keep`, only its first `keep` bytes stay in the file (its length on the wire is
    /// still said), as a snap length would cut it.
    pub fn mark_never_received(&mut self, frame: u64, why: String, keep: Option<usize>) {
        let Some(i) = usize::try_from(frame.saturating_sub(1)).ok().filter(|&i| i < self.entries.len()) else {
            return;
        };
        if frame == 0 {
            return;
        }
        let keep = keep.and_then(|k| u32::try_from(k).ok());
        self.entries.update(i, |e| {
            e.lost = true;
            if let Some(keep) = keep {
                e.end = e.end.min(e.start.saturating_add(keep));
            }
        });
        self.add_note(frame, Note::Before(why));
    }

    /// Marks frame `frame` (1-based) as sent and then lost on the way, because of `rule`
    /// (nothing, if that frame was not kept).
    pub fn mark_lost(&mut self, frame: u64, rule: &str) {
        let Some(i) = usize::try_from(frame).ok().and_then(|f| f.checked_sub(1)).filter(|&i| i < self.entries.len())
        else {
            return;
        };
        self.entries.update(i, |e| e.lost = true);
        self.add_note(frame, Note::Before(format!("LOST on the way after leaving ({rule}), never delivered")));
    }

    /// Adds a note to frame `frame` (1-based); rendered into its comment when written.
    pub fn add_note(&mut self, frame: u64, note: Note) {
        if frame >= 1 && frame <= self.frames() {
            self.notes.add(frame, note);
        }
    }

    /// When the last packet was recorded.
    pub fn last_time(&self) -> Option<Instant> {
        self.entries.last().map(|e| Instant::from_micros(e.at))
    }

    /// How many packets the capture holds (the number of its last frame); see
    /// [`Capture::recorded`] for how many were recorded.
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
    /// The recorded packets in order. An iteration holds about one chunk of a spilled
    /// capture in memory at a time ([`store`]).
    pub fn packets(&self) -> impl ExactSizeIterator<Item = Frame<'_>> + '_ {
        let mut run = 0;
        self.entries.iter().map(move |(i, e, bytes)| {
            let number = i as u64 + 1;
            let (notes, at) = self.notes.get_from(run, number);
            run = at;
            Frame {
                number,
                at: Instant::from_micros(e.at),
                bytes,
                label: &self.labels[e.label as usize],
                phase: (e.phase != NO_PHASE).then_some(e.phase as usize),
                lost: e.lost,
                orig_len: e.orig_len as usize,
                notes,
                describe: self.describe,
                // Only for the frame as it was recorded: a snap length or a corrupted frame's
                // cut keeps less of it.
                sketch: Sketch::decode(e.sketch).filter(|_| bytes.len() == e.orig_len as usize),
                tls: self.tls.get(&number),
            }
        })
    }
}

/// `a == b`, without calling `memcmp` for two empty strings: glibc's AVX-512 `memcmp` reads
/// even zero bytes with a masked load, and the address of an empty `String` is a dangling
/// pointer (1) in an unmapped page, where the CPU suppresses the fault in microcode. That cost
/// about 80 ns per packet recorded with an empty label (a run with no phases, as in the
/// throughput benchmark): a quarter of the capture's recording time.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

#[cfg(test)]
mod tests;
