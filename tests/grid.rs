//! The settings grid: every lab, run away from its defaults, must complete (or be refused at
//! load with exit 2) and stay right. For each run:
//!
//! - every scenario finishes (a lab check may fail at an odd setting: that is reported, with the
//!   check, but it is the lab's expectation, not a wrong measurement);
//! - on a path without jitter or loss, TCP takes 1 RTT, TLS 1.3 1 RTT and TLS 1.2 2 RTTs, and the
//!   IW10 rounds double from the configured window and MSS;
//! - every frame of every capture is commented, and tshark reports no Error item;
//! - wirelab's retransmission count equals Wireshark's;
//! - in every table, succeeded + failed = runs;
//! - the latency budget's checks (exact sums of round trips) hold on a clean path.
//!
//! `cargo test --test grid` runs a small grid (CI: handshake, slow-start, two hol scenarios and
//! the latency budget); `scripts/grid` sets `WIRELAB_GRID=full` for every lab at RTTs
//! {0.5, 1, 3, 9, 23, 97, 413 ms, 1 s} x loss {0, 0.3%, 2%} x seeds {1, 2, 3} (seed 1 only for
//! dns-failover and tail-latency, whose runs are thousands of requests long), plus links with
//! jitter and with a rate, and prints a pass/fail table per lab.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;

/// One run of the grid: a lab (and the scenarios to run) under one setting.
#[derive(Clone, Debug)]
struct Cell {
    lab: &'static str,
    scenarios: &'static [&'static str],
    /// The column of the table: "loss 0%", "jitter", "rate".
    setting: String,
    rtt: &'static str,
    seed: u64,
    args: Vec<String>,
    /// No loss and no jitter on the client–server path: exact RTT counts must hold.
    clean: bool,
}

const HOL: &[&str] =
    &["one-loss-h1", "one-loss-h2", "one-loss-h3", "random-loss-h1", "random-loss-h2", "random-loss-h3"];

fn cells(full: bool) -> Vec<Cell> {
    let rtts: &[&str] =
        if full { &["0.5ms", "1ms", "3ms", "9ms", "23ms", "97ms", "413ms", "1s"] } else { &["0.5ms", "29ms", "413ms"] };
    let losses: &[&str] = if full { &["0%", "0.3%", "2%"] } else { &["0%", "2%"] };
    let seeds: &[u64] = if full { &[1, 2, 3] } else { &[1] };
    // The lab and the scenarios of it to run (hol by scenario: --loss would fight its loss
    // table), and whether it runs every seed (the labs of thousands of requests take one).
    let labs: &[(&str, &[&str], bool)] = if full {
        &[
            ("handshake", &[], true),
            ("slow-start", &[], true),
            ("keepalive", &[], true),
            ("hol", HOL, true),
            ("latency-budget", &[], true),
            ("dns-failover", &[], false),
            ("tail-latency", &[], false),
        ]
    } else {
        &[
            ("handshake", &[], true),
            ("slow-start", &[], true),
            ("hol", &["one-loss-h2", "one-loss-h3"], true),
            ("latency-budget", &[], true),
        ]
    };
    let mut out = Vec::new();
    for &(lab, scenarios, every_seed) in labs {
        for &rtt in rtts {
            for &seed in if every_seed { seeds } else { &seeds[..1] } {
                for &loss in losses {
                    out.push(Cell {
                        lab,
                        scenarios,
                        setting: format!("loss {loss}"),
                        rtt,
                        seed,
                        args: vec!["--rtt".into(), rtt.into(), "--loss".into(), loss.into()],
                        clean: loss == "0%",
                    });
                }
                // Jitter, and jitter with a rate (packets never closer than their serialization).
                let half = half(rtt);
                for (setting, words) in [
                    ("jitter", format!("delay {half} {}", quarter(rtt))),
                    ("jitter+rate", format!("delay {half} {} rate 20mbit limit 200", quarter(rtt))),
                ] {
                    if !full && rtt != "29ms" {
                        continue;
                    }
                    out.push(Cell {
                        lab,
                        scenarios,
                        setting: setting.into(),
                        rtt,
                        seed,
                        args: vec!["--link".into(), words],
                        clean: false,
                    });
                }
            }
        }
    }
    out
}

