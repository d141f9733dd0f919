//! The head-of-line lab: which objects wait when one packet is lost, per protocol, from the
//! run's own measurements and from the capture.

mod common;

use std::time::Duration;

use wirelab::runner::{run_scenario, ScenarioOutput};
use wirelab::script::plan::{plan, Overrides};
use wirelab::script::Lab;

fn run(name: &str, rtt_ms: u64) -> ScenarioOutput {
    run_at(name, Duration::from_millis(rtt_ms), 1, &[])
}

/// Runs one scenario at `rtt` with `seed` and `--set` pairs; asserts that it finished.
fn run_at(name: &str, rtt: Duration, seed: u64, set: &[(&str, &str)]) -> ScenarioOutput {
    let lab = Lab::load("hol").unwrap();
    let i = lab.scenario_names().iter().position(|n| *n == name).unwrap();
    let set = set.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let overrides = Overrides { rtt: Some(rtt), set, ..Default::default() };
    let out = run_scenario(&plan(&lab, i, &overrides).unwrap(), seed).unwrap();
    assert!(
        out.timeline.error.is_none(),
        "{name} at {rtt:?}, seed {seed}, {set:?}: {:?}",
        out.timeline.error,
        set = overrides.set
    );
    out
}

/// HTTP/3 used to stall for good below about 9 ms RTT, and at 100 ms when the server's first
/// flight was lost (quinn deadlocks with a window under two datagrams; the lab now starts QUIC at
/// RFC 9002's minimum).
#[test]
fn http3_completes_at_short_rtts_and_after_first_flight_loss() {
    for rtt_us in [500, 1_000, 3_000, 5_000, 9_000] {
        let out = run_at("one-loss-h3", Duration::from_micros(rtt_us), 2, &[]);
        assert!(out.timeline.streams.iter().all(|o| o.bytes == 100_000), "{rtt_us} µs");
    }
    for (loss, seed) in [("1%", 18), ("2%", 3), ("2%", 18)] {
        run_at("random-loss-h3", Duration::from_millis(100), seed, &[("loss", loss)]);
    }
}

fn stalled(out: &ScenarioOutput) -> Vec<u64> {
    out.timeline.streams.iter().filter(|s| s.stall_ms > 0.0).map(|s| s.id).collect()
}

#[test]
fn one_loss_stalls_one_connection_all_h2_streams_one_quic_stream() {
    for rtt in [100, 200] {
        let h1 = run("one-loss-h1", rtt);
        let h2 = run("one-loss-h2", rtt);
        let h3 = run("one-loss-h3", rtt);
        for out in [&h1, &h2, &h3] {
            let s = &out.timeline;
            assert_eq!(s.metrics["dropped"], 1.0, "{}: one packet lost", s.name);
            assert_eq!(s.streams.len(), 6);
            assert!(s.streams.iter().all(|o| o.bytes == 100_000 && o.complete_ms.is_some()), "{}", s.name);
        }
        assert_eq!(
            stalled(&h1).len(),
            1,
            "RTT {rtt}: HTTP/1.1 stalls only the connection that lost: {:?}",
            h1.timeline.streams
        );
        assert_eq!(stalled(&h2).len(), 6, "RTT {rtt}: HTTP/2 stalls every stream: {:?}", h2.timeline.streams);
        assert_eq!(
            stalled(&h3).len(),
            1,
            "RTT {rtt}: HTTP/3 stalls only the affected stream: {:?}",
            h3.timeline.streams
        );
        // A stall lasts about a round trip or more: the time to notice the loss and resend.
        let max_stall = |o: &ScenarioOutput| o.timeline.metrics["max_stall_ms"];
        for o in [&h1, &h2, &h3] {
            assert!(max_stall(o) >= 0.5 * rtt as f64, "{}: stall {} at RTT {rtt}", o.timeline.name, max_stall(o));
        }
        // In HTTP/1.1 and HTTP/3 the unaffected objects finish before the affected one.
        for o in [&h1, &h3] {
            let stalled_done = o.timeline.streams.iter().find(|s| s.stall_ms > 0.0).unwrap().complete_ms.unwrap();
            let others = o.timeline.streams.iter().filter(|s| s.stall_ms == 0.0).filter_map(|s| s.complete_ms);
            assert!(others.clone().all(|c| c <= stalled_done), "{}", o.timeline.name);
        }
        assert!(h1.timeline.expectations.iter().all(|e| e.ok) && h2.timeline.expectations.iter().all(|e| e.ok));
    }
}

