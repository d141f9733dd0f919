//! IP packets and their transport headers: the one parser every part of wirelab reads packets
//! with (the network's scripted drops, capture comments, ladders, every analysis, `annotate`).
//!
//! [`parse`] takes a frame in any link layer a capture may use ([`LinkType`]), finds its IPv4
//! or IPv6 header (RFC 791 §3.1, RFC 8200 §3, extension headers included) and its TCP
//! (RFC 9293 §3.1), UDP (RFC 768) or ICMP/ICMPv6 header. It is lax the way a capture needs:
//! a frame cut short by a snap length still gives its headers and the payload bytes that were
//! kept, and [`Summary::payload_len`] keeps the length the packet had on the wire. Nothing here
//! panics on any bytes; the headers are read by etherparse's checked slices.

use std::fmt;
use std::net::IpAddr;

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TcpSlice, TransportSlice};

use super::link;
pub use super::link::LinkType;

/// The transport layer of a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `payload_len` is the segment's payload length on the wire.
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        payload_len: usize,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        payload_len: usize,
    },
    /// ICMP (RFC 792) or ICMPv6 (RFC 4443): its type and code.
    Icmp {
        v6: bool,
        icmp_type: u8,
        code: u8,
    },
    /// Any other protocol, a fragment, or a transport header the capture cut short.
    Other {
        protocol: u8,
    },
}

/// The TCP flags a lab cares about (RFC 9293 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
}

/// What one IP packet is, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The IP packet's length on the wire, header included, as its header declares it (or as
    /// captured, for a jumbogram or a zero length left by segmentation offload). Link-layer
    /// padding after it (Ethernet's 60-byte minimum) is not part of it.
    pub total_len: usize,
    pub transport: Transport,
    /// Where the transport payload starts in the frame (for `Other`: where the IP payload starts).
    pub payload_offset: usize,
    /// How many payload bytes the frame holds from `payload_offset` (fewer than on the wire
    /// when a snap length cut the frame).
    pub payload_kept: usize,
}

/// Why a frame holds no IP packet wirelab can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotIp {
    /// The capture's link type is not one [`LinkType`] knows.
    LinkType(u32),
    /// The frame ends inside its link-layer header.
    ShortLinkHeader(&'static str),
    /// The link layer carries something else (ARP, LLDP, ...): its EtherType.
    EtherType(u16),
    /// A loopback frame's address family is not IPv4 or IPv6.
    Family(u32),
    /// An ARP packet.
    Arp,
    /// The IP header is malformed or cut short: what etherparse said.
    Ip(String),
}

impl fmt::Display for NotIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotIp::LinkType(t) => write!(f, "link type {t} is not one wirelab reads"),
            NotIp::ShortLinkHeader(l) => write!(f, "frame ends inside its {l} header"),
            NotIp::EtherType(t) => write!(f, "not IP: EtherType 0x{t:04x}"),
            NotIp::Family(a) => write!(f, "not IP: loopback address family {a}"),
            NotIp::Arp => f.write_str("ARP"),
            NotIp::Ip(e) => write!(f, "not a readable IP packet: {e}"),
        }
    }
}

/// Parses a frame captured on a link of type `link`.
pub fn parse(link: LinkType, frame: &[u8]) -> Result<Summary, NotIp> {
    let sliced = match link::network_layer(link, frame)? {
        link::Network::Ip(offset) => {
            let ip = frame.get(offset..).unwrap_or(&[]);
            if let Some(s) = whole_ipv4(frame, ip) {
                return Ok(s);
            }
            LaxSlicedPacket::from_ip(ip).map_err(|e| NotIp::Ip(e.to_string()))?
        }
        link::Network::EtherType(t, offset) => {
            let rest = frame.get(offset..).unwrap_or(&[]);
            LaxSlicedPacket::from_ether_type(EtherType(t), rest)
        }
    };
    summarize_sliced(frame, &sliced)
}

/// The fast path for the packets wirelab's own hosts send, on every packet of a run: a whole
/// IPv4 packet with a TCP or UDP header, read by etherparse's strict slices (several times
/// cheaper than the lax ones). It gives what the lax path would; anything else is left to it.
fn whole_ipv4(frame: &[u8], bytes: &[u8]) -> Option<Summary> {
    let ip = etherparse::Ipv4Slice::from_slice(bytes).ok()?;
    let body = ip.payload();
    if body.fragmented {
        return None;
    }
    let (transport, payload) = if body.ip_number == etherparse::IpNumber::TCP {
        let t = TcpSlice::from_slice(body.payload).ok()?;
        (tcp_of(&t, t.payload().len()), t.payload())
    } else if body.ip_number == etherparse::IpNumber::UDP {
        let u = etherparse::UdpSlice::from_slice(body.payload).ok()?;
        let udp = Transport::Udp {
            src_port: u.source_port(),
            dst_port: u.destination_port(),
            payload_len: u.payload().len(),
        };
        (udp, u.payload())
    } else {
        return None;
    };
    let h = ip.header();
    Some(Summary {
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        total_len: usize::from(h.total_len()),
        transport,
        payload_offset: offset_in(frame, payload),
        payload_kept: payload.len(),
    })
}

