//! `wirelab annotate`: comments for a capture made anywhere else (tcpdump, Wireshark, dumpcap),
//! pcap or pcapng, in any link type [`LinkType`] reads.
//!
//! The file is read twice, block by block, so memory does not grow with its packets' bytes:
//! first to measure every TCP connection's timeline ([`Connections`]), then to copy every
//! block to the output, each packet with one more comment (RFC 9759 §4.3 `opt_comment`): its
//! connection, its phase, the TCP event it is (handshake, retransmission, keepalive probe,
//! close, reset), what it carries (TLS records, HTTP start lines, DNS), bytes that were never
//! captured before it, and on the handshake's last packet the round-trip time it shows.
//! Timestamps, interfaces, other blocks and the comments the frames already had are kept. A
//! pcap file becomes one pcapng section with one interface. A key log given with `--keys` is
//! written as a Decryption Secrets Block (RFC 9759 §4.7) before the first packet, so Wireshark
//! decrypts TLS with no setup. Frames that are not IP are kept and say what they are.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcap::PcapTsResolution;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::InterfaceTsResolution;
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::blocks::opt_common::CommonOption;
use pcap_file::pcapng::blocks::section_header::SectionHeaderBlock;
use pcap_file::pcapng::blocks::unknown::UnknownBlock;
use pcap_file::pcapng::blocks::Block;
use pcap_file::pcapng::{PcapNgReader, PcapNgWriter};
use pcap_file::Endianness;

use super::connections::{ConnectionTimeline, Connections};
use crate::capture::annotate::Annotator;
use crate::capture::pcapng::SECRETS_TYPE_TLS;
use crate::packet::{PacketSummary, Transport};
use crate::wire::ip::{self, LinkType, NotIp};

/// Why a capture could not be annotated.
#[derive(Debug, thiserror::Error)]
pub enum AnnotateError {
    #[error("{path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a pcap or pcapng file (it starts with {magic})")]
    Format { path: PathBuf, magic: String },
    #[error("{path}: unreadable after {frames} frame(s): {what}")]
    Read { path: PathBuf, frames: u64, what: String },
    #[error("{path}: cannot write: {what}")]
    Write { path: PathBuf, what: String },
}

impl AnnotateError {
    /// The input was at fault (exit 2), not the output.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, AnnotateError::Write { .. })
    }
}

/// What annotating a capture found.
#[derive(Debug)]
pub struct Annotated {
    pub frames: u64,
    /// Frames that hold no IP packet wirelab reads (kept, commented as such).
    pub not_ip: u64,
    pub connections: Vec<ConnectionTimeline>,
}

