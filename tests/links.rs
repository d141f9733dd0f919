//! The link layer's newer faults through the binary, read back from the captures: a mahimahi
//! rate trace, an asymmetric path, a per-flow rule, netem's corrupt, and determinism.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// Virtual time zero in every capture, in seconds since the Unix epoch.
const EPOCH_SECS: u64 = 1_767_225_600;

/// A client and an HTTP server; `paths` goes where the paths are, `steps` into the one scenario.
fn lab(paths: &str, steps: &str) -> String {
    format!(
        r#"name = "links"
{paths}

[[host]]
name = "client"
addr = "10.0.0.1"
role = "client"

[[host]]
name = "server"
addr = "10.0.0.2"
role = "server"

[[scenario]]
name = "run"
steps = [{steps}]
"#
    )
}

const DOWNLOAD: &str = r#"{ step = "connect", to = "server", port = 80 }, { step = "request", size = "200KB" }"#;

/// Writes `text` as `lab.toml` in a temp dir with `labs/traces/` copied next to it, and returns
/// the dir and the lab's path.
fn write_lab(text: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let traces = dir.path().join("traces");
    std::fs::create_dir(&traces).unwrap();
    for name in ["bursty.trace", "handover.delay"] {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/traces").join(name);
        std::fs::copy(from, traces.join(name)).unwrap();
    }
    let path = dir.path().join("lab.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Runs the lab at `path` into `<its dir>/out` and returns that dir.
fn run(path: &Path, extra: &[&str]) -> PathBuf {
    let out = path.parent().unwrap().join("out");
    common::run_lab(path.to_str().unwrap(), &out, extra);
    out
}

/// tshark's fields for the frames `filter` selects in the scenario's capture (or `None`
/// without tshark), one `Vec` per frame.
fn fields(out: &Path, filter: &str, names: &[&str], prefs: &[&str]) -> Option<Vec<Vec<String>>> {
    let tshark = common::tshark()?;
    let mut args = vec!["-Y", filter, "-T", "fields", "-E", "separator=|"];
    for name in names {
        args.extend(["-e", name]);
    }
    args.extend_from_slice(prefs);
    let lines = common::tshark_lines(&tshark, &out.join("links-run.pcapng"), &args);
    Some(lines.into_iter().map(|l| l.split('|').map(str::to_string).collect()).collect())
}

/// `frame.time_epoch` as µs of virtual time.
fn micros(epoch: &str) -> u64 {
    let (secs, frac) = epoch.split_once('.').unwrap_or((epoch, "0"));
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    (secs.parse::<u64>().unwrap() - EPOCH_SECS) * 1_000_000 + frac.parse::<u64>().unwrap()
}

/// The delivery opportunities of `labs/traces/bursty.trace` up to `until` µs (it repeats every
/// 100 ms), with how many there are at each time.
fn opportunities(until: u64) -> std::collections::BTreeMap<u64, usize> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/traces/bursty.trace")).unwrap();
    let times: Vec<u64> = text.lines().map(|l| l.trim().parse::<u64>().unwrap() * 1000).collect();
    let period = *times.last().unwrap();
    let mut out = std::collections::BTreeMap::new();
    for cycle in 0..=until / period {
        for &t in &times {
            *out.entry(cycle * period + t).or_insert(0) += 1;
        }
    }
    out
}

#[test]
fn a_mahimahi_trace_sets_when_frames_arrive() {
    let paths = r#"[[path]]
between = ["client", "server"]
delay = "5ms"
down = "rate trace traces/bursty.trace""#;
    let (_dir, path) = write_lab(&lab(paths, DOWNLOAD));
    let out = run(&path, &[]);
    let filter = "ip.src == 10.0.0.2";
    let Some(frames) = fields(&out, filter, &["frame.time_epoch", "ip.len"], &[]) else { return };
    let arrivals: Vec<(u64, u64)> = frames.iter().map(|f| (micros(&f[0]), f[1].parse().unwrap())).collect();
    let last = arrivals.last().unwrap().0;
    let opportunities = opportunities(last);
    // Every frame from the server arrives 5 ms after a delivery opportunity of the trace, and
    // no opportunity carries more than 1500 bytes.
    let mut used: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
    for &(at, len) in &arrivals {
        let left = at - 5_000;
        assert!(opportunities.contains_key(&left), "a frame arrived at {at} us, 5 ms after no opportunity");
        *used.entry(left).or_insert(0) += len;
    }
    for (at, bytes) in &used {
        assert!(*bytes <= 1500 * opportunities[at] as u64, "{bytes} bytes left at {at} us");
    }
    let first: Vec<String> = arrivals.iter().take(12).map(|(at, len)| format!("{}ms/{len}B", at / 1000)).collect();
    println!("{} frames from the server, each 5 ms after an opportunity; first: {}", arrivals.len(), first.join(" "));
    // 200 KB is about 140 full-size segments: the slow half of the trace (one opportunity per
    // 2 ms) and the fast half (two per ms) both carry them.
    let full = arrivals.iter().filter(|&&(_, len)| len == 1500).count();
    assert!(full > 130, "{full} full-size frames");
    let phase = |at: u64| (at - 5_000) % 100_000;
    assert!(arrivals.iter().any(|&(at, len)| len == 1500 && phase(at) <= 50_000));
    assert!(arrivals.iter().any(|&(at, len)| len == 1500 && phase(at) > 50_000));
    // Back-to-back full-size frames in the fast half are 0 or 1 ms apart, in the slow half 2 ms.
    let gaps: BTreeSet<u64> = arrivals
        .windows(2)
        .filter(|w| w[0].1 == 1500 && w[1].1 == 1500 && phase(w[1].0) > 51_000)
        .map(|w| w[1].0 - w[0].0)
        .collect();
    assert!(gaps.iter().all(|g| *g <= 1_000 || *g >= 5_000), "fast-half gaps {gaps:?}");
}

/// The duration of the response phase and the median gap between consecutive full-size
/// frames from the server, in ms.
fn download(paths: &str) -> (f64, f64) {
    let (_dir, path) = write_lab(&lab(paths, DOWNLOAD));
    let out = run(&path, &[]);
    let timeline = common::lab_timeline(&out, "links");
    let phases = common::scenario(&timeline, "run")["phases"].as_array().unwrap().clone();
    let response = phases.iter().find(|p| p["id"] == "http_response").unwrap();
    let ms = response["end_ms"].as_f64().unwrap() - response["start_ms"].as_f64().unwrap();
    let Some(frames) = fields(&out, "ip.src == 10.0.0.2 && ip.len == 1500", &["frame.time_epoch"], &[]) else {
        return (ms, f64::NAN);
    };
    let times: Vec<u64> = frames.iter().map(|f| micros(&f[0])).collect();
    let mut gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    (ms, gaps[gaps.len() / 2] as f64 / 1000.0)
}

#[test]
fn an_asymmetric_path_has_its_two_rates() {
    // `up` is from the first host named in `between` to the second.
    let client_first = r#"[[path]]
between = ["client", "server"]
delay = "1ms"
up = "rate 2mbit"
down = "rate 8mbit""#;
    let server_first = client_first.replace(r#"["client", "server"]"#, r#"["server", "client"]"#);
    // In [link], `up` is what the client sends.
    let link = r#"[link]
delay = "1ms"
up = "rate 2mbit"
down = "rate 8mbit""#;
    let (fast, fast_gap) = download(client_first);
    let (slow, slow_gap) = download(&server_first);
    let (via_link, _) = download(link);
    println!(
        "200 KB download: {fast:.1} ms at 8 Mbit/s down, {slow:.1} ms at 2 Mbit/s; gaps {fast_gap} / {slow_gap} ms"
    );
    // Serialization dominates at 2 ms RTT: the times are in the ratio of the rates, 4.
    let ratio = slow / fast;
    assert!((3.6..4.2).contains(&ratio), "download times {fast} and {slow} ms: ratio {ratio}");
    assert_eq!(fast, via_link, "[link] up/down is the client's direction");
    if !fast_gap.is_nan() {
        // A 1500-byte packet is 1.5 ms at 8 Mbit/s and 6 ms at 2 Mbit/s.
        assert_eq!((fast_gap, slow_gap), (1.5, 6.0));
    }
}

#[test]
fn a_flow_rule_touches_only_its_flow() {
    let paths = r#"[[path]]
between = ["client", "server"]
delay = "10ms"

[[path.flow]]
match = "tcp port 443"
loss = "10%""#;
    let steps = r#"{ step = "connect", to = "server", port = 80 }, { step = "request", size = "200KB" }, { step = "close" },
  { step = "connect", to = "server", port = 443 }, { step = "tls", version = "1.3" }, { step = "request", size = "200KB" }"#;
    let (_dir, path) = write_lab(&lab(paths, steps));
    let out = run(&path, &["--seed", "3"]);
    let filter = "tcp.analysis.retransmission || tcp.analysis.fast_retransmission";
    let Some(frames) = fields(&out, filter, &["tcp.srcport", "tcp.dstport"], &[]) else { return };
    let on = |port: &str| frames.iter().filter(|f| f[0] == port || f[1] == port).count();
    println!("retransmissions: port 80 {}, port 443 {}", on("80"), on("443"));
    assert_eq!(on("80"), 0, "port 80 has no flow rule: no loss");
    assert!(on("443") > 0, "10% loss on port 443 shows as retransmissions");
    // The comments say which packets were lost, and all are on port 443.
    let lost =
        fields(&out, r#"frame.comment contains "LOST on the link""#, &["tcp.srcport", "tcp.dstport"], &[]).unwrap();
    assert!(lost.iter().all(|f| f[0] == "443" || f[1] == "443"), "{lost:?}");
}

#[test]
fn corrupt_shows_in_the_capture_commented_and_tshark_finds_no_error() {
    let paths = r#"[[path]]
between = ["client", "server"]
delay = "10ms"
netem = "corrupt 3%""#;
    let (_dir, path) = write_lab(&lab(paths, DOWNLOAD));
    let out = run(&path, &["--seed", "2"]);
    let Some(tshark) = common::tshark() else { return };
    let file = out.join("links-run.pcapng");
    let frames = fields(&out, "frame", &["frame.number", "frame.len", "frame.cap_len", "frame.comment"], &[]).unwrap();
    let with = |text: &str| -> BTreeSet<String> {
        frames.iter().filter(|f| f[3].contains(text)).map(|f| f[0].clone()).collect()
    };
    let received = with(
        "CORRUPTED on the path (netem corrupt; one bit of its TCP checksum flipped): \
         the receiver drops it on its checksum (headers kept): 1460 bytes",
    );
    let sent = with("CORRUPTED on the path after leaving (netem corrupt)");
    println!("corrupted: {} received, {} sent by the client", received.len(), sent.len());
    assert!(!received.is_empty() && !sent.is_empty(), "3% of ~200 packets each way: some are corrupted");
    // What the client received corrupted is cut to its headers; everything else is whole.
    let cut: BTreeSet<String> = frames.iter().filter(|f| f[1] != f[2]).map(|f| f[0].clone()).collect();
    assert_eq!(cut, received);
    assert!(frames.iter().filter(|f| received.contains(&f[0])).all(|f| f[1] == "1500" && f[2] == "40"));
    // No error items, with or without verifying checksums, and nothing malformed.
    let checks = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"];
    for prefs in [&[][..], &checks[..]] {
        let mut args = vec!["-q", "-z", "expert,error"];
        args.extend_from_slice(prefs);
        let expert = common::tshark_lines(&tshark, &file, &args).join("\n");
        assert!(!expert.contains("Errors") && !expert.contains("Malformed"), "{expert}");
        let bad = fields(&out, "_ws.malformed || _ws.expert.severity == error", &["frame.number"], prefs).unwrap();
        assert!(bad.is_empty(), "erroneous frames: {bad:?}");
    }
    // The download still completes: TCP resends what the receiver dropped.
    let timeline = common::lab_timeline(&out, "links");
    let phases = common::scenario(&timeline, "run")["phases"].as_array().unwrap().clone();
    assert!(phases.iter().any(|p| p["id"] == "http_response" && p["end_ms"].as_f64().is_some()));
}

#[test]
fn same_seed_same_bytes() {
    let paths = r#"[link]
delay = "5ms"
netem = "delay 5ms 2ms distribution paretonormal loss 10% 25% corrupt 2%"
down = "rate trace traces/bursty.trace"

[[path]]
between = ["client", "server"]
up = "delay trace traces/handover.delay rate 4mbit"

[[path.flow]]
match = "tcp dport 80"
loss = "5%""#;
    let (dir, path) = write_lab(&lab(paths, DOWNLOAD));
    let a = run(&path, &["--seed", "9"]);
    let first = common::files_in(&a);
    std::fs::rename(&a, dir.path().join("first")).unwrap();
    let second = common::files_in(&run(&path, &["--seed", "9"]));
    assert_eq!(first.keys().collect::<Vec<_>>(), second.keys().collect::<Vec<_>>());
    for (name, bytes) in &first {
        assert!(bytes == &second[name], "{name} differs between two runs with seed 9");
    }
    let third = common::files_in(&run(&path, &["--seed", "10"]));
    assert_ne!(first["links-run.pcapng"], third["links-run.pcapng"], "another seed, another run");
}