fn micros(rtt: &str) -> u64 {
    wirelab::units::parse_duration(rtt).unwrap().as_micros() as u64
}

fn half(rtt: &str) -> String {
    format!("{}us", micros(rtt) / 2)
}

fn quarter(rtt: &str) -> String {
    format!("{}us", (micros(rtt) / 4).max(1))
}

/// What went wrong in one cell (empty: right), and the lab checks that did not hold there.
#[derive(Default)]
struct Verdict {
    wrong: Vec<String>,
    checks_failed: Vec<String>,
}

fn run(cell: &Cell, tshark: Option<&str>) -> Verdict {
    let dir = tempfile::TempDir::new().unwrap();
    let mut cmd = common::wirelab();
    cmd.args(["run", cell.lab, "--seed", &cell.seed.to_string(), "--out"]).arg(dir.path()).args(&cell.args);
    for s in cell.scenarios {
        cmd.args(["--scenario", s]);
    }
    let out = cmd.output().expect("cannot start wirelab");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let mut v = Verdict::default();
    match out.status.code() {
        Some(0) | Some(1) => {}
        Some(2) => {
            // Refused at load: one line naming what was wrong.
            if stderr.trim_end().lines().count() != 1 || !stderr.contains("allowed") {
                v.wrong.push(format!("exit 2 without a one-line reason: {stderr}"));
            }
            return v;
        }
        other => {
            v.wrong.push(format!("exit {other:?}: {stderr}"));
            return v;
        }
    }
    let t = common::lab_timeline(dir.path(), cell.lab);
    for s in t["scenarios"].as_array().unwrap() {
        check_scenario(cell, s, dir.path(), tshark, &mut v);
    }
    for row in t["loss_table"].as_array().into_iter().flatten() {
        let (runs, failed) = (row["runs"].as_u64().unwrap_or(0), row["failed"].as_u64().unwrap_or(u64::MAX));
        if failed > runs {
            v.wrong.push(format!("loss table row {row}: failed > runs"));
        }
    }
    v
}

fn check_scenario(cell: &Cell, s: &Value, dir: &Path, tshark: Option<&str>, v: &mut Verdict) {
    let name = s["name"].as_str().unwrap_or("?");
    if let Some(e) = s["error"].as_str() {
        v.wrong.push(format!("{name} did not finish: {e}"));
        return;
    }
    for e in s["expectations"].as_array().into_iter().flatten() {
        if e["ok"] == false && e["skipped"].is_null() {
            let failed = format!("{name}: {} (measured {})", e["check"].as_str().unwrap_or(""), e["measured"]);
            // The latency budget's checks are exact sums of the round trips that ran: on a
            // path without loss or jitter, any RTT, each must hold.
            if cell.clean && cell.lab == "latency-budget" {
                v.wrong.push(format!("{failed} on a clean path"));
            } else {
                v.checks_failed.push(failed);
            }
        }
    }
    let phase_rtts = |id: &str| {
        s["phases"].as_array().and_then(|p| p.iter().find(|p| p["id"] == id)).and_then(|p| p["rtts"].as_f64())
    };
    if cell.clean {
        let near = |got: Option<f64>, want: f64| got.is_some_and(|g| (g - want).abs() < 0.005);
        let tcp = phase_rtts("tcp_handshake");
        if tcp.is_some() && !near(tcp, 1.0) {
            v.wrong.push(format!("{name}: TCP handshake {tcp:?} RTTs on a clean path"));
        }
        if let Some(tls) = phase_rtts("tls_handshake") {
            let want = if name == "fresh-tls12" { 2.0 } else { 1.0 };
            if !near(Some(tls), want) {
                v.wrong.push(format!("{name}: TLS handshake {tls} RTTs on a clean path, want {want}"));
            }
        }
        if name == "iw10-fresh" {
            check_doubling(name, s, v);
        }
    }
    let Some(tshark) = tshark else { return };
    let file = dir.join(s["capture"].as_str().unwrap_or(""));
    let rows =
        common::tshark_lines(tshark, &file, &["-T", "fields", "-e", "frame.comment", "-e", "_ws.expert.severity"]);
    if rows.iter().any(|r| r.split('\t').next().unwrap_or("").trim().is_empty()) {
        v.wrong.push(format!("{name}: a frame without a comment"));
    }
    // Wireshark's PI_ERROR severity.
    let errors = rows.iter().filter(|r| r.split('\t').nth(1).is_some_and(|x| x.split(',').any(|x| x == "8388608")));
    let errors = errors.count();
    if errors > 0 {
        v.wrong.push(format!("{name}: {errors} frames with tshark Error items"));
    }
    if let Some(ours) = s["metrics"]["retransmissions"].as_f64() {
        let filter = "ip.src == 10.0.0.2 && tcp.len > 0 && (tcp.analysis.retransmission || tcp.analysis.fast_retransmission || tcp.analysis.out_of_order)";
        let theirs = common::tshark_lines(tshark, &file, &["-Y", filter]).len() as f64;
        if ours != theirs {
            v.wrong.push(format!("{name}: {ours} retransmissions, Wireshark {theirs}"));
        }
    }
}