/// Parses a raw IP packet (LINKTYPE_RAW: wirelab's own captures, a TUN device, smoltcp's
/// `Medium::Ip`); `None` if it is not one.
pub fn summarize(bytes: &[u8]) -> Option<Summary> {
    whole_ipv4(bytes, bytes).or_else(|| parse(LinkType::Raw, bytes).ok())
}

fn summarize_sliced(frame: &[u8], p: &LaxSlicedPacket<'_>) -> Result<Summary, NotIp> {
    let (src, dst, ip_start, declared, payload) = match &p.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            let declared = Some(usize::from(h.total_len())).filter(|&l| l > 0);
            (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()), h.slice(), declared, ip.payload())
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            // 0: a jumbogram (RFC 2675) or a length left to segmentation offload.
            let declared = Some(usize::from(h.payload_length())).filter(|&l| l > 0).map(|l| 40 + l);
            (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()), h.slice(), declared, ip.payload())
        }
        Some(LaxNetSlice::Arp(_)) => return Err(NotIp::Arp),
        None => {
            return Err(match (&p.stop_err, p.ether_payload()) {
                (Some((e, _)), _) => NotIp::Ip(e.to_string()),
                (None, Some(ether)) => NotIp::EtherType(ether.ether_type.0),
                (None, None) => NotIp::Ip("no IP header".into()),
            })
        }
    };
    let ip_offset = offset_in(frame, ip_start);
    let ip_payload_offset = offset_in(frame, payload.payload);
    let headers = ip_payload_offset - ip_offset;
    let captured = frame.len() - ip_offset;
    let total_len = declared.filter(|&d| d >= headers).unwrap_or(captured.max(headers + payload.payload.len()));
    // The IP payload's length on the wire.
    let wire_payload = total_len - headers;
    let transport_of = |header_len: usize| wire_payload.saturating_sub(header_len);
    let (transport, payload_offset, payload_kept) = match (&p.transport, payload.fragmented) {
        (Some(TransportSlice::Tcp(t)), false) => {
            (tcp_of(t, transport_of(t.header_len())), offset_in(frame, t.payload()), t.payload().len())
        }
        (Some(TransportSlice::Udp(u)), false) => {
            let udp = Transport::Udp {
                src_port: u.source_port(),
                dst_port: u.destination_port(),
                payload_len: transport_of(8),
            };
            (udp, offset_in(frame, u.payload()), u.payload().len())
        }
        (Some(TransportSlice::Icmpv4(i)), false) => {
            let icmp = Transport::Icmp { v6: false, icmp_type: i.type_u8(), code: i.code_u8() };
            (icmp, ip_payload_offset, payload.payload.len())
        }
        (Some(TransportSlice::Icmpv6(i)), false) => {
            let icmp = Transport::Icmp { v6: true, icmp_type: i.type_u8(), code: i.code_u8() };
            (icmp, ip_payload_offset, payload.payload.len())
        }
        _ => (Transport::Other { protocol: payload.ip_number.0 }, ip_payload_offset, payload.payload.len()),
    };
    Ok(Summary { src, dst, total_len, transport, payload_offset, payload_kept })
}

/// A TCP header's fields, the payload `payload_len` bytes long on the wire.
fn tcp_of(t: &TcpSlice<'_>, payload_len: usize) -> Transport {
    Transport::Tcp {
        src_port: t.source_port(),
        dst_port: t.destination_port(),
        seq: t.sequence_number(),
        ack: t.acknowledgment_number(),
        flags: TcpFlags { syn: t.syn(), ack: t.ack(), fin: t.fin(), rst: t.rst(), psh: t.psh() },
        window: t.window_size(),
        payload_len,
    }
}

/// Where `part` (a sub-slice of `frame`) starts in `frame`.
fn offset_in(frame: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(frame.as_ptr() as usize).min(frame.len())
}

/// The window scale a TCP segment announces (RFC 7323 §2.2: in a SYN; at most 14), if any;
/// `bytes` is a raw IP packet.
pub fn tcp_window_scale(bytes: &[u8]) -> Option<u8> {
    let p = LaxSlicedPacket::from_ip(bytes).ok()?;
    let Some(TransportSlice::Tcp(t)) = p.transport else { return None };
    window_scale_option(&t)
}

fn window_scale_option(t: &TcpSlice<'_>) -> Option<u8> {
    t.options_iterator().find_map(|o| match o {
        Ok(etherparse::TcpOptionElement::WindowScale(shift)) => Some(shift.min(14)),
        _ => None,
    })
}

impl Summary {
    /// The transport payload the frame holds (for `Other`, the IP payload); empty if `bytes`
    /// is not the frame this summary was made from.
    pub fn payload<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        bytes.get(self.payload_offset..self.payload_offset.saturating_add(self.payload_kept)).unwrap_or(&[])
    }

    /// The transport payload's length on the wire (TCP and UDP; 0 for the others).
    pub fn payload_len(&self) -> usize {
        match self.transport {
            Transport::Tcp { payload_len, .. } | Transport::Udp { payload_len, .. } => payload_len,
            _ => 0,
        }
    }

    /// Some of the packet was not captured (a snap length cut it).
    pub fn truncated(&self) -> bool {
        matches!(self.transport, Transport::Tcp { .. } | Transport::Udp { .. })
            && self.payload_kept < self.payload_len()
    }
}

#[cfg(test)]
mod tests;
