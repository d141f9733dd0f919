//! The latency-budget lab at settings none of which is a default: each scenario's request time
//! is the round trips of its path (the formulas of issue 10, computed here from the settings,
//! not by the lab's own model), its hops add up, the JSON has the contract's fields, the
//! captures decrypt in tshark without errors, the same seed gives the same bytes, and a bad
//! field is refused naming it.
//!
//! Through the edge's relay (`edge-passthrough`, TLS passed through), with e the user's RTT to
//! the edge, o the edge's to the origin and k the TLS handshake's round trips: the relay opens
//! its origin connection on the user's SYN, the user's first bytes wait for it when o > e, and
//! every turn crosses both paths: (k + 1)(e + o) + max(e, o) + d.
//!
//! Tolerance: virtual time is exact, but a link rounds each one-way trip's delay up to the
//! microsecond. A request crosses at most 2 x 8 one-way trips here, so a measured time may be
//! up to 0.016 ms above the formula and never below it. (No delayed ACK or serialization
//! enters: every answer is one segment, sent at once, on links without a rate.)

mod common;

use std::path::Path;

use common::{lab_timeline, run_lab, scenario, tshark, tshark_lines, wirelab};
use serde_json::Value;

/// How far above the formula a measured time may be, in ms (see the module's doc).
const TOLERANCE_MS: f64 = 0.016;

