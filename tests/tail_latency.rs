//! The tail-latency lab, away from its defaults: each figure against the theory computed from
//! the settings that ran, within a stated statistical tolerance.
//!
//! A fraction measured over n requests has a binomial standard error sqrt(q (1 - q) / n); the
//! tests accept 4 standard errors (a false alarm about once in 16,000 runs, and the seeds are
//! fixed, so a run that passes keeps passing).

mod common;

use wirelab::runner::{run_scenario, theory, ScenarioOutput};
use wirelab::script::plan::{plan, Overrides, ScenarioPlan};
use wirelab::script::Lab;

fn planned(name: &str, set: &[(&str, &str)]) -> ScenarioPlan {
    let lab = Lab::load("tail-latency").unwrap();
    let i = lab.scenario_names().iter().position(|n| *n == name).unwrap();
    let overrides =
        Overrides { set: set.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() };
    plan(&lab, i, &overrides).unwrap()
}

fn run(name: &str, set: &[(&str, &str)], seed: u64) -> (ScenarioPlan, ScenarioOutput) {
    let p = planned(name, set);
    let out = run_scenario(&p, seed).unwrap();
    assert!(out.timeline.error.is_none(), "{name}: {:?}", out.timeline.error);
    (p, out)
}

fn metric(out: &ScenarioOutput, key: &str) -> f64 {
    *out.timeline.metrics.get(key).unwrap_or_else(|| panic!("no metric {key}: {:?}", out.timeline.metrics))
}

fn theory_of(model: &str, p: &ScenarioPlan) -> f64 {
    let (v, how) = theory::figure(Some(model), 0.0, p);
    v.unwrap_or_else(|| panic!("model {model}: {how}"))
}

/// `measured` is within 4 binomial standard errors of `q` over `n` trials.
fn within_4_se(what: &str, measured: f64, q: f64, n: f64) {
    let se = (q * (1.0 - q) / n).sqrt();
    assert!((measured - q).abs() <= 4.0 * se, "{what}: measured {measured:.4}, theory {q:.4}, 4 SE = {:.4}", 4.0 * se);
}

#[test]
fn a_chain_of_three_meets_the_p99_as_often_as_the_theory_says() {
    // Three calls, a wider distribution (p50 20 ms, p99 80 ms) and a 2 ms hop.
    let set =
        [("calls", "3"), ("service_p50", "20ms"), ("service_p99", "80ms"), ("hop_rtt", "2ms"), ("requests", "3000")];
    let (p, out) = run("sequential", &set, 7);
    let n = metric(&out, "requests");
    assert_eq!(n, 3000.0);
    assert_eq!(metric(&out, "failed_requests"), 0.0);
    assert_eq!(metric(&out, "calls"), 9000.0, "3 calls per request");
    let q = theory_of("all_calls_under_p99", &p);
    // The 2 ms round trip is part of each call: 0.99^3 = 0.970 for service times alone.
    assert!(q < 0.99f64.powi(3) && q > 0.95, "theory {q}");
    within_4_se("all 3 calls under p99", metric(&out, "frac_all_calls_under_p99"), q, n);
    // The chain's p99 as a single-call percentile: 100 x 0.99^(1/3) = 99.666. Its error: the
    // chain's p99 is known to sqrt(0.99 x 0.01 / n) in probability, which maps to a third of
    // that (times 0.99^(-2/3)) in the single call's.
    let single = metric(&out, "single_percentile_of_chain_p99");
    let expected = theory_of("chain_percentile", &p);
    let tolerance = 100.0 * 4.0 * (0.99 * 0.01 / n).sqrt() / 3.0 * 0.99f64.powf(-2.0 / 3.0);
    assert!((single - expected).abs() <= tolerance, "percentile {single} vs {expected} ± {tolerance}");
    // Three calls of at least 2 ms round trip each, plus the client's: no request under 8 ms.
    assert!(metric(&out, "latency_p50_ms") > 8.0 + 3.0 * 15.0, "p50 {}", metric(&out, "latency_p50_ms"));
}