/// Annotates `input` into `output` (a pcapng); `keys`: a TLS key log to embed.
pub fn annotate(input: &Path, output: &Path, keys: Option<&str>) -> Result<Annotated, AnnotateError> {
    let mut conns = Connections::default();
    let mut links = Links::default();
    let mut frames = 0u64;
    each_block(input, |block| {
        links.observe(&block);
        if let Some(p) = packet_of(&block) {
            frames += 1;
            if let Ok(s) = links.parse(p.interface, p.data) {
                conns.feed(frames, micros(p.timestamp), &s, p.data);
            }
        }
        Ok(())
    })?;
    let connections = conns.finish();

    let write_err =
        |e: &dyn std::fmt::Display| AnnotateError::Write { path: output.to_path_buf(), what: e.to_string() };
    let file = File::create(output).map_err(|e| write_err(&e))?;
    let mut writer: Option<PcapNgWriter<BufWriter<File>>> = None;
    let mut file = Some(BufWriter::new(file));
    let mut commenter = Commenter::new(&connections);
    let mut links = Links::default();
    let (mut frame, mut not_ip, mut keys) = (0u64, 0u64, keys.filter(|k| !k.is_empty()));
    each_block(input, |block| {
        links.observe(&block);
        let block = match (&block, packet_of(&block)) {
            (Block::SectionHeader(shb), _) => {
                if let Some(f) = file.take() {
                    let shb = SectionHeaderBlock { endianness: Endianness::Little, ..shb.clone() };
                    writer = Some(PcapNgWriter::with_section_header(f, shb).map_err(|e| write_err(&e))?);
                    return Ok(());
                }
                Block::SectionHeader(SectionHeaderBlock { endianness: Endianness::Little, ..shb.clone() })
            }
            (_, Some(p)) => {
                frame += 1;
                let comment = match links.parse(p.interface, p.data) {
                    Ok(s) => commenter.comment(frame, micros(p.timestamp), &s, p.data),
                    Err(e) => {
                        not_ip += 1;
                        e.to_string()
                    }
                };
                let mut options = p
                    .comments
                    .into_iter()
                    .map(|c| EnhancedPacketOption::Common(CommonOption::Comment(c)))
                    .collect::<Vec<_>>();
                options.push(EnhancedPacketOption::Common(CommonOption::Comment(Cow::Owned(comment))));
                Block::EnhancedPacket(EnhancedPacketBlock {
                    interface_id: p.interface,
                    timestamp: p.timestamp,
                    original_len: p.original_len,
                    data: Cow::Borrowed(p.data),
                    options,
                })
            }
            _ => block,
        };
        let Some(w) = writer.as_mut() else { return Ok(()) };
        if matches!(block, Block::EnhancedPacket(_)) {
            if let Some(k) = keys.take() {
                w.write_block(&Block::Unknown(secrets_block(k))).map_err(|e| write_err(&e))?;
            }
        }
        w.write_block(&block).map_err(|e| write_err(&e))?;
        Ok(())
    })?;
    if let Some(mut w) = writer.map(PcapNgWriter::into_inner) {
        w.flush().map_err(|e| write_err(&e))?;
    }
    Ok(Annotated { frames, not_ip, connections })
}

/// A Decryption Secrets Block (RFC 9759 §4.7) holding a TLS key log, little-endian.
fn secrets_block(keys: &str) -> UnknownBlock<'static> {
    let mut value = Vec::with_capacity(keys.len() + 12);
    value.extend_from_slice(&SECRETS_TYPE_TLS.to_le_bytes());
    value.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    value.extend_from_slice(keys.as_bytes());
    value.resize(value.len().next_multiple_of(4), 0);
    UnknownBlock { type_: 0x0000_000A, length: 12 + value.len() as u32, value: Cow::Owned(value) }
}

fn micros(t: Duration) -> u64 {
    u64::try_from(t.as_micros()).unwrap_or(u64::MAX)
}

/// A packet block's parts; an obsolete Packet Block or a Simple Packet Block becomes an
/// Enhanced one on output, so it can carry a comment.
struct PacketParts<'a> {
    interface: u32,
    timestamp: Duration,
    original_len: u32,
    data: &'a [u8],
    comments: Vec<Cow<'a, str>>,
}

fn packet_of<'a>(block: &'a Block<'a>) -> Option<PacketParts<'a>> {
    let comments = |options: &'a [EnhancedPacketOption<'a>]| {
        options
            .iter()
            .filter_map(|o| match o {
                EnhancedPacketOption::Common(CommonOption::Comment(c)) => Some(Cow::Borrowed(c.as_ref())),
                _ => None,
            })
            .collect()
    };
    match block {
        Block::EnhancedPacket(p) => Some(PacketParts {
            interface: p.interface_id,
            timestamp: p.timestamp,
            original_len: p.original_len,
            data: &p.data,
            comments: comments(&p.options),
        }),
        Block::Packet(p) => Some(PacketParts {
            interface: u32::from(p.interface_id),
            timestamp: p.timestamp,
            original_len: p.original_len,
            data: &p.data,
            comments: Vec::new(),
        }),
        Block::SimplePacket(p) => Some(PacketParts {
            interface: 0,
            timestamp: Duration::ZERO,
            original_len: p.original_len,
            data: &p.data,
            comments: Vec::new(),
        }),
        _ => None,
    }
}

/// The link type of each interface of the current section.
#[derive(Default)]
struct Links(Vec<u32>);

