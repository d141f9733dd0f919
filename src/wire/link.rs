//! Link layers a capture may use, up to the network layer: the link types of tcpdump.org's
//! LINKTYPE list (the pcap header's `network` field; a pcapng Interface Description Block's
//! `LinkType`, RFC 9759 §4.2 / draft-ietf-opsawg-pcaplinktype).
//!
//! Ethernet and VLAN tags are read by etherparse (from the EtherType down); the Linux cooked
//! headers (SLL, SLL2) and the BSD loopback header are read here, as etherparse has no parser
//! for SLL2 or loopback and only their protocol field matters.

use super::ip::NotIp;

/// A capture's link layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_RAW (101; 12 in some older files): the frame is an IPv4 or IPv6 packet.
    Raw,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_ETHERNET (1): Ethernet II, with 802.1Q / 802.1ad VLAN tags.
    Ethernet,
    /// LINKTYPE_LINUX_SLL (113): Linux "cooked" capture, `tcpdump -i any` before libpcap 1.10.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276): Linux cooked capture v2, `tcpdump -i any` since libpcap 1.10.
    LinuxSll2,
    /// LINKTYPE_NULL (0): BSD loopback, a 4-byte address family in the capturing host's byte order.
    Null,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, the address family in network byte order.
    Loop,
}

impl LinkType {
    /// The link type for a LINKTYPE_ code; `None` for one wirelab does not read.
    pub fn from_code(code: u32) -> Option<LinkType> {
        Some(match code {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            _ => return None,
        })
    }

    /// Its name as tcpdump.org lists it.
    pub fn name(self) -> &'static str {
        match self {
            LinkType::Raw => "RAW",
            LinkType::Ipv4 => "IPV4",
            LinkType::Ipv6 => "IPV6",
            LinkType::Ethernet => "ETHERNET",
            LinkType::LinuxSll => "LINUX_SLL",
            LinkType::LinuxSll2 => "LINUX_SLL2",
            LinkType::Null => "NULL",
            LinkType::Loop => "LOOP",
        }
    }
}

/// Where a frame's network layer starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// An IP header starts at this offset.
    Ip(usize),
    /// The link layer names its payload with this EtherType (IP, a VLAN tag, ARP, ...),
    /// which starts at this offset.
    EtherType(u16, usize),
}

/// The EtherTypes of IPv4 and IPv6 (IEEE 802 numbers).
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Finds the network layer of a frame on a link of type `link`.
pub fn network_layer(link: LinkType, frame: &[u8]) -> Result<Network, NotIp> {
    let be16 = |at: usize, what| {
        frame.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or(NotIp::ShortLinkHeader(what))
    };
    match link {
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => Ok(Network::Ip(0)),
        LinkType::Ethernet => Ok(Network::EtherType(be16(12, "Ethernet")?, 14)),
        // packet type, ARPHRD type, address length, 8 bytes of address, protocol.
        LinkType::LinuxSll => Ok(Network::EtherType(be16(14, "Linux cooked (SLL)")?, 16)),
        // protocol, reserved, interface index, ARPHRD type, packet type, address length, address.
        LinkType::LinuxSll2 => {
            let protocol = be16(0, "Linux cooked v2 (SLL2)")?;
            frame.get(..20).ok_or(NotIp::ShortLinkHeader("Linux cooked v2 (SLL2)"))?;
            Ok(Network::EtherType(protocol, 20))
        }
        LinkType::Null | LinkType::Loop => {
            let b = frame.get(..4).ok_or(NotIp::ShortLinkHeader("loopback"))?;
            let b = [b[0], b[1], b[2], b[3]];
            // NULL's family is in the capturing host's byte order, unknown here: the families
            // are small numbers, so the order whose value is small is the right one.
            let family = match link {
                LinkType::Loop => u32::from_be_bytes(b),
                _ => u32::from_le_bytes(b).min(u32::from_be_bytes(b)),
            };
            match family {
                // AF_INET everywhere; AF_INET6 on NetBSD/OpenBSD (24), FreeBSD (28), Darwin (30).
                2 => Ok(Network::EtherType(ETHERTYPE_IPV4, 4)),
                24 | 28 | 30 => Ok(Network::EtherType(ETHERTYPE_IPV6, 4)),
                other => Err(NotIp::Family(other)),
            }
        }
    }
}
