//! Targets on single packets: the TUN offload segmenter and the IPv4/TCP/UDP packet parsers.

use super::records::fuzz_key_log;
use super::*;

/// The TUN offload segmenter ([`offload::split`], [`offload::coalesce`]). The input is a
/// sequence of frames (virtio-net header and packet), each preceded by its length (u16 BE).
/// Each frame splits into packets of at least an IPv4 header; a TCPv4 GSO frame into segments
/// of at most `gso_size` payload bytes whose payloads re-join to the frame's payload, with
/// sequence numbers advancing by the bytes before them and valid IPv4 and TCP checksums.
/// Coalescing all the packets and splitting the frames again gives the same packets' payloads,
/// sequence numbers and IPv4 header fields (but length, ID and checksum), in order.
pub fn offload_segmenter(data: &[u8]) {
    let mut packets: Vec<Vec<u8>> = Vec::new();
    for frame in length_prefixed(data) {
        let mut out = Vec::new();
        offload::split(frame, |p| out.push(p));
        for p in &out {
            assert!(p.len() >= 20, "a packet of {} bytes", p.len());
        }
        check_gso_split(frame, &out);
        packets.extend(out);
    }
    let mut again = Vec::new();
    offload::coalesce(&packets, |frame| offload::split(frame, |p| again.push(p)));
    assert_eq!(again.len(), packets.len(), "coalesce then split changed the number of packets");
    // Well-formed packets (a length field that fits: what smoltcp and the kernel send) keep
    // their payloads and sequence numbers.
    for (a, b) in packets.iter().zip(&again) {
        let Some(sa) = packet::summarize(a) else { continue };
        let sb = packet::summarize(b).expect("a well-formed packet stays well formed");
        assert_eq!(sa.payload(a), sb.payload(b), "payload changed by coalesce and split");
        // IPv4 header fields other than the length, ID and checksum are kept.
        assert_eq!((&a[..2], &a[6..10], &a[12..20]), (&b[..2], &b[6..10], &b[12..20]), "IPv4 header changed");
        if let (Transport::Tcp { seq: x, .. }, Transport::Tcp { seq: y, .. }) = (sa.transport, sb.transport) {
            assert_eq!(x, y, "sequence number changed by coalesce and split");
        }
    }
}

/// The checks on one frame's split that hold for a well-formed TCPv4 GSO frame.
fn check_gso_split(frame: &[u8], out: &[Vec<u8>]) {
    let Some(hdr) = frame.get(..offload::VNET_HDR_LEN) else { return };
    let body = &frame[offload::VNET_HDR_LEN..];
    let gso_size = usize::from(u16::from_le_bytes([hdr[4], hdr[5]]));
    if hdr[1] & 0x7f != 1 || gso_size == 0 || out.is_empty() {
        return;
    }
    let total = usize::from(u16::from_be_bytes([body[2], body[3]])).clamp(20, body.len());
    let body = &body[..total];
    let ihl = usize::from(body[0] & 0x0f) * 4;
    let thl = usize::from(body[ihl + 12] >> 4) * 4;
    let payload = &body[ihl + thl..];
    let seq = u32::from_be_bytes([body[ihl + 4], body[ihl + 5], body[ihl + 6], body[ihl + 7]]);
    let mut joined = Vec::with_capacity(payload.len());
    for p in out {
        assert_eq!(p.len() - ihl - thl, p[ihl + thl..].len());
        assert!(p.len() - ihl - thl <= gso_size, "a segment longer than gso_size");
        let s = u32::from_be_bytes([p[ihl + 4], p[ihl + 5], p[ihl + 6], p[ihl + 7]]);
        assert_eq!(s, seq.wrapping_add(joined.len() as u32), "sequence number of a segment");
        assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len(), "IPv4 total length of a segment");
        assert_eq!(ones_sum(&p[..ihl], 0), 0xffff, "IPv4 header checksum of a segment");
        let pseudo = pseudo_sum(p, 6, p.len() - ihl);
        assert_eq!(ones_sum(&p[ihl..], pseudo), 0xffff, "TCP checksum of a segment");
        joined.extend_from_slice(&p[ihl + thl..]);
    }
    assert_eq!(joined, payload, "segments do not re-join to the frame's payload");
}