impl Links {
    fn observe(&mut self, block: &Block<'_>) {
        match block {
            Block::SectionHeader(_) => self.0.clear(),
            Block::InterfaceDescription(idb) => self.0.push(u32::from(idb.linktype)),
            _ => {}
        }
    }

    fn parse(&self, interface: u32, data: &[u8]) -> Result<PacketSummary, NotIp> {
        let code = self.0.get(interface as usize).copied().unwrap_or(u32::MAX);
        let link = LinkType::from_code(code).ok_or(NotIp::LinkType(code))?;
        ip::parse(link, data)
    }
}

/// Calls `f` with every block of the capture at `path`, as pcapng blocks: a pcap file gives a
/// section header, one interface (its link type, snap length and timestamp resolution) and an
/// Enhanced Packet Block per packet.
fn each_block(path: &Path, mut f: impl FnMut(Block<'_>) -> Result<(), AnnotateError>) -> Result<(), AnnotateError> {
    let open_err = |source| AnnotateError::Open { path: path.to_path_buf(), source };
    let mut file = BufReader::with_capacity(1 << 16, File::open(path).map_err(open_err)?);
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut file, &mut magic).map_err(open_err)?;
    let file = BufReader::new(std::io::Cursor::new(magic[..got].to_vec()).chain(file));
    let mut frames = 0u64;
    let read_err = |frames, e: &(dyn std::error::Error + 'static)| AnnotateError::Read {
        path: path.to_path_buf(),
        frames,
        what: read_problem(path, frames, e),
    };
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            let mut reader = PcapNgReader::new(file).map_err(|e| read_err(0, &e))?;
            f(Block::SectionHeader(reader.section().clone()))?;
            while let Some(block) = reader.next_block() {
                let (block, _) = block.map_err(|e| read_err(frames, &e))?;
                frames += u64::from(packet_of(&block).is_some());
                f(block)?;
            }
        }
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] | [0x4d, 0x3c, 0xb2, 0xa1] => {
            let mut reader = PcapReader::new(file).map_err(|e| read_err(0, &e))?;
            let header = reader.header();
            f(Block::SectionHeader(SectionHeaderBlock::default()))?;
            let mut idb = InterfaceDescriptionBlock::new(header.datalink, header.snaplen);
            if header.ts_resolution == PcapTsResolution::NanoSecond {
                idb.options.push(InterfaceDescriptionOption::IfTsResol(InterfaceTsResolution::NANO));
            }
            f(Block::InterfaceDescription(idb))?;
            while let Some(packet) = reader.next_packet() {
                let p = packet.map_err(|e| read_err(frames, &e))?;
                frames += 1;
                f(Block::EnhancedPacket(EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: p.timestamp(),
                    original_len: p.orig_len(),
                    data: Cow::Borrowed(p.data()),
                    options: Vec::new(),
                }))?;
            }
        }
        _ => {
            let magic = magic[..got].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
            let magic =
                if magic.is_empty() { "nothing: the file is empty".to_string() } else { format!("bytes {magic}") };
            return Err(AnnotateError::Format { path: path.to_path_buf(), magic });
        }
    }
    Ok(())
}

/// What went wrong reading the capture at `path` after `frames` whole frames, in one line: a
/// file that ends partway through says so (pcap-file reports that only as an I/O error), and
/// anything else comes with the causes pcap-file gives.
fn read_problem(path: &Path, frames: u64, e: &(dyn std::error::Error + 'static)) -> String {
    let causes = std::iter::successors(Some(e), |e| e.source());
    let cut = causes
        .clone()
        .any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof));
    if !cut {
        return causes.map(|c| c.to_string()).collect::<Vec<_>>().join(": ");
    }
    let mut what = "it ends partway through a frame or header: the file was cut short (a capture stopped \
                    before it was written out, or a partial copy)"
        .to_string();
    if frames > 0 {
        let _ = write!(what, "; `editcap {} OUT` keeps its {frames} whole frame(s)", path.display());
    }
    what
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Renders each frame's comment from what the first pass measured and what the frames show.
struct Commenter<'a> {
    annotator: Annotator,
    timelines: &'a [ConnectionTimeline],
    /// The query and answer frames of each DNS lookup put before a connection: that connection.
    dns_frames: HashMap<u64, usize>,
    /// Per connection, the slow-start round its first response is in: (round, when it began, µs).
    rounds: HashMap<usize, (u32, u64)>,
}

