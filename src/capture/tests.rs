use std::process::Command;

use etherparse::PacketBuilder;
use pcap_file::pcapng::blocks::interface_description::InterfaceTsResolution;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

use super::pcapng::*;
use super::*;

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];
const KEY_LOG: &str = "CLIENT_RANDOM 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
    000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
    000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

fn tcp(from: [u8; 4], to: [u8; 4], syn: bool, ack: Option<u32>, seq: u32) -> Vec<u8> {
    let (sport, dport) = if from == CLIENT { (40000, 443) } else { (443, 40000) };
    let mut b = PacketBuilder::ipv4(from, to, 64).tcp(sport, dport, seq, 64240);
    if syn {
        b = b.syn();
    }
    if let Some(a) = ack {
        b = b.ack(a);
    }
    let mut out = Vec::new();
    b.write(&mut out, &[]).unwrap();
    out
}

fn dns_query() -> Vec<u8> {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};
    let mut m = Message::new();
    m.set_id(1).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii("server.lab.").unwrap(), RecordType::A));
    let mut out = Vec::new();
    let b = PacketBuilder::ipv4(CLIENT, SERVER, 64).udp(5353, 53);
    b.write(&mut out, &m.to_vec().unwrap()).unwrap();
    out
}

/// SYN, SYN/ACK, ACK and a DNS query, 75 ms apart, from the client's vantage point.
fn sample() -> Capture {
    let names = vec![(CLIENT.into(), "client".to_string()), (SERVER.into(), "server".to_string())];
    let mut cap = Capture::new("client", names);
    let packets = [
        (tcp(CLIENT, SERVER, true, None, 100), "tcp_handshake: SYN"),
        (tcp(SERVER, CLIENT, true, Some(101), 500), "tcp_handshake: SYN/ACK"),
        (tcp(CLIENT, SERVER, false, Some(501), 101), "tcp_handshake: ACK"),
        (dns_query(), "dns: DNS query A server.lab"),
    ];
    for (i, (bytes, comment)) in packets.iter().enumerate() {
        let n = cap.record(Instant::from_micros(75_000 * i as u64), bytes, comment);
        assert_eq!(n, i as u64 + 1);
    }
    cap
}

fn blocks(file: &[u8]) -> Vec<Block<'static>> {
    let mut reader = PcapNgReader::new(file).unwrap();
    let mut out = vec![Block::SectionHeader(reader.section().clone())];
    while let Some(block) = reader.next_block() {
        out.push(block.unwrap().0.into_owned());
    }
    out
}

#[test]
fn dsb_bytes_follow_the_spec() {
    let mut out = Vec::new();
    write_dsb(&mut out, SECRETS_TYPE_TLS, b"abcde");
    let mut want = Vec::new();
    for word in [0x0A, 28, 0x544c_534b, 5] {
        want.extend_from_slice(&u32::to_le_bytes(word));
    }
    want.extend_from_slice(b"abcde\0\0\0");
    want.extend_from_slice(&28u32.to_le_bytes());
    assert_eq!(out, want);
}

#[test]
fn epb_carries_the_comment_as_option_1() {
    let mut out = Vec::new();
    write_epb(&mut out, 0x1_0000_0002, &[0x45, 1, 2], 3, "hé");
    let le = |at: usize| u32::from_le_bytes(out[at..at + 4].try_into().unwrap());
    assert_eq!((le(0), le(4), le(out.len() - 4)), (6, out.len() as u32, out.len() as u32));
    assert_eq!((le(8), le(12), le(16), le(20), le(24)), (0, 1, 2, 3, 3));
    assert_eq!(&out[28..32], &[0x45, 1, 2, 0]);
    assert_eq!(&out[32..36], &[1, 0, 3, 0]); // opt_comment, length 3 (UTF-8 bytes)
    assert_eq!(&out[36..44], &[b'h', 0xC3, 0xA9, 0, 0, 0, 0, 0]); // value, padding, opt_endofopt
    assert_eq!(out.len(), 48);
}