/// The six scenarios' expected times in ms from the RTTs (edge, origin, db) and the TLS
/// handshake's round trips, for one request on a fresh connection from the user.
fn expected(e: f64, o: f64, d: f64, tls: f64) -> [(&'static str, f64); 6] {
    let fresh = 2.0 + tls;
    [
        ("direct-cold", fresh * o + d),
        ("edge-pooled", fresh * e + o + d),
        ("edge-cold", fresh * e + fresh * o + d),
        ("edge-passthrough", (tls + 1.0) * (e + o) + e.max(o) + d),
        ("regional", fresh * e + d),
        ("write-primary", fresh * e + d + o),
    ]
}

/// A fresh hop's time in round trips of its path, and how many of them are handshakes: TCP,
/// TLS and the request (2 + tls, 1 + tls), except through the edge's relay, where each hop
/// has the request's critical path's share. Of the two TCP handshakes only the one on the
/// farther path is on it (the relay's when o > e: the user's hides behind it); without TLS
/// the nearer hop keeps half a round trip of handshake, the user's SYN, and the answer's way back.
fn fresh_hop(scenario: &str, from: &str, rtt: &dyn Fn(&str, &str) -> f64, tls: f64) -> (f64, f64) {
    if scenario != "edge-passthrough" || !matches!(from, "user" | "edge") {
        return (2.0 + tls, 1.0 + tls);
    }
    let (e, o) = (rtt("user", "edge"), rtt("edge", "origin"));
    let tcp_on_path = if from == "user" { o <= e } else { o > e };
    match (tcp_on_path, tls > 0.0, from) {
        (true, _, _) => (2.0 + tls, 1.0 + tls),
        (false, true, _) => (1.0 + tls, tls),
        (false, false, "user") => (1.0, 0.5),
        (false, false, _) => (1.0, 0.0),
    }
}

fn metric(s: &Value, name: &str) -> f64 {
    s["metrics"][name].as_f64().unwrap_or_else(|| panic!("{}: no metric {name}", s["name"]))
}

fn run(out: &Path, set: &[&str]) -> Value {
    let mut args = Vec::new();
    for s in set {
        args.extend(["--set", s]);
    }
    run_lab("latency-budget", out, &args);
    lab_timeline(out, "latency-budget")
}

/// The hops of every scenario: the contract's fields, each hop's RTT is its path's, fresh hops
/// waited for their handshakes and pooled ones did not, and the hops with the services' own
/// time add up to the request.
fn check_hops(t: &Value, rtt: &dyn Fn(&str, &str) -> f64, tls_handshake: f64, budget_ms: f64) {
    for s in t["scenarios"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let hops = s["hops"].as_array().unwrap_or_else(|| panic!("{name}: no hops"));
        assert!(!hops.is_empty(), "{name}: no hops");
        let mut sum_ms = 0.0;
        let mut sum_share = 0.0;
        for h in hops {
            for key in ["from", "to", "rtt_ms", "ms", "share_of_budget", "connection", "handshake_rtts"] {
                assert!(h.get(key).is_some(), "{name}: hop without `{key}`: {h}");
            }
            let (from, to) = (h["from"].as_str().unwrap(), h["to"].as_str().unwrap());
            let (ms, hop_rtt) = (h["ms"].as_f64().unwrap(), h["rtt_ms"].as_f64().unwrap());
            assert_eq!(hop_rtt, rtt(from, to), "{name}: {from} -> {to} RTT");
            let share = h["share_of_budget"].as_f64().unwrap();
            assert!((share - ms / budget_ms).abs() < 1e-5, "{name}: {from} -> {to}: share {share}, ms {ms}");
            let handshake = h["handshake_rtts"].as_f64().unwrap();
            match h["connection"].as_str().unwrap() {
                "fresh" => {
                    let (rtts, handshakes) = fresh_hop(name, from, rtt, tls_handshake);
                    assert!((handshake - handshakes).abs() < 0.01, "{name}: {from} -> {to}: {handshake}");
                    assert!(
                        ms >= rtts * hop_rtt - 1e-9 && ms <= rtts * hop_rtt + TOLERANCE_MS,
                        "{name}: {from} -> {to}: {ms}"
                    );
                }
                "pooled" => {
                    assert_eq!(handshake, 0.0, "{name}: {from} -> {to}");
                    assert!(ms >= hop_rtt - 1e-9 && ms <= hop_rtt + TOLERANCE_MS, "{name}: {from} -> {to}: {ms}");
                }
                other => panic!("{name}: connection {other:?}"),
            }
            sum_ms += ms;
            sum_share += share;
        }
        let total = metric(s, "total_ms");
        assert!((sum_ms + metric(s, "services_ms") - total).abs() < 0.002, "{name}: hops {sum_ms} vs total {total}");
        assert!((sum_share - sum_ms / budget_ms).abs() < 1e-4, "{name}: shares sum to {sum_share}");
        assert!((metric(s, "share_of_budget") - total / budget_ms).abs() < 1e-5, "{name}");
        assert_eq!(metric(s, "within_budget"), f64::from(u8::from(total <= budget_ms)), "{name}");
        let largest = hops.iter().map(|h| h["share_of_budget"].as_f64().unwrap()).fold(0.0, f64::max);
        assert_eq!(metric(s, "largest_hop_share"), largest, "{name}");
        // The lab's own checks (total against its model) held: run_lab asserted exit 0.
        for e in s["expectations"].as_array().unwrap() {
            assert_eq!(e["ok"], true, "{name}: {e}");
        }
    }
}

/// The lab's paths: which RTT each pair of hosts has.
fn paths(e: f64, o: f64, d: f64) -> impl Fn(&str, &str) -> f64 {
    move |a: &str, b: &str| {
        let pair = |x: &str, y: &str| (a == x && b == y) || (a == y && b == x);
        if pair("user", "edge") || pair("user", "app") {
            e
        } else if pair("origin", "origin-db") || pair("app", "replica-db") {
            d
        } else {
            o
        }
    }
}

#[test]
fn totals_follow_the_round_trips_at_odd_settings() {
    let settings: [(&str, &str, &str, &str); 3] =
        [("7ms", "93ms", "1.3ms", "200ms"), ("29ms", "530ms", "0.4ms", "333ms"), ("0.4ms", "29ms", "1.1ms", "17ms")];
    for (edge, origin, db, budget) in settings {
        let dir = tempfile::tempdir().unwrap();
        let sets = [
            format!("edge_rtt={edge}"),
            format!("origin_rtt={origin}"),
            format!("db_rtt={db}"),
            format!("budget={budget}"),
        ];
        let t = run(dir.path(), &sets.iter().map(String::as_str).collect::<Vec<_>>());
        let ms = |s: &str| s.trim_end_matches("ms").parse::<f64>().unwrap();
        let (e, o, d, b) = (ms(edge), ms(origin), ms(db), ms(budget));
        for (name, want) in expected(e, o, d, 1.0) {
            let got = metric(scenario(&t, name), "total_ms");
            assert!(
                got >= want - 1e-9 && got <= want + TOLERANCE_MS,
                "{name} at {sets:?}: {got} ms, formula {want} ms"
            );
        }
        check_hops(&t, &paths(e, o, d), 1.0, b);
        // The text's claims beside them: the far hop's share, and fresh over pooled (3x with
        // no slow start and TLS 1.3).
        let share = metric(scenario(&t, "edge-pooled"), "largest_hop_share");
        assert!((share - o.max(3.0 * e) / b).abs() < 1e-4, "largest hop share {share}");
        assert_eq!(metric(scenario(&t, "edge-cold"), "fresh_over_pooled"), 3.0);
        // Passing TLS through at the edge costs more than going direct: 2 x edge more here.
        let (direct, passed) =
            (metric(scenario(&t, "direct-cold"), "total_ms"), metric(scenario(&t, "edge-passthrough"), "total_ms"));
        assert!((passed - direct - 2.0 * e).abs() <= TOLERANCE_MS, "passthrough {passed} ms, direct {direct} ms");
        let theory = t["theory"].as_array().unwrap();
        assert_eq!(theory.len(), 8);
        for row in theory {
            let (th, m) = (row["theory"].as_f64().unwrap(), row["measured"].as_f64().unwrap());
            assert!((th - m).abs() <= TOLERANCE_MS, "{row}");
        }
    }
}

#[test]
fn tls12_costs_a_round_trip_more_and_resumes_after_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let t = run(dir.path(), &["tls=1.2", "edge_rtt=3ms", "origin_rtt=71ms", "db_rtt=0.9ms"]);
    for (name, want) in expected(3.0, 71.0, 0.9, 2.0) {
        let got = metric(scenario(&t, name), "total_ms");
        assert!(got >= want - 1e-9 && got <= want + TOLERANCE_MS, "{name}: {got} ms, formula {want} ms");
    }
    check_hops(&t, &paths(3.0, 71.0, 0.9), 2.0, 200.0);
    assert_eq!(metric(scenario(&t, "edge-cold"), "fresh_over_pooled"), 4.0);
    // Three requests: the user's (and the edge's) second and third connections resume the
    // TLS 1.2 session in 1 RTT (RFC 5246 §7.3), so a fresh hop averages (4 + 3 + 3) / 3 RTTs.
    // The lab's model walks the requests the same way: its checks hold (exit 0).
    let dir = tempfile::tempdir().unwrap();
    let t = run(dir.path(), &["tls=1.2", "requests=3"]);
    let s = scenario(&t, "edge-cold");
    let want = 10.0 * 10.0 / 3.0 + 150.0 * 10.0 / 3.0 + 0.5;
    assert!((metric(s, "total_ms") - want).abs() < 0.002, "{} vs {want}", metric(s, "total_ms"));
    assert_eq!(metric(s, "requests"), 3.0);
}

