//! What the network does for the links' flow rules and corruption: the [`FlowKey`] a link's
//! rules read, and netem's `corrupt` made real on the bytes.
//!
//! **Where the flipped bit goes.** netem flips one random bit anywhere in the packet. A bit
//! flipped in a header field (a length, a port, a TLS record) would make a different packet,
//! one Wireshark may call malformed, and TCP reassembly in Wireshark would take corrupted
//! bytes for the stream's. What the receiver does is the same wherever the bit is: the
//! checksum that covers it fails, and it drops the packet. So the bit is flipped in that
//! checksum itself: one of the 16 bits of the TCP or UDP checksum (the receiver's transport
//! drops it), or of the IPv4 header checksum for anything else (the IP layer drops it). A
//! one-bit change of a ones'-complement checksum is always detected. The packet reads as what
//! it was, and tshark, asked to verify checksums (`-o tcp.check_checksum:TRUE`), reports a
//! bad checksum and nothing malformed.

use std::net::IpAddr;

use crate::link::{Corruption, FlowKey, Protocol};
use crate::packet::{PacketSummary, Transport};

/// The flow of an IPv4 packet, for flow rules.
pub(super) fn flow_key(s: &PacketSummary) -> Option<FlowKey> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (s.src, s.dst) else { return None };
    let (protocol, ports) = match s.transport {
        Transport::Tcp { src_port, dst_port, .. } => (Protocol::Tcp, Some((src_port, dst_port))),
        Transport::Udp { src_port, dst_port, .. } => (Protocol::Udp, Some((src_port, dst_port))),
        Transport::Icmp { .. } => (Protocol::Icmp, None),
        Transport::Other { .. } => (Protocol::Other, None),
    };
    Some(FlowKey { protocol, src, dst, ports })
}

/// Flips one bit of the checksum that covers the packet (see the [module docs](self)) and
/// says which, or `None` for what is not an IPv4 packet.
pub(super) fn corrupt(bytes: &mut [u8], c: Corruption) -> Option<&'static str> {
    if bytes.len() < 20 || bytes[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(bytes[0] & 0x0f) * 4;
    let first_fragment = u16::from_be_bytes([bytes[6], bytes[7]]) & 0x1fff == 0;
    let transport = match bytes[9] {
        6 if first_fragment => Some((ihl + 16, "TCP checksum")),
        17 if first_fragment => Some((ihl + 6, "UDP checksum")),
        _ => None,
    };
    let (at, what) =
        transport.filter(|&(at, _)| ihl >= 20 && at + 2 <= bytes.len()).unwrap_or((10, "IPv4 header checksum"));
    let bit = (c.noise % 16) as usize;
    bytes[at + bit / 8] ^= 1 << (bit % 8);
    Some(what)
}

/// The length of an IPv4 packet's headers (IP, and TCP or UDP when whole), for the receiver's
/// capture to keep of a corrupted packet.
pub(super) fn headers_len(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 20 || bytes[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(bytes[0] & 0x0f) * 4;
    let transport = match bytes.get(9) {
        Some(6) => bytes.get(ihl + 12).map(|b| usize::from(b >> 4) * 4),
        Some(17) => Some(8),
        _ => Some(0),
    };
    transport.map(|t| (ihl + t).min(bytes.len()))
}

/// The comment on the sender's frame of a packet the link corrupted.
pub(super) fn sent_note() -> String {
    "CORRUPTED on the path after leaving (netem corrupt): it arrives with a bad checksum, and the receiver drops it"
        .to_string()
}

/// The comment on the receiver's frame of a corrupted packet; `what` is the checksum hit.
pub(super) fn received_note(what: &str) -> String {
    format!(
        "CORRUPTED on the path (netem corrupt; one bit of its {what} flipped): the receiver drops it on its checksum \
         (headers kept)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ones'-complement sum over `bytes` (RFC 1071), folded.
    fn sum(bytes: &[u8]) -> u16 {
        let mut s: u32 = bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// A 20-byte IPv4 header with a valid checksum, then a UDP header and 4 bytes.
    fn udp_packet() -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 32, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        let c = !sum(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(&[0x9c, 0x40, 0, 53, 0, 12, 0x12, 0x34, 1, 2, 3, 4]);
        p
    }

    #[test]
    fn the_flip_hits_the_transport_checksum_and_breaks_it() {
        for noise in 0..16 {
            let mut p = udp_packet();
            let before = p.clone();
            assert_eq!(corrupt(&mut p, Corruption { noise }), Some("UDP checksum"));
            let changed: Vec<usize> = (0..p.len()).filter(|&i| p[i] != before[i]).collect();
            assert_eq!(changed.len(), 1);
            assert!([26, 27].contains(&changed[0]), "byte {} changed", changed[0]);
            assert_eq!((p[changed[0]] ^ before[changed[0]]).count_ones(), 1);
            // The IPv4 header still checks; the UDP checksum field no longer holds what it held.
            assert_eq!(sum(&p[..20]), 0xffff);
        }
    }

    #[test]
    fn other_protocols_get_the_ip_header_checksum() {
        let mut p = udp_packet();
        p[9] = 1; // ICMP
        assert_eq!(corrupt(&mut p, Corruption { noise: 3 }), Some("IPv4 header checksum"));
        assert_ne!(sum(&p[..20]), 0xffff, "the IPv4 header no longer checks");
        assert_eq!(corrupt(&mut [0x60; 40], Corruption { noise: 3 }), None, "not IPv4");
        assert_eq!(corrupt(&mut [0x45; 10], Corruption { noise: 3 }), None, "too short");
    }
}