#[test]
fn pcap_file_reads_back_every_block() {
    let cap = sample();
    let file = cap.to_pcapng(Some(KEY_LOG), DEFAULT_EPOCH_UNIX_MICROS);
    let blocks = blocks(&file);
    let Block::InterfaceDescription(idb) = &blocks[1] else { panic!("{:?}", blocks[1]) };
    assert_eq!((idb.linktype, idb.snaplen), (DataLink::RAW, SNAPLEN));
    assert_eq!(idb.ts_resolution(), InterfaceTsResolution::MICRO);
    assert!(matches!(&blocks[2], Block::NameResolution(n) if n.records.len() == 2));
    assert!(matches!(&blocks[3], Block::Unknown(u) if u.type_ == DSB_BLOCK_TYPE));
    let epbs: Vec<_> = blocks.iter().filter_map(Block::as_enhanced_packet).collect();
    assert_eq!(epbs.len(), 4);
    for (epb, frame) in epbs.iter().zip(cap.packets()) {
        let micros = epb.timestamp.as_micros() as u64;
        assert_eq!(micros, DEFAULT_EPOCH_UNIX_MICROS + frame.at.micros());
        assert_eq!(&epb.data[..], frame.bytes);
        let comment = format!("{:?}", epb.options);
        assert!(comment.contains(&frame.comment()), "{comment}");
    }
    // No key log, no DSB.
    let plain = blocks_types(&cap.to_pcapng(Some(""), 0));
    assert_eq!(plain, blocks_types(&cap.to_pcapng(None, 0)));
    assert!(!plain.contains(&DSB_BLOCK_TYPE));
}

#[test]
fn a_snap_length_keeps_headers_and_the_length_on_the_wire() {
    let mut cap = Capture::new("client", Vec::new()).with_snaplen(20);
    let packet = tcp([10, 0, 0, 1], [10, 0, 0, 2], true, None, 7);
    cap.record(Instant::ZERO, &packet, "cut");
    let frame = cap.packets().next().unwrap();
    assert_eq!((frame.bytes, frame.orig_len), (&packet[..20], packet.len()));
    let file = cap.to_pcapng(None, 0);
    let blocks = blocks(&file);
    let epb = blocks.iter().find_map(Block::as_enhanced_packet).unwrap();
    assert_eq!((epb.data.len(), epb.original_len as usize), (20, packet.len()));
}