#[test]
fn http2_and_quic_are_decrypted_and_dissected_from_the_capture_alone() {
    let Some(tshark) = common::tshark() else { return };
    let dir = tempfile::TempDir::new().unwrap();
    for name in ["one-loss-h2", "one-loss-h3", "one-loss-h1"] {
        let out = run(name, 100);
        let file = dir.path().join(format!("{name}.pcapng"));
        std::fs::write(&file, out.pcapng()).unwrap();
        match name {
            "one-loss-h2" => {
                // The capture has a real hole where the lost segment would have been, so
                // Wireshark must reassemble out of order to dissect every frame behind it.
                let types = common::tshark_lines(
                    &tshark,
                    &file,
                    &["-o", "tcp.reassemble_out_of_order:TRUE", "-T", "fields", "-e", "http2.type"],
                );
                let data = types.iter().flat_map(|l| l.split(',')).filter(|t| t.trim() == "0").count();
                assert_eq!(data, 42, "6 x 100 KB in 16 KB DATA frames (6 x 7): {data} dissected");
            }
            "one-loss-h3" => {
                let h3 = common::tshark_lines(&tshark, &file, &["-Y", "http3"]);
                assert!(!h3.is_empty(), "no HTTP/3 dissected from the decrypted QUIC packets");
                let short = common::tshark_lines(&tshark, &file, &["-Y", "quic.short"]);
                assert!(short.len() > 100, "QUIC 1-RTT packets decrypted: {}", short.len());
            }
            _ => {
                let resp = common::tshark_lines(
                    &tshark,
                    &file,
                    &["-o", "tcp.reassemble_out_of_order:TRUE", "-Y", "http.response.code == 200"],
                );
                assert_eq!(resp.len(), 6, "six HTTP/1.1 responses");
            }
        }
        // The capture holds only what the client received: no Error items at all (a lost
        // packet written in at its would-be arrival made the resend "overlap old data").
        for ooo in ["FALSE", "TRUE"] {
            let pref = format!("tcp.reassemble_out_of_order:{ooo}");
            let bad = common::tshark_lines(
                &tshark,
                &file,
                &["-o", &pref, "-Y", "_ws.malformed || _ws.expert.severity == error"],
            );
            assert!(bad.is_empty(), "{name}: Error items with {pref}: {bad:?}");
        }
        // The lost packet is not in the capture; the next frame says what was lost before it.
        let lost = common::tshark_lines(
            &tshark,
            &file,
            &["-Y", "frame.comment contains \"LOST on the way here\"", "-T", "fields", "-e", "frame.comment"],
        );
        assert_eq!(lost.len(), 1, "{name}: one frame notes the lost packet: {lost:?}");
        assert!(lost[0].contains("dropped by scripted drop: 260th"), "{name}: names the rule: {}", lost[0]);
        let frames = common::tshark_lines(&tshark, &file, &["-T", "fields", "-e", "frame.number"]).len() as f64;
        assert_eq!(frames, out.timeline.metrics["frames"], "{name}: every frame of the capture is one the client saw");
        // The stall pattern, read back from the capture's comments: which objects had data
        // held behind the hole.
        let held = common::tshark_lines(
            &tshark,
            &file,
            &["-Y", "frame.comment contains \"held behind a\"", "-T", "fields", "-e", "frame.comment"],
        );
        let objects: std::collections::BTreeSet<String> = held
            .iter()
            .flat_map(|c| c.split("(object ").skip(1).map(|r| r.chars().take_while(char::is_ascii_digit).collect()))
            .chain(held.iter().flat_map(|c| {
                c.split(": object ").skip(1).map(|r| r.chars().take_while(char::is_ascii_digit).collect())
            }))
            .collect();
        match name {
            "one-loss-h2" => assert_eq!(objects.len(), 6, "every HTTP/2 stream had data behind the hole: {objects:?}"),
            "one-loss-h1" => {
                assert_eq!(objects.len(), 1, "one HTTP/1.1 connection had data behind the hole: {objects:?}")
            }
            _ => {
                let quic: std::collections::BTreeSet<String> = held
                    .iter()
                    .flat_map(|c| {
                        c.split("QUIC stream ").skip(1).map(|r| r.chars().take_while(char::is_ascii_digit).collect())
                    })
                    .collect();
                assert_eq!(quic.len(), 1, "only one QUIC stream had data behind its gap: {quic:?}");
            }
        }
        let filter = if name == "one-loss-h3" {
            "frame.comment contains \"fills the gap\""
        } else {
            "frame.comment contains \"fills the hole\" && tcp.analysis.retransmission"
        };
        let fill = common::tshark_lines(&tshark, &file, &["-Y", filter]);
        assert_eq!(fill.len(), 1, "{name}: the packet that fills the hole is named");
    }
}

