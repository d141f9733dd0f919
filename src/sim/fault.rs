//! Faults on a schedule: hosts that go down and come back, paths that are cut and restored.
//!
//! The network consults [`Faults`] for every packet. A host that is **down** sends nothing
//! (its programs keep their state, frozen, and nothing they send leaves the host), and what
//! arrives for it meets one of two fates:
//! - [`HostFault::Blackhole`]: dropped without a trace, as a powered-off machine behind a
//!   cloud network or a firewall's DROP rule does. The sender learns nothing and its TCP
//!   retries (a connect without a timeout waits out the kernel's SYN retries);
//! - [`HostFault::Reject`]: answered by the host's address, as a machine whose kernel runs
//!   but whose service is gone, or a firewall's REJECT rule: a TCP reset (RFC 9293
//!   §3.10.7.1, a segment for a connection that does not exist) and, for UDP, an ICMP port
//!   unreachable (RFC 792; RFC 1122 §4.1.3.1). The sender fails at once.
//!
//! A host that comes back **up** is reachable again and its programs go on where they were
//! (as after a network partition, not a reboot). A **cut** path drops everything sent in
//! either direction between its two hosts from then on (packets already on the wire arrive). Each fault carries the label of the event that caused
//! it, so every packet it drops or answers names that event.

use std::collections::BTreeMap;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv4DstUnreachable, Icmpv4Packet, Icmpv4Repr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket,
    TcpRepr, UdpPacket,
};

/// What a host that is down does with what arrives for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostFault {
    /// Drops everything silently.
    Blackhole,
    /// Answers TCP with a reset and UDP with ICMP port unreachable.
    Reject,
}

impl HostFault {
    pub fn name(self) -> &'static str {
        match self {
            HostFault::Blackhole => "blackhole",
            HostFault::Reject => "reject",
        }
    }
}

/// The hosts that are down and the paths that are cut, each with its event's label.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    hosts: BTreeMap<usize, (HostFault, String)>,
    /// Both directions of a cut path, `(from, to)`.
    paths: BTreeMap<(usize, usize), String>,
}

impl Faults {
    /// `host` is down from now on (`Some`), or up again (`None`).
    pub fn set_host(&mut self, host: usize, fault: Option<(HostFault, String)>) {
        match fault {
            Some(f) => self.hosts.insert(host, f),
            None => self.hosts.remove(&host),
        };
    }

    /// The path between `a` and `b` is cut from now on (`Some(label)`), or restored (`None`).
    pub fn set_path(&mut self, a: usize, b: usize, cut: Option<String>) {
        for key in [(a, b), (b, a)] {
            match &cut {
                Some(label) => self.paths.insert(key, label.clone()),
                None => self.paths.remove(&key),
            };
        }
    }

    /// How `host` is down, and which event took it down.
    pub fn host(&self, host: usize) -> Option<&(HostFault, String)> {
        self.hosts.get(&host)
    }

    /// The event that cut the path from `from` to `to`, if it is cut.
    pub fn path(&self, from: usize, to: usize) -> Option<&str> {
        self.paths.get(&(from, to)).map(String::as_str)
    }

    /// Nothing is down or cut (the common case: one check per packet).
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.paths.is_empty()
    }
}

/// The answer a rejecting host gives to IPv4 packet `bytes`, as an IPv4 packet from it: a TCP
/// reset, or an ICMP port unreachable for UDP. `None` for what gets no answer (a reset, an
/// ICMP message, anything unparsable).
pub fn rejection(bytes: &[u8]) -> Option<Vec<u8>> {
    let caps = ChecksumCapabilities::default();
    let ip = Ipv4Packet::new_checked(bytes).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip, &caps).ok()?;
    let (src, dst) = (IpAddress::Ipv4(ip_repr.src_addr), IpAddress::Ipv4(ip_repr.dst_addr));
    match ip_repr.next_header {
        IpProtocol::Tcp => {
            let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
            let seg = TcpRepr::parse(&tcp, &src, &dst, &caps).ok()?;
            if seg.control == TcpControl::Rst {
                return None;
            }
            // RFC 9293 §3.10.7.1: with an ACK, <SEQ=SEG.ACK><CTL=RST>; without one,
            // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (SYN and FIN count in SEG.LEN).
            let (seq_number, ack_number) = match seg.ack_number {
                Some(ack) => (ack, None),
                None => (Default::default(), Some(seg.seq_number + seg.segment_len())),
            };
            let reply = TcpRepr {
                src_port: seg.dst_port,
                dst_port: seg.src_port,
                control: TcpControl::Rst,
                seq_number,
                ack_number,
                window_len: 0,
                window_scale: None,
                max_seg_size: None,
                sack_permitted: false,
                sack_ranges: [None; 3],
                timestamp: None,
                payload: &[],
            };
            Some(answer(&ip_repr, IpProtocol::Tcp, reply.buffer_len(), |payload| {
                reply.emit(&mut TcpPacket::new_unchecked(payload), &dst, &src, &caps)
            }))
        }
        IpProtocol::Udp => {
            UdpPacket::new_checked(ip.payload()).ok()?;
            // RFC 792: the original IP header and the first 8 bytes of its data (the UDP
            // header, with the ports the sender matches the error to).
            let data = &ip.payload()[..8];
            let icmp =
                Icmpv4Repr::DstUnreachable { reason: Icmpv4DstUnreachable::PortUnreachable, header: ip_repr, data };
            Some(answer(&ip_repr, IpProtocol::Icmp, icmp.buffer_len(), |payload| {
                icmp.emit(&mut Icmpv4Packet::new_unchecked(payload), &caps)
            }))
        }
        _ => None,
    }
}

