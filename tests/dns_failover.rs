//! The dns-failover lab away from its defaults: the failover follows the TTL and the caches as
//! the theory bounds it, the resolver's copy read off its own capture explains the figure, a
//! black hole and a reject look as they should on the wire (silence and SYN retries, or
//! resets), every event is in the timeline and the capture, and the same seed gives the same
//! bytes.
//!
//! Virtual time is exact, so the bounds are exact: a client's last request to the dead address
//! is sent before its cache (or the resolver's copy) expires. The only slack is the request
//! interval: a client notices an expired cache at its next request.

mod common;

use std::path::Path;

use common::{lab_timeline, run_lab, scenario, tshark, tshark_lines};
use serde_json::Value;

/// Seconds of virtual time of a tshark `frame.time_epoch` field (captures are stamped from a
/// fixed epoch; the scenario's time 0 is the run's start here, the clients being its first step).
fn virtual_s(epoch: &str) -> f64 {
    epoch.parse::<f64>().unwrap() - wirelab::capture::DEFAULT_EPOCH_UNIX_MICROS as f64 / 1e6
}

/// The first tab-separated field of a tshark line, as virtual seconds.
fn at(line: &str) -> f64 {
    virtual_s(line.split('\t').next().unwrap())
}

fn metric(s: &Value, name: &str) -> f64 {
    s["metrics"][name].as_f64().unwrap_or_else(|| panic!("{}: no metric {name}: {}", s["name"], s["metrics"]))
}

fn run(out: &Path, scenarios: &str, set: &[&str], extra: &[&str]) -> Value {
    let mut args = Vec::new();
    for name in scenarios.split(',') {
        args.extend(["--scenario", name]);
    }
    for s in set {
        args.extend(["--set", s]);
    }
    args.extend(extra);
    run_lab("dns-failover", out, &args);
    lab_timeline(out, "dns-failover")
}

/// Clients that honour the TTL, at a TTL, a failure time and an interval that are not the
/// defaults: the failover is at most the TTL, and it is exactly when the resolver's copy of the
/// old answer ran out (within one request interval), as the resolver's own capture shows.
#[test]
fn the_failover_ends_when_the_resolvers_copy_expires() {
    let dir = tempfile::tempdir().unwrap();
    let set = ["ttl=17s", "fail_at=23s", "interval=700ms", "clients=6", "duration=60s", "rtt=29ms"];
    let t = run(dir.path(), "ttl-60", &set, &["--tap", "resolver"]);
    let s = scenario(&t, "ttl-60");
    let failover = metric(s, "failover_ms_max");
    let window = metric(s, "resolver_stale_window_ms");
    assert!(failover <= 17_000.0, "failover {failover} ms beyond the 17 s TTL");
    assert!(failover <= window && failover > window - 700.0, "failover {failover} ms, the resolver's copy {window} ms");
    // Every client went to the dead address until then, and none failed after it.
    assert_eq!(metric(s, "requests_to_dead"), metric(s, "failed_after_failure"));
    // The resolver's copy, from the wire: the last answer from the authority before the
    // failure, plus its TTL, is when the window ends.
    let Some(tshark) = tshark() else { return };
    let file = dir.path().join("dns-failover-ttl-60@resolver.pcapng");
    let answers = tshark_lines(
        &tshark,
        &file,
        &[
            "-Y",
            "dns.flags.response == 1 && ip.src == 10.0.2.53",
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "dns.a",
        ],
    );
    let times: Vec<f64> = answers.iter().map(|l| at(l)).collect();
    let last_before = times.iter().copied().filter(|&t| t <= 23.0).fold(f64::NAN, f64::max);
    assert!(last_before.is_finite(), "no answer from the authority before the failure: {answers:?}");
    let expected_window = (last_before + 17.0 - 23.0) * 1000.0;
    assert!((window - expected_window).abs() < 0.01, "window {window} ms, from the capture {expected_window} ms");
    // After the failure the authority answers with the standby.
    let after: Vec<&String> = answers.iter().filter(|l| at(l) > 23.0).collect();
    assert!(!after.is_empty() && after.iter().all(|l| l.ends_with("10.0.1.20")), "{after:?}");
}

