//! Targets on captured frames and capture files: the link-layer frame parser, and a pcap/pcapng
//! file read back and annotated.

use super::*;

/// One frame in any link type through the one packet parser ([`crate::wire::ip::parse`]).
/// Input: a byte choosing the link type, then the frame. What it finds lies inside the frame; a
/// TCP or UDP payload holds no more bytes than it had on the wire; and on raw IP the strict
/// fast path ([`crate::wire::ip::summarize`]) gives exactly what the lax slices give.
pub fn wire_frame(data: &[u8]) {
    use crate::wire::ip::{self, LinkType};
    const LINKS: [LinkType; 8] = [
        LinkType::Raw,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Null,
        LinkType::Loop,
    ];
    let Some((&pick, frame)) = data.split_first() else { return };
    let link = LINKS[usize::from(pick) % LINKS.len()];
    let Ok(s) = ip::parse(link, frame) else { return };
    assert!(s.payload_offset + s.payload_kept <= frame.len(), "{link:?}: {s:?} past the frame");
    assert_eq!(s.payload(frame).len(), s.payload_kept);
    if matches!(s.transport, Transport::Tcp { .. } | Transport::Udp { .. }) {
        assert!(s.payload_kept <= s.payload_len(), "{link:?}: more kept than on the wire: {s:?}");
    }
    let _ = s.describe(frame);
    if link == LinkType::Raw {
        assert_eq!(ip::summarize(frame), Some(s), "the fast path and the lax slices disagree");
    }
}

/// A whole capture file, pcap or pcapng in any link type, through `wirelab annotate`
/// ([`crate::timeline::from_capture::annotate_file::annotate`]): an unreadable file is an error,
/// never a panic; a readable one gives a pcapng that pcap-file reads back with one packet per
/// frame, every packet commented, and a timeline whose phases end no earlier than they begin.
pub fn capture_file(data: &[u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let input = dir.join(format!("wirelab-fuzz-{}-{n}.in", std::process::id()));
    let output = dir.join(format!("wirelab-fuzz-{}-{n}.pcapng", std::process::id()));
    std::fs::write(&input, data).expect("writing the input");
    let result = crate::timeline::from_capture::annotate_file::annotate(&input, &output, Some("CLIENT_RANDOM 00 00\n"));
    if let Ok(a) = &result {
        let file = std::fs::read(&output).expect("annotate wrote its output");
        let mut reader = pcap_file::pcapng::PcapNgReader::new(&file[..]).expect("a section header");
        let mut packets = 0u64;
        while let Some(block) = reader.next_block() {
            if let Some(p) = block.expect("the output reads back").0.as_enhanced_packet() {
                packets += 1;
                assert!(p.options.iter().any(|o| matches!(
                    o,
                    pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption::Common(
                        pcap_file::pcapng::blocks::opt_common::CommonOption::Comment(_)
                    )
                )));
            }
        }
        assert_eq!(packets, a.frames, "one packet per frame read");
        for c in &a.connections {
            for p in &c.phases {
                assert!(p.end_ms.is_none_or(|e| e >= p.start_ms), "{p:?}");
            }
        }
    }
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
}