/// The one's-complement sum of `data` (RFC 1071), folded to 16 bits, added to `initial`.
fn ones_sum(data: &[u8], initial: u32) -> u32 {
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

/// The TCP/UDP pseudo-header sum of an IPv4 packet for `len` transport bytes.
fn pseudo_sum(p: &[u8], protocol: u8, len: usize) -> u32 {
    let mut h = [0u8; 12];
    h[..8].copy_from_slice(&p[12..20]);
    h[9] = protocol;
    h[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    ones_sum(&h, 0)
}

/// Rewrites the IPv4 header checksum and the TCP or UDP checksum of `p`, where its headers
/// allow, so that a corrupted packet passes smoltcp's checks and reaches the protocols.
pub(super) fn fix_checksums(p: &mut [u8]) {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    if ihl < 20 || ihl > p.len() {
        return;
    }
    p[10..12].fill(0);
    let c = !(ones_sum(&p[..ihl], 0) as u16);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let total = usize::from(u16::from_be_bytes([p[2], p[3]])).clamp(ihl, p.len());
    let at = match p[9] {
        6 => 16,
        17 => 6,
        _ => return,
    };
    if total - ihl < at + 2 {
        return;
    }
    p[ihl + at..ihl + at + 2].fill(0);
    let c = !(ones_sum(&p[ihl..total], pseudo_sum(p, p[9], total - ihl)) as u16);
    let c = if c == 0 && p[9] == 17 { 0xffff } else { c };
    p[ihl + at..ihl + at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Raw IPv4 packets through everything that reads packets and captures: the input is a
/// sequence of records (time step in ms: u8; flags: u8, bit 0 "lost after leaving", bit 1 a
/// note; length: u16 BE; the packet's bytes). Each packet is summarised
/// ([`packet::summarize`]; its payload lies inside the packet, no longer than on the wire), described, labelled for a
/// ladder, classified for scripted drops and named by the [`Annotator`] (the TCP flow
/// tracker); all are recorded into a capture whose TLS records are then named from the
/// streams (decrypting with a key log), whose comments are rendered, which is written as
/// pcapng and read back by pcap-file (every packet, in order, byte for byte), and which
/// every capture analysis reads: phases of a real program's run, slow-start rounds and
/// retransmissions, head-of-line reassembly, keepalive bytes.
pub fn ipv4_packet(data: &[u8]) {
    let client = Ipv4Addr::new(10, 0, 0, 1);
    let server = Ipv4Addr::new(10, 0, 0, 2);
    let names = vec![(client, "client".to_string()), (server, "server".to_string())];
    let mut capture = Capture::new("client", names).describing();
    let mut annotator = Annotator::default();
    let mut rest = data;
    let mut at = 0u64;
    let mut sent: Vec<&[u8]> = Vec::new();
    while let Some((&[dt, flags, hi, lo], tail)) = rest.split_first_chunk::<4>() {
        let len = usize::from(u16::from_be_bytes([hi, lo])).min(tail.len());
        let (bytes, tail) = tail.split_at(len);
        rest = tail;
        at += u64::from(dt) * 1000;
        let event = packet::summarize(bytes).and_then(|s| {
            let payload = s.payload(bytes);
            // A packet cut short keeps what it kept; never more than it had on the wire.
            assert_eq!(payload.len(), s.payload_kept, "a payload outside the packet");
            if let Transport::Tcp { payload_len, .. } | Transport::Udp { payload_len, .. } = s.transport {
                assert!(payload.len() <= payload_len, "more payload than on the wire");
            }
            let _ = s.kind();
            let _ = s.describe(bytes);
            let _ = s.describe_as(bytes, Some("TLS Finished"));
            let _ = s.short(bytes, None);
            let _ = s.short(bytes, Some(&["ServerHello", "Application Data"]));
            let _ = packet::tcp_window_scale(bytes);
            annotator.observe_packet(&s, bytes)
        });
        let frame = capture.record_in(Instant::from_micros(at), bytes, event.unwrap_or("fuzz"), Some(0));
        if flags & 1 != 0 {
            capture.mark_last_lost("fuzz");
        }
        if flags & 2 != 0 {
            capture.add_note(frame, Note::After(" [note]".into()));
            capture.relabel(frame.saturating_sub(1), "relabelled", None);
        }
        sent.push(bytes);
    }
    capture.name_tls(&fuzz_key_log());
    for f in capture.packets() {
        let _ = f.comment();
        let _ = f.what();
    }
    let file = capture.to_pcapng(Some(&fuzz_key_log()), crate::capture::DEFAULT_EPOCH_UNIX_MICROS);
    let mut reader = pcap_file::pcapng::PcapNgReader::new(&file[..]).expect("our pcapng has a section header");
    let mut read_back = 0;
    while let Some(block) = reader.next_block() {
        let block = block.expect("our pcapng reads back");
        if let Some(epb) = block.0.as_enhanced_packet() {
            assert_eq!(Some(&&epb.data[..]), sent.get(read_back), "packet {} read back differently", read_back + 1);
            read_back += 1;
        }
    }
    assert_eq!(read_back, sent.len(), "packets read back");
    let _ = capture.phase_frames();
    let _ = crate::timeline::from_capture::phases(&capture, client, 100.0);
    let end = Instant::from_micros(at);
    let window = Some(crate::timeline::theory::Window { initial_window: 14_600, max_window: 1 << 20 });
    let _ = crate::timeline::rounds::measure(
        &capture,
        server,
        client,
        Instant::ZERO,
        end,
        Duration::from_millis(100),
        window,
    );
    let _ = crate::timeline::rounds::measure(&capture, server, client, Instant::ZERO, end, Duration::ZERO, None);
    let _ = crate::timeline::rounds::retransmitted_segments(&capture, server, client);
    let _ = crate::timeline::hol::tcp_deliveries_with_frames(&capture, client, server);
    let spans: Vec<_> = sent
        .iter()
        .filter_map(|b| packet::summarize(b))
        .filter_map(|s| match s.transport {
            Transport::Tcp { src_port, .. } => Some(src_port),
            _ => None,
        })
        .take(4)
        .map(|port| crate::timeline::keepalive::IdleSpan { port, from: Instant::ZERO, to: Some(end) })
        .collect();
    let _ = crate::timeline::keepalive::measure(&capture, client, server, &spans);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_checksums_verify() {
        let mut p = crate::packet::testing::segment(true, 7, 1, "PA", b"hello");
        let good = p.clone();
        p[30] ^= 0x55;
        fix_checksums(&mut p);
        p[30] ^= 0x55;
        fix_checksums(&mut p);
        assert_eq!(p, good);
    }
}
