//! Scheduled events on a small lab of its own: a path cut and restored, counted from a step's
//! start (`after`), and a host that goes down rejecting and comes back. Each event is a row of
//! the timeline and a note in the capture; what a cut path drops says so, and only in the
//! cut's window; a bad event is refused naming its field.

mod common;

use std::path::Path;

use common::{lab_timeline, run_lab, scenario, tshark, tshark_lines};

const LAB: &str = r#"
name = "cut"
[params]
rtt = "29ms"
mode = "reject"
[link]
rtt = "${rtt}"
[[host]]
name = "client"
addr = "10.0.0.1"
role = "client"
[[host]]
name = "web"
addr = "10.0.0.2"
[[host.service]]
handler = "bytes"
[[scenario]]
name = "cut"
steps = [{ step = "idle", duration = "1s" }, { step = "workload", to = "web", requests = 30, rate = 10, pool = 0 }]
[[scenario.event]]
after = 2
at = "1s"
path = ["client", "web"]
state = "down"
[[scenario.event]]
after = 2
at = "1.5s"
path = ["client", "web"]
state = "up"
[[scenario]]
name = "change"
steps = [{ step = "workload", to = "web", requests = 60, rate = 12, pool = 0 }]
[[scenario.event]]
at = "1s"
path = ["client", "web"]
netem = "delay 100ms"
[[scenario.event]]
at = "2.5s"
path = ["client", "web"]
up = "delay 30ms"
[[scenario.event]]
at = "4s"
path = ["client", "web"]
netem = ""
[[scenario]]
name = "restart"
steps = [{ step = "workload", to = "web", requests = 40, rate = 20, pool = 0 }]
[[scenario.event]]
at = "0.5s"
host = "web"
state = "down"
mode = "${mode}"
[[scenario.event]]
at = "1.2s"
host = "web"
state = "up"
"#;

fn lab(dir: &Path) -> String {
    let path = dir.join("cut.toml");
    std::fs::write(&path, LAB).unwrap();
    path.to_str().unwrap().to_string()
}

/// Virtual seconds of a `frame.time_epoch` field.
fn at(epoch: &str) -> f64 {
    epoch.parse::<f64>().unwrap() - wirelab::capture::DEFAULT_EPOCH_UNIX_MICROS as f64 / 1e6
}

#[test]
fn a_cut_counted_from_a_step_drops_only_in_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run_lab(&lab(dir.path()), &out, &["--scenario", "cut", "--pictures", "none"]);
    let t = lab_timeline(&out, "cut");
    let s = scenario(&t, "cut");
    let events = s["events"].as_array().unwrap();
    let rows: Vec<(f64, &str)> =
        events.iter().map(|e| (e["at_ms"].as_f64().unwrap(), e["kind"].as_str().unwrap())).collect();
    // Step 2 starts when the 1 s idle ends: the cut is 1 s after that, the repair 1.5 s.
    assert_eq!(rows, [(2000.0, "path_down"), (2500.0, "path_up")]);
    // The requests caught by the cut were retried by TCP and answered.
    assert_eq!(s["metrics"]["failed_requests"].as_f64(), Some(0.0));
    let Some(tshark) = tshark() else { return };
    let file = out.join("cut-cut.pcapng");
    let lines = tshark_lines(
        &tshark,
        &file,
        &["-T", "fields", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "frame.comment"],
    );
    let mut cut = 0;
    for l in &lines {
        let f: Vec<&str> = l.split('\t').collect();
        let (t, src, comment) = (at(f[0]), f[1], f.get(2).copied().unwrap_or(""));
        let marked = comment.contains("the path is cut (event: the path client–web is cut)");
        let sent_in_cut = src == "10.0.0.1" && (2.0..2.5).contains(&t);
        assert_eq!(marked, sent_in_cut, "frame at {t} from {src}: {comment}");
        cut += usize::from(marked);
    }
    assert!(cut > 0, "nothing was sent during the cut");
    // The first frame at or after each event names it.
    for e in events {
        let n = e["first_frame"].as_u64().unwrap() as usize;
        assert!(lines[n - 1].contains(&format!("EVENT at {:.3} s", e["at_ms"].as_f64().unwrap() / 1000.0)));
    }
}

