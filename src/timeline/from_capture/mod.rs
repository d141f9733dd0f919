//! Phases read off a capture, for runs where no script marks them: a real program (curl,
//! openssl) on the kernel's TCP. [`phases`] finds the client's DNS lookup and the timeline of its
//! first TCP connection (handshake, TLS handshake, first request and response) in the packets
//! as the client saw them.
//!
//! The capture is taken at the client: a packet it sends is recorded when sent, a packet it
//! receives when it arrives, and a packet the link lost on its way to the client is not in it
//! (see `crate::sim::network`). A packet the client sent that was lost is in it, marked lost
//! ([`Frame::lost`](crate::capture::Frame::lost)). A packet cut short by a snap length is
//! still read for its headers and for what is left of its payload.
//!
//! The rules are conservative: a phase whose end cannot be seen (the connection was reset, a
//! packet is missing, the payload is not what the phase needs) is left out, and so is every
//! phase after it, rather than guessed. Nothing here panics on any capture.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hickory_proto::op::Message;

pub mod annotate_file;
pub mod connections;
pub mod emit_lab;
mod tls_handshake;
mod tls_records;

use super::Phase;
use crate::capture::Capture;
use crate::packet::{summarize, TcpFlags, Transport};
use crate::wire::flow::{Segment, Tracker};
use crate::wire::http;
use crate::wire::tcp::seq_before;
use tls_handshake::tls;
use tls_records::Records;

/// The phases of the client's DNS lookup and of its first TCP connection, derived from
/// `capture` (taken at `client`); times in ms since the capture's first packet, `rtts` against
/// `rtt_ms`. Each phase is there only if the packets show both its start and its end:
///
/// - `dns`: the client's first DNS query (UDP to port 53) until the first DNS response to the
///   port it was sent from.
/// - `tcp_handshake` (RFC 9293 §3.5, the three-way handshake): the client's first SYN until its
///   first ACK of the server's SYN after that SYN/ACK arrived.
/// - `tls_handshake`, if the client's first bytes on the connection are a TLS ClientHello:
///   from the ClientHello until the handshake completes at the client. When the client
///   answers the ServerHello with its ChangeCipherSpec or Finished (RFC 8446 §2: TLS 1.3's
///   1-RTT handshake; a resumed TLS 1.2 one, RFC 5246 §7.3 figure 2), the end is that answer.
///   When it answers with handshake messages (RFC 5246 §7.3 figure 1: ClientKeyExchange, then
///   its ChangeCipherSpec before any from the server), the end is the arrival of the server's
///   ChangeCipherSpec, a round trip later. The version in the label comes from the
///   ServerHello (its supported_versions extension, else its version field), or, if that
///   cannot be read, from the flights' shape (1-RTT: 1.3, 2-RTT: 1.2).
/// - `http_request`: from the client's first application data (with TLS: its first
///   application-data record after its Finished, possibly in the same segment; without: a
///   segment starting with an HTTP/1.x request line) until the first new server data that
///   arrives after it.
/// - `http_response`: from that server segment until the last server segment with new data
///   before the client sends new data again (the next request, a close_notify) or a FIN,
///   either side's, or a TLS alert from the server. If the connection is reset before that, the
///   response may have been cut short and the phase is left out.
///
/// The connection ends at its first RST, or at a SYN from the client with another initial
/// sequence number. TLS records are followed through each direction's reassembled byte
/// stream, so they may start anywhere in a segment and span segments.
pub fn phases(capture: &Capture, client: Ipv4Addr, rtt_ms: f64) -> Vec<Phase> {
    let Some(t0) = capture.packets().next().map(|f| f.at.micros()) else { return Vec::new() };
    let mut out = Vec::new();
    let mut dns: Option<(Mark, u16, String)> = None;
    let mut dns_reply: Option<Mark> = None;
    let mut conn: Option<(u16, IpAddr, u16)> = None;
    let mut segs: Vec<Seg<'_>> = Vec::new();
    for frame in capture.packets() {
        // The one packet parser also reads a frame cut short by a snap length: its headers,
        // and the payload bytes that were kept (lengths stay those on the wire).
        let Some(p) = summarize(frame.bytes) else { continue };
        let data = p.payload(frame.bytes);
        let sent = p.src == client;
        if !sent && (p.dst != client || frame.lost) {
            continue;
        }
        let mark = Mark { frame: frame.number, at: frame.at.micros() };
        match p.transport {
            Transport::Udp { src_port, dst_port, .. } => {
                if sent && dst_port == 53 && dns.is_none() {
                    dns = Some((mark, src_port, query_name(data)));
                } else if !sent
                    && src_port == 53
                    && dns_reply.is_none()
                    && dns.as_ref().is_some_and(|(_, port, _)| *port == dst_port)
                {
                    dns_reply = Some(mark);
                }
            }
            Transport::Tcp { src_port, dst_port, seq, ack, flags, payload_len: len, .. } => {
                let (here, there) = if sent { (src_port, (p.dst, dst_port)) } else { (dst_port, (p.src, src_port)) };
                let ours = match conn {
                    None => {
                        let first_syn = sent && flags.syn && !flags.ack;
                        if first_syn {
                            conn = Some((here, there.0, there.1));
                        }
                        first_syn
                    }
                    Some(c) => c == (here, there.0, there.1),
                };
                if ours {
                    segs.push(Seg { mark, from_client: sent, seq, ack, flags, len, data, fresh: false });
                }
            }
            Transport::Icmp { .. } | Transport::Other { .. } => {}
        }
    }
    if let (Some((query, _, name)), Some(reply)) = (dns, dns_reply) {
        let label = if name.is_empty() { "DNS lookup".to_string() } else { format!("DNS lookup of {name}") };
        out.push(phase("dns", label, query, reply, t0, rtt_ms));
    }
    if let Some((_, server, port)) = conn {
        connection(&mut segs, server, port, t0, rtt_ms, &mut out);
    }
    out.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    out
}

