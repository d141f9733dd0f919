//! `wirelab sweep` through the binary: run numbering, parameters, determinism across --jobs and
//! --shard, seeds as the source of randomness, and bad input.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;

fn wirelab(args: &[&str], out: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .arg("sweep")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("cannot start the wirelab binary")
}

fn shown(args: &[&str], o: &Output) -> String {
    format!(
        "wirelab sweep {args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a sweep that must exit with `code`, and returns the bytes of `file` in the output dir.
fn sweep(args: &[&str], code: i32, file: &str) -> (Vec<u8>, String) {
    let dir = TempDir::new().unwrap();
    let o = wirelab(args, dir.path());
    assert_eq!(o.status.code(), Some(code), "{}", shown(args, &o));
    let bytes = std::fs::read(dir.path().join(file)).unwrap_or_else(|e| panic!("no {file}: {e}\n{}", shown(args, &o)));
    (bytes, String::from_utf8(o.stdout).unwrap())
}

fn lines(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn total_ms(v: &Value) -> f64 {
    v["metrics"]["total_ms"].as_f64().unwrap_or_else(|| panic!("no metrics.total_ms in {v}"))
}

const RTT_SWEEP: &[&str] = &["handshake", "--scenario", "fresh-tls13", "--set", "rtt=50ms,150ms", "--seeds", "1..3"];

#[test]
fn rtt_sweep_numbers_runs_and_scales_with_rtt() {
    let (bytes, stdout) = sweep(RTT_SWEEP, 0, "handshake-sweep.jsonl");
    let runs = lines(&bytes);
    assert_eq!(runs.len(), 6);
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r["run"], i as u64);
        assert_eq!(r["lab"], "handshake");
        assert_eq!(r["scenario"], "fresh-tls13");
        // Combination-major, then seed.
        assert_eq!(r["seed"], (i % 3 + 1) as u64);
        assert_eq!(r["params"]["rtt"], if i < 3 { "50ms" } else { "150ms" });
        assert_eq!(r["params"].as_object().unwrap().len(), 1, "params holds only the varied keys: {r}");
        assert_eq!(r["ok"], true, "{r}");
        assert!(r["error"].is_null());
        assert!(r["phases"]["tcp_handshake"].is_number(), "{r}");
    }
    // Every RTT-bound phase scales 3x; the cold DNS lookup (dns_rtt + upstream_rtt) does not.
    let rtt_bound = |r: &Value| total_ms(r) - r["phases"]["dns"].as_f64().unwrap();
    let ratio = rtt_bound(&runs[3]) / rtt_bound(&runs[0]);
    assert!((ratio - 3.0).abs() < 0.03, "150 ms vs 50 ms: ratio {ratio}");
    assert!(stdout.contains("rtt") && stdout.contains("50ms") && stdout.contains("p99"), "{stdout}");
}

#[test]
fn slow_start_total_is_three_times_at_three_times_the_rtt() {
    let args = ["slow-start", "--scenario", "iw10-fresh", "--set", "rtt=50ms,150ms", "--seeds", "1..2"];
    let (bytes, _) = sweep(&args, 0, "slow-start-sweep.jsonl");
    let runs = lines(&bytes);
    assert_eq!(runs.len(), 4);
    let ratio = total_ms(&runs[2]) / total_ms(&runs[0]);
    assert!((ratio - 3.0).abs() < 0.03, "150 ms vs 50 ms: ratio {ratio}");
}

#[test]
fn jobs_do_not_change_the_results() {
    let args =
        ["handshake", "--scenario", "fresh-tls13", "--link", "loss 2%", "--set", "rtt=50ms,150ms", "--seeds", "1..4"];
    let one = [&args[..], &["--jobs", "1"]].concat();
    let two = [&args[..], &["--jobs", "2"]].concat();
    // At 2% loss the handshake's RTT checks are skipped (they hold on lossless paths): exit 0.
    let (a, _) = sweep(&one, 0, "handshake-sweep.jsonl");
    let (b, _) = sweep(&two, 0, "handshake-sweep.jsonl");
    assert_eq!(a.len(), b.len());
    assert!(a == b, "--jobs 1 and --jobs 2 wrote different results");
}

#[test]
fn shards_concatenate_into_the_whole_sweep() {
    let (full, _) = sweep(RTT_SWEEP, 0, "handshake-sweep.jsonl");
    let mut parts = Vec::new();
    for shard in ["0/2", "1/2"] {
        let args = [RTT_SWEEP, &["--shard", shard, "--jobs", "2"]].concat();
        let file = format!("handshake-sweep.shard-{}-of-2.jsonl", &shard[..1]);
        let (bytes, _) = sweep(&args, 0, &file);
        let runs = lines(&bytes);
        let i: u64 = shard[..1].parse().unwrap();
        assert!(runs.iter().all(|r| r["run"].as_u64().unwrap() % 2 == i), "shard {shard} holds others' runs");
        parts.extend(std::str::from_utf8(&bytes).unwrap().lines().map(str::to_string));
    }
    parts.sort_by_key(|l| serde_json::from_str::<Value>(l).unwrap()["run"].as_u64().unwrap());
    let joined: String = parts.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(joined, String::from_utf8(full).unwrap());
}

#[test]
fn random_loss_differs_between_seeds() {
    let args = ["handshake", "--scenario", "fresh-tls13", "--link", "loss 2%", "--seeds", "1..8"];
    let dir = TempDir::new().unwrap();
    let o = wirelab(&args, dir.path());
    // Loss may break the lab's RTT expectations (exit 1); the runs themselves must complete.
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", shown(&args, &o));
    let runs = lines(&std::fs::read(dir.path().join("handshake-sweep.jsonl")).unwrap());
    assert_eq!(runs.len(), 8);
    assert!(runs.iter().all(|r| r["params"].as_object().unwrap().is_empty()));
    let mut totals: Vec<f64> = runs.iter().map(total_ms).collect();
    totals.sort_by(f64::total_cmp);
    totals.dedup();
    assert!(totals.len() > 1, "every seed gave the same total_ms: {totals:?}");
    // Same seed, same result: run it again.
    let again = TempDir::new().unwrap();
    wirelab(&args, again.path());
    assert_eq!(
        std::fs::read(dir.path().join("handshake-sweep.jsonl")).unwrap(),
        std::fs::read(again.path().join("handshake-sweep.jsonl")).unwrap()
    );
}

#[test]
fn a_known_metric_absent_from_a_scenario_gives_no_values() {
    let args = [RTT_SWEEP, &["--metric", "page_load_ms"]].concat();
    let (_, stdout) = sweep(&args, 0, "handshake-sweep.jsonl");
    assert!(stdout.contains("no values"), "{stdout}");
}

#[test]
fn bad_input_exits_2_naming_the_flag_and_writes_nothing() {
    let base = ["handshake", "--scenario", "fresh-tls13"];
    let cases: &[(&[&str], &[&str])] = &[
        (&["--seeds", "3..1"], &["--seeds", "3..1"]),
        (&["--seeds", "1-3"], &["--seeds", "A..B"]),
        (&["--seeds", "1..2", "--set", "rtt="], &["--set", "rtt="]),
        (&["--seeds", "1..2", "--set", "rtt"], &["--set", "KEY=V1,V2"]),
        (&["--seeds", "1..2", "--set", "nope=1,2"], &["--set", "nope", "unknown parameter"]),
        (&["--seeds", "1..2", "--set", "rtt=fast"], &["--set", "rtt=fast"]),
        (&["--seeds", "1..2", "--shard", "2/2"], &["--shard", "2/2"]),
        (&["--seeds", "1..2", "--shard", "0/0"], &["--shard", "0/0"]),
        (&["--seeds", "1..2", "--shard", "1"], &["--shard", "I/N"]),
        (&["--seeds", "1..2", "--jobs", "0"], &["--jobs", "0"]),
        (&["--seeds", "1..100001"], &["--seeds", "100000"]),
        (&["--seeds", "1..50001", "--set", "rtt=1ms,2ms"], &["--seeds", "100000"]),
        (&["--set", "rtt=1ms"], &["--seeds"]),
        (&["--seeds", "1..2", "--scenario", "nope"], &["--scenario", "nope"]),
        (&["--seeds", "1..2", "--metric", "no_such_metric"], &["--metric no_such_metric", "total_ms"]),
    ];
    for (extra, needles) in cases {
        let args = [&base[..], extra].concat();
        let dir = TempDir::new().unwrap();
        let out = dir.path().join("out");
        let o = wirelab(&args, &out);
        let text = shown(&args, &o);
        assert_eq!(o.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "not one line: {text}");
        assert!(!stderr.contains("panicked"), "{text}");
        for n in *needles {
            assert!(stderr.contains(n), "message does not mention {n:?}: {text}");
        }
        assert!(!out.exists(), "bad input created {}: {text}", out.display());
    }
}

/// A run that did not finish gives no value: its unfinished phases are null, the summary counts
/// it as failed and leaves it out of the percentiles.
#[test]
fn runs_that_did_not_finish_contribute_no_value() {
    let args = ["slow-start", "--scenario", "iw10-fresh", "--set", "loss=0%,100%", "--seeds", "1..3"];
    let (bytes, stdout) = sweep(&args, 1, "slow-start-sweep.jsonl");
    let runs = lines(&bytes);
    for r in runs.iter().filter(|r| r["params"]["loss"] == "100%") {
        assert!(r["error"].is_string(), "{r}");
        assert!(r["phases"]["tcp_handshake"].is_null(), "an unfinished phase has no duration: {r}");
        assert!(r["metrics"].get("total_ms").is_none(), "{r}");
    }
    let row =
        |value: &str| stdout.lines().find(|l| l.split_whitespace().take(2).eq(["loss", value])).unwrap().to_string();
    assert_eq!(row("0%").split_whitespace().collect::<Vec<_>>()[2..4], ["3", "0"], "{stdout}");
    assert_eq!(row("100%").split_whitespace().collect::<Vec<_>>()[2..], ["0", "3", "no", "values"], "{stdout}");
    let all = stdout.lines().find(|l| l.contains("(all)")).unwrap();
    assert_eq!(all.split_whitespace().collect::<Vec<_>>()[2..4], ["3", "3"], "{stdout}");
    assert!(stdout.contains("6 runs: 3 succeeded, 3 failed (3 did not finish"), "{stdout}");
}