#[test]
fn a_host_that_rejects_then_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run_lab(&lab(dir.path()), &out, &["--scenario", "restart", "--pictures", "none"]);
    let t = lab_timeline(&out, "cut");
    let s = scenario(&t, "restart");
    let kinds: Vec<&str> = s["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["host_down", "host_up"]);
    let Some(tshark) = tshark() else { return };
    let file = out.join("cut-restart.pcapng");
    let resets = tshark_lines(
        &tshark,
        &file,
        &[
            "-Y",
            "ip.src == 10.0.0.2 && tcp.flags.reset == 1",
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.comment",
        ],
    );
    assert!(!resets.is_empty(), "the rejecting host sent no reset");
    for r in &resets {
        let (t, comment) = r.split_once('\t').unwrap();
        // Sent while it was down (answering arrives one way later: up to 14.5 ms after).
        assert!((0.5..1.2145).contains(&at(t)), "a reset at {}", at(t));
        assert!(
            comment.contains("web is down and rejects (event: web goes down (rejects what it is sent))"),
            "{comment}"
        );
    }
    // After it came back, requests are answered again.
    let ok_after = tshark_lines(
        &tshark,
        &file,
        &["-Y", "ip.src == 10.0.0.2 && http.response.code == 200", "-T", "fields", "-e", "frame.time_epoch"],
    );
    assert!(ok_after.iter().any(|l| at(l) > 1.2), "no answer after the host came back");
}

#[test]
fn a_bad_event_is_refused_naming_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path());
    let cases: [(&str, &str, &str); 3] = [
        ("after = 2", "after = 3", "after: step 3, but the scenario has 2 steps (allowed: 1 to 2)"),
        ("state = \"down\"\n", "state = \"sideways\"\n", "state: `sideways` is not allowed (allowed: down, up)"),
        ("path = [\"client\", \"web\"]", "path = [\"client\", \"nowhere\"]", "unknown host `nowhere`"),
    ];
    for (from, to, expected) in cases {
        let text = LAB.replacen(from, to, 1);
        std::fs::write(&lab, text).unwrap();
        let out = common::wirelab().args(["run", &lab, "--out"]).arg(dir.path().join("x")).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {err}");
        assert!(err.contains("event[1]") && err.contains(expected), "{to}: {err}");
    }
}

/// A path's settings change on schedule, and back: each connection's handshake takes the
/// round trip of the settings in force (a packet takes the delay of the moment it is sent;
/// handshakes within 200 ms of a change may straddle it, and a packet never overtakes one sent
/// before it, so they are left out).
#[test]
fn a_path_changes_and_is_restored_on_schedule() {
    let Some(tshark) = tshark() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run_lab(&lab(dir.path()), &out, &["--scenario", "change", "--pictures", "none"]);
    let t = lab_timeline(&out, "cut");
    let s = scenario(&t, "change");
    let whats: Vec<&str> = s["events"].as_array().unwrap().iter().map(|e| e["what"].as_str().unwrap()).collect();
    assert_eq!(
        whats,
        [
            "the path client–web changes: delay 100ms",
            "the path client–web changes: up: delay 30ms",
            "the path client–web changes: as set"
        ]
    );
    // SYN sent -> SYN/ACK received, per connection, for handshakes well inside each window
    // (the first 200 ms after a change may straddle it).
    let file = out.join("cut-change.pcapng");
    let syn = tshark_lines(
        &tshark,
        &file,
        &[
            "-Y",
            "tcp.flags.syn == 1",
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "tcp.stream",
            "-e",
            "tcp.flags.ack",
        ],
    );
    let mut sent = std::collections::HashMap::new();
    let mut checked = [0; 4];
    for l in &syn {
        let f: Vec<&str> = l.split('\t').collect();
        let (time, stream, ack) = (at(f[0]), f[1].to_string(), f[2] == "True" || f[2] == "1");
        if !ack {
            sent.insert(stream, time);
            continue;
        }
        let Some(&s0) = sent.get(&stream) else { continue };
        let rtt = ((time - s0) * 1e6).round() / 1e3;
        // The words apply on top of the path as the lab sets it (14.5 ms each way), not on
        // top of the previous change: `up` alone changes only client -> web.
        let (window, expected) = match s0 {
            x if x < 0.8 => (0, 29.0),
            x if (1.2..2.3).contains(&x) => (1, 200.0),
            x if (2.7..3.8).contains(&x) => (2, 30.0 + 14.5),
            x if x >= 4.2 => (3, 29.0),
            _ => continue,
        };
        assert_eq!(rtt, expected, "SYN of stream {stream} at {s0}");
        checked[window] += 1;
    }
    assert!(checked.iter().all(|&n| n >= 3), "handshakes checked per window: {checked:?}");
}
