//! `wirelab annotate` on captures made elsewhere: every link type it reads, pcap and pcapng,
//! the phases it infers against the lab timelines of the runs that made the captures, comments
//! and timestamps kept, the key log embedded, holes named, and bad input refused.

mod common;

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{tshark, tshark_lines, wirelab};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapTsResolution, PcapWriter};
use pcap_file::pcapng::blocks::Block;
use pcap_file::pcapng::PcapNgReader;
use pcap_file::DataLink;
use serde_json::Value;

const REFERENCE: &str = "captures/reference";

/// The (timestamp, bytes) of every packet of a pcapng.
fn packets(path: &Path) -> Vec<(Duration, Vec<u8>)> {
    let mut r = PcapNgReader::new(File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(b) = r.next_block() {
        if let Block::EnhancedPacket(p) = b.unwrap().0 {
            out.push((p.timestamp, p.data.into_owned()));
        }
    }
    out
}

/// Writes `frames` as a pcap file with link type `code`, each IP packet behind `header`.
fn write_pcap(path: &Path, code: u32, header: &[u8], frames: &[(Duration, Vec<u8>)], nanos: bool) {
    let ts_resolution = if nanos { PcapTsResolution::NanoSecond } else { PcapTsResolution::MicroSecond };
    let h = PcapHeader { datalink: DataLink::from(code), ts_resolution, ..Default::default() };
    let mut w = PcapWriter::with_header(File::create(path).unwrap(), h).unwrap();
    for (ts, ip) in frames {
        let mut f = header.to_vec();
        f.extend_from_slice(ip);
        let len = f.len() as u32;
        w.write_packet(&PcapPacket::new(*ts, len, Cow::Owned(f)).unwrap()).unwrap();
    }
}

fn annotate_json(input: &Path, out: &Path, extra: &[&str]) -> Value {
    let o = wirelab().arg("annotate").arg(input).arg("-o").arg(out).arg("--json").args(extra).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "annotate {}: {}", input.display(), String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn comments(tshark: &str, file: &Path) -> Vec<String> {
    tshark_lines(tshark, file, &["-T", "fields", "-E", "occurrence=l", "-e", "frame.comment"])
}

/// `(id, start_ms, end_ms)` of a scenario's phases.
fn phase_times(scenario: &Value) -> Vec<(String, f64, f64)> {
    scenario["phases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["end_ms"].is_null())
        .map(|p| {
            (p["id"].as_str().unwrap().to_string(), p["start_ms"].as_f64().unwrap(), p["end_ms"].as_f64().unwrap())
        })
        .collect()
}

/// The lab measured its phases from socket states and TLS progress; annotate reads them off the
/// packets alone (the reference captures with their comments, names and keys stripped). For
/// every fresh connection of the reference runs they agree to the µs.
#[test]
fn phases_read_off_a_capture_match_the_lab_timeline() {
    let dir = tempfile::tempdir().unwrap();
    for (lab, scenario) in [
        ("handshake", "fresh-tls13"),
        ("handshake", "fresh-tls12"),
        ("slow-start", "iw10-fresh"),
        ("slow-start", "smoltcp-fresh"),
        ("slow-start", "one-loss"),
    ] {
        let t: Value = serde_json::from_slice(&std::fs::read(format!("{REFERENCE}/{lab}.json")).unwrap()).unwrap();
        let lab_phases = phase_times(common::scenario(&t, scenario));
        // The packets alone: a pcap keeps no comments, no names and no keys.
        let input = dir.path().join(format!("{scenario}.pcap"));
        write_pcap(&input, 101, &[], &packets(Path::new(&format!("{REFERENCE}/{lab}-{scenario}.pcapng"))), false);
        let a = annotate_json(&input, &dir.path().join("a.pcapng"), &[]);
        assert_eq!(a["schema"], 1);
        let conns = a["scenarios"].as_array().unwrap();
        assert_eq!(conns.len(), 1, "{lab} {scenario}: one connection");
        let got = phase_times(&conns[0]);
        for id in ["dns", "tcp_handshake", "tls_handshake", "http_request", "http_response"] {
            let want = lab_phases.iter().find(|p| p.0 == id);
            let have = got.iter().find(|p| p.0 == id);
            assert_eq!(have, want, "{lab} {scenario}: phase {id}");
        }
        let rtt = conns[0]["metrics"]["rtt_ms"].as_f64().unwrap();
        assert_eq!(rtt, t["rtt_ms"].as_f64().unwrap(), "{lab} {scenario}: the handshake shows the path's RTT");
    }
}

/// The same packets behind every link layer, as pcap (µs and ns) or pcapng, give the same
/// comments, and the output keeps every timestamp to the nanosecond.
#[test]
fn every_link_type_gives_the_same_comments_and_keeps_timestamps() {
    let Some(tshark) = tshark() else { return };
    let dir = tempfile::tempdir().unwrap();
    let frames = packets(Path::new(&format!("{REFERENCE}/handshake-fresh-tls12.pcapng")));
    let raw = dir.path().join("raw.pcap");
    write_pcap(&raw, 101, &[], &frames, false);
    let raw_out = dir.path().join("raw-annotated.pcapng");
    let want = annotate_json(&raw, &raw_out, &[]);
    let want_comments = comments(&tshark, &raw_out);
    assert_eq!(want_comments.len(), frames.len());
    assert!(want_comments.iter().all(|c| c.starts_with("conn 1 (")), "{want_comments:?}");
    assert!(
        want_comments[0].starts_with("conn 1 (DNS lookup of www.example.lab): DNS query A"),
        "{}",
        want_comments[0]
    );
    let ethernet = [[2, 0, 0, 0, 0, 1].as_slice(), &[2, 0, 0, 0, 0, 2], &[0x08, 0x00]].concat();
    let vlan = [[2, 0, 0, 0, 0, 1].as_slice(), &[2, 0, 0, 0, 0, 2], &[0x81, 0x00, 0x00, 0x07, 0x08, 0x00]].concat();
    let sll = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    let sll2 = [0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    for (name, code, header, nanos) in [
        ("ethernet", 1, ethernet.as_slice(), false),
        ("vlan", 1, vlan.as_slice(), true),
        ("sll", 113, sll.as_slice(), false),
        ("sll2", 276, sll2.as_slice(), true),
        ("null", 0, [2, 0, 0, 0].as_slice(), false),
        ("loop", 108, [0, 0, 0, 2].as_slice(), false),
    ] {
        let input = dir.path().join(format!("{name}.pcap"));
        write_pcap(&input, code, header, &frames, nanos);
        let out = dir.path().join(format!("{name}-annotated.pcapng"));
        let got = annotate_json(&input, &out, &[]);
        assert_eq!(got["scenarios"][0]["phases"], want["scenarios"][0]["phases"], "{name}");
        assert_eq!(comments(&tshark, &out), want_comments, "{name}");
        let times = |f: &Path| tshark_lines(&tshark, f, &["-T", "fields", "-e", "frame.time_epoch"]);
        assert_eq!(times(&out), times(&input), "{name}: timestamps kept");
        let errors = tshark_lines(&tshark, &out, &["-q", "-z", "expert,error"]);
        assert!(!errors.iter().any(|l| l.contains("Malformed")), "{name}: {errors:?}");
    }
}

/// A pcapng keeps its comments (ours comes after them), and `--keys` puts a Decryption Secrets
/// Block before the first packet, so tshark decrypts the HTTP inside TLS.
#[test]
fn comments_are_kept_and_keys_embedded() {
    let Some(tshark) = tshark() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = PathBuf::from(format!("{REFERENCE}/handshake-fresh-tls13.pcapng"));
    let before = comments(&tshark, &input);
    let out = dir.path().join("a.pcapng");
    // The reference has its own key log inside; annotate a copy without it, then add the keys.
    let stripped = dir.path().join("stripped.pcap");
    write_pcap(&stripped, 101, &[], &packets(&input), false);
    annotate_json(&stripped, &out, &[]);
    assert!(tshark_lines(&tshark, &out, &["-Y", "http"]).is_empty(), "no keys, no HTTP");
    let keys = format!("{REFERENCE}/handshake-fresh-tls13.keys");
    annotate_json(&stripped, &out, &["--keys", &keys]);
    let http = tshark_lines(&tshark, &out, &["-Y", "http"]);
    assert!(http.iter().any(|l| l.contains("GET /bytes/200000")), "{http:?}");
    annotate_json(&input, &out, &[]);
    let all = tshark_lines(
        &tshark,
        &out,
        &["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-e", "frame.comment"],
    );
    for (old, both) in before.iter().zip(&all) {
        let (first, ours) = both.split_once('|').unwrap_or_else(|| panic!("two comments: {both}"));
        assert_eq!(first, old);
        assert!(ours.starts_with("conn 1"), "{ours}");
    }
}

/// A segment lost before the client's vantage point leaves a hole the next segment names, and
/// the resent segment is named a retransmission.
#[test]
fn holes_and_retransmissions_are_named() {
    let Some(tshark) = tshark() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.pcapng");
    annotate_json(Path::new(&format!("{REFERENCE}/slow-start-one-loss.pcapng")), &out, &[]);
    let c = comments(&tshark, &out);
    let holes: Vec<&String> =
        c.iter().filter(|c| c.contains("bytes before this segment were never captured")).collect();
    assert_eq!(holes.len(), 1, "{holes:?}");
    // The 7th data segment was dropped: the hole is in round 3, as the lab file says.
    assert!(holes[0].starts_with("conn 1 (HTTP response, slow start round 3): 1460 bytes [1460 bytes"), "{}", holes[0]);
    let retrans = c.iter().filter(|c| c.contains(": retransmission: ")).count();
    let wireshark = tshark_lines(
        &tshark,
        &out,
        &["-Y", "tcp.analysis.retransmission || tcp.analysis.fast_retransmission || tcp.analysis.out_of_order"],
    );
    assert_eq!(retrans, wireshark.len());
    assert!(retrans >= 1);
}

/// Frames that are not IP are kept and commented; an unreadable file exits 2 naming it.
#[test]
fn strange_and_bad_input() {
    let Some(tshark) = tshark() else { return };
    let dir = tempfile::tempdir().unwrap();
    let arp = [
        [0xff; 6].as_slice(),
        &[2, 0, 0, 0, 0, 1],
        &[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2],
    ]
    .concat();
    let input = dir.path().join("arp.pcap");
    let frames =
        vec![(Duration::from_secs(1_700_000_000), arp.clone()), (Duration::from_secs(1_700_000_001), vec![0u8; 3])];
    write_pcap(&input, 1, &[], &frames, false);
    let out = dir.path().join("arp-annotated.pcapng");
    let t = annotate_json(&input, &out, &[]);
    assert_eq!(t["scenarios"].as_array().unwrap().len(), 0);
    assert_eq!(comments(&tshark, &out), ["ARP", "frame ends inside its Ethernet header"]);

    let unknown = dir.path().join("usb.pcap");
    write_pcap(&unknown, 189, &[], &frames[..1], false);
    let out = dir.path().join("usb-annotated.pcapng");
    annotate_json(&unknown, &out, &[]);
    assert_eq!(comments(&tshark, &out), ["link type 189 is not one wirelab reads"]);

    let reference = std::fs::read(format!("{REFERENCE}/handshake-fresh-tls13.pcapng")).unwrap();
    let cut = dir.path().join("cut.pcapng");
    std::fs::write(&cut, &reference[..reference.len() / 2 + 3]).unwrap();
    let cut_pcap = dir.path().join("cut.pcap");
    write_pcap(&cut_pcap, 1, &[], &frames[..2], false);
    let whole = std::fs::read(&cut_pcap).unwrap();
    std::fs::write(&cut_pcap, &whole[..whole.len() - 5]).unwrap();
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, b"hello, this is not a capture\n").unwrap();
    let same = dir.path().join("same.pcap");
    write_pcap(&same, 1, &[], &frames[..1], false);
    for (input, out, says) in [
        (&cut, None, "was cut short"),
        (&cut_pcap, None, "unreadable after 1 frame(s): it ends partway through a frame or header"),
        (&empty, None, "the file is empty"),
        (&text, None, "not a pcap or pcapng file"),
        (&dir.path().join("missing.pcap"), None, "missing.pcap"),
        (&same, Some(&same), "is the input"),
    ] {
        let mut cmd = wirelab();
        cmd.arg("annotate").arg(input);
        if let Some(o) = out {
            cmd.arg("-o").arg(o);
        }
        let o = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: {stderr}", input.display());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{}: {stderr}", input.display());
    }
    assert!(!dir.path().join("cut-annotated.pcapng").exists(), "a failed run leaves no output");
}

/// `--emit-lab` turns a capture's path into a lab: replaying slow-start's one-loss capture puts
/// the loss on the same segment and gives the same phases, to the µs; a bottleneck's rate is
/// read from the spacing of back-to-back segments.
#[test]
fn an_emitted_lab_replays_the_captured_path() {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("replay.toml");
    let input = PathBuf::from(format!("{REFERENCE}/slow-start-one-loss.pcapng"));
    annotate_json(&input, &dir.path().join("a.pcapng"), &["--emit-lab", lab.to_str().unwrap()]);
    let text = std::fs::read_to_string(&lab).unwrap();
    assert!(
        text.contains("[[scenario.drop]]\nfrom = \"server\"\nto = \"client\"\npacket = \"data\"\nnth = 7"),
        "{text}"
    );
    assert_eq!(text.matches("[[scenario.drop]]").count(), 1, "{text}");
    assert!(!text.contains("\nrate ="), "no bottleneck on the reference path: {text}");
    let out = dir.path().join("run");
    let o = wirelab().arg("run").arg(&lab).arg("--out").arg(&out).arg("--pictures").arg("none").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let replay = common::lab_timeline(&out, "replay");
    let original: Value =
        serde_json::from_slice(&std::fs::read(format!("{REFERENCE}/slow-start.json")).unwrap()).unwrap();
    let original = common::scenario(&original, "one-loss");
    let replay = common::scenario(&replay, "as-captured");
    assert_eq!(phase_times(replay), phase_times(original));
    assert_eq!(replay["metrics"]["retransmissions"], original["metrics"]["retransmissions"]);

    // A 10 Mbit/s bottleneck at 29 ms: 1500 bytes every 1.2 ms.
    let run = dir.path().join("rate");
    common::run_lab_any_exit(
        "slow-start",
        &run,
        &["--scenario", "smoltcp-fresh", "--link", "delay 14500us rate 10mbit limit 1000", "--pictures", "none"],
    );
    let lab = dir.path().join("rate.toml");
    let t = annotate_json(
        &run.join("slow-start-smoltcp-fresh.pcapng"),
        &dir.path().join("b.pcapng"),
        &["--emit-lab", lab.to_str().unwrap()],
    );
    let text = std::fs::read_to_string(&lab).unwrap();
    assert!(text.contains("rate = \"10000kbit\""), "{text}");
    let rtt = t["scenarios"][0]["metrics"]["rtt_ms"].as_f64().unwrap();
    // 29 ms, plus the SYN's and SYN/ACK's serialization at 10 Mbit/s (52 bytes: 41.6 µs each).
    assert!((29.0..29.1).contains(&rtt), "{rtt}");
}

/// Without a connection whose handshake was captured there is nothing to replay: exit 2.
#[test]
fn emit_lab_needs_a_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("udp.pcap");
    let mut udp = Vec::new();
    etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(1, 2).write(&mut udp, b"x").unwrap();
    write_pcap(&input, 101, &[], &[(Duration::from_secs(1_700_000_000), udp)], false);
    let o = wirelab().arg("annotate").arg(&input).arg("--emit-lab").arg(dir.path().join("x.toml")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no connection with a whole handshake"));
}

/// The segments of a connection's first response are named by slow-start round, and the
/// rounds are those the lab measured: 10, 20, 40 and 68 segments at IW10 (one-loss: smoltcp's
/// Reno, 21 rounds).
#[test]
fn slow_start_rounds_are_named_as_the_lab_counts_them() {
    let Some(tshark) = tshark() else { return };
    let dir = tempfile::tempdir().unwrap();
    let t: Value = serde_json::from_slice(&std::fs::read(format!("{REFERENCE}/slow-start.json")).unwrap()).unwrap();
    for scenario in ["iw10-fresh", "one-loss"] {
        let out = dir.path().join(format!("{scenario}.pcapng"));
        annotate_json(Path::new(&format!("{REFERENCE}/slow-start-{scenario}.pcapng")), &out, &[]);
        let mut counts: Vec<u64> = Vec::new();
        for c in comments(&tshark, &out) {
            if let Some(n) = c.split(", slow start round ").nth(1).and_then(|r| r.split(')').next()) {
                let n: usize = n.parse().unwrap();
                if counts.len() < n {
                    counts.resize(n, 0);
                }
                counts[n - 1] += 1;
            }
        }
        let want: Vec<u64> = common::scenario(&t, scenario)["rounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["segments"].as_u64().unwrap())
            .collect();
        assert_eq!(counts, want, "{scenario}");
    }
}

/// A lost SYN is sent again after the retransmission timeout (1 s): the handshake phase holds
/// that second, but the round trip is measured from the SYN that got through (29 ms, not 1029).
#[test]
fn a_lost_syn_does_not_count_in_the_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let lab = include_str!("../labs/slow-start.toml").replacen(
        "steps = [\n  { step = \"connect\", to = \"server\", port = 80 },",
        "drop = [{ from = \"client\", to = \"server\", packet = \"syn\", nth = 1 }]\nsteps = [\n  { step = \"connect\", to = \"server\", port = 80 },",
        1,
    );
    let file = dir.path().join("lab.toml");
    std::fs::write(&file, lab).unwrap();
    let o = wirelab()
        .arg("run")
        .arg(&file)
        .args(["--scenario", "iw10-fresh", "--rtt", "29ms", "--pictures", "none", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&o.stderr));
    let t = annotate_json(&run.join("slow-start-iw10-fresh.pcapng"), &dir.path().join("a.pcapng"), &[]);
    let conn = &t["scenarios"][0];
    assert_eq!(conn["metrics"]["rtt_ms"].as_f64(), Some(29.0));
    let handshake = phase_times(conn).into_iter().find(|p| p.0 == "tcp_handshake").unwrap();
    assert_eq!(handshake.2 - handshake.1, 1029.0, "the phase holds the retransmission timeout");
}
