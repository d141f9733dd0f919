//! The captures as Wireshark sees them: every frame commented, handshakes dissected, HTTP
//! decrypted from the embedded keys, no malformed packets; plus the key logs and the JSON.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// One run of all scenarios with default settings, shared by the tests of this file.
fn out_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("captures_tshark");
        let _ = std::fs::remove_dir_all(&dir);
        common::run_handshake(&dir, &[]);
        dir
    })
}

fn captures() -> Vec<PathBuf> {
    let list: Vec<PathBuf> =
        common::files_in(out_dir()).into_keys().filter(|n| n.ends_with(".pcapng")).map(|n| out_dir().join(n)).collect();
    assert_eq!(list.len(), 5, "expected one capture per scenario, got {list:?}");
    list
}

/// Whether tshark can run; without it the tests skip, except under CI.
fn have_tshark() -> bool {
    if Command::new("tshark").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "tshark is not installed, and CI must run the capture tests");
    println!("skipping: tshark not installed (scripts/test installs it)");
    false
}

/// tshark's stdout for `args`, asserting it succeeded.
fn tshark(args: &[&str]) -> String {
    let output = Command::new("tshark").args(args).output().expect("cannot start tshark");
    assert!(output.status.success(), "tshark {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("tshark printed non-UTF-8")
}

/// The frame numbers in `file` matching display filter `filter`.
fn frames(file: &Path, filter: &str) -> Vec<u64> {
    tshark(&["-r", file.to_str().unwrap(), "-Y", filter, "-T", "fields", "-e", "frame.number"])
        .lines()
        .map(|l| l.trim().parse().unwrap_or_else(|_| panic!("not a frame number: {l:?}")))
        .collect()
}

fn name(file: &Path) -> String {
    file.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_frame_has_a_comment() {
    if !have_tshark() {
        return;
    }
    let timeline = common::timeline(out_dir());
    for f in captures() {
        let text = tshark(&["-r", f.to_str().unwrap(), "-T", "fields", "-e", "frame.number", "-e", "frame.comment"]);
        let mut count = 0;
        for line in text.lines() {
            count += 1;
            let (number, comment) = line.split_once('\t').unwrap_or((line, ""));
            assert!(!comment.trim().is_empty(), "{}: frame {number} has no comment", name(&f));
        }
        let scenario = name(&f).trim_start_matches("handshake-").trim_end_matches(".pcapng").to_string();
        let expected = common::scenario(&timeline, &scenario)["metrics"]["frames"].as_f64();
        assert_eq!(Some(count as f64), expected, "{}: frame count vs metrics.frames", name(&f));
    }
}

#[test]
fn tcp_and_tls_handshakes_are_dissected() {
    if !have_tshark() {
        return;
    }
    for f in captures() {
        for filter in ["tcp.flags.syn==1 && tcp.flags.ack==0", "tls.handshake.type==1", "tls.handshake.type==2"] {
            assert!(!frames(&f, filter).is_empty(), "{}: no frame matches `{filter}`", name(&f));
        }
    }
}

#[test]
fn http_is_decrypted_with_the_embedded_keys() {
    if !have_tshark() {
        return;
    }
    for f in captures() {
        for filter in ["http.request", "http.response.code==200"] {
            assert!(!frames(&f, filter).is_empty(), "{}: no frame matches `{filter}` (decryption?)", name(&f));
        }
    }
}

#[test]
fn no_malformed_packets_or_expert_errors() {
    if !have_tshark() {
        return;
    }
    let checksums = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"];
    for f in captures() {
        let file = f.to_str().unwrap();
        // With no errors, `-z expert,error` prints nothing; errors come as an "Errors (N)" table.
        let mut args = vec!["-r", file, "-q", "-z", "expert,error"];
        args.extend_from_slice(&checksums);
        let report = tshark(&args);
        for bad in ["Errors", "Malformed", "checksum", "Checksum"] {
            assert!(!report.contains(bad), "{}: `-z expert,error` reports {bad:?}:\n{report}", name(&f));
        }
        let filter = "_ws.malformed || _ws.expert.severity==error \
                      || ip.checksum.status==0 || tcp.checksum.status==0 || udp.checksum.status==0";
        let mut args = vec!["-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number"];
        args.extend_from_slice(&checksums);
        let bad = tshark(&args);
        assert!(bad.trim().is_empty(), "{}: malformed or erroneous frames: {bad}", name(&f));
    }
}

#[test]
fn key_logs_are_in_sslkeylogfile_format() {
    let is_hex = |s: &str, len: Option<usize>| {
        !s.is_empty()
            && s.len() % 2 == 0
            && s.bytes().all(|b| b.is_ascii_hexdigit())
            && len.is_none_or(|l| s.len() == l)
    };
    for f in captures() {
        let keys = f.with_extension("keys");
        let text = std::fs::read_to_string(&keys).unwrap_or_else(|e| panic!("{}: {e}", keys.display()));
        assert!(!text.trim().is_empty(), "{} is empty", keys.display());
        let mut labels = Vec::new();
        for line in text.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts.len(), 3, "{}: not `LABEL <client random> <secret>`: {line:?}", keys.display());
            assert!(is_hex(parts[1], Some(64)), "{}: client random is not 32 hex bytes: {line:?}", keys.display());
            assert!(is_hex(parts[2], None), "{}: secret is not hex: {line:?}", keys.display());
            labels.push(parts[0]);
        }
        let expected = if name(&f).contains("tls12") { "CLIENT_RANDOM" } else { "CLIENT_HANDSHAKE_TRAFFIC_SECRET" };
        assert!(labels.contains(&expected), "{}: no {expected} line in {labels:?}", keys.display());
    }
}