/// A client cache that ignores the TTL decides: the failover goes past the TTL, up to the TTL
/// plus the cache's 30 s; a TTL-honouring fleet at the same TTL fails over within it.
#[test]
fn a_java_cache_outlives_a_short_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let set = ["ttl=3s", "fail_at=41s", "clients=10", "duration=80s"];
    let t = run(dir.path(), "java-cache,ttl-5", &set, &["--pictures", "none", "--capture", "none"]);
    let java = metric(scenario(&t, "java-cache"), "failover_ms_max");
    assert!(java > 3_000.0 && java <= 33_000.0, "java-cache failover {java} ms: expected in (3 s, 33 s]");
    let ttl = metric(scenario(&t, "ttl-5"), "failover_ms_max");
    assert!(ttl <= 3_000.0, "ttl-5 (here 3 s) failover {ttl} ms");
    // The TTL-honouring clients ask about once per TTL: 10 clients x 80 s / 3 s = 267, give or
    // take the whole seconds the resolver counts down and the interval a client takes to notice.
    let queries = metric(scenario(&t, "ttl-5"), "dns_queries");
    assert!((0.85 * 266.7..=1.15 * 266.7).contains(&queries), "{queries} queries");
}

/// A black hole is silence: no packet comes from the dead address after the failure, and each
/// connection attempt sends its SYN again after 1, 2, 4, 8, 16 and 32 s (the timer doubling
/// from 1 s, as Linux's), then after 60 s more (smoltcp caps the timer at 60 s where Linux's
/// last wait is 64 s with no 7th SYN), and the client gives up 127 s after the first SYN, as
/// Linux does. A reject is a reset to every SYN, one round trip later.
#[test]
fn black_hole_and_reject_on_the_wire() {
    let Some(tshark) = tshark() else { return };
    let dir = tempfile::tempdir().unwrap();
    let set = ["ttl=10s", "fail_at=10s", "clients=2", "duration=25s", "rtt=40ms"];
    let t = run(dir.path(), "blackhole,reject", &set, &["--pictures", "none"]);
    let fields = ["-T", "fields", "-e", "frame.time_epoch", "-e", "tcp.srcport", "-e", "tcp.flags.str"];
    let lines = |file: &Path, filter: &str| tshark_lines(&tshark, file, &[&["-Y", filter][..], &fields].concat());
    let bh = dir.path().join("dns-failover-blackhole.pcapng");
    let from_dead: Vec<String> = lines(&bh, "ip.src == 10.0.1.10").into_iter().filter(|l| at(l) > 10.0).collect();
    assert!(from_dead.is_empty(), "the black hole answered: {from_dead:?}");
    let to_dead = lines(&bh, "ip.dst == 10.0.1.10");
    let port = to_dead.iter().find(|l| at(l) >= 10.0).and_then(|l| l.split('\t').nth(1)).unwrap().to_string();
    let of_port: Vec<(f64, String)> = to_dead
        .iter()
        .filter(|l| l.split('\t').nth(1) == Some(port.as_str()))
        .map(|l| (at(l), l.split('\t').nth(2).unwrap_or("").to_string()))
        .collect();
    let syns: Vec<f64> = of_port.iter().filter(|(_, f)| f.contains('S') && !f.contains('A')).map(|(t, _)| *t).collect();
    let gaps: Vec<f64> = syns.windows(2).map(|w| ((w[1] - w[0]) * 1000.0).round() / 1000.0).collect();
    assert_eq!(gaps, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0], "SYNs of port {port} at {syns:?}");
    let reset = of_port.iter().find(|(_, f)| f.contains('R')).map(|(t, _)| *t).unwrap();
    assert!((reset - syns[0] - 127.0).abs() < 1e-6, "gave up at {reset}, first SYN at {}", syns[0]);
    let s = scenario(&t, "blackhole");
    assert!(metric(s, "time_to_fail_ms_p50") >= 127_000.0);
    assert_eq!(metric(s, "refused"), 0.0);
    // The reject: every SYN to the dead address after the failure gets a reset, one RTT later.
    let rj = dir.path().join("dns-failover-reject.pcapng");
    let rsts: Vec<f64> =
        lines(&rj, "ip.src == 10.0.1.10 && tcp.flags.reset == 1").iter().map(|l| at(l)).filter(|&t| t > 10.0).collect();
    let syns: Vec<f64> =
        lines(&rj, "ip.dst == 10.0.1.10 && tcp.flags.syn == 1").iter().map(|l| at(l)).filter(|&t| t >= 10.0).collect();
    assert!(!syns.is_empty());
    assert_eq!(rsts.len(), syns.len(), "a reset for every SYN:\n{syns:?}\n{rsts:?}");
    for (syn, rst) in syns.iter().zip(&rsts) {
        assert!((rst - syn - 0.040).abs() < 1e-6, "SYN at {syn}, reset at {rst}: one RTT (40 ms) later");
    }
    let s = scenario(&t, "reject");
    assert_eq!(metric(s, "connect_timeouts"), 0.0);
    assert_eq!(metric(s, "time_to_fail_ms_p50"), 40.0);
    // Both captures parse without errors.
    for file in [&bh, &rj] {
        let errors = tshark_lines(&tshark, file, &["-Y", "_ws.malformed || _ws.expert.severity == error"]);
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
}