#[test]
fn parallel_pareto_calls_take_the_max_not_the_sum() {
    let set = [
        ("calls", "5"),
        ("service_dist", "pareto"),
        ("service_p50", "4ms"),
        ("service_p99", "29ms"),
        ("hop_rtt", "0.4ms"),
        ("requests", "2000"),
    ];
    let (p, par) = run("parallel", &set, 3);
    let (_, seq) = run("sequential", &set, 3);
    within_4_se(
        "all 5 under p99",
        metric(&par, "frac_all_calls_under_p99"),
        theory_of("all_calls_under_p99", &p),
        2000.0,
    );
    // Sum of five against the max of five: the sequential median is several times larger.
    let (ps, ss) = (metric(&par, "latency_p50_ms"), metric(&seq, "latency_p50_ms"));
    assert!(ss > 3.0 * ps, "sequential p50 {ss} ms vs parallel {ps} ms");
    assert!(metric(&seq, "latency_p99_ms") > metric(&par, "latency_p99_ms"));
}

#[test]
fn hedging_both_copies_at_once_squares_the_slow_share() {
    let set = [("hedge_after", "0ms"), ("calls", "2"), ("service_p99", "40ms"), ("requests", "2000")];
    let (p, out) = run("hedged", &set, 5);
    // Every call sends its second copy at once: one extra try per call, and every loser cancelled.
    assert_eq!(metric(&out, "extra_load"), 1.0);
    assert_eq!(metric(&out, "hedges"), 4000.0);
    assert_eq!(metric(&out, "cancelled_tries"), 4000.0, "each call's slower copy is cancelled");
    let q = theory_of("all_calls_under_p99", &p);
    assert!(q > 0.999, "p -> p^2: {q}");
    within_4_se("both calls under p99, hedged", metric(&out, "frac_all_calls_under_p99"), q, 2000.0);
}

#[test]
fn hedging_after_the_p90_costs_about_a_tenth_more_calls() {
    let set = [("hedge_after", "p90"), ("requests", "1500")];
    let (p, out) = run("hedged", &set, 11);
    let calls = metric(&out, "calls");
    // The first 100 calls are observed before hedging starts.
    within_4_se("extra load", metric(&out, "extra_load"), theory_of("hedge_load", &p), calls);
}

#[test]
fn a_fan_out_is_slow_when_any_leaf_is() {
    let set = [("fanout", "20"), ("slow_fraction", "5%"), ("slow_time", "300ms"), ("requests", "500")];
    let (p, out) = run("fanout", &set, 2);
    let q = theory_of("fanout_slow", &p);
    assert!((q - (1.0 - 0.95f64.powi(20))).abs() < 0.002, "1 - 0.95^20 = 0.642: {q}");
    within_4_se("slow requests", metric(&out, "frac_slow_requests"), q, 500.0);
    // A slow request waits for its slow leaf: at least 300 ms, plus the round trips.
    assert!(metric(&out, "latency_p90_ms") >= 300.0);
}

#[test]
fn no_request_waits_past_its_deadline() {
    let set = [("deadline", "60ms"), ("per_try_timeout", "25ms"), ("retries", "1"), ("requests", "1500")];
    let (_, out) = run("deadline", &set, 4);
    let max = metric(&out, "latency_max_ms");
    // The deadline runs at the gateway, from the request's arrival there. On top come the
    // client's own leg (a 0.5 ms round trip) and, for a request that found every pooled
    // connection busy, one more round trip to open a connection.
    assert!(max <= 60.0 + 2.0 * 0.5 + 0.01, "slowest answer {max} ms");
    assert!(metric(&out, "deadline_exceeded") > 0.0, "four 10 ms-median calls miss 60 ms now and then");
    assert!(metric(&out, "failed_requests") >= metric(&out, "deadline_exceeded"));
    assert!(metric(&out, "retries") > 0.0 && metric(&out, "timeouts") >= metric(&out, "retries"));
}

