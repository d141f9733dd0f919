//! TUN segmentation offloads, done in user space so the emulated link still sees packets.
//!
//! A TUN device opened with `IFF_VNET_HDR` and `TUNSETOFFLOAD` (TUN_F_CSUM | TUN_F_TSO4) lets
//! the kernel hand over a whole TCP send burst as one frame of up to 64 KB (a virtio-net header,
//! then one IPv4/TCP "super-packet") and take one back the same way: a read and a write per
//! burst instead of per segment, which is where a one-thread relay spends its time.
//!
//! - [`split`] turns each frame read from the device into the MSS-sized IPv4 packets that would
//!   have been on a wire (as the kernel's own GSO would, RFC 9293 §3.1 header fields per
//!   segment), with complete checksums (RFC 1071), so links, loss and the capture work on real
//!   packets.
//! - [`coalesce`] does the reverse for packets delivered to the kernel at the same moment:
//!   consecutive in-order segments of one TCP flow with identical headers become one frame
//!   marked TCPv4 GSO, which the kernel receives as one buffer (like its own GRO); anything
//!   else is written one packet per frame.
//!
//! The virtio-net header layout is `struct virtio_net_hdr` (Virtio 1.1 §5.1.6): flags u8,
//! gso_type u8, hdr_len u16, gso_size u16, csum_start u16, csum_offset u16, in the host's byte
//! order (little-endian on every machine this runs on).

/// Bytes of `struct virtio_net_hdr` before every frame.
pub const VNET_HDR_LEN: usize = 10;
/// Frame flag: the checksum at `csum_start + csum_offset` still has to be completed.
const F_NEEDS_CSUM: u8 = 1;
/// Frame type: no segmentation.
const GSO_NONE: u8 = 0;
/// Frame type: TCP over IPv4, to be cut into `gso_size`-byte segments.
const GSO_TCPV4: u8 = 1;
/// The largest frame body (an IPv4 total length).
const MAX_FRAME: usize = 65535;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_URG: u8 = 0x20;
const TCP_CWR: u8 = 0x80;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The one's-complement sum of `data` (RFC 1071), folded to 16 bits, added to `initial`.
fn sum(data: &[u8], initial: u32) -> u32 {
    let mut acc = u64::from(initial);
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u32
}

/// Writes the IPv4 header checksum of `packet`.
fn fix_ip_checksum(packet: &mut [u8], ihl: usize) {
    packet[10] = 0;
    packet[11] = 0;
    let c = !(sum(&packet[..ihl], 0) as u16);
    packet[10..12].copy_from_slice(&c.to_be_bytes());
}

