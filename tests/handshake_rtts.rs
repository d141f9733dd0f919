//! The handshake lab's phases, in round trips, at several RTTs — through the library API.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use wirelab::runner::run_scenario;
use wirelab::script::plan::{plan, Overrides};
use wirelab::script::Lab;
use wirelab::timeline::{Phase, Scenario};

const FRESH: [&str; 2] = ["fresh-tls13", "fresh-tls12"];
const NEW_TCP: [&str; 4] = ["fresh-tls13", "fresh-tls12", "resumed-tls13", "zero-rtt"];
const DNS_CACHED: [&str; 3] = ["pooled", "resumed-tls13", "zero-rtt"];

/// Runs every virtual-time scenario of the handshake lab (or only `only`) with seed 1.
fn run(overrides: &Overrides, only: Option<&str>) -> Vec<Scenario> {
    let lab = Lab::load("handshake").expect("the built-in handshake lab loads");
    let mut out = Vec::new();
    for (i, name) in lab.scenario_names().iter().enumerate() {
        if only.is_some_and(|o| o != *name) {
            continue;
        }
        let p = plan(&lab, i, overrides).unwrap_or_else(|e| panic!("plan {name}: {e}"));
        if !p.kernel.is_empty() {
            continue; // kernel-curl runs on the wall clock only (tests/realtime.rs)
        }
        out.push(run_scenario(&p, 1).unwrap_or_else(|e| panic!("run {name}: {e:#}")).timeline);
    }
    assert!(!out.is_empty(), "no scenario ran");
    out
}

fn phase<'a>(s: &'a Scenario, id: &str) -> &'a Phase {
    s.phase(id).unwrap_or_else(|| panic!("{}: no `{id}` phase in {:?}", s.name, s.phases))
}

fn rtts(s: &Scenario, id: &str) -> f64 {
    phase(s, id).rtts.unwrap_or_else(|| panic!("{}: `{id}` has no rtts", s.name))
}

/// `value` equals `expected` as the timeline shows it (two decimals).
fn assert_rtts(s: &Scenario, id: &str, expected: f64, rtt_ms: u64) {
    let got = rtts(s, id);
    assert!((got - expected).abs() < 0.005, "RTT {rtt_ms} ms, {}: {id}.rtts = {got}, expected {expected:.2}", s.name);
}

#[test]
fn phases_in_round_trips_at_every_rtt() {
    for rtt_ms in [10, 80, 150, 300] {
        let overrides = Overrides { rtt: Some(Duration::from_millis(rtt_ms)), ..Default::default() };
        let scenarios = run(&overrides, None);
        let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["fresh-tls13", "fresh-tls12", "pooled", "resumed-tls13", "zero-rtt"]);

        for s in &scenarios {
            let at = format!("RTT {rtt_ms} ms, {}", s.name);
            assert_eq!(s.error, None, "{at}: error");
            for e in &s.expectations {
                assert!(e.ok, "{at}: expectation `{}` failed (measured {:?})", e.check, e.measured);
            }
            assert_rtts(s, "http_request", 1.0, rtt_ms);

            if NEW_TCP.contains(&s.name.as_str()) {
                assert_rtts(s, "tcp_handshake", 1.0, rtt_ms);
                let tls = if s.name == "fresh-tls12" { 2.0 } else { 1.0 };
                assert_rtts(s, "tls_handshake", tls, rtt_ms);
                // 200 KB from an initial window of 10 segments: 10, 20, 40, 80 segments.
                // Exception: at 10 ms the RTT equals smoltcp's 10 ms delayed-ACK timer. In
                // zero-rtt the server's first flight carries the handshake and the response
                // together (an odd segment count), the last segment's ACK waits a whole RTT,
                // the window lags one segment per round and the last byte needs a 5th flight.
                if rtt_ms == 10 && s.name == "zero-rtt" {
                    assert_rtts(s, "http_response", 4.0, rtt_ms);
                } else {
                    assert_rtts(s, "http_response", 3.0, rtt_ms);
                }
            } else {
                assert!(s.phase("tcp_handshake").is_none(), "{at}: a pooled connection has no TCP handshake");
                assert!(s.phase("tls_handshake").is_none(), "{at}: a pooled connection has no TLS handshake");
            }

            let dns = phase(s, "dns");
            if FRESH.contains(&s.name.as_str()) {
                assert!(dns.duration_ms() > Some(0.0), "{at}: a cold DNS lookup took {:?} ms", dns.duration_ms());
                assert!(dns.first_frame.is_some() && dns.last_frame.is_some(), "{at}: cold DNS lookup has no frames");
            } else {
                assert!(DNS_CACHED.contains(&s.name.as_str()));
                assert_eq!(dns.duration_ms(), Some(0.0), "{at}: a cached DNS lookup takes no time");
                assert_eq!((dns.first_frame, dns.last_frame), (None, None), "{at}: a cached DNS lookup sends nothing");
            }
        }

        let pooled = scenarios.iter().find(|s| s.name == "pooled").unwrap();
        let total = pooled.metrics.get("total_rtts").copied();
        assert!(total.is_some_and(|t| (t - 1.0).abs() < 0.005), "RTT {rtt_ms} ms, pooled: total_rtts = {total:?}");

        let zero = scenarios.iter().find(|s| s.name == "zero-rtt").unwrap();
        let (tls, req) = (phase(zero, "tls_handshake"), phase(zero, "http_request"));
        assert_eq!(req.start_ms, tls.start_ms, "RTT {rtt_ms} ms: 0-RTT request is sent with the ClientHello");
        assert_rtts(zero, "http_request", 1.0, rtt_ms);
        assert_eq!(zero.metrics.get("zero_rtt_accepted"), Some(&1.0), "RTT {rtt_ms} ms: 0-RTT accepted");
    }
}