#[test]
fn same_seed_same_bytes() {
    let set = [("requests", "300")];
    let (_, a) = run("hedged", &set, 9);
    let (_, b) = run("hedged", &set, 9);
    let (_, c) = run("hedged", &set, 10);
    assert_eq!(a.pcapng(), b.pcapng());
    assert_eq!(a.timeline.metrics, b.timeline.metrics);
    assert_ne!(a.timeline.metrics, c.timeline.metrics, "another seed, other service times");
}

#[test]
fn bad_service_settings_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (set, says) in [
        ("hedge_after=p101", "hedge_after"),
        ("service_dist=gamma", "service_dist"),
        ("service_p99=5ms", "p99"),
        ("calls=0", "calls"),
        ("policy=random", "policy"),
    ] {
        let out = common::wirelab()
            // One small scenario: a value wrongly accepted costs a second, not minutes.
            .args(["run", "tail-latency", "--scenario", "hedged", "--set", "requests=10", "--set", set, "--out"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--set {set}: {stderr}");
        assert!(stderr.contains(says), "--set {set}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

#[test]
fn the_latency_plot_draws_what_the_json_says() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = ["--scenario", "single", "--scenario", "sequential", "--set", "requests=300"];
    common::run_lab("tail-latency", a.path(), &args);
    common::run_lab("tail-latency", b.path(), &args);
    let svg = std::fs::read_to_string(a.path().join("tail-latency-latency-cdf.svg")).unwrap();
    assert_eq!(
        svg.as_bytes(),
        std::fs::read(b.path().join("tail-latency-latency-cdf.svg")).unwrap(),
        "same seed, same picture"
    );
    let json = common::lab_timeline(a.path(), "tail-latency");
    for s in json["scenarios"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let cdf = s["latency_cdf"].as_array().unwrap();
        assert_eq!(cdf.len(), 103, "1..99, 99.5, 99.9, 99.99, 100");
        for pct in [50.0, 90.0, 99.0] {
            let ms = cdf.iter().find(|p| p["percentile"].as_f64() == Some(pct)).unwrap()["ms"].as_f64().unwrap();
            let mark = format!(r#"data-series="{name}" data-pct="{pct}" data-ms="{ms:.3}""#);
            assert!(svg.contains(&mark), "no point {mark} in the plot");
        }
        let p50 = s["metrics"]["latency_p50_ms"].as_f64().unwrap();
        assert!(cdf.iter().any(|p| p["percentile"].as_f64() == Some(50.0) && p["ms"].as_f64() == Some(p50)));
    }
    let html = std::fs::read_to_string(a.path().join("tail-latency.html")).unwrap();
    assert!(html.contains("Latency by percentile"), "the report shows the plot");
}

/// Each request's latency splits along its critical path into parts that add up to it
/// exactly (virtual microseconds), and the parts are the settings': a sequential chain of 3
/// calls at a 1.3 ms hop spends 4 round trips (the client's and 3 calls') on the network; with
/// a concurrency limit of 1 per backend, requests queue; the split requests are the ones at
/// the latency percentiles.
#[test]
fn each_requests_time_splits_into_parts_that_add_up() {
    let set = [("calls", "3"), ("hop_rtt", "1.3ms"), ("requests", "600"), ("rate", "150")];
    let (_, out) = run("sequential", &set, 5);
    let b = &out.timeline.breakdown;
    assert_eq!(b.iter().map(|x| x.percentile).collect::<Vec<_>>(), [50.0, 90.0, 99.0, 99.9]);
    for (x, key) in b.iter().zip(["latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_p999_ms"]) {
        assert_eq!(x.total_ms, metric(&out, key), "p{}", x.percentile);
        let sum = x.network_ms + x.handshake_ms + x.queue_ms + x.service_ms + x.gateway_ms;
        assert!((sum - x.total_ms).abs() < 1e-6, "p{}: parts {sum} vs {}", x.percentile, x.total_ms);
        assert!((x.network_ms - 4.0 * 1.3).abs() < 1e-6, "p{}: network {} ms", x.percentile, x.network_ms);
        assert_eq!((x.handshake_ms, x.queue_ms, x.gateway_ms), (0.0, 0.0, 0.0), "warm pools, no limit");
    }
    // The deadline scenario's slowest requests waited out a per-try timeout at the gateway.
    let (_, out) = run("deadline", &[("requests", "1500")], 3);
    let p999 = out.timeline.breakdown.iter().find(|x| x.percentile == 99.9).unwrap();
    assert!(p999.gateway_ms >= 40.0, "{p999:?}");
}

/// Tied requests at settings that are not the lab's: 2 calls, replicas serving 2 at a time,
/// 300 requests a second, the second copy after 2 ms. Both copies of a call are either one
/// dropped from a queue, or both run (counted): every tied copy is accounted for; the tail
/// falls below the untied chain's at the same load, and the work done twice stays small.
#[test]
fn tied_calls_wait_in_the_shorter_queue() {
    let set = [
        ("calls", "2"),
        ("backend_concurrency", "2"),
        ("rate", "300"),
        ("requests", "2500"),
        ("tie_delay", "2ms"),
        ("hop_rtt", "1ms"),
    ];
    let (_, queued) = run("queued", &set, 11);
    let (_, tied) = run("tied", &set, 11);
    assert_eq!(metric(&tied, "failed_requests"), 0.0);
    let ties = metric(&tied, "ties");
    assert!(ties > 0.98 * 5000.0 && ties <= 5000.0, "{ties} tied copies of 5,000 calls");
    let (dropped, both) = (metric(&tied, "tie_dropped"), metric(&tied, "tie_both_ran"));
    assert!(dropped + both <= ties && dropped + both >= 0.95 * ties, "{dropped} dropped + {both} both, of {ties}");
    assert!(both < 0.15 * ties, "{both} of {ties} calls ran twice");
    let (q99, t99) = (metric(&queued, "latency_p99_ms"), metric(&tied, "latency_p99_ms"));
    assert!(t99 < 0.85 * q99, "p99 tied {t99} ms, queued {q99} ms");
    // The queued chain's p99 request spent more time queueing than the tied one's.
    let queue = |o: &ScenarioOutput| o.timeline.breakdown.iter().find(|b| b.percentile == 99.0).unwrap().queue_ms;
    assert!(queue(&tied) < queue(&queued), "queue at p99: tied {}, queued {}", queue(&tied), queue(&queued));
}

/// HTTP/2 gives the same figures with far fewer connections: the root's leaf calls share its 4
/// warm connections per leaf (16), where HTTP/1.1 opens one per call in flight; at an odd hop
/// RTT and fan-out, both answer every request and every leaf call.
#[test]
fn http2_fans_out_over_the_warm_connections_only() {
    let set = |http| [("http", http), ("fanout", "37"), ("requests", "60"), ("hop_rtt", "2.9ms")];
    let (_, h1) = run("fanout", &set("1.1"), 4);
    let (_, h2) = run("fanout", &set("2"), 4);
    for (name, out) in [("1.1", &h1), ("2", &h2)] {
        assert_eq!(metric(out, "failed_requests"), 0.0, "HTTP/{name}");
        assert_eq!(metric(out, "calls"), 60.0 * 37.0, "HTTP/{name}");
    }
    assert_eq!(metric(&h2, "upstream_connections"), 16.0, "HTTP/2: the 4 warm connections to each of 4 leaves");
    assert!(metric(&h1, "upstream_connections") > 37.0, "HTTP/1.1: {}", metric(&h1, "upstream_connections"));
    // The same service times were drawn: the slow share is the same.
    assert_eq!(metric(&h1, "frac_slow_requests"), metric(&h2, "frac_slow_requests"));
}