/// Every event has a row in the timeline, and the first frame after it names it; packets the
/// dead host never received say so, naming the event.
#[test]
fn every_event_is_in_the_timeline_and_the_capture() {
    let Some(tshark) = tshark() else { return };
    let dir = tempfile::tempdir().unwrap();
    let set = ["fail_at=7s", "clients=3", "duration=15s", "ttl=4s"];
    let t = run(dir.path(), "client-fallback", &set, &["--pictures", "none"]);
    let s = scenario(&t, "client-fallback");
    let events = s["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["dns", "host_down", "dns"]);
    assert_eq!(events[1]["at_ms"].as_f64(), Some(7000.0));
    assert_eq!(events[1]["target"].as_str(), Some("primary"));
    let file = dir.path().join("dns-failover-client-fallback.pcapng");
    for e in events {
        let frame = e["first_frame"].as_u64().unwrap();
        let comment = tshark_lines(
            &tshark,
            &file,
            &["-Y", &format!("frame.number == {frame}"), "-T", "fields", "-e", "frame.comment"],
        );
        let what = e["what"].as_str().unwrap();
        assert!(
            comment[0].contains(&format!("EVENT at {:.3} s: {what}", e["at_ms"].as_f64().unwrap() / 1000.0)),
            "{comment:?}"
        );
    }
    let lost =
        tshark_lines(&tshark, &file, &["-Y", "frame.comment contains \"black-holed (event: primary goes down\""]);
    assert!(!lost.is_empty(), "no frame says it was black-holed");
    // The fallback: no request that started after the failure failed, and the connect timeout
    // is in the failover window's tail.
    assert_eq!(metric(s, "failed_after_failure"), 0.0);
    assert!(metric(s, "latency_p99_ms") >= 250.0);
}

/// A pooled client never looks the name up again while its connection lives: with a black
/// hole, it keeps waiting on the dead backend to the end of the run.
#[test]
fn a_stale_pool_never_fails_over_to_a_black_hole() {
    let dir = tempfile::tempdir().unwrap();
    let set = ["fail_at=5s", "clients=3", "duration=20s", "ttl=2s"];
    let t = run(dir.path(), "stale-pool", &set, &["--pictures", "none", "--capture", "none"]);
    let s = scenario(&t, "stale-pool");
    // Every client still sent to the dead address (its connection) in the last second.
    assert!(metric(s, "failover_ms_p50") >= 14_000.0, "{}", metric(s, "failover_ms_p50"));
    // Only the first lookup of each client: the pool never asked again.
    assert_eq!(metric(s, "dns_queries"), 3.0);
    assert!(metric(s, "unanswered") >= 3.0 * 14.0);
}

#[test]
fn same_seed_same_bytes() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let set = ["fail_at=4s", "clients=3", "duration=10s", "ttl=3s"];
    run(a.path(), "ttl-60,reject", &set, &[]);
    run(b.path(), "ttl-60,reject", &set, &[]);
    let (fa, fb) = (common::files_in(a.path()), common::files_in(b.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between two runs with the same seed");
    }
    assert!(fa.contains_key("dns-failover-failover.svg"));
}

/// A lab where the authority dies and the backend lives: what the resolver does when its copy
/// has expired and the authority is silent.
const STALE_LAB: &str = r#"
name = "stale"
[params]
serve_stale = true
[link]
rtt = "10ms"
[[host]]
name = "client"
addr = "10.0.0.1"
role = "client"
[[host]]
name = "resolver"
addr = "10.0.0.53"
role = "resolver"
[[host]]
name = "authority"
addr = "10.0.2.53"
role = "authority"
[[host]]
name = "web"
addr = "10.0.1.10"
[[host.service]]
handler = "bytes"
[dns]
names = { "www.example.lab" = "web" }
ttl = "2s"
serve_stale = "${serve_stale}"
[[scenario]]
name = "authority-down"
steps = [{ step = "clients", to = "www.example.lab", clients = 2, interval = "1s", duration = "20s", connect_timeout = "1s" }]
[[scenario.event]]
at = "6s"
host = "authority"
state = "down"
"#;

/// RFC 8767: with serve-stale, a resolver whose copy expired while the authority is down
/// answers from it after 1.8 s, with a TTL of 30 s, and the clients carry on; without it, their
/// lookups go unanswered and so do their requests.
#[test]
fn serve_stale_keeps_clients_going_when_the_authority_dies() {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("stale.toml");
    std::fs::write(&lab, STALE_LAB).unwrap();
    let lab = lab.to_str().unwrap();
    let stale = dir.path().join("stale");
    run_lab(lab, &stale, &["--pictures", "none"]);
    let s = scenario(&lab_timeline(&stale, "stale"), "authority-down").clone();
    assert!(metric(&s, "stale_answers") >= 1.0, "{}", s["metrics"]);
    assert_eq!(metric(&s, "failed_requests"), 0.0);
    // The lookups that waited for the stale answer took the client response timer, 1.8 s.
    assert!(metric(&s, "latency_p99_all_ms") >= 1800.0, "{}", s["metrics"]);
    let strict = dir.path().join("strict");
    run_lab(lab, &strict, &["--pictures", "none", "--set", "serve_stale=false"]);
    let s = scenario(&lab_timeline(&strict, "stale"), "authority-down").clone();
    assert_eq!(metric(&s, "stale_answers"), 0.0);
    assert!(metric(&s, "unanswered") >= 2.0 * 10.0, "{}", s["metrics"]);
    let Some(tshark) = tshark() else { return };
    let ttls = tshark_lines(
        &tshark,
        &stale.join("stale-authority-down.pcapng"),
        &["-Y", "dns.flags.response == 1", "-T", "fields", "-e", "dns.resp.ttl"],
    );
    assert!(ttls.iter().any(|t| t == "30"), "no stale answer (TTL 30) reached the client: {ttls:?}");
}

/// Bad settings are refused before anything runs, naming the field and what is allowed.
#[test]
fn bad_settings_name_the_field() {
    let cases = [
        ("down=sideways", "event[1].mode", "blackhole, reject"),
        ("fail_at=soon", "event[1].at", "not a duration"),
        ("fail_at=300s", "would never happen", "at < 4m"),
        ("cache=forever", "cache", "none, ttl, java, chromium, curl"),
        ("clients=0", "clients", "from 1 to 1000"),
        ("connect_timeout=0ms", "connect_timeout", "from 1ms to 1h"),
        ("interval=0s", "interval", "from 1ms to 24h"),
    ];
    for (set, field, allowed) in cases {
        let out = common::wirelab()
            .args(["run", "dns-failover", "--set", set, "--out"])
            .arg("/nonexistent")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--set {set}: {err}");
        assert!(err.contains(field) && err.contains(allowed), "--set {set}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "--set {set}: {err}");
    }
}

/// The failover plot is the JSON's series: each scenario's line steps through its seconds'
/// shares of requests to the dead address, on the scale its axes declare, with the failure
/// marked where the event says; the report shows it; its text is at least 10 px.
#[test]
fn the_failover_plot_is_the_series() {
    let dir = tempfile::tempdir().unwrap();
    let set = ["fail_at=6s", "clients=4", "duration=20s", "ttl=7s"];
    let t = run(dir.path(), "ttl-60,java-cache", &set, &["--capture", "none"]);
    let svg = std::fs::read_to_string(dir.path().join("dns-failover-failover.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let class = |n: &roxmltree::Node, c: &str| n.attribute("class").is_some_and(|v| v.split(' ').any(|x| x == c));
    let axes = doc.descendants().find(|n| class(n, "axes")).unwrap();
    let scale = |k: &str| -> Vec<f64> { axes.attribute(k).unwrap().split(' ').map(|v| v.parse().unwrap()).collect() };
    let (xs, ys) = (scale("data-x-scale"), scale("data-y-scale"));
    let px = |s: &[f64], v: f64| s[2] + (v - s[0]) * (s[3] - s[2]) / (s[1] - s[0]);
    for s in t["scenarios"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let line = doc
            .descendants()
            .find(|n| class(n, "share-line") && n.attribute("data-series") == Some(name))
            .unwrap_or_else(|| panic!("no line for {name}"));
        let points: Vec<(f64, f64)> = line
            .attribute("points")
            .unwrap()
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        let seconds = s["failover_seconds"].as_array().unwrap();
        assert_eq!(points.len(), 2 * seconds.len(), "{name}");
        for (i, sec) in seconds.iter().enumerate() {
            let (n, dead) = (sec["requests"].as_f64().unwrap(), sec["to_dead"].as_f64().unwrap());
            let share = if n == 0.0 { 0.0 } else { 100.0 * dead / n };
            let second = sec["second"].as_f64().unwrap();
            for (j, x) in [second, second + 1.0].iter().enumerate() {
                let (px_x, px_y) = points[2 * i + j];
                assert!(
                    (px_x - px(&xs, *x)).abs() < 0.01 && (px_y - px(&ys, share)).abs() < 0.01,
                    "{name} second {second}"
                );
            }
        }
    }
    let failure = doc.descendants().find(|n| class(n, "failure")).unwrap();
    assert_eq!(failure.attribute("data-at-s"), Some("6"));
    for n in doc.descendants().filter(|n| n.tag_name().name() == "text") {
        assert!(n.attribute("font-size").unwrap().parse::<f64>().unwrap() >= 10.0);
    }
    let html = std::fs::read_to_string(dir.path().join("dns-failover.html")).unwrap();
    assert!(html.contains("class=\"plot failover\""), "the report does not show the failover plot");
}

/// A reject costs one round trip, not a timeout, only while the round trip is shorter than the
/// clients' connect timeout: past it every connection, to either backend, times out, and the
/// reject's check is skipped, saying why, instead of failing.
#[test]
fn a_round_trip_longer_than_the_connect_timeout_skips_the_reject_check() {
    let dir = tempfile::tempdir().unwrap();
    let set = ["fail_at=5s", "clients=2", "duration=12s", "connect_timeout=400ms"];
    let check = |rtt: &str| {
        let t = run(dir.path(), "reject", &[&set[..], &[rtt]].concat(), &["--pictures", "none"]);
        let s = scenario(&t, "reject").clone();
        let e = s["expectations"].as_array().unwrap().iter().find(|e| e["check"] == "metrics.connect_timeouts == 0");
        (metric(&s, "connect_timeouts"), metric(&s, "refused"), e.unwrap().clone())
    };
    let (timeouts, refused, e) = check("rtt=390ms");
    assert_eq!((timeouts, &e["ok"], &e["skipped"]), (0.0, &Value::Bool(true), &Value::Null), "{e}");
    assert!(refused > 0.0, "the dead backend's resets refuse the connections");
    let (timeouts, refused, e) = check("rtt=410ms");
    assert!(timeouts > 0.0 && refused == 0.0, "every attempt waits its whole timeout: {timeouts}, {refused}");
    let why = e["skipped"].as_str().unwrap_or_else(|| panic!("not skipped: {e}"));
    assert!(why.contains("${rtt} < ${connect_timeout}") && why.contains("410ms < 400ms"), "{why}");
}
