//! Requests per wall-clock second through a chain of services: the tail-latency lab's
//! `sequential` scenario at its defaults (10,000 requests, open loop at 200/s, each request a
//! client -> gateway call that makes 4 sequential backend calls over warm pools: 5 HTTP
//! exchanges per request, about 3.5 packets at the client and 14 more between the gateway and
//! the backends), on the virtual clock, run as `wirelab run` runs it without pictures.
//!
//! Two measurements, interleaved round by round so that machine load affects them alike:
//! `--capture none` (nothing recorded at any vantage point: the figure the bench is for) and
//! `--capture all` (the client's capture recorded, and rendered as pcapng into a sink inside the
//! timed region, as `wirelab run` writes it). Both check that every request was answered and
//! that they measured the same latencies. Best of `REPEATS`.
//!
//! Output: `name: value` lines on stdout (plus one `#` header line).

use std::time::{Duration, Instant};

use wirelab::capture::{Keep, DEFAULT_EPOCH_UNIX_MICROS};
use wirelab::script::plan::{self, Overrides, ScenarioPlan};
use wirelab::script::Lab;

const REPEATS: usize = 3;
const SEED: u64 = 1;

fn plan(keep: Keep) -> ScenarioPlan {
    let lab = Lab::load("tail-latency").expect("the built-in lab");
    let i = lab.scenario_names().iter().position(|n| *n == "sequential").expect("its sequential scenario");
    plan::plan(&lab, i, &Overrides { capture: keep, ..Default::default() }).expect("a plan")
}

/// One run: its wall time and its metrics.
fn run(plan: &ScenarioPlan) -> (Duration, std::collections::BTreeMap<String, f64>) {
    let start = Instant::now();
    let out = wirelab::runner::run_scenario(plan, SEED).expect("the scenario runs");
    if plan.capture != Keep::None {
        let mut sink = std::io::sink();
        out.capture.write_pcapng(&mut sink, Some(&out.key_log), DEFAULT_EPOCH_UNIX_MICROS).expect("rendering");
    }
    let wall = start.elapsed();
    assert!(out.timeline.error.is_none(), "the run did not finish: {:?}", out.timeline.error);
    (wall, out.timeline.metrics)
}

fn main() {
    let (none, all) = (plan(Keep::None), plan(Keep::All));
    let requests: f64 = none.params.get("requests").and_then(|r| r.parse().ok()).expect("a request count");
    let calls: f64 = none.params.get("calls").and_then(|c| c.parse().ok()).expect("a call count");
    println!(
        "# wirelab chain: tail-latency sequential, {requests} requests x {calls} backend calls, virtual clock, best of {REPEATS}"
    );
    let (mut best_none, mut best_all) = (Duration::MAX, Duration::MAX);
    let mut measured = None;
    for _ in 0..REPEATS {
        let (wall, metrics) = run(&none);
        best_none = best_none.min(wall);
        assert_eq!(metrics.get("requests"), Some(&requests));
        assert_eq!(metrics.get("failed_requests"), Some(&0.0));
        let (wall, with_capture) = run(&all);
        best_all = best_all.min(wall);
        assert_eq!(metrics, with_capture, "the capture changed a metric");
        measured = Some(metrics);
    }
    let metrics = measured.expect("at least one round");
    let per_s = |d: Duration| requests / d.as_secs_f64();
    println!("chain_requests: {requests}");
    println!("chain_calls_per_request: {calls}");
    println!("chain_client_frames: {}", metrics.get("frames").copied().unwrap_or(0.0));
    println!("chain_virtual_s: {:.1}", metrics.get("total_ms").copied().unwrap_or(0.0) / 1000.0);
    println!("chain_wall_ms_capture_none: {:.0}", best_none.as_secs_f64() * 1000.0);
    println!("chain_wall_ms_capture_all: {:.0}", best_all.as_secs_f64() * 1000.0);
    println!("chain_requests_per_s_capture_none: {:.0}", per_s(best_none));
    println!("chain_requests_per_s_capture_all: {:.0}", per_s(best_all));
}