#[test]
fn without_tls_a_fresh_connection_costs_tcp_and_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let t = run(dir.path(), &["tls=none", "edge_rtt=11ms", "origin_rtt=123ms", "db_rtt=0.7ms"]);
    for (name, want) in expected(11.0, 123.0, 0.7, 0.0) {
        let got = metric(scenario(&t, name), "total_ms");
        assert!(got >= want - 1e-9 && got <= want + TOLERANCE_MS, "{name}: {got} ms, formula {want} ms");
    }
    check_hops(&t, &paths(11.0, 123.0, 0.7), 0.0, 200.0);
    assert_eq!(metric(scenario(&t, "edge-cold"), "fresh_over_pooled"), 2.0);
}

/// Through the edge's relay, at both sides of `o = e` and with each TLS: the total is
/// (k + 1)(e + o) + max(e, o) + d, the hops follow the critical path and add up, and the lab's
/// own model agrees (its checks held: run_lab asserted exit 0).
#[test]
fn passing_tls_through_costs_both_paths_on_every_round_trip() {
    for (tls, k) in [("1.3", 1.0), ("1.2", 2.0), ("none", 0.0)] {
        for (edge, origin) in [("50ms", "20ms"), ("0.4ms", "29ms"), ("31ms", "31ms")] {
            let dir = tempfile::tempdir().unwrap();
            let sets = [
                format!("tls={tls}"),
                format!("edge_rtt={edge}"),
                format!("origin_rtt={origin}"),
                "db_rtt=0.7ms".into(),
            ];
            let mut args = vec!["--scenario", "edge-passthrough"];
            for set in &sets {
                args.extend(["--set", set.as_str()]);
            }
            run_lab("latency-budget", dir.path(), &args);
            let t = lab_timeline(dir.path(), "latency-budget");
            let ms = |s: &str| s.trim_end_matches("ms").parse::<f64>().unwrap();
            let (e, o) = (ms(edge), ms(origin));
            let want = (k + 1.0) * (e + o) + e.max(o) + 0.7;
            let s = scenario(&t, "edge-passthrough");
            let got = metric(s, "total_ms");
            assert!(got >= want - 1e-9 && got <= want + TOLERANCE_MS, "{sets:?}: {got} ms, formula {want} ms");
            let path: Vec<(&str, &str, &str)> = s["hops"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h["from"].as_str().unwrap(), h["to"].as_str().unwrap(), h["connection"].as_str().unwrap()))
                .collect();
            let want_path = [("user", "edge", "fresh"), ("edge", "origin", "fresh"), ("origin", "origin-db", "pooled")];
            assert_eq!(path, want_path, "{sets:?}");
            check_hops(&t, &paths(e, o, 0.7), k, 200.0);
        }
    }
}

