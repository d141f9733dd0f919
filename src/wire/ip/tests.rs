use std::net::IpAddr;

use etherparse::PacketBuilder;

use super::*;

fn tcp_v4(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 443, 1000, 64240)
        .ack(77)
        .psh()
        .write(&mut out, payload)
        .unwrap();
    out
}

fn tcp_v6(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (a, b) = (
        [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
    );
    PacketBuilder::ipv6(a, b, 64).tcp(443, 51000, 5, 1000).syn().ack(9).write(&mut out, payload).unwrap();
    out
}

fn ethernet(ether_type: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(body);
    f
}

#[test]
fn a_raw_ipv4_segment_gives_its_headers_and_payload() {
    let bytes = tcp_v4(b"GET / HTTP/1.1\r\n");
    let s = summarize(&bytes).unwrap();
    assert_eq!(s.src, IpAddr::from([10, 0, 0, 1]));
    assert_eq!(s.total_len, bytes.len());
    let Transport::Tcp { src_port, dst_port, seq, ack, flags, payload_len, .. } = s.transport else { panic!() };
    assert_eq!((src_port, dst_port, seq, ack, payload_len), (40000, 443, 1000, 77, 16));
    assert!(flags.ack && flags.psh && !flags.syn);
    assert_eq!(s.payload(&bytes), b"GET / HTTP/1.1\r\n");
    assert!(!s.truncated());
}

#[test]
fn a_frame_cut_by_a_snap_length_keeps_its_length_on_the_wire() {
    let bytes = tcp_v4(&[7u8; 1000]);
    let cut = &bytes[..60];
    let s = summarize(cut).unwrap();
    assert_eq!(s.total_len, bytes.len());
    assert_eq!(s.payload_len(), 1000);
    assert_eq!(s.payload(cut).len(), 20);
    assert!(s.truncated());
    // Cut inside the TCP header: still IP, transport unknown.
    let s = summarize(&bytes[..30]).unwrap();
    assert_eq!(s.transport, Transport::Other { protocol: 6 });
}

#[test]
fn ipv6_with_its_addresses_and_flags() {
    let bytes = tcp_v6(b"hello");
    let s = parse(LinkType::Ipv6, &bytes).unwrap();
    assert_eq!(s.src, "2001:db8::1".parse::<IpAddr>().unwrap());
    let Transport::Tcp { flags, payload_len, .. } = s.transport else { panic!() };
    assert!(flags.syn && flags.ack);
    assert_eq!(payload_len, 5);
    assert_eq!(s.payload(&bytes), b"hello");
}

#[test]
fn ipv6_extension_headers_are_stepped_over() {
    // A hop-by-hop options header (next header TCP) between the IPv6 header and TCP.
    let mut inner = Vec::new();
    PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 1).tcp(1, 2, 3, 4).write(&mut inner, b"xy").unwrap();
    let tcp = &inner[20..];
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((8 + tcp.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 64]); // next header: hop-by-hop, hop limit
    p.extend_from_slice(&[0u8; 15]);
    p.push(1);
    p.extend_from_slice(&[0u8; 15]);
    p.push(2);
    p.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // next: TCP, len 0, PadN
    p.extend_from_slice(tcp);
    let s = summarize(&p).unwrap();
    let Transport::Tcp { src_port, payload_len, .. } = s.transport else { panic!("{s:?}") };
    assert_eq!((src_port, payload_len), (1, 2));
    assert_eq!(s.payload(&p), b"xy");
}

#[test]
fn every_link_type_finds_the_same_packet() {
    let ip = tcp_v4(b"abc");
    let mut vlan = vec![0x00, 0x05, 0x08, 0x00];
    vlan.extend_from_slice(&ip);
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    sll2.extend_from_slice(&ip);
    let mut null_le = vec![2, 0, 0, 0];
    null_le.extend_from_slice(&ip);
    let mut null_be = vec![0, 0, 0, 2];
    null_be.extend_from_slice(&ip);
    let frames = [
        (LinkType::Raw, ip.clone()),
        (LinkType::Ipv4, ip.clone()),
        (LinkType::Ethernet, ethernet(0x0800, &ip)),
        (LinkType::Ethernet, ethernet(0x8100, &vlan)),
        (LinkType::LinuxSll, sll),
        (LinkType::LinuxSll2, sll2),
        (LinkType::Null, null_le),
        (LinkType::Null, null_be.clone()),
        (LinkType::Loop, null_be),
    ];
    for (link, frame) in frames {
        let s = parse(link, &frame).unwrap_or_else(|e| panic!("{link:?}: {e}"));
        assert_eq!(s.payload(&frame), b"abc", "{link:?}");
        assert_eq!(s.payload_offset, frame.len() - 3, "{link:?}");
        assert_eq!(s.total_len, ip.len(), "{link:?}");
    }
    let mut null6 = vec![30, 0, 0, 0];
    null6.extend_from_slice(&tcp_v6(b"z"));
    assert!(parse(LinkType::Null, &null6).unwrap().src.is_ipv6());
}

#[test]
fn frames_that_are_not_ip_say_what_they_are() {
    let arp = ethernet(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    assert_eq!(parse(LinkType::Ethernet, &arp), Err(NotIp::Arp));
    assert_eq!(parse(LinkType::Ethernet, &ethernet(0x88cc, &[0; 30])), Err(NotIp::EtherType(0x88cc)));
    assert_eq!(parse(LinkType::Ethernet, &[0; 10]), Err(NotIp::ShortLinkHeader("Ethernet")));
    assert_eq!(parse(LinkType::Null, &[7, 0, 0, 0, 0x45]), Err(NotIp::Family(7)));
    assert!(matches!(parse(LinkType::Raw, &[0x45, 0, 0]), Err(NotIp::Ip(_))));
    assert!(parse(LinkType::Raw, &[]).is_err());
}

#[test]
fn icmp_is_named_by_type() {
    let mut out = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).icmpv4_echo_request(1, 2).write(&mut out, b"ping").unwrap();
    let s = summarize(&out).unwrap();
    assert_eq!(s.transport, Transport::Icmp { v6: false, icmp_type: 8, code: 0 });
}

#[test]
fn no_prefix_of_a_packet_panics_in_any_link_type() {
    let ip = tcp_v6(&[1u8; 40]);
    for link in [LinkType::Raw, LinkType::Ethernet, LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::Null] {
        for n in 0..=ip.len() {
            let _ = parse(link, &ip[..n]);
        }
    }
}

#[test]
fn link_types_by_code() {
    for (code, link) in [
        (0, LinkType::Null),
        (1, LinkType::Ethernet),
        (101, LinkType::Raw),
        (113, LinkType::LinuxSll),
        (276, LinkType::LinuxSll2),
        (228, LinkType::Ipv4),
        (229, LinkType::Ipv6),
        (108, LinkType::Loop),
    ] {
        assert_eq!(LinkType::from_code(code), Some(link));
    }
    assert_eq!(LinkType::from_code(147), None);
}

#[test]
fn the_fast_path_gives_what_the_lax_path_gives() {
    let frames = [tcp_v4(b""), tcp_v4(b"GET / HTTP/1.1\r\n"), tcp_v4(&[9u8; 1460])];
    let mut udp = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 53], 64).udp(5353, 53).write(&mut udp, b"query").unwrap();
    for f in frames.iter().chain([&udp]) {
        let lax = summarize_sliced(f, &LaxSlicedPacket::from_ip(f).unwrap()).unwrap();
        assert_eq!(whole_ipv4(f, f), Some(lax.clone()));
        assert_eq!(summarize(f), Some(lax));
    }
}