/// Runs that did not finish contribute no value: the loss table counts them per cell, leaves
/// their figures out, and names no scenario with failed runs as fastest.
#[test]
fn loss_table_counts_failed_runs_and_names_no_failed_protocol() {
    let dir = tempfile::TempDir::new().unwrap();
    let out =
        common::wirelab().args(["run", "hol", "--set", "time_limit=1500ms", "--out"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "scenarios that did not finish fail the run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let t = common::lab_timeline(dir.path(), "hol");
    let rows = t["loss_table"].as_array().unwrap();
    let mut failed_total = 0;
    for r in rows {
        let (runs, failed) = (r["runs"].as_u64().unwrap(), r["failed"].as_u64().unwrap());
        assert_eq!(runs, 20, "{r}");
        failed_total += failed;
        if failed == runs {
            assert!(r["page_load_p95_ms"].is_null(), "no value from runs that failed: {r}");
        }
        let verdict = stdout.lines().find(|l| l.contains("fastest at p95:")).unwrap();
        let at_loss = verdict.split(';').find(|v| {
            v.trim_start()
                .trim_start_matches("fastest at p95:")
                .trim()
                .starts_with(&format!("{} ", r["loss"].as_str().unwrap()))
        });
        if failed > 0 {
            let named = at_loss.unwrap().split('(').next().unwrap();
            assert!(!named.contains(r["scenario"].as_str().unwrap()), "{verdict}");
        }
    }
    assert!(failed_total > 0, "a 1.5 s limit stops some lossy runs");
    assert!(stdout.contains(&format!("{failed_total} of 300 runs did not finish")), "{stdout}");
}

/// Each capture is one vantage point: the lost segment is in the server's capture (it sent it),
/// marked lost after leaving, and absent from the client's, whose next frame names it. Every
/// host's file reads without Error items and has the same TLS keys.
#[test]
fn every_vantage_point_holds_what_its_host_sent_and_received() {
    let Some(tshark) = common::tshark() else { return };
    let dir = tempfile::TempDir::new().unwrap();
    common::run_lab("hol", dir.path(), &["--scenario", "one-loss-h2", "--tap", "all"]);
    let client = dir.path().join("hol-one-loss-h2.pcapng");
    let server = dir.path().join("hol-one-loss-h2@server.pcapng");
    assert!(server.exists(), "--tap all writes <lab>-<scenario>@<host>.pcapng");
    let count = |file: &std::path::Path, filter: &str| common::tshark_lines(&tshark, file, &["-Y", filter]).len();
    assert_eq!(count(&server, "frame.comment contains \"LOST on the link after leaving\""), 1);
    assert_eq!(count(&client, "frame.comment contains \"LOST on the link after leaving\""), 0);
    assert_eq!(count(&client, "frame.comment contains \"LOST on the way here\""), 1);
    // The server sent one more data segment than the client received: the lost one.
    let data = "ip.src == 10.0.0.2 && tcp.len > 0";
    assert_eq!(count(&server, data), count(&client, data) + 1);
    // The client's view has no Error items. The server's holds both the lost copy and its resend,
    // and Wireshark's reassembly calls the resend "overlaps old data": allowed there, only there.
    assert_eq!(count(&client, "_ws.malformed || _ws.expert.severity == error"), 0);
    assert_eq!(count(&server, "(_ws.malformed || _ws.expert.severity == error) && !tcp.analysis.retransmission"), 0);
    assert!(count(&server, "_ws.expert.severity == error") <= 1);
    for file in [&client, &server] {
        let decrypted = common::tshark_lines(&tshark, file, &["-o", "tcp.reassemble_out_of_order:TRUE", "-Y", "http2"]);
        assert!(!decrypted.is_empty(), "{}: HTTP/2 decrypted with the embedded keys", file.display());
        let comments = common::tshark_lines(&tshark, file, &["-T", "fields", "-e", "frame.comment"]);
        assert!(comments.iter().all(|c| !c.trim().is_empty()), "{}: every frame commented", file.display());
    }
    let bad = common::wirelab().args(["run", "hol", "--tap", "nobody", "--out"]).arg(dir.path()).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--tap nobody: no such host"));
}

/// A scripted drop that matched no packet is reported, naming the rule: with 20 objects of
/// 10 KB the page sends fewer than 260 data packets on a connection, so nothing was dropped.
#[test]
fn a_scripted_drop_that_matched_nothing_is_reported() {
    let out = run_at("one-loss-h1", Duration::from_millis(100), 1, &[("objects", "20"), ("size", "10KB")]);
    let w = &out.timeline.warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("260th data server->client") && w[0].contains("matched no packet"), "{w:?}");
    assert_eq!(out.timeline.metrics["dropped"], 0.0);
    assert!(run("one-loss-h1", 100).timeline.warnings.is_empty(), "the default setting drops its packet");
}