#[test]
fn captures_decrypt_every_tls_leg_without_errors() {
    let Some(tshark) = tshark() else { return };
    let dir = tempfile::tempdir().unwrap();
    run_lab("latency-budget", dir.path(), &["--tap", "all", "--set", "requests=2"]);
    let file = |name: &str| dir.path().join(format!("latency-budget-{name}.pcapng"));
    let count = |f: &Path, filter: &str| tshark_lines(&tshark, f, &["-Y", filter]).len();
    for s in ["direct-cold", "edge-pooled", "edge-cold", "edge-passthrough", "regional", "write-primary"] {
        let f = file(s);
        assert_eq!(count(&f, "http.request"), 2, "{s}: the user's requests, decrypted");
        assert_eq!(count(&f, "http.response.code == 200"), 2, "{s}");
        assert_eq!(count(&f, "_ws.malformed || _ws.expert.severity == error"), 0, "{s}");
        let report = tshark_lines(&tshark, &f, &["-q", "-z", "expert,error"]).join("\n");
        assert!(!report.contains("Errors"), "{s}: {report}");
    }
    // The edge terminates the user's TLS and opens its own to the origin: both legs decrypt
    // in its capture (every TLS world's secrets are in the scenario's key log).
    let edge = dir.path().join("latency-budget-edge-cold@edge.pcapng");
    assert_eq!(count(&edge, "http.request && ip.dst == 10.0.1.1"), 2, "user -> edge");
    assert_eq!(count(&edge, "http.request && ip.dst == 10.1.0.1"), 2, "edge -> origin");
    assert_eq!(count(&edge, "tls.handshake.type == 1 && ip.dst == 10.1.0.1"), 2, "a fresh TLS connection per request");
    assert_eq!(count(&edge, "_ws.malformed || _ws.expert.severity == error"), 0);
    let pooled = dir.path().join("latency-budget-edge-pooled@edge.pcapng");
    assert_eq!(count(&pooled, "tls.handshake.type == 1 && ip.dst == 10.1.0.1"), 1, "one warm connection, opened once");
}