/// An IPv4 packet from the destination of `to` back to its source, carrying `len` bytes of
/// `protocol` that `emit` writes.
fn answer(to: &Ipv4Repr, protocol: IpProtocol, len: usize, emit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: to.dst_addr,
        dst_addr: to.src_addr,
        next_header: protocol,
        payload_len: len,
        hop_limit: 64,
    };
    let mut out = vec![0u8; ip.buffer_len() + len];
    let mut packet = Ipv4Packet::new_unchecked(&mut out[..]);
    ip.emit(&mut packet, &ChecksumCapabilities::default());
    emit(packet.payload_mut());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn tcp_packet(control: TcpControl, seq: i32, ack: Option<i32>, payload: &[u8]) -> Vec<u8> {
        let caps = ChecksumCapabilities::default();
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let seg = TcpRepr {
            src_port: 50000,
            dst_port: 80,
            control,
            seq_number: smoltcp::wire::TcpSeqNumber(seq),
            ack_number: ack.map(smoltcp::wire::TcpSeqNumber),
            window_len: 1000,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        };
        let ip = Ipv4Repr {
            src_addr: a,
            dst_addr: b,
            next_header: IpProtocol::Tcp,
            payload_len: seg.buffer_len(),
            hop_limit: 64,
        };
        let mut out = vec![0u8; ip.buffer_len() + seg.buffer_len()];
        let mut p = Ipv4Packet::new_unchecked(&mut out[..]);
        ip.emit(&mut p, &caps);
        seg.emit(&mut TcpPacket::new_unchecked(p.payload_mut()), &a.into(), &b.into(), &caps);
        out
    }

    fn parse_tcp(bytes: &[u8]) -> (Ipv4Addr, Ipv4Addr, TcpControl, i32, Option<i32>) {
        let caps = ChecksumCapabilities::default();
        let ip = Ipv4Packet::new_checked(bytes).unwrap();
        let repr = Ipv4Repr::parse(&ip, &caps).unwrap();
        let (s, d) = (IpAddress::Ipv4(repr.src_addr), IpAddress::Ipv4(repr.dst_addr));
        let seg = TcpRepr::parse(&TcpPacket::new_checked(ip.payload()).unwrap(), &s, &d, &caps).unwrap();
        (repr.src_addr, repr.dst_addr, seg.control, seg.seq_number.0, seg.ack_number.map(|a| a.0))
    }

    #[test]
    fn a_syn_is_refused_with_rst_ack() {
        let reply = rejection(&tcp_packet(TcpControl::Syn, 1000, None, &[])).unwrap();
        let (src, dst, control, seq, ack) = parse_tcp(&reply);
        assert_eq!((src, dst), (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!((control, seq, ack), (TcpControl::Rst, 0, Some(1001)));
    }

    #[test]
    fn data_with_an_ack_is_reset_at_that_ack() {
        let reply = rejection(&tcp_packet(TcpControl::Psh, 5000, Some(777), b"GET / HTTP/1.1\r\n")).unwrap();
        let (_, _, control, seq, ack) = parse_tcp(&reply);
        assert_eq!((control, seq, ack), (TcpControl::Rst, 777, None));
    }

    #[test]
    fn a_reset_gets_no_answer_and_nonsense_none() {
        assert_eq!(rejection(&tcp_packet(TcpControl::Rst, 1, Some(2), &[])), None);
        assert_eq!(rejection(&[0x45, 0, 0]), None);
        assert_eq!(rejection(&[]), None);
    }

    #[test]
    fn udp_gets_icmp_port_unreachable_quoting_the_header() {
        let caps = ChecksumCapabilities::default();
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 3));
        let udp = smoltcp::wire::UdpRepr { src_port: 5353, dst_port: 53 };
        let payload = [7u8; 30];
        let ip = Ipv4Repr {
            src_addr: a,
            dst_addr: b,
            next_header: IpProtocol::Udp,
            payload_len: 8 + payload.len(),
            hop_limit: 64,
        };
        let mut out = vec![0u8; ip.buffer_len() + 8 + payload.len()];
        let mut p = Ipv4Packet::new_unchecked(&mut out[..]);
        ip.emit(&mut p, &caps);
        udp.emit(
            &mut UdpPacket::new_unchecked(p.payload_mut()),
            &a.into(),
            &b.into(),
            payload.len(),
            |buf| buf.copy_from_slice(&payload),
            &caps,
        );
        let reply = rejection(&out).unwrap();
        let ip = Ipv4Packet::new_checked(&reply[..]).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr(), ip.next_header()), (b, a, IpProtocol::Icmp));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        // Type 3 (destination unreachable), code 3 (port unreachable).
        assert_eq!((u8::from(icmp.msg_type()), icmp.msg_code()), (3, 3));
        // The quoted datagram: the original IP header (its total length as sent), then the
        // UDP header with the ports the sender matches the error to. (smoltcp's own parser
        // wants the whole original datagram, which RFC 792 does not quote.)
        let quoted = icmp.data();
        assert_eq!(quoted.len(), 20 + 8);
        let orig = Ipv4Packet::new_unchecked(quoted);
        assert_eq!((orig.src_addr(), orig.dst_addr(), orig.total_len()), (a, b, 20 + 8 + 30));
        assert_eq!(&quoted[20..24], &[0x14, 0xe9, 0, 53]);
    }
}
