//! The timeline of every TCP connection in a capture made anywhere (tcpdump, Wireshark, a
//! router's mirror port), fed one frame at a time: `wirelab annotate`'s table and JSON.
//!
//! A connection starts at a SYN; its client is the host that sent it. Each connection's phases
//! are those [`super::phases`] finds for a lab's client (TCP handshake, TLS handshake, request,
//! response), measured at whatever vantage point the capture was taken. Its round-trip time is
//! estimated from the handshake as Wireshark's `tcp.analysis.initial_rtt` is: from the SYN (the
//! last, where a lost one was sent again) to the client's ACK of the SYN/ACK. At any point on the path those two packets are one round
//! trip apart, so the estimate holds at the client, the server or in between. A DNS lookup is
//! put before the first connection to an address its answer gave.
//!
//! Memory: per connection a few words per segment, and at most [`DATA_PER_CONNECTION`]
//! payload bytes (enough for a TLS handshake with its certificates and an HTTP request line);
//! past them, payload is counted but not kept, so the response's end is then found by its
//! FIN or the next request, not by a TLS alert.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::RData;

use super::{connection, phase, Mark, Seg};
use crate::packet::{PacketSummary, TcpFlags, Transport};
use crate::timeline::Phase;
use crate::wire::flow::{SegmentInfo, Tracker};

/// Payload bytes kept per connection for following its TLS records.
pub const DATA_PER_CONNECTION: usize = 256 * 1024;

/// One TCP connection's timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionTimeline {
    /// 1-based, in the order their SYNs were captured.
    pub number: usize,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// From the last SYN before the SYN/ACK to the client's ACK of it; `None` if the handshake
    /// was not seen.
    pub rtt_ms: Option<f64>,
    /// The phases, ms since the capture's first frame, `rtts` against `rtt_ms`.
    pub phases: Vec<Phase>,
    pub frames: u64,
    /// Payload bytes on the wire from the client and from the server (retransmissions included).
    pub bytes: [u64; 2],
    /// The path as this connection shows it: losses, packet spacing.
    pub path: PathSeen,
}

/// What a connection's packets show of its path, for a lab that replays it (`--emit-lab`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PathSeen {
    /// Data segments (RFC 9293: payload, no SYN, FIN or RST) that never reached the capture
    /// point, as the lab's scripted drops count them: (from the client, 1-based index among
    /// that side's data segments, the ones lost included). Found from holes in the sequence
    /// numbers, so only losses before the capture point show.
    pub lost_data: Vec<(bool, u32)>,
    /// Data segments sent again: at the sender's side, the only sign of a loss after it.
    pub retransmitted: [u32; 2],
    /// The largest payload each side sent.
    pub mss: [usize; 2],
    /// The time between full-size server segments arriving back to back (µs, the 10th
    /// percentile: a bottleneck spaces every pair at least that far) and their size on the
    /// wire; `None` when back-to-back segments arrived together (no bottleneck shows).
    pub spacing: Option<(u64, usize)>,
    /// The length of the first plain HTTP/1 response's header, where the capture holds it.
    pub http_header: Option<usize>,
}

/// Gaps kept per connection for the spacing median.
const MAX_GAPS: usize = 10_000;

/// One direction's data, as the capture point saw it.
#[derive(Clone, Copy, Default)]
struct DataSide {
    /// Data segments sent, the lost ones included.
    count: u32,
    /// When the last full-size one was seen, µs.
    last_full: Option<u64>,
}

/// A DNS lookup seen in the capture.
#[derive(Clone, Debug)]
struct Lookup {
    client: (IpAddr, u16),
    id: u16,
    name: String,
    query: Mark,
    answer: Option<(Mark, Vec<IpAddr>)>,
    /// Given to a connection already.
    used: bool,
}

/// A segment as kept for the analysis: its payload is a range of the connection's `data`.
struct Kept {
    mark: Mark,
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    len: usize,
    data: (usize, usize),
}

struct Conn {
    client: SocketAddr,
    server: SocketAddr,
    isn: u32,
    segs: Vec<Kept>,
    data: Vec<u8>,
    bytes: [u64; 2],
    sides: [DataSide; 2],
    path: PathSeen,
    /// Gaps between full-size server segments (µs), and their size on the wire.
    gaps: Vec<u64>,
    full_size: usize,
}