/// The edge's relay, in its own capture: both legs, the same TLS session on each (the user's
/// ClientHellos reach the origin unchanged, and the user decrypts the origin's certificate,
/// issued for `origin`), every frame commented with what the relay did and could not read.
#[test]
fn the_relays_capture_shows_both_legs_of_one_tls_session() {
    let Some(tshark) = tshark() else { return };
    let dir = tempfile::tempdir().unwrap();
    let args = ["--scenario", "edge-passthrough", "--tap", "edge", "--set", "requests=2", "--set", "edge_rtt=7ms"];
    run_lab("latency-budget", dir.path(), &args);
    let edge = dir.path().join("latency-budget-edge-passthrough@edge.pcapng");
    let lines = |f: &Path, args: &[&str]| tshark_lines(&tshark, f, args);
    assert!(lines(&edge, &["-Y", "_ws.malformed || _ws.expert.severity == error"]).is_empty());
    let report = lines(&edge, &["-q", "-z", "expert,error"]).join("\n");
    assert!(!report.contains("Errors"), "{report}");
    // Both legs carry the user's requests, for the origin, decrypted with the run's keys.
    let hosts = lines(&edge, &["-Y", "http.request", "-T", "fields", "-e", "ip.dst", "-e", "http.host"]);
    let legs = ["10.0.1.1\torigin", "10.1.0.1\torigin"];
    assert_eq!(hosts, [legs, legs].concat(), "user -> edge, then edge -> origin, for each request");
    // One TLS session per connection, end to end: the same ClientHello on both legs.
    let hellos =
        lines(&edge, &["-Y", "tls.handshake.type == 1", "-T", "fields", "-e", "ip.dst", "-e", "tls.handshake.random"]);
    assert_eq!(hellos.len(), 4, "{hellos:?}");
    for pair in hellos.chunks(2) {
        let random = |l: &str| l.split('\t').nth(1).unwrap_or_default().to_string();
        assert_eq!(random(&pair[0]), random(&pair[1]), "the relay passed the ClientHello on unchanged: {pair:?}");
    }
    let user = dir.path().join("latency-budget-edge-passthrough.pcapng");
    let names = lines(&user, &["-Y", "x509ce.dNSName", "-T", "fields", "-e", "x509ce.dNSName"]);
    // (The second connection resumes the session with the origin, RFC 8446 §2.2: no certificate.)
    assert_eq!(names, ["origin"], "the user verified the origin's certificate, not the edge's");
    // Every frame says what it is; the relay's say what it did.
    let comments = lines(&edge, &["-T", "fields", "-e", "frame.comment"]);
    assert!(comments.iter().all(|c| !c.trim().is_empty()), "a frame without a comment");
    for needle in [
        "SYN: the relay opens its own connection to origin:443 for user:",
        "a TLS ClientHello for `origin` (the server name is in the clear",
        "held 143.000 ms until its connection to origin:443 opened",
        "it cannot read the encrypted ones, the keys are the two ends'",
        "passes on user:",
    ] {
        assert!(comments.iter().any(|c| c.contains(needle)), "no frame says {needle:?}");
    }
    assert!(comments.iter().any(|c| c.contains("FIN (a half-close, RFC 9293")), "the user's FIN passed on");
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = ["--tap", "all", "--seed", "7", "--set", "origin_rtt=61ms", "--set", "requests=2"];
    run_lab("latency-budget", a.path(), &args);
    run_lab("latency-budget", b.path(), &args);
    let (fa, fb) = (common::files_in(a.path()), common::files_in(b.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    assert!(fa.keys().any(|k| k.ends_with("@origin.pcapng")));
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between two runs with seed 7");
    }
}

/// `wirelab run` of `lab` (a file) or with `set`, expecting exit 2 and a message naming `field`.
fn refused(args: &[&str], field: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = wirelab().arg("run").args(args).arg("--out").arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(field), "{args:?}: the message does not name `{field}`: {stderr}");
}

