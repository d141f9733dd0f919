//! Segmentation and coalescing round trips, checked field by field and by checksum.

use super::*;

/// An IPv4/TCP packet with `payload`, complete checksums.
fn tcp(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20 + 32];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((52 + payload.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&7u16.to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&80u16.to_be_bytes());
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p[28..32].copy_from_slice(&99u32.to_be_bytes());
    p[32] = 8 << 4; // 32-byte header: 12 bytes of options (NOP NOP timestamps)
    p[33] = flags;
    p[34..36].copy_from_slice(&500u16.to_be_bytes());
    p[40..52].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6]);
    p.extend_from_slice(payload);
    fix_ip_checksum(&mut p, 20);
    fix_tcp_checksum(&mut p, 20);
    p
}

fn valid(p: &[u8]) -> bool {
    sum(&p[..20], 0) == 0xffff && sum(&p[20..], pseudo_sum(p, 6, p.len() - 20)) == 0xffff
}

/// A GSO frame as the kernel hands it over: one super-packet, the TCP checksum partial.
fn gso_frame(seq: u32, flags: u8, payload: &[u8], mss: u16) -> Vec<u8> {
    let mut body = tcp(seq, flags, payload);
    let pseudo = pseudo_sum(&body, 6, body.len() - 20) as u16;
    body[36..38].copy_from_slice(&pseudo.to_be_bytes());
    let mut f = vec![F_NEEDS_CSUM, GSO_TCPV4];
    f.extend_from_slice(&52u16.to_le_bytes());
    f.extend_from_slice(&mss.to_le_bytes());
    f.extend_from_slice(&20u16.to_le_bytes());
    f.extend_from_slice(&16u16.to_le_bytes());
    f.extend_from_slice(&body);
    f
}

fn split_all(frame: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    split(frame, |p| out.push(p));
    out
}

#[test]
fn a_gso_frame_becomes_the_segments_of_a_wire() {
    let payload: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
    let segs = split_all(&gso_frame(1000, 0x18 | TCP_CWR, &payload, 1000));
    assert_eq!(segs.len(), 3);
    for (i, s) in segs.iter().enumerate() {
        assert!(valid(s), "segment {i}: bad checksum");
        assert_eq!(u32_at(s, 24), 1000 + 1000 * i as u32, "sequence number");
        assert_eq!(usize::from(u16_at(s, 2)), s.len());
        assert_eq!(u16_at(s, 4), 7 + i as u16, "IP ID counts up");
        assert_eq!(&s[52..], &payload[i * 1000..(i * 1000 + 1000).min(2500)]);
    }
    // PSH on the last segment only, CWR on the first only; ACK on all.
    assert_eq!([segs[0][33], segs[1][33], segs[2][33]], [0x10 | TCP_CWR, 0x10, 0x18]);
}

#[test]
fn a_plain_frame_gets_its_checksum_completed() {
    let good = tcp(5, 0x10, b"hello");
    let mut partial = good.clone();
    let pseudo = pseudo_sum(&partial, 6, partial.len() - 20) as u16;
    partial[36..38].copy_from_slice(&pseudo.to_be_bytes());
    let mut f = vec![F_NEEDS_CSUM, GSO_NONE, 0, 0, 0, 0, 20, 0, 16, 0];
    f.extend_from_slice(&partial);
    assert_eq!(split_all(&f), std::slice::from_ref(&good));
    let mut done = vec![0u8; VNET_HDR_LEN];
    done.extend_from_slice(&good);
    assert_eq!(split_all(&done), [good]);
}

#[test]
fn segments_delivered_together_go_back_as_one_frame() {
    let payload: Vec<u8> = (0..4000u32).map(|i| (i * 7) as u8).collect();
    let segs = split_all(&gso_frame(77, 0x18, &payload, 1448));
    assert_eq!(segs.len(), 3);
    let mut frames = Vec::new();
    coalesce(&segs, |f| frames.push(f.to_vec()));
    assert_eq!(frames.len(), 1, "one GSO frame");
    let f = &frames[0];
    assert_eq!((f[0], f[1]), (F_NEEDS_CSUM, GSO_TCPV4));
    assert_eq!(u16::from_le_bytes([f[4], f[5]]), 1448);
    assert_eq!(&f[VNET_HDR_LEN + 52..], &payload[..]);
    // Cut up again, it gives the same segments.
    assert_eq!(split_all(f), segs);
}