#[test]
fn smoltcp_congestion_control_ramps_up_slower_than_iw10() {
    let iw = run(&Overrides::default(), Some("fresh-tls13")).remove(0);
    let set = vec![("cc".to_string(), "smoltcp".to_string())];
    let smol = run(&Overrides { set, ..Default::default() }, Some("fresh-tls13")).remove(0);
    assert_eq!(smol.error, None);
    assert!(smol.congestion.contains("smoltcp"), "congestion = {:?}", smol.congestion);
    assert_ne!(smol.congestion, iw.congestion, "--set cc=smoltcp did not change the congestion control");
    let (a, b) = (rtts(&iw, "http_response"), rtts(&smol, "http_response"));
    assert!(b > a, "http_response: smoltcp's 2 KB initial window took {b} RTTs, IW10 {a} RTTs");
}

#[test]
fn total_loss_stops_at_the_time_limit_naming_the_stuck_step() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let overrides = Overrides {
            link: Some("loss 100%".into()),
            set: vec![("time_limit".into(), "5s".into())],
            ..Default::default()
        };
        let _ = tx.send(run(&overrides, None));
    });
    let scenarios = rx.recv_timeout(Duration::from_secs(120)).expect("a run over a dead link did not end (hang)");
    assert_eq!(scenarios.len(), 5);
    for s in &scenarios {
        let error = s.error.as_deref().unwrap_or_else(|| panic!("{}: no error over a 100% lossy link", s.name));
        assert!(
            error.contains("TCP handshake") || error.contains("DNS"),
            "{}: the error does not name the stuck step: {error}",
            s.name
        );
        assert!(!s.passed(), "{}: passed over a dead link", s.name);
    }
}

/// A run that did not finish exits 1 and says why on stderr, in one line: which scenarios did
/// not finish and which checks did not hold.
#[test]
fn a_failed_run_says_why_on_stderr() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = common::wirelab()
        .args(["run", "handshake", "--scenario", "pooled", "--loss", "100%", "--set", "time_limit=5s", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("1 of 1 scenarios did not finish (pooled)"), "{stderr}");
    assert!(lines[0].contains("1 check(s) did not hold: pooled: dns.ms == 0 (not measured)"), "{stderr}");
    // The RTT check holds only on a lossless path: skipped here, not counted as failed.
    assert!(!lines[0].contains("http_request.rtts"), "{stderr}");
}

/// Theory figures follow the settings that ran, and sit beside the measurements in the JSON;
/// the teaching text's worked example is quoted where it differs.
#[test]
fn theory_follows_the_settings_that_ran() {
    for (rtt, size, slow_start, fresh) in
        [("150ms", "200KB", 3.0, 6.0), ("29ms", "14KB", 0.0, 3.0), ("530ms", "100KB", 2.0, 5.0)]
    {
        let dir = tempfile::TempDir::new().unwrap();
        common::run_lab("handshake", dir.path(), &["--rtt", rtt, "--set", &format!("response_size={size}")]);
        let t = common::timeline(dir.path());
        let rows = t["theory"].as_array().expect("theory rows in the JSON");
        let row = |claim: &str| rows.iter().find(|r| r["claim"].as_str().unwrap().starts_with(claim)).unwrap();
        for (r, want) in [(row("Slow start"), slow_start), (row("Fresh connection, DNS cached"), fresh)] {
            assert_eq!(r["theory"].as_f64(), Some(want), "{rtt} {size}: {r}");
            assert_eq!(r["measured"].as_f64(), Some(want), "{rtt} {size}: measured on the wire: {r}");
            assert_eq!(r["unit"], "rtts");
            assert!(r["source"].as_str().unwrap().contains("doubling"), "{r}");
        }
        // The text's worked example (5 RTTs at 150 ms, 200 KB) is quoted where the figure differs.
        let text = &row("Fresh connection, DNS cached")["text"];
        if fresh == 5.0 {
            assert!(text.is_null(), "{text}");
        } else {
            assert!(text.as_str().unwrap().contains("750 ms"), "the text's example is quoted: {text}");
        }
    }
}

/// An RTT check under jitter holds within a tolerance that follows the jitter, and says so:
/// 2 ms of jitter each way at 150 ms makes a one-RTT handshake 0.97 to 1.03 RTTs.
#[test]
fn rtt_checks_under_jitter_follow_the_jitter() {
    let dir = tempfile::TempDir::new().unwrap();
    common::run_lab("handshake", dir.path(), &["--link", "delay 75ms 2ms", "--scenario", "fresh-tls13"]);
    let t = common::timeline(dir.path());
    let s = common::scenario(&t, "fresh-tls13");
    let check = s["expectations"].as_array().unwrap().iter().find(|e| e["check"] == "tcp_handshake.rtts == 1").unwrap();
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["tolerance"].as_f64(), Some(0.032), "0.005 + 4 ms / 150 ms: {check}");
    // Without jitter the check is exact, and says no tolerance.
    let dir = tempfile::TempDir::new().unwrap();
    common::run_lab("handshake", dir.path(), &["--scenario", "fresh-tls13"]);
    let t = common::timeline(dir.path());
    let e = &common::scenario(&t, "fresh-tls13")["expectations"][0];
    assert!(e.get("tolerance").is_none(), "{e}");
}