#[test]
fn bad_fields_are_refused_naming_them() {
    refused(&["latency-budget", "--set", "budget=soon"], "budget");
    refused(&["latency-budget", "--set", "budget=0ms"], "budget");
    refused(&["latency-budget", "--set", "origin_pool=-1"], "origin_pool");
    refused(&["latency-budget", "--set", "tls=1.1"], "tls");
    refused(&["latency-budget", "--set", "db_rtt=0"], "db_rtt");
    let text =
        String::from_utf8(wirelab().args(["show", "latency-budget", "--toml"]).output().unwrap().stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let variant = |name: &str, from: &str, to: &str| {
        assert!(text.contains(from), "the lab file has no {from:?}");
        let path = dir.path().join(name);
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        path.to_str().unwrap().to_string()
    };
    // The edge calls the origin's HTTPS port in plain HTTP, or in TLS 1.2 where the origin
    // speaks 1.3 only; then its HTTP port, where nothing is.
    refused(&[&variant("a.toml", "upstream_tls = \"${tls}\"", "upstream_tls = \"none\"")], "upstream_tls: none");
    refused(&[&variant("a2.toml", "upstream_tls = \"${tls}\"", "upstream_tls = \"1.2\"")], "upstream_tls: 1.2");
    refused(
        &[&variant(
            "a3.toml",
            "to = \"origin\", port = 443, tls = \"${tls}\"",
            "to = \"origin\", port = 443, tls = \"1.2\"",
        )],
        ".tls: 1.2",
    );
    refused(&[&variant("b.toml", "upstream_port = 443", "upstream_port = 80")], "upstream_port");
    refused(
        &[&variant("c.toml", "upstream = [\"replica-db\", \"origin-db\"]", "upstream = [\"replica-db\", 7]")],
        "upstream",
    );
    refused(
        &[&variant("d.toml", "upstream = [\"replica-db\", \"origin-db\"]", "upstream = [\"replica-db\", \"nowhere\"]")],
        "nowhere",
    );
    refused(&[&variant("e.toml", "budget = \"${budget}\" }]", "budget = \"-3ms\" }]")], "budget");
    // The edge's relay takes a port and an upstream only, and says why it takes nothing else.
    let relay = "handler = \"relay\"";
    for (name, extra, field, why) in [
        ("r1.toml", "pool = 1", ".service[2].pool: 1", "it cannot pool connections"),
        ("r2.toml", "tls = \"1.3\"", ".service[2].tls: \"1.3\"", "a relay passes TLS through"),
        ("r3.toml", "upstream_tls = \"1.3\"", ".service[2].upstream_tls", "passes TLS through"),
        ("r4.toml", "response = \"1KB\"", ".service[2].response", "answers nothing itself"),
        ("r5.toml", "policy = \"hedged\"", ".service[2].policy", "no call policy"),
        ("r6.toml", "http = \"2\"", ".service[2].http", "without reading HTTP"),
    ] {
        let file = variant(name, relay, &format!("{relay}\n{extra}"));
        let message = common::refused_file(&file);
        assert!(message.contains(field) && message.contains(why), "{extra}: {message}");
        assert!(message.contains("allowed for a relay: handler, port, upstream, upstream_port"), "{message}");
    }
    // Its upstream must serve the port; a caller's TLS must match what answers behind it.
    let message = common::refused_file(variant("r7.toml", "upstream_port = 443\n\n", "upstream_port = 80\n\n"));
    assert!(
        message.contains(".service[2].upstream_port: 80, but `origin` serves nothing over TCP on port 80"),
        "{message}"
    );
    let message = common::refused_file(variant(
        "r8.toml",
        "upstream = \"origin\"\nupstream_port = 443\n\n",
        "upstream = \"edge\"\nupstream_port = 8443\n\n",
    ));
    assert!(
        message.contains(".service[2].upstream: the relays never reach a service (edge:8443 → edge:8443"),
        "{message}"
    );
    let message = common::refused_file(variant(
        "r9.toml",
        "to = \"edge\", port = 8443, tls = \"${tls}\"",
        "to = \"edge\", port = 8443, tls = \"1.2\"",
    ));
    assert!(
        message.contains(".tls: 1.2, but `edge` passes port 8443 through to `origin`, which serves HTTPS in TLS 1.3 only (allowed here: 1.3)"),
        "{message}"
    );
}

/// The budget plot draws every hop of every scenario as long as the JSON says, and the budget.
#[test]
fn the_budget_plot_draws_what_the_json_says() {
    let dir = tempfile::tempdir().unwrap();
    common::run_lab("latency-budget", dir.path(), &["--set", "edge_rtt=7ms", "--set", "budget=150ms"]);
    let svg = std::fs::read_to_string(dir.path().join("latency-budget-budget.svg")).unwrap();
    assert!(svg.contains(r#"class="budget" data-ms="150.000""#), "the budget line");
    assert!(!dir.path().join("latency-budget-latency-cdf.svg").exists(), "one request per scenario: no distribution");
    let json = common::lab_timeline(dir.path(), "latency-budget");
    let mut drawn = 0;
    for s in json["scenarios"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        for h in s["hops"].as_array().unwrap() {
            let mark = format!(
                r#"data-scenario="{name}" data-from="{}" data-to="{}" data-ms="{:.3}""#,
                h["from"].as_str().unwrap(),
                h["to"].as_str().unwrap(),
                h["ms"].as_f64().unwrap()
            );
            assert!(svg.contains(&mark), "no bar {mark}");
            drawn += 1;
        }
    }
    assert_eq!(svg.matches(r#"<rect class="hop""#).count(), drawn, "one bar per hop, no more");
    assert!(drawn >= 10);
}

/// A gateway whose calls go round-robin to three replicas far away: each replica's hop is one
/// round trip for the third of the requests it took, so the model's largest hop is 130 ms of
/// the 200 ms budget, as measured (it once averaged the hop over every request: a third of
/// it, and the check failed), and the hops weighted by their share add up to the total.
#[test]
fn a_hop_to_one_of_several_replicas_counts_for_the_requests_that_took_it() {
    let lab = r#"
name = "replicas"
title = "A gateway over replicas far away"
description = "A test lab."

[link]
rtt = "29ms"

[[path]]
between = ["gw", "backend-1"]
rtt = "130ms"

[[path]]
between = ["gw", "backend-2"]
rtt = "130ms"

[[path]]
between = ["gw", "backend-3"]
rtt = "130ms"

[[host]]
name = "client"
addr = "10.0.0.1"
role = "client"

[[host]]
name = "gw"
addr = "10.0.0.4"
[[host.service]]
handler = "gateway"
port = 443
upstream = "backend"
upstream_port = 443
upstream_tls = "1.3"
pool = 1
response = "1KB"

[[host]]
name = "backend"
addr = "10.0.1.1"
replicas = 3
[[host.service]]
handler = "service"
port = 443
time = "fixed 1ms"
response = "1KB"

[[scenario]]
name = "chain"
title = "client -> gw -> one of three replicas"
steps = [{ step = "workload", to = "gw", port = 443, pool = 0, requests = 6, concurrency = 1, budget = "200ms" }]

[[expect]]
check = "metrics.total_ms == theory"
model = "budget_rtts"

[[expect]]
check = "metrics.largest_hop_share == theory"
model = "budget_hop_share"
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("replicas.toml");
    std::fs::write(&file, lab).unwrap();
    let out = dir.path().join("out");
    run_lab(file.to_str().unwrap(), &out, &[]);
    let t = lab_timeline(&out, "replicas");
    let s = scenario(&t, "chain");
    // A fresh TLS 1.3 connection to the gateway (3 x 29 ms), one warm call (130 ms), 1 ms.
    let total = s["metrics"]["total_ms"].as_f64().unwrap();
    assert!((total - 218.0).abs() <= TOLERANCE_MS, "total {total}");
    let share = s["metrics"]["largest_hop_share"].as_f64().unwrap();
    assert!((share - 0.65).abs() < 1e-6, "largest hop share {share}");
    for e in s["expectations"].as_array().unwrap() {
        assert_eq!(e["ok"], true, "{e}");
    }
    // The checks as they ran, the model's figures in them.
    let checks: Vec<&str> =
        s["expectations"].as_array().unwrap().iter().map(|e| e["check"].as_str().unwrap()).collect();
    assert_eq!(checks, ["metrics.total_ms == 218", "metrics.largest_hop_share == 0.65"]);
}

/// `--rtt` sets each scenario's client–server path, the user's first hop, and nothing else:
/// the hop tables show it, the far hop keeps `origin_rtt`, and the run says on stderr that
/// the lab's other round trips (and the titles quoting them) keep their parameters. A lab
/// with an `rtt` parameter, which the flag sets, says nothing.
#[test]
fn rtt_flag_sets_the_first_hop_and_says_what_it_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = wirelab().arg("run").args(args).arg("--out").arg(dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let stderr = run(&["latency-budget", "--rtt", "29ms", "--set", "db_rtt=2ms", "--pictures", "none"]);
    assert_eq!(
        stderr.trim(),
        "wirelab: note: --rtt 29ms sets each scenario's client–server path only. Lab latency-budget has no \
         `rtt` parameter: its other paths, and the scenario titles that quote them, keep db_rtt = 2ms, \
         edge_rtt = 10ms, origin_rtt = 150ms (change those with --set)"
    );
    let t = lab_timeline(dir.path(), "latency-budget");
    let scenario = |name: &str| t["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone();
    let hop_rtt = |s: &Value, from: &str, to: &str| {
        let hops = s["hops"].as_array().unwrap_or_else(|| panic!("no hops: {s}"));
        let hop = hops.iter().find(|h| h["from"] == from && h["to"] == to).unwrap_or_else(|| panic!("{from}->{to}"));
        hop["rtt_ms"].as_f64().unwrap()
    };
    let pooled = scenario("edge-pooled");
    assert_eq!(hop_rtt(&pooled, "user", "edge"), 29.0, "the first hop is the flag's");
    assert_eq!(hop_rtt(&pooled, "edge", "origin"), 150.0, "the far hop keeps origin_rtt");
    assert_eq!(hop_rtt(&scenario("direct-cold"), "user", "origin"), 29.0);
    assert!(run(&["handshake", "--rtt", "29ms", "--scenario", "fresh-tls13", "--pictures", "none"]).is_empty());
}
