//! The one packet parser (`wire::ip`) against tshark: every frame of every reference capture
//! gives the same addresses, ports, raw sequence and acknowledgement numbers, TCP flags and
//! payload lengths, also when the frames are cut to 60 bytes by a snap length.

mod common;

use std::fs::File;
use std::path::Path;

use pcap_file::pcapng::blocks::Block;
use pcap_file::pcapng::PcapNgReader;
use wirelab::wire::ip::{self, LinkType, Transport};

/// One line per frame, in the fields and format of the tshark command below.
fn ours(path: &Path, snap: usize) -> Vec<String> {
    let mut r = PcapNgReader::new(File::open(path).unwrap()).unwrap();
    let mut lines = Vec::new();
    while let Some(b) = r.next_block() {
        let Block::EnhancedPacket(p) = b.unwrap().0 else { continue };
        let data = &p.data[..p.data.len().min(snap)];
        let s = ip::parse(LinkType::Raw, data).unwrap();
        let mut cols = vec![s.src.to_string(), s.dst.to_string(), s.total_len.to_string()];
        cols.resize(12, String::new());
        match s.transport {
            Transport::Tcp { src_port, dst_port, seq, ack, flags, payload_len, .. } => {
                let f = u16::from(flags.fin)
                    | u16::from(flags.syn) << 1
                    | u16::from(flags.rst) << 2
                    | u16::from(flags.psh) << 3
                    | u16::from(flags.ack) << 4;
                let tcp = [src_port.to_string(), dst_port.to_string(), seq.to_string(), ack.to_string()];
                cols.splice(3..7, tcp);
                cols[7] = payload_len.to_string();
                cols[8] = f.to_string();
            }
            Transport::Udp { src_port, dst_port, payload_len } => {
                cols.splice(9..12, [src_port.to_string(), dst_port.to_string(), (payload_len + 8).to_string()]);
            }
            other => panic!("{}: unexpected {other:?}", path.display()),
        }
        lines.push(cols.join("\t"));
    }
    lines
}

fn theirs(tshark: &str, path: &Path) -> Vec<String> {
    let fields = [
        "ip.src",
        "ip.dst",
        "ip.len",
        "tcp.srcport",
        "tcp.dstport",
        "tcp.seq_raw",
        "tcp.ack_raw",
        "tcp.len",
        "tcp.flags",
        "udp.srcport",
        "udp.dstport",
        "udp.length",
    ];
    let mut args = vec!["-T", "fields", "-o", "tcp.analyze_sequence_numbers:FALSE"];
    for f in &fields {
        args.extend(["-e", f]);
    }
    common::tshark_lines(tshark, path, &args)
        .into_iter()
        .map(|l| {
            // tcp.flags comes as 0x0018: keep the low six bits as a number.
            let mut cols: Vec<String> = l.split('\t').map(str::to_string).collect();
            if let Some(flags) = cols.get_mut(8).filter(|f| !f.is_empty()) {
                *flags = (u16::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap() & 0x1f).to_string();
            }
            cols.join("\t")
        })
        .collect()
}

#[test]
fn the_wire_layer_reads_every_reference_frame_as_tshark_does() {
    let Some(tshark) = common::tshark() else { return };
    let mut files: Vec<_> = std::fs::read_dir("captures/reference")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "reference captures: {files:?}");
    let mut frames = 0;
    for f in &files {
        let want = theirs(&tshark, f);
        let got = ours(f, usize::MAX);
        assert_eq!(got.len(), want.len(), "{}: frame count", f.display());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{} frame {}", f.display(), i + 1);
        }
        // Cut to 60 bytes: the same headers, the lengths still those on the wire.
        assert_eq!(ours(f, 60), got, "{}: cut to 60 bytes", f.display());
        frames += got.len();
    }
    assert!(frames > 5000, "{frames} frames compared");
}