impl<'a> Commenter<'a> {
    fn new(timelines: &'a [ConnectionTimeline]) -> Self {
        let dns_frames = timelines
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                let dns = t.phases.iter().filter(|p| p.id == "dns");
                dns.flat_map(move |p| [p.first_frame, p.last_frame].into_iter().flatten().map(move |f| (f, i)))
            })
            .collect();
        Commenter { annotator: Annotator::default(), timelines, dns_frames, rounds: HashMap::new() }
    }

    /// `conn 2 (TLS 1.3 handshake): 517 bytes: TLS ClientHello`, with the TCP event first where
    /// there is one and notes after.
    fn comment(&mut self, frame: u64, at: u64, s: &PacketSummary, bytes: &[u8]) -> String {
        let event = self.annotator.observe_packet(s, bytes);
        let hole = self.annotator.last_hole();
        let mut c = String::with_capacity(96);
        // The annotator's flow tracker numbers connections as the first pass's did.
        let classified = self.annotator.last_segment().and_then(|i| Some((i.number?, i.from_opener?)));
        let conn = classified.or_else(|| Some((*self.dns_frames.get(&frame)?, true)));
        let conn = conn.and_then(|(i, _)| self.timelines.get(i));
        if let Some(t) = conn {
            let _ = write!(c, "conn {}", t.number);
            // The latest phase that holds this frame (a DNS lookup ends before the SYN).
            let phase = t
                .phases
                .iter()
                .rev()
                .find(|p| p.first_frame.is_some_and(|a| a <= frame) && p.last_frame.is_some_and(|b| frame <= b));
            if let Some(p) = phase {
                let _ = write!(c, " ({}", p.label);
                if let (Some((i, false)), "http_response") = (classified, p.id.as_str()) {
                    if let Some(round) = self.round(i, t, at, s) {
                        let _ = write!(c, ", slow start round {round}");
                    }
                }
                c.push(')');
            }
            c.push_str(": ");
        } else if matches!(s.transport, Transport::Tcp { .. }) {
            c.push_str("TCP (its SYN was not captured): ");
        }
        // The TCP events the description does not already say.
        if let Some(e) =
            event.filter(|e| matches!(*e, "retransmission" | "TCP keepalive probe" | "TCP zero window probe" | "reset"))
        {
            c.push_str(e);
            c.push_str(": ");
        }
        c.push_str(&s.describe(bytes));
        if s.truncated() {
            let _ = write!(c, " (captured {} of {})", s.payload(bytes).len(), s.payload_len());
        }
        if let Some(gap) = hole {
            let _ = write!(c, " [{gap} bytes before this segment were never captured here: lost on the way, or missed by the capture]");
        }
        if let Some(t) = conn.filter(|_| matches!(s.transport, Transport::Tcp { .. })) {
            let handshake = t.phases.iter().find(|p| p.id == "tcp_handshake");
            if let (Some(h), Some(rtt)) = (handshake, t.rtt_ms) {
                if h.last_frame == Some(frame) {
                    let _ = write!(c, " [handshake complete: RTT {rtt:.3} ms from the last SYN to this ACK]");
                }
            }
        }
        c
    }

    /// The slow-start round of a server data segment of connection `i`'s first response, as
    /// the labs count them (`timeline::rounds`): a segment more than half a round trip after
    /// the first of the current round begins the next.
    fn round(&mut self, i: usize, t: &ConnectionTimeline, at: u64, s: &PacketSummary) -> Option<u32> {
        if s.payload_len() == 0 {
            return None;
        }
        let half = (t.rtt_ms? * 500.0) as u64;
        let entry = self.rounds.entry(i).or_insert((0, 0));
        if entry.0 == 0 || at > entry.1 + half {
            *entry = (entry.0 + 1, at);
        }
        Some(entry.0)
    }
}