impl Conn {
    /// A data segment (the kind scripted drops call `data`) seen at `at` µs, as the flow
    /// tracker placed it.
    fn data_segment(&mut self, from_client: bool, info: &SegmentInfo<u64>, len: usize, wire_len: usize, at: u64) {
        let d = usize::from(!from_client);
        let mss = self.path.mss[d].max(len);
        self.path.mss[d] = mss;
        let side = &mut self.sides[d];
        if let Some(gap) = info.data_hole {
            // A hole: whole segments of the largest size seen went missing before it.
            let lost = (gap as usize).div_ceil(mss) as u32;
            for i in 1..=lost {
                self.path.lost_data.push((from_client, side.count + i));
            }
            side.count += lost;
            side.last_full = None;
        } else if info.old_data {
            self.path.retransmitted[d] += 1;
        }
        side.count += 1;
        if !from_client && len == mss {
            if let Some(prev) = side.last_full.filter(|_| self.gaps.len() < MAX_GAPS) {
                self.gaps.push(at.saturating_sub(prev));
                self.full_size = wire_len;
            }
            side.last_full = Some(at);
        }
    }

    /// The 10th percentile of the back-to-back spacing of full-size server segments within a
    /// flight (closer than a quarter of the round trip); `None` if it is 0.
    fn spacing(&self, rtt_ms: Option<f64>) -> Option<(u64, usize)> {
        let size = self.full_size;
        let flight = (rtt_ms? * 250.0) as u64;
        let mut within: Vec<u64> = self.gaps.iter().copied().filter(|&g| g < flight).collect();
        if within.len() < 8 || size == 0 {
            return None;
        }
        within.sort_unstable();
        Some((within[(within.len() - 1) / 10], size)).filter(|(gap, _)| *gap > 0)
    }
}