#[test]
fn timeline_json_points_at_the_captures() {
    let timeline = common::timeline(out_dir());
    assert_eq!(timeline["schema"], 1);
    assert_eq!(timeline["lab"], "handshake");
    assert_eq!(timeline["rtt_ms"].as_f64(), Some(150.0));
    let scenarios = timeline["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 5);
    for s in scenarios {
        let capture = s["capture"].as_str().expect("capture is a string");
        assert!(out_dir().join(capture).is_file(), "{}: capture {capture} does not exist", s["name"]);
    }

    if !have_tshark() {
        return;
    }
    let fresh = common::scenario(&timeline, "fresh-tls13");
    let tcp = fresh["phases"].as_array().unwrap().iter().find(|p| p["id"] == "tcp_handshake").expect("tcp_handshake");
    let file = out_dir().join(fresh["capture"].as_str().unwrap());
    let summary = |key: &str| {
        let n = tcp[key].as_u64().unwrap_or_else(|| panic!("tcp_handshake.{key} is {}", tcp[key]));
        tshark(&["-r", file.to_str().unwrap(), "-Y", &format!("frame.number=={n}")])
    };
    let (first, last) = (summary("first_frame"), summary("last_frame"));
    assert!(first.contains("[SYN]"), "tcp_handshake.first_frame is not the SYN: {first}");
    assert!(last.contains("[ACK]") && !last.contains("SYN"), "tcp_handshake.last_frame is not the ACK: {last}");
}

/// Packets take the phase of their own connection and content, not whichever phase is current:
/// the warm-up connection's last packets are not in the new connection's TCP handshake, and the
/// segment that carries the response's first bytes is the response's, not the request's.
#[test]
fn packets_belong_to_their_own_connection_and_content() {
    let Some(tshark) = common::tshark() else { return };
    let dir = tempfile::TempDir::new().unwrap();
    common::run_lab("handshake", dir.path(), &["--scenario", "resumed-tls13", "--scenario", "fresh-tls13"]);
    common::run_lab("slow-start", dir.path(), &["--scenario", "iw10-fresh", "--rtt", "29ms"]);
    // The warm-up connection's last ACK goes out during the new connection's TCP handshake: it
    // is the warm-up's close, and the handshake's frames are all on the new connection.
    let file = dir.path().join("handshake-resumed-tls13.pcapng");
    let fields = ["-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "frame.comment"];
    let rows = common::tshark_lines(&tshark, &file, &fields);
    let port_of = |row: &str| row.split('\t').take(2).filter(|p| *p != "443").collect::<String>();
    let handshake: std::collections::BTreeSet<String> =
        rows.iter().filter(|r| r.contains("\tTCP handshake")).map(|r| port_of(r)).collect();
    assert_eq!(handshake.len(), 1, "the TCP handshake's frames span connections: {rows:#?}");
    let warm_port = port_of(rows.iter().find(|r| r.contains("warm-up") && !port_of(r).is_empty()).unwrap());
    let after = rows.iter().skip_while(|r| !r.contains("\tTCP handshake")).filter(|r| port_of(r) == warm_port);
    assert!(after.clone().count() >= 1, "the warm-up connection has a packet during the new handshake");
    assert!(after.clone().all(|r| r.contains("warm-up: connection close")), "{:?}", after.collect::<Vec<_>>());
    for (file, filter) in [
        (dir.path().join("handshake-fresh-tls13.pcapng"), "http.response"),
        (dir.path().join("slow-start-iw10-fresh.pcapng"), "http.response"),
    ] {
        let comments = common::tshark_lines(&tshark, &file, &["-Y", filter, "-T", "fields", "-e", "frame.comment"]);
        assert_eq!(comments.len(), 1, "{}: one response", file.display());
        // Every frame the server sends after the GET is the response's, except the TLS 1.3
        // NewSessionTicket, which is TLS's own however late it comes.
        let fields = ["-Y", "tcp.srcport != 52362 && tcp.len > 0", "-T", "fields", "-e", "frame.comment"];
        let from_server = common::tshark_lines(&tshark, &file, &fields);
        let after_get =
            from_server.iter().skip_while(|c| !c.contains("HTTP/1.1 GET") && !c.starts_with("HTTP response"));
        for c in after_get {
            let ticket = c.contains("NewSessionTicket");
            assert!(
                if ticket {
                    c.starts_with("TLS 1.3 handshake (after the handshake)")
                } else {
                    c.starts_with("HTTP response")
                },
                "{}: a server frame after the request is labelled {c:?}",
                file.display()
            );
        }
        assert!(
            comments[0].starts_with("HTTP response"),
            "{}: the response's first segment is labelled {:?}",
            file.display(),
            comments[0]
        );
    }
}

/// Handshake message names as wirelab writes them, for tshark's `tls.handshake.type` codes.
fn handshake_name(code: &str) -> &'static str {
    match code {
        "1" => "ClientHello",
        "2" => "ServerHello",
        "4" => "NewSessionTicket",
        "5" => "EndOfEarlyData",
        "8" => "EncryptedExtensions",
        "11" => "Certificate",
        "12" => "ServerKeyExchange",
        "14" => "ServerHelloDone",
        "15" => "CertificateVerify",
        "16" => "ClientKeyExchange",
        "20" => "Finished",
        _ => "?",
    }
}

/// The handshake messages a comment names ("...: TLS ServerHello, ChangeCipherSpec,
/// EncryptedExtensions x2 [FIN/ACK]" -> ServerHello, EncryptedExtensions, EncryptedExtensions).
fn named_handshake_messages(comment: &str) -> Vec<String> {
    let Some(at) = comment.rfind(": TLS ").map(|i| i + 2) else { return Vec::new() };
    let list = comment[at + 4..].split(" [").next().unwrap_or("");
    let mut out = Vec::new();
    for item in list.split(", ") {
        let (name, times) = match item.rsplit_once(" x") {
            Some((n, k)) if k.parse::<usize>().is_ok() => (n, k.parse().unwrap()),
            _ => (item, 1),
        };
        if !matches!(name, "ChangeCipherSpec" | "Application Data") && !name.starts_with("Alert") {
            out.extend(std::iter::repeat_n(name.to_string(), times));
        }
    }
    out
}

/// wirelab names each frame's TLS handshake messages as Wireshark does after decrypting them
/// with the embedded keys (EncryptedExtensions, Certificate, CertificateVerify, Finished,
/// NewSessionTicket, EndOfEarlyData), and TLS 1.2's encrypted Finished by its position.
#[test]
fn tls_messages_are_named_as_wireshark_decrypts_them() {
    let Some(tshark) = common::tshark() else { return };
    let dir = tempfile::TempDir::new().unwrap();
    common::run_lab("handshake", dir.path(), &["--rtt", "29ms"]);
    let mut checked = 0;
    for file in common::files_in(dir.path()).into_keys().filter(|n| n.ends_with(".pcapng")) {
        let file = dir.path().join(file);
        let fields = [
            "-Y",
            "tls",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-e",
            "frame.number",
            "-e",
            "frame.comment",
            "-e",
            "tls.handshake.type",
        ];
        for row in common::tshark_lines(&tshark, &file, &fields) {
            let mut cols = row.split('\t');
            let (frame, comment) = (cols.next().unwrap_or(""), cols.next().unwrap_or(""));
            let theirs: Vec<String> = cols
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|c| !c.is_empty())
                .map(|c| handshake_name(c).to_string())
                .collect();
            assert_eq!(named_handshake_messages(comment), theirs, "{} frame {frame}: {comment:?}", file.display());
            checked += theirs.len();
        }
    }
    assert!(checked >= 40, "only {checked} handshake messages compared");
    let fresh = dir.path().join("handshake-fresh-tls13.pcapng");
    let comments = common::tshark_lines(&tshark, &fresh, &["-T", "fields", "-e", "frame.comment"]);
    assert!(
        comments
            .iter()
            .any(|c| c.starts_with("TLS 1.3 handshake (after the handshake)") && c.contains("NewSessionTicket")),
        "the server's tickets are labelled as TLS's own: {comments:#?}"
    );
}