fn blocks_types(file: &[u8]) -> Vec<u32> {
    let mut at = 0;
    let mut types = Vec::new();
    while at + 8 <= file.len() {
        types.push(u32::from_le_bytes(file[at..at + 4].try_into().unwrap()));
        at += u32::from_le_bytes(file[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    assert_eq!(at, file.len());
    types
}

#[test]
fn layout_and_determinism() {
    let file = sample().to_pcapng(Some(KEY_LOG), DEFAULT_EPOCH_UNIX_MICROS);
    assert_eq!(blocks_types(&file), [0x0A0D_0D0A, 1, 4, 0x0A, 6, 6, 6, 6]);
    assert_eq!(file, sample().to_pcapng(Some(KEY_LOG), DEFAULT_EPOCH_UNIX_MICROS));
    assert_ne!(file, sample().to_pcapng(Some(KEY_LOG), DEFAULT_EPOCH_UNIX_MICROS + 1));
    let cap = sample();
    assert_eq!(cap.frames(), 4);
    let third = cap.packets().nth(2).unwrap();
    assert_eq!((third.number, third.at.micros(), third.comment().as_str()), (3, 150_000, "tcp_handshake: ACK"));
}

/// Notes about packets lost on the way here come first, each ending in a full stop, and
/// `This frame:` introduces what is said about the frame itself, so that a student does not
/// read the frame's own size as the lost packet's.
#[test]
fn lost_packets_are_told_apart_from_the_frame_they_are_noted_on() {
    let mut cap = Capture::new("client", Vec::new()).describing();
    for f in 0..4 {
        cap.record(Instant::from_micros(f), &tcp(SERVER, CLIENT, false, Some(1), 1), "response");
    }
    cap.add_note(2, Note::LostBefore("LOST on the way here: 872 bytes, dropped by random loss".into()));
    cap.add_note(3, Note::LostBefore("LOST A".into()));
    cap.add_note(3, Note::LostBefore("LOST B".into()));
    cap.add_note(4, Note::LostBefore("LOST C".into()));
    cap.add_note(4, Note::Before("corrupted on the way".into()));
    cap.add_note(4, Note::After(" [late]".into()));
    let comments: Vec<String> = cap.packets().map(|f| f.comment()).collect();
    assert_eq!(
        comments,
        [
            "response: ACK",
            "response: LOST on the way here: 872 bytes, dropped by random loss. This frame: ACK",
            "response: LOST A. LOST B. This frame: ACK",
            "response: LOST C. This frame: corrupted on the way: ACK [late]",
        ]
    );
    // With no label, the comment starts with the loss.
    let mut bare = Capture::new("client", Vec::new()).describing();
    bare.record(Instant::ZERO, &tcp(SERVER, CLIENT, false, Some(1), 1), "");
    bare.add_note(1, Note::LostBefore("LOST D".into()));
    assert_eq!(bare.packets().next().unwrap().comment(), "LOST D. This frame: ACK");
}

/// Runs tshark; returns its stdout after checking it succeeded and warned about nothing.
fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let complaints: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("Running as user")).collect();
    assert!(out.status.success() && complaints.is_empty(), "tshark {args:?}:\n{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tshark_reads_comments_names_and_secrets() {
    if Command::new("tshark").arg("--version").output().is_err() {
        println!("skipping: tshark not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cap = sample();
    for (name, keys) in [("plain.pcapng", None), ("keys.pcapng", Some(KEY_LOG))] {
        let path = dir.path().join(name);
        if let Ok(keep) = std::env::var("WIRELAB_KEEP_CAPTURE") {
            std::fs::write(format!("{keep}-{name}"), cap.to_pcapng(keys, DEFAULT_EPOCH_UNIX_MICROS)).unwrap();
        }
        std::fs::write(&path, cap.to_pcapng(keys, DEFAULT_EPOCH_UNIX_MICROS)).unwrap();
        let file = path.to_str().unwrap();
        let fields = [
            "-r",
            file,
            "-N",
            "n",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "frame.number",
            "-e",
            "frame.comment",
            "-e",
            "ip.src_host",
            "-e",
            "ip.dst_host",
        ];
        let out = tshark(&fields);
        let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 4, "{out}");
        for (line, frame) in lines.iter().zip(cap.packets()) {
            let cols: Vec<&str> = line.split('|').collect();
            let want_src = if frame.bytes[15] == 1 { "client" } else { "server" };
            assert_eq!(cols[0], frame.number.to_string(), "{line}");
            assert_eq!(cols[1], frame.comment(), "{line}");
            assert_eq!(cols[2], want_src, "{line}");
        }
        // `expert,error` prints nothing when no packet has an error-level expert item.
        let expert = tshark(&["-r", file, "-q", "-z", "expert,error"]);
        assert!(expert.trim().is_empty(), "{expert}");
        let info = tshark(&["-r", file, "-T", "fields", "-e", "_ws.col.Protocol"]);
        assert!(info.contains("DNS") && info.contains("TCP"), "{info}");
        // capinfos (same package as tshark) counts the DSB; skip quietly if it is missing.
        if let Ok(out) = Command::new("capinfos").arg(file).output() {
            let secrets = format!("decryption secrets in file: {}", u8::from(keys.is_some()));
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(keys.is_none() || text.contains(&secrets), "{text}");
            assert!(text.contains("resolved IPv4 addresses in file: 2"), "{text}");
        }
    }
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "recorded after a later one")]
fn out_of_order_records_are_caught_in_debug_builds() {
    let mut cap = Capture::new("client", vec![]);
    cap.record(Instant::from_micros(10), &[0x45], "");
    cap.record(Instant::from_micros(9), &[0x45], "");
}

/// `first:N` keeps N frames and counts the rest: numbers, phases' frames and the cut note are
/// those of the whole capture; a lost mark or a note on a frame not kept changes nothing.
#[test]
fn a_limit_keeps_the_first_frames_and_counts_the_rest() {
    let packets = [
        tcp(CLIENT, SERVER, true, None, 100),
        tcp(SERVER, CLIENT, true, Some(101), 500),
        tcp(CLIENT, SERVER, false, Some(501), 101),
        dns_query(),
        dns_query(),
    ];
    let record = |keep: Keep| {
        let mut cap = Capture::new("client", vec![]).keeping(keep);
        for (i, bytes) in packets.iter().enumerate() {
            let phase = if i < 3 { 0 } else { 1 };
            assert_eq!(cap.record_in(Instant::from_micros(i as u64), bytes, "p", Some(phase)), i as u64 + 1);
            cap.mark_last_lost("rule");
            cap.add_note(i as u64 + 1, Note::After(" [n]".into()));
        }
        cap
    };
    let all = record(Keep::All);
    for keep in [Keep::First(2), Keep::None, Keep::First(5), Keep::First(9)] {
        let cap = record(keep);
        let kept = keep.limit().unwrap().min(5);
        assert_eq!((cap.frames(), cap.recorded(), cap.is_cut()), (kept, 5, kept < 5), "{keep}");
        assert_eq!(cap.phase_frames(), all.phase_frames(), "{keep}: phases name the same frames");
        assert_eq!(cap.phase_frames(), vec![Some((1, 3)), Some((4, 5))]);
        let file = cap.to_pcapng(None, 0);
        let epbs: Vec<_> = blocks(&file).into_iter().filter(|b| matches!(b, Block::EnhancedPacket(_))).collect();
        assert_eq!(epbs.len() as u64, kept);
        let note = "capture cut after 2 frames (--capture first:2): client had 5 frames in the whole run";
        assert_eq!(cap.cut_note().is_some(), kept < 5);
        if keep == Keep::First(2) {
            assert_eq!(cap.cut_note().as_deref(), Some(note));
        }
        if keep == Keep::First(2) {
            let last = cap.packets().last().unwrap();
            assert!(last.lost && last.comment().ends_with(" [n]"), "{}", last.comment());
            assert!(file.windows(note.len()).filter(|w| *w == note.as_bytes()).count() == 2, "SHB and last frame");
        }
    }
    assert_eq!(Keep::First(5).limit(), Some(5));
    assert_eq!(record(Keep::First(5)).to_pcapng(None, 0), all.to_pcapng(None, 0));
}

/// A data segment of `len` payload bytes from the server, sequence `seq`.
fn data(seq: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let payload: Vec<u8> = (0..len).map(|i| (seq as usize + i) as u8).collect();
    PacketBuilder::ipv4(SERVER, CLIENT, 64).tcp(443, 40000, seq, 64240).ack(101).write(&mut out, &payload).unwrap();
    out
}

/// The same recording, notes and changes (several on frames long spilled) on `cap`: about
/// 4.3 MB of packets, so 5 chunks.
fn busy(mut cap: Capture) -> Capture {
    let mut seq = 1000u32;
    for i in 0..4200u64 {
        let bytes = if i % 3 == 2 { tcp(CLIENT, SERVER, false, Some(seq), 101) } else { data(seq, 1448) };
        seq = seq.wrapping_add(1448);
        let label = if i < 100 { "tcp_handshake" } else { "http_response" };
        let phase = if i % 7 == 0 { None } else { Some((i / 1000) as usize) };
        let frame = cap.record_in(Instant::from_micros(i * 10), &bytes, label, phase);
        if i % 500 == 0 {
            cap.mark_last_lost("loss 1%");
        }
        assert_eq!(frame, i + 1);
    }
    for f in 1..=4200 {
        if f % 11 != 0 {
            cap.add_note(f, Note::Label(format!(", slow start round {}", f / 400)));
        }
    }
    cap.add_note(7, Note::After(" [held behind a hole]".into()));
    cap.relabel(5, "moved", Some(9));
    cap.relabel(4100, "moved late", None);
    cap.mark_lost(33, "rule");
    cap.mark_never_received(34, "corrupted on the way".into(), Some(20));
    cap.name_tls("");
    cap
}

#[test]
fn a_capture_spilled_to_disk_writes_the_same_bytes() {
    let names = || vec![(CLIENT.into(), "client".to_string()), (SERVER.into(), "server".to_string())];
    let memory = busy(Capture::new("client", names()).describing().spilling_after(usize::MAX, 1 << 20));
    let spilled = busy(Capture::new("client", names()).describing().spilling_after(0, 16));
    assert_eq!(memory.entries.spilled(), (0, 0));
    let (chunks, blocks) = spilled.entries.spilled();
    assert!(chunks >= 4 && blocks >= 200, "spilled {chunks} chunks and {blocks} blocks");
    assert!(spilled.spill_warning().is_none());
    let file = memory.to_pcapng(Some(KEY_LOG), DEFAULT_EPOCH_UNIX_MICROS);
    assert_eq!(spilled.to_pcapng(Some(KEY_LOG), DEFAULT_EPOCH_UNIX_MICROS), file);
    assert_eq!(memory.phase_frames(), spilled.phase_frames());
    let frame = spilled.packets().nth(33).unwrap();
    assert_eq!((frame.number, frame.lost, frame.bytes.len(), frame.orig_len), (34, true, 20, 1488));
    assert!(
        frame.comment().starts_with("tcp_handshake, slow start round 0: corrupted on the way: "),
        "{}",
        frame.comment()
    );
    // Iterating twice, and holding frames across chunks, reads the same bytes.
    let held: Vec<Frame<'_>> = spilled.packets().step_by(97).collect();
    for (a, b) in held.iter().zip(memory.packets().step_by(97)) {
        assert_eq!((a.number, a.bytes, a.label, a.phase), (b.number, b.bytes, b.label, b.phase));
    }
    // Where no spill file can be made (a missing directory), the capture stays in memory,
    // says why, naming the directory, and writes the same file.
    let missing = std::env::temp_dir().join("wirelab-no-such-dir/for-the-spill");
    let kept = busy(Capture::new("client", names()).describing().spilling_after(0, 16).spilling_in(missing));
    let warning = kept.spill_warning().expect("a warning").to_string();
    assert!(warning.contains("wirelab-no-such-dir"), "{warning}");
    assert_eq!(kept.entries.spilled(), (0, 0));
    assert_eq!(kept.to_pcapng(Some(KEY_LOG), DEFAULT_EPOCH_UNIX_MICROS), file);
}

/// A writer that takes at most 7 bytes a call (and says Interrupted every third call).
struct Trickle(Vec<u8>, usize);

impl std::io::Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1 += 1;
        if self.1 % 3 == 0 {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(7);
        self.0.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn short_writes_give_the_same_file() {
    let names = vec![(CLIENT.into(), "client".to_string()), (SERVER.into(), "server".to_string())];
    let cap = busy(Capture::new("client", names).describing());
    let whole = cap.to_pcapng(Some(KEY_LOG), DEFAULT_EPOCH_UNIX_MICROS);
    let mut trickle = Trickle(Vec::new(), 0);
    cap.write_pcapng(&mut trickle, Some(KEY_LOG), DEFAULT_EPOCH_UNIX_MICROS).unwrap();
    assert!(trickle.0 == whole, "{} bytes against {}", trickle.0.len(), whole.len());
    // And the blocks are those write_epb makes, packet bytes and all.
    let f = cap.packets().nth(1).unwrap();
    let mut epb = Vec::new();
    write_epb(&mut epb, DEFAULT_EPOCH_UNIX_MICROS + f.at.micros(), f.bytes, f.orig_len, &f.comment());
    assert!(whole.windows(epb.len()).any(|w| w == epb.as_slice()));
}

#[test]
fn a_finished_capture_that_spilled_goes_to_disk_whole() {
    let names = || vec![(CLIENT.into(), "client".to_string()), (SERVER.into(), "server".to_string())];
    let memory = busy(Capture::new("client", names()).describing().spilling_after(usize::MAX, 1 << 20));
    let mut spilled = busy(Capture::new("client", names()).describing().spilling_after(2 << 20, 1000));
    let (chunks, blocks) = spilled.entries.spilled();
    assert!(chunks >= 1 && blocks >= 1, "spilled {chunks} chunks and {blocks} blocks");
    spilled.finish_recording();
    assert_eq!(spilled.entries.spilled(), (5, 4), "every chunk, and every whole block of entries");
    let file = memory.to_pcapng(Some(KEY_LOG), DEFAULT_EPOCH_UNIX_MICROS);
    assert_eq!(spilled.to_pcapng(Some(KEY_LOG), DEFAULT_EPOCH_UNIX_MICROS), file);
    // Recording may go on.
    let mut more = busy(Capture::new("client", names()).describing().spilling_after(2 << 20, 1000));
    more.finish_recording();
    let mut whole = busy(Capture::new("client", names()).describing());
    for c in [&mut more, &mut whole] {
        c.record(Instant::from_micros(1_000_000), &data(7, 100), "after");
    }
    assert_eq!(more.to_pcapng(None, 0), whole.to_pcapng(None, 0));
    // One that never spilled stays in memory.
    let mut small = busy(Capture::new("client", names()).describing());
    small.finish_recording();
    assert_eq!(small.entries.spilled(), (0, 0));
}

#[test]
fn labels_compare_as_strings_empty_ones_too() {
    assert!(super::same("", ""));
    assert!(super::same("round 1", "round 1"));
    assert!(!super::same("", "round 1"));
    assert!(!super::same("round 1", "round 2"));
    // Frames recorded with an empty label, then a named one, then empty again keep their own.
    let mut c = Capture::new("client", Vec::new());
    for label in ["", "", "TCP handshake", ""] {
        c.record_in(Instant::ZERO, &[0x45, 0, 0, 20], label, None);
    }
    let labels: Vec<String> = c.packets().map(|f| f.label.to_string()).collect();
    assert_eq!(labels, ["", "", "TCP handshake", ""]);
}

/// Every frame's comment in the file, in order (pcap-file's parse of the EPBs' `opt_comment`).
fn epb_comments(file: &[u8]) -> Vec<String> {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
    use pcap_file::pcapng::blocks::opt_common::CommonOption;
    blocks(file)
        .iter()
        .filter_map(Block::as_enhanced_packet)
        .map(|epb| {
            epb.options
                .iter()
                .find_map(|o| match o {
                    EnhancedPacketOption::Common(CommonOption::Comment(c)) => Some(c.to_string()),
                    _ => None,
                })
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn repeated_comments_are_rendered_once_and_each_frame_keeps_its_own() {
    // A bulk transfer recorded with its parse (so that frames have sketches and their comments
    // repeat), under two labels, with notes on some frames, a request that names its start
    // line, lost and corrupted frames and segments of several sizes; cut after 300 frames.
    let names = vec![(CLIENT.into(), "client".to_string()), (SERVER.into(), "server".to_string())];
    let mut cap = Capture::new("client", names).describing().keeping(Keep::First(300));
    let request = {
        let mut out = Vec::new();
        let b = PacketBuilder::ipv4(CLIENT, SERVER, 64).tcp(40000, 443, 101, 64240).ack(501).psh();
        b.write(&mut out, b"GET /bytes/1000 HTTP/1.1\r\nHost: server\r\n\r\n").unwrap();
        out
    };
    let mut seq = 501u32;
    for i in 0..400u64 {
        let bytes = match i % 5 {
            0 | 1 => data(seq, 1448),
            2 => data(seq, 100 + i as usize % 3),
            3 => tcp(CLIENT, SERVER, false, Some(seq), 101),
            _ if i % 40 == 4 => request.clone(),
            _ => tcp(CLIENT, SERVER, false, Some(seq), 101),
        };
        seq = seq.wrapping_add(1448);
        let summary = crate::packet::summarize(&bytes);
        let label = if i < 150 { "http_response" } else { "" };
        cap.record_parsed(Instant::from_micros(i * 10), &bytes, summary.as_ref(), label, Some(0));
    }
    for f in (1..=300).step_by(7) {
        cap.add_note(f, Note::Label(format!(", slow start round {}", f / 50)));
    }
    cap.add_note(12, Note::After(" [held behind a hole]".into()));
    cap.mark_lost(20, "rule");
    cap.mark_never_received(21, "corrupted on the way".into(), Some(20));
    let file = cap.to_pcapng(None, DEFAULT_EPOCH_UNIX_MICROS);
    let comments = epb_comments(&file);
    assert_eq!(comments.len(), 300);
    let cut = cap.cut_note().expect("a cut capture");
    for (f, written) in cap.packets().zip(&comments) {
        let mut own = f.comment();
        if f.number == 300 {
            own = format!("{own} [{cut}]");
        }
        assert_eq!(written, &own, "frame {}", f.number);
    }
    // Comments did repeat (so the writer's cache of them was used): the data segments' one.
    let bulk = comments.iter().filter(|c| c.as_str() == "http_response: 1448 bytes").count();
    assert!(bulk > 30, "{bulk} frames say 'http_response: 1448 bytes': {:?}", &comments[..6]);
    assert!(comments.iter().any(|c| c.contains("GET /bytes/1000 HTTP/1.1")), "the request names its start line");
}