/// A packet's frame number and time (µs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    frame: u64,
    at: u64,
}

fn phase(id: &str, label: String, start: Mark, end: Mark, t0: u64, rtt_ms: f64) -> Phase {
    Phase {
        id: id.to_string(),
        label,
        start_ms: super::ms(start.at.saturating_sub(t0)),
        end_ms: Some(super::ms(end.at.saturating_sub(t0))),
        rtts: super::rtts(super::ms(end.at.saturating_sub(start.at)), rtt_ms),
        first_frame: Some(start.frame),
        last_frame: Some(end.frame),
    }
}

/// The name a DNS query asks about (RFC 1035 §4.1.2), without the final dot; "" if unreadable.
fn query_name(payload: &[u8]) -> String {
    let Ok(msg) = Message::from_vec(payload) else { return String::new() };
    msg.queries().first().map(|q| q.name().to_utf8().trim_end_matches('.').to_string()).unwrap_or_default()
}

/// One segment of the connection, sent by the client or arrived at it.
struct Seg<'a> {
    mark: Mark,
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    len: usize,
    data: &'a [u8],
    /// It carries payload bytes its side had not sent before (from the client) or the client
    /// had not received before (from the server): not a retransmission or a duplicate.
    fresh: bool,
}

/// Adds the phases of the connection whose segments (in capture order, the first the client's
/// SYN) are `segs` to `out`; stops at the first phase it cannot see end.
fn connection(segs: &mut [Seg<'_>], server: IpAddr, port: u16, t0: u64, rtt: f64, out: &mut Vec<Phase>) {
    let Some(isn) = segs.first().map(|s| s.seq) else { return };
    let limit = segs.iter().position(|s| s.flags.rst || (s.from_client && s.flags.syn && !s.flags.ack && s.seq != isn));
    let reset = limit.is_some();
    let end = limit.unwrap_or(segs.len());
    let segs = &mut segs[..end];

    // RFC 9293 §3.5: SYN, SYN/ACK acknowledging ISN + 1, then the client's ACK of the server's ISN.
    let client_base = isn.wrapping_add(1);
    let Some(syn_ack) = segs.iter().position(|s| !s.from_client && s.flags.syn && s.flags.ack && s.ack == client_base)
    else {
        return;
    };
    let server_base = segs[syn_ack].seq.wrapping_add(1);
    let Some(established) = (syn_ack + 1..segs.len()).find(|&i| {
        let s = &segs[i];
        s.from_client && s.flags.ack && !s.flags.syn && !seq_before(s.ack, server_base)
    }) else {
        return;
    };
    let label = format!("TCP handshake with {}", std::net::SocketAddr::new(server, port));
    out.push(phase("tcp_handshake", label, segs[0].mark, segs[established].mark, t0, rtt));

    // Each direction's byte stream, as the one flow tracker places it: which bytes are new,
    // and the TLS records in it. The client's address is not kept here: any other will do.
    let (server_at, client_at) = (SocketAddr::new(server, port), SocketAddr::new(server, port ^ 1));
    let mut tracker = Tracker::default();
    let mut records = [Records::default(), Records::default()];
    for (i, s) in segs.iter_mut().enumerate() {
        let (from, to) = if s.from_client { (client_at, server_at) } else { (server_at, client_at) };
        let g = Segment { from, to, seq: s.seq, ack: s.ack, flags: s.flags, window: u16::MAX, len: s.len };
        let info = tracker.push_segment((), &g);
        if s.len == 0 || (!s.from_client && i < syn_ack) {
            continue;
        }
        let Some((off, _)) = info.offsets else { continue };
        s.fresh = info.fresh;
        records[usize::from(!s.from_client)].feed(i, off, s.data, s.len);
    }
    let [client_records, server_records] = records.map(|r| r.out);
    let segs = &*segs;

    let Some(first_data) = segs.iter().position(|s| s.from_client && s.fresh) else { return };
    let client_hello =
        client_records.first().filter(|r| r.content_type == 22 && r.body.first() == Some(&1)).map(|r| r.seg);
    let request = match client_hello {
        Some(hello) => match tls(hello, &client_records, &server_records) {
            Some((label, end, request)) => {
                out.push(phase("tls_handshake", label, segs[hello].mark, segs[end].mark, t0, rtt));
                request
            }
            None => return,
        },
        None => http::is_request(segs[first_data].data).then_some(first_data),
    };
    let Some(request) = request else { return };
    let Some(response) = (request + 1..segs.len()).find(|&i| !segs[i].from_client && segs[i].fresh) else { return };
    out.push(phase("http_request", "HTTP request".into(), segs[request].mark, segs[response].mark, t0, rtt));

    let alert_at = |i: usize| {
        let from = server_records.partition_point(|r| r.seg < i);
        server_records[from..].iter().take_while(|r| r.seg == i).any(|r| r.content_type == 21)
    };
    let mut last = response;
    let mut ended = segs[response].flags.fin;
    for (i, s) in segs.iter().enumerate().skip(response + 1) {
        if ended {
            break;
        }
        if s.from_client {
            ended = s.fresh || s.flags.fin;
        } else if client_hello.is_some() && alert_at(i) {
            ended = true;
        } else {
            if s.fresh {
                last = i;
            }
            ended = s.flags.fin;
        }
    }
    if ended || !reset {
        out.push(phase("http_response", "HTTP response".into(), segs[response].mark, segs[last].mark, t0, rtt));
    }
}

#[cfg(test)]
mod tests;
