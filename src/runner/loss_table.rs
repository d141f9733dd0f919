//! Page load under random loss: several scenarios run over a range of loss rates and many
//! seeds, summarised as p50/p95/p99 per scenario (the head-of-line lab's comparison table).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use super::run_scenario;
use crate::script::plan::{self, Overrides};
use crate::script::{InputError, Lab};
use crate::timeline::percentile;

/// One (loss rate, scenario) cell of the table.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LossRow {
    pub loss: String,
    pub scenario: String,
    pub runs: usize,
    pub page_load_p50_ms: f64,
    pub page_load_p95_ms: f64,
    pub page_load_p99_ms: f64,
    /// Mean over runs of the longest stall of any object.
    pub max_stall_mean_ms: f64,
    /// Mean over runs of how many objects stalled at all.
    pub streams_stalled_mean: f64,
}

/// Runs the lab's `[loss_table]`, if it has one, on `jobs` threads. The result does not
/// depend on `jobs`: every run is a function of its loss rate, scenario and seed.
pub fn run(lab: &Lab, overrides: &Overrides, jobs: usize) -> anyhow::Result<Vec<LossRow>> {
    let Some(table) = &lab.raw.loss_table else { return Ok(Vec::new()) };
    let names = lab.scenario_names();
    let mut cases = Vec::new();
    for loss in &table.losses {
        for sc in &table.scenarios {
            let i = names
                .iter()
                .position(|n| n == sc)
                .ok_or_else(|| InputError::new(format!("[loss_table]: unknown scenario `{sc}`")))?;
            for seed in 1..=table.seeds {
                cases.push((loss.clone(), i, seed));
            }
        }
    }
    let results: Mutex<Vec<Option<(f64, f64, f64)>>> = Mutex::new(vec![None; cases.len()]);
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some((loss, i, seed)) = cases.get(k) else { break };
                let mut o = overrides.clone();
                o.set.push(("loss".into(), loss.clone()));
                let outcome =
                    plan::plan(lab, *i, &o).map_err(anyhow::Error::from).and_then(|p| run_scenario(&p, *seed));
                match outcome {
                    Ok(out) => {
                        let m = &out.timeline.metrics;
                        let get = |k: &str| m.get(k).copied().unwrap_or(f64::NAN);
                        let row = (get("page_load_ms"), get("max_stall_ms"), get("streams_stalled"));
                        if let Ok(mut r) = results.lock() {
                            r[k] = Some(row);
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(format!("{e:#}"));
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        anyhow::bail!("[loss_table]: {e}");
    }
    let results = results.into_inner().map_err(|_| anyhow::anyhow!("[loss_table]: a run panicked"))?;
    let mut rows = Vec::new();
    for loss in &table.losses {
        for sc in &table.scenarios {
            let cell: Vec<(f64, f64, f64)> = cases
                .iter()
                .zip(&results)
                .filter(|((l, i, _), _)| l == loss && names[*i] == sc)
                .filter_map(|(_, r)| *r)
                .filter(|r| !r.0.is_nan())
                .collect();
            let mut loads: Vec<f64> = cell.iter().map(|r| r.0).collect();
            loads.sort_by(f64::total_cmp);
            let n = cell.len().max(1) as f64;
            rows.push(LossRow {
                loss: loss.clone(),
                scenario: sc.clone(),
                runs: cell.len(),
                page_load_p50_ms: percentile(&loads, 50.0).unwrap_or(f64::NAN),
                page_load_p95_ms: percentile(&loads, 95.0).unwrap_or(f64::NAN),
                page_load_p99_ms: percentile(&loads, 99.0).unwrap_or(f64::NAN),
                max_stall_mean_ms: cell.iter().map(|r| r.1).sum::<f64>() / n,
                streams_stalled_mean: cell.iter().map(|r| r.2).sum::<f64>() / n,
            });
        }
    }
    Ok(rows)
}

/// The table, and which scenario is fastest (by p95) at each loss rate: where that changes,
/// the lines cross.
pub fn table(rows: &[LossRow]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if rows.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Page load under random loss ({} seeds per cell): ms, and stalls", rows[0].runs);
    let _ = writeln!(
        out,
        "   {:<6} {:<16} {:>9} {:>9} {:>9} {:>14} {:>16}",
        "loss", "scenario", "p50", "p95", "p99", "max stall avg", "objects stalled"
    );
    let mut best: Vec<(String, String)> = Vec::new();
    let mut losses: Vec<&str> = rows.iter().map(|r| r.loss.as_str()).collect();
    losses.dedup();
    for loss in losses {
        let cell: Vec<&LossRow> = rows.iter().filter(|r| r.loss == loss).collect();
        for r in &cell {
            let _ = writeln!(
                out,
                "   {:<6} {:<16} {:>9.0} {:>9.0} {:>9.0} {:>14.0} {:>16.1}",
                r.loss,
                r.scenario,
                r.page_load_p50_ms,
                r.page_load_p95_ms,
                r.page_load_p99_ms,
                r.max_stall_mean_ms,
                r.streams_stalled_mean
            );
        }
        if let Some(b) = cell.iter().min_by(|a, b| a.page_load_p95_ms.total_cmp(&b.page_load_p95_ms)) {
            best.push((loss.to_string(), b.scenario.clone()));
        }
    }
    let _ = write!(out, "   fastest at p95:");
    for (loss, sc) in &best {
        let _ = write!(out, " {loss} {sc};");
    }
    out.push('\n');
    // Pairwise: where one scenario's p95 line crosses another's.
    let mut scenarios: Vec<&str> = Vec::new();
    for r in rows {
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
    }
    let p95 = |sc: &str| -> Vec<(&str, f64)> {
        rows.iter().filter(|r| r.scenario == sc).map(|r| (r.loss.as_str(), r.page_load_p95_ms)).collect()
    };
    for (i, a) in scenarios.iter().enumerate() {
        for b in &scenarios[i + 1..] {
            let (la, lb) = (p95(a), p95(b));
            for k in 1..la.len().min(lb.len()) {
                let before = la[k - 1].1 - lb[k - 1].1;
                let after = la[k].1 - lb[k].1;
                if before != 0.0 && after != 0.0 && before.signum() != after.signum() {
                    let (winner, loser) = if after < 0.0 { (a, b) } else { (b, a) };
                    let _ = writeln!(
                        out,
                        "   the p95 lines of {a} and {b} cross between {} and {} loss: {winner} becomes faster than {loser}",
                        la[k - 1].0,
                        la[k].0
                    );
                }
            }
        }
    }
    out.push('\n');
    out
}