/// The TCP/UDP pseudo-header sum (RFC 9293 §3.1) for `len` transport bytes.
fn pseudo_sum(packet: &[u8], protocol: u8, len: usize) -> u32 {
    let mut p = [0u8; 12];
    p[..8].copy_from_slice(&packet[12..20]);
    p[9] = protocol;
    p[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    sum(&p, 0)
}

/// Writes the TCP checksum of `packet` (IPv4 header of `ihl` bytes).
fn fix_tcp_checksum(packet: &mut [u8], ihl: usize) {
    packet[ihl + 16] = 0;
    packet[ihl + 17] = 0;
    let c = !(sum(&packet[ihl..], pseudo_sum(packet, 6, packet.len() - ihl)) as u16);
    packet[ihl + 16..ihl + 18].copy_from_slice(&c.to_be_bytes());
}

/// The IPv4 and TCP header lengths of a TCP packet, if it is one, is not a fragment (a
/// fragment after the first holds no TCP header, whatever its bytes look like), and they fit.
fn tcp_headers(p: &[u8]) -> Option<(usize, usize)> {
    if p.len() < 20 || p[0] >> 4 != 4 || p[9] != 6 || u16_at(p, 6) & 0x3fff != 0 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let thl = usize::from(*p.get(ihl + 12)? >> 4) * 4;
    (ihl >= 20 && thl >= 20 && p.len() >= ihl + thl).then_some((ihl, thl))
}

/// The IPv4 packets in one frame read from a TUN device with offloads on: the frame's packet,
/// its checksum completed, or, for a TCPv4 GSO frame, its segments. A frame that is not well
/// formed is dropped (as a NIC drops a bad descriptor).
pub fn split(frame: &[u8], mut out: impl FnMut(Vec<u8>)) {
    let Some((hdr, body)) = frame.split_first_chunk::<VNET_HDR_LEN>() else { return };
    let (flags, gso_type) = (hdr[0], hdr[1]);
    let gso_size = usize::from(u16::from_le_bytes([hdr[4], hdr[5]]));
    let csum_start = usize::from(u16::from_le_bytes([hdr[6], hdr[7]]));
    let csum_offset = usize::from(u16::from_le_bytes([hdr[8], hdr[9]]));
    if body.len() < 20 {
        return;
    }
    let total = usize::from(u16_at(body, 2)).clamp(20, body.len());
    let body = &body[..total];
    if gso_type == GSO_NONE || gso_size == 0 {
        let mut p = body.to_vec();
        if flags & F_NEEDS_CSUM != 0 {
            let at = csum_start + csum_offset;
            if at + 2 > p.len() || csum_start > p.len() {
                return;
            }
            // The field holds the pseudo-header sum; the rest is summed from csum_start.
            let c = !(sum(&p[csum_start..], 0) as u16);
            p[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        out(p);
        return;
    }
    let Some((ihl, thl)) = tcp_headers(body).filter(|_| gso_type & 0x7f == GSO_TCPV4) else { return };
    let head = ihl + thl;
    let payload = &body[head..];
    let (seq, flags, id) = (u32_at(body, ihl + 4), body[ihl + 13], u16_at(body, 4));
    let count = payload.len().div_ceil(gso_size).max(1);
    for (i, chunk) in payload.chunks(gso_size).enumerate() {
        let mut p = Vec::with_capacity(head + chunk.len());
        p.extend_from_slice(&body[..head]);
        p.extend_from_slice(chunk);
        p[2..4].copy_from_slice(&((head + chunk.len()) as u16).to_be_bytes());
        p[4..6].copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
        let offset = (i * gso_size) as u32;
        p[ihl + 4..ihl + 8].copy_from_slice(&seq.wrapping_add(offset).to_be_bytes());
        let mut f = flags;
        if i + 1 < count {
            f &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            f &= !TCP_CWR;
        }
        p[ihl + 13] = f;
        fix_ip_checksum(&mut p, ihl);
        fix_tcp_checksum(&mut p, ihl);
        out(p);
    }
}

/// Whether TCP packet `b` continues `a` so that both fit one GSO frame: `a` carries
/// `gso_size` bytes of data (more than none: a bare ACK is never joined), `b` at most that
/// many (a longer one would be cut at `gso_size` when the frame is segmented, as Linux's GRO
/// never joins a segment longer than the first: `tcp_gro_receive`), neither a fragment, same
/// addresses, TOS, DF, TTL, IP options, ports, ACK, window and TCP options (the segments of
/// a frame all get the first one's headers), `b`'s data right after `a`'s, no SYN, FIN, RST
/// or URG, and `a` without PSH.
fn continues(a: &[u8], b: &[u8], gso_size: usize) -> bool {
    let (Some((ia, ta)), Some((ib, tb))) = (tcp_headers(a), tcp_headers(b)) else { return false };
    if gso_size == 0
        || ia != ib
        || ta != tb
        || a.len() - ia - ta != gso_size
        || !(1..=gso_size).contains(&(b.len() - ib - tb))
    {
        return false;
    }
    let same = |r: std::ops::Range<usize>| a[r.clone()] == b[r];
    let fa = a[ia + 13];
    let fb = b[ib + 13];
    let plain = |f: u8| f & (TCP_SYN | TCP_FIN | TCP_RST | TCP_URG) == 0;
    same(12..20)
        && same(1..2)
        && same(6..9)
        && same(20..ia)
        && same(ia..ia + 4)
        && same(ia + 8..ia + 12)
        && same(ia + 14..ia + 16)
        && same(ia + 20..ia + ta)
        && plain(fa)
        && plain(fb)
        && fa & TCP_PSH == 0
        && u32_at(a, ia + 4).wrapping_add(gso_size as u32) == u32_at(b, ib + 4)
}

/// Writes `packets` (in delivery order) as frames: runs of segments that `continues` joins
/// become one TCPv4 GSO frame, everything else one frame each. `write` gets each frame.
pub fn coalesce(packets: &[Vec<u8>], mut write: impl FnMut(&[u8])) {
    let mut frame = Vec::with_capacity(MAX_FRAME + VNET_HDR_LEN);
    let mut i = 0;
    while i < packets.len() {
        let first = &packets[i];
        let mut j = i + 1;
        let mut len = first.len();
        if let Some((ihl, thl)) = tcp_headers(first) {
            let gso_size = first.len() - ihl - thl;
            while j < packets.len()
                && continues(&packets[j - 1], &packets[j], gso_size)
                && len + packets[j].len() - ihl - thl <= MAX_FRAME
            {
                len += packets[j].len() - ihl - thl;
                j += 1;
            }
            if j - i > 1 {
                frame.clear();
                frame.extend_from_slice(&[0; VNET_HDR_LEN]);
                frame[0] = F_NEEDS_CSUM;
                frame[1] = GSO_TCPV4;
                frame[2..4].copy_from_slice(&((ihl + thl) as u16).to_le_bytes());
                frame[4..6].copy_from_slice(&(gso_size as u16).to_le_bytes());
                frame[6..8].copy_from_slice(&(ihl as u16).to_le_bytes());
                frame[8..10].copy_from_slice(&16u16.to_le_bytes());
                frame.extend_from_slice(first);
                for p in &packets[i + 1..j] {
                    frame.extend_from_slice(&p[ihl + thl..]);
                }
                let body = &mut frame[VNET_HDR_LEN..];
                body[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                // PSH (and the window, identical anyway) from the last segment.
                body[ihl + 13] = packets[j - 1][ihl + 13];
                fix_ip_checksum(body, ihl);
                // Checksum offload: the field holds the pseudo-header sum, the kernel the rest.
                let pseudo = pseudo_sum(body, 6, len - ihl) as u16;
                body[ihl + 16..ihl + 18].copy_from_slice(&pseudo.to_be_bytes());
                write(&frame);
                i = j;
                continue;
            }
        }
        frame.clear();
        frame.extend_from_slice(&[0; VNET_HDR_LEN]);
        frame.extend_from_slice(first);
        write(&frame);
        i += 1;
    }
}

#[cfg(test)]
mod tests;
