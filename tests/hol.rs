//! The head-of-line lab: which objects wait when one packet is lost, per protocol, from the
//! run's own measurements and from the capture.

mod common;

use std::time::Duration;

use wirelab::runner::{run_scenario, ScenarioOutput};
use wirelab::script::plan::{plan, Overrides};
use wirelab::script::Lab;

fn run(name: &str, rtt_ms: u64) -> ScenarioOutput {
    let lab = Lab::load("hol").unwrap();
    let i = lab.scenario_names().iter().position(|n| *n == name).unwrap();
    let overrides = Overrides { rtt: Some(Duration::from_millis(rtt_ms)), ..Default::default() };
    let out = run_scenario(&plan(&lab, i, &overrides).unwrap(), 1).unwrap();
    assert!(out.timeline.error.is_none(), "{name}: {:?}", out.timeline.error);
    out
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
        std::fs::write(&file, &out.pcapng).unwrap();
        match name {
            "one-loss-h2" => {
                let data = common::tshark_lines(&tshark, &file, &["-Y", "http2.type == 0"]);
                assert!(data.len() >= 42, "6 x 100 KB in 16 KB DATA frames: {} dissected", data.len());
            }
            "one-loss-h3" => {
                let h3 = common::tshark_lines(&tshark, &file, &["-Y", "http3"]);
                assert!(!h3.is_empty(), "no HTTP/3 dissected from the decrypted QUIC packets");
                let short = common::tshark_lines(&tshark, &file, &["-Y", "quic.short"]);
                assert!(short.len() > 100, "QUIC 1-RTT packets decrypted: {}", short.len());
            }
            _ => {
                let resp = common::tshark_lines(&tshark, &file, &["-Y", "http.response.code == 200"]);
                assert_eq!(resp.len(), 6, "six HTTP/1.1 responses");
            }
        }
        // The only complaint allowed: the resent segment overlaps the lost copy (which the
        // capture shows where it would have arrived).
        let fields = ["-T", "fields", "-e", "frame.number", "-e", "tcp.analysis.retransmission"];
        let bad = common::tshark_lines(
            &tshark,
            &file,
            &[&["-Y", "_ws.malformed || _ws.expert.severity == error"][..], &fields].concat(),
        );
        for line in &bad {
            assert!(line.trim_end().ends_with('1'), "{name}: an error on a frame that is not a retransmission: {line}");
        }
        let lost = common::tshark_lines(&tshark, &file, &["-Y", "frame.comment contains \"LOST on the link\""]);
        assert_eq!(lost.len(), 1, "{name}: the lost packet is shown once");
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