/// IW10 rounds: 10, 20, 40 ... segments of the configured MSS, until the response runs out.
fn check_doubling(name: &str, s: &Value, v: &mut Verdict) {
    let rounds: Vec<u64> =
        s["rounds"].as_array().into_iter().flatten().filter_map(|r| r["segments"].as_u64()).collect();
    let mut want = 10;
    for (i, &got) in rounds.iter().enumerate() {
        let last = i + 1 == rounds.len();
        if (!last && got != want) || (last && got > want) {
            v.wrong.push(format!("{name}: rounds {rounds:?}, expected doubling from 10"));
            return;
        }
        want *= 2;
    }
}

/// Per RTT (µs, as written), per setting: (runs, runs wrong, runs with a failed lab check).
type Table = BTreeMap<(u64, String), BTreeMap<String, (usize, usize, usize)>>;

#[test]
fn settings_grid() {
    let full = std::env::var("WIRELAB_GRID").is_ok_and(|v| v == "full");
    let tshark = common::tshark();
    let cells = cells(full);
    let results: Mutex<Vec<(usize, Verdict)>> = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(cell) = cells.get(i) else { break };
                let verdict = run(cell, tshark.as_deref());
                results.lock().unwrap().push((i, verdict));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    // A table per lab: rows are RTTs, columns settings; a cell is ok, or the count of wrong runs.
    let mut tables: BTreeMap<&str, Table> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (i, v) in &results {
        let c = &cells[*i];
        let cell = tables
            .entry(c.lab)
            .or_default()
            .entry((micros(c.rtt), c.rtt.to_string()))
            .or_default()
            .entry(c.setting.clone())
            .or_default();
        cell.0 += 1;
        cell.1 += usize::from(!v.wrong.is_empty());
        cell.2 += usize::from(!v.checks_failed.is_empty());
        for w in &v.wrong {
            wrong.push(format!("{} --seed {} {}: {w}", c.lab, c.seed, c.args.join(" ")));
        }
        for f in &v.checks_failed {
            println!("check failed (lab expectation) {} --seed {} {}: {f}", c.lab, c.seed, c.args.join(" "));
        }
    }
    for (lab, rows) in &tables {
        let columns: Vec<String> = {
            let mut c: Vec<String> = rows.values().flat_map(|r| r.keys().cloned()).collect();
            c.sort();
            c.dedup();
            c
        };
        println!("\n{lab}: runs wrong / runs (checks failed), per RTT and setting");
        print!("   {:<8}", "RTT");
        for c in &columns {
            print!(" {c:>16}");
        }
        println!();
        for ((_, rtt), row) in rows {
            print!("   {rtt:<8}");
            for c in &columns {
                let text = row.get(c).map_or("-".to_string(), |(n, bad, checks)| {
                    let verdict = if *bad == 0 { "ok".to_string() } else { format!("WRONG {bad}/{n}") };
                    if *checks > 0 {
                        format!("{verdict} ({checks} chk)")
                    } else {
                        verdict
                    }
                });
                print!(" {text:>16}");
            }
            println!();
        }
    }
    let total = results.len();
    println!("\n{total} runs: {} right, {} wrong", total - wrong.len().min(total), wrong.len());
    assert!(wrong.is_empty(), "{} wrong results in the grid:\n{}", wrong.len(), wrong.join("\n"));
}