#[test]
fn what_cannot_be_joined_goes_one_packet_per_frame() {
    let a = tcp(1, 0x10, &[1; 100]);
    let gap = tcp(500, 0x10, &[2; 100]); // not right after a
    let fin = tcp(600, 0x11, &[3; 100]);
    // A bare ACK and the request right behind it (same sequence number): never one frame.
    let ack = tcp(700, 0x10, &[]);
    let request = tcp(700, 0x18, &[4; 84]);
    let mut udp = tcp(0, 0, &[]);
    udp[9] = 17;
    let packets = vec![a.clone(), gap.clone(), fin.clone(), udp.clone(), ack, request];
    let mut frames = Vec::new();
    coalesce(&packets, |f| frames.push(f.to_vec()));
    assert_eq!(frames.len(), 6);
    for (f, p) in frames.iter().zip(&packets) {
        assert_eq!(&f[..VNET_HDR_LEN], &[0; VNET_HDR_LEN]);
        assert_eq!(&f[VNET_HDR_LEN..], &p[..]);
    }
}

/// Found by the `offload_segmenter` fuzz target: a segment longer than the one before it was
/// joined to it, and the frame, cut at the first one's size, became more segments than were
/// delivered, on other boundaries.
#[test]
fn a_longer_segment_is_not_joined_to_a_shorter_one() {
    let a = tcp(100, 0x10, &[1; 500]);
    let longer = tcp(600, 0x10, &[2; 900]);
    let shorter = tcp(600, 0x10, &[2; 300]);
    let mut frames = Vec::new();
    coalesce(&[a.clone(), longer.clone()], |f| frames.push(f.to_vec()));
    assert_eq!(frames.len(), 2, "two frames");
    let again: Vec<Vec<u8>> = frames.iter().flat_map(|f| split_all(f)).collect();
    assert_eq!(again, [a.clone(), longer]);
    frames.clear();
    coalesce(&[a, shorter], |f| frames.push(f.to_vec()));
    assert_eq!(frames.len(), 1, "a shorter last segment still joins");
}

/// Found by the `offload_segmenter` fuzz target: a fragment whose bytes looked like the next
/// segment was joined, and came out of the frame as a segment with the first one's headers.
/// Headers that differ (TTL, TOS) would likewise have been lost.
#[test]
fn fragments_and_other_ip_headers_are_not_joined() {
    let a = tcp(100, 0x10, &[1; 500]);
    let mut fragment = tcp(600, 0x10, &[2; 500]);
    fragment[6] |= 0x20; // more fragments
    let mut other_ttl = tcp(600, 0x10, &[2; 500]);
    other_ttl[8] = 63;
    let mut other_tos = tcp(600, 0x10, &[2; 500]);
    other_tos[1] = 0x10;
    for b in [fragment, other_ttl, other_tos] {
        let mut frames = Vec::new();
        coalesce(&[a.clone(), b.clone()], |f| frames.push(f.to_vec()));
        assert_eq!(frames.len(), 2, "not joined");
        assert_eq!(&frames[1][VNET_HDR_LEN..], &b[..]);
    }
}

#[test]
fn no_frame_makes_it_panic() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..400 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        split(&bytes, |_| {});
        let mut with_tcp = gso_frame(1, 0x10, &bytes, 1 + (len as u16 % 7));
        let cut = with_tcp.len().saturating_sub(len % 13);
        with_tcp.truncate(cut);
        split(&with_tcp, |_| {});
        coalesce(&[bytes.clone(), with_tcp[VNET_HDR_LEN..].to_vec()], |_| {});
    }
}