/// The round trip the handshake shows: from the last SYN the client sent before the SYN/ACK
/// (a lost SYN's resend restarts it: the first SYN would add the retransmission timeout) to
/// the client's ACK that ends the `tcp_handshake` phase.
fn handshake_rtt(segs: &[Seg<'_>], phases: &[Phase], t0: u64) -> Option<f64> {
    let end = phases.iter().find(|p| p.id == "tcp_handshake")?.end_ms?;
    let syn_ack = segs.iter().position(|s| !s.from_client && s.flags.syn && s.flags.ack)?;
    let syn = segs[..syn_ack].iter().rev().find(|s| s.from_client && s.flags.syn && !s.flags.ack)?;
    Some(end - crate::timeline::ms(syn.mark.at.saturating_sub(t0)))
}

/// Reads frames one at a time and gives every connection's timeline at the end.
#[derive(Default)]
pub struct Connections {
    /// The one flow tracker (`wire::flow`): which connection a segment is, and what it is.
    tracker: Tracker<u64>,
    conns: Vec<Conn>,
    lookups: Vec<Lookup>,
    t0: Option<u64>,
    /// The latest frame time so far, µs.
    last_at: u64,
}

impl Connections {
    /// Takes frame `number` (1-based), captured at `at` µs, parsed as `s` from `bytes`.
    pub fn feed(&mut self, number: u64, at: u64, s: &PacketSummary, bytes: &[u8]) {
        // Capture order is the order of events: a frame stamped earlier than the one before it
        // (a clock step, interfaces merged) is taken at that frame's time, so no phase ends
        // before it began.
        let at = at.max(self.last_at);
        self.last_at = at;
        self.t0.get_or_insert(at);
        let mark = Mark { frame: number, at };
        match s.transport {
            Transport::Udp { src_port, dst_port, .. } if src_port == 53 || dst_port == 53 => {
                self.dns(mark, s, src_port, dst_port, s.payload(bytes));
            }
            Transport::Tcp { src_port, dst_port, seq, ack, flags, payload_len, .. } => {
                let Some(info) = self.tracker.push(mark.at, s) else { return };
                // A segment of a connection whose SYN was not captured is left out.
                let (Some(c), Some(from_client)) = (info.number, info.from_opener) else { return };
                if c == self.conns.len() {
                    let client = SocketAddr::new(s.src, src_port);
                    let server = SocketAddr::new(s.dst, dst_port);
                    self.conns.push(Conn {
                        client,
                        server,
                        isn: seq,
                        segs: Vec::new(),
                        data: Vec::new(),
                        bytes: [0; 2],
                        sides: [DataSide::default(); 2],
                        path: PathSeen::default(),
                        gaps: Vec::new(),
                        full_size: 0,
                    });
                }
                let Some(conn) = self.conns.get_mut(c) else { return };
                let payload = s.payload(bytes);
                let room = DATA_PER_CONNECTION.saturating_sub(conn.data.len());
                // Keep a segment's bytes whole or not at all, so a kept record header is never cut.
                let kept = if payload.len() <= room { payload } else { &[] };
                let start = conn.data.len();
                conn.data.extend_from_slice(kept);
                conn.bytes[usize::from(!from_client)] += payload_len as u64;
                if payload_len > 0 && !flags.syn && !flags.fin && !flags.rst {
                    conn.data_segment(from_client, &info, payload_len, s.total_len, mark.at);
                }
                let data = (start, conn.data.len());
                conn.segs.push(Kept { mark, from_client, seq, ack, flags, len: payload_len, data });
            }
            _ => {}
        }
    }

    fn dns(&mut self, mark: Mark, s: &PacketSummary, src_port: u16, dst_port: u16, payload: &[u8]) {
        let Ok(msg) = Message::from_vec(payload) else { return };
        let name = msg.queries().first().map(|q| q.name().to_utf8().trim_end_matches('.').to_string());
        if msg.message_type() == MessageType::Query && dst_port == 53 {
            let client = (s.src, src_port);
            let name = name.unwrap_or_default();
            self.lookups.push(Lookup { client, id: msg.id(), name, query: mark, answer: None, used: false });
        } else if msg.message_type() == MessageType::Response && src_port == 53 {
            let client = (s.dst, dst_port);
            let Some(l) =
                self.lookups.iter_mut().rev().find(|l| l.client == client && l.id == msg.id() && l.answer.is_none())
            else {
                return;
            };
            let addresses = msg
                .answers()
                .iter()
                .filter_map(|r| match r.data() {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect();
            l.answer = Some((mark, addresses));
        }
    }

    /// Every connection's timeline, in the order their SYNs were captured.
    pub fn finish(mut self) -> Vec<ConnectionTimeline> {
        let t0 = self.t0.unwrap_or(0);
        let mut out = Vec::with_capacity(self.conns.len());
        let conns = std::mem::take(&mut self.conns);
        for (i, conn) in conns.iter().enumerate() {
            let mut segs: Vec<Seg<'_>> = conn
                .segs
                .iter()
                .map(|k| Seg {
                    mark: k.mark,
                    from_client: k.from_client,
                    seq: k.seq,
                    ack: k.ack,
                    flags: k.flags,
                    len: k.len,
                    data: &conn.data[k.data.0..k.data.1],
                    fresh: false,
                })
                .collect();
            debug_assert!(segs.first().is_none_or(|s| s.seq == conn.isn));
            let mut phases = Vec::new();
            connection(&mut segs, conn.server.ip(), conn.server.port(), t0, f64::NAN, &mut phases);
            let rtt_ms = handshake_rtt(&segs, &phases, t0);
            if let Some((query, answer)) = self.lookup_before(conn, segs.first().map(|s| s.mark)) {
                let label = format!("DNS lookup of {}", query.1);
                phases.insert(0, phase("dns", label, query.0, answer, t0, f64::NAN));
            }
            for p in &mut phases {
                p.rtts = match (p.duration_ms(), rtt_ms) {
                    (Some(d), Some(rtt)) if rtt > 0.0 => Some(d / rtt),
                    _ => None,
                };
            }
            out.push(ConnectionTimeline {
                number: i + 1,
                client: conn.client,
                server: conn.server,
                rtt_ms,
                phases,
                frames: conn.segs.len() as u64,
                bytes: conn.bytes,
                path: PathSeen {
                    spacing: conn.spacing(rtt_ms),
                    http_header: segs.iter().find(|s| !s.from_client && !s.data.is_empty()).and_then(|s| {
                        let head = s.data.strip_prefix(b"HTTP/1.")?;
                        head.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 7 + 4)
                    }),
                    ..conn.path.clone()
                },
            });
        }
        out
    }

    /// The latest answered lookup by this connection's client, before its SYN, whose answer
    /// holds the server's address and that no earlier connection took.
    fn lookup_before(&mut self, conn: &Conn, syn: Option<Mark>) -> Option<((Mark, String), Mark)> {
        let syn = syn?;
        let l = self.lookups.iter_mut().rev().find(|l| {
            !l.used
                && l.client.0 == conn.client.ip()
                && l.answer.as_ref().is_some_and(|(a, ips)| a.frame < syn.frame && ips.contains(&conn.server.ip()))
        })?;
        l.used = true;
        Some(((l.query, l.name.clone()), l.answer.as_ref()?.0))
    }
}
