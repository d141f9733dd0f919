//! Page load under random loss: several scenarios run over a range of loss rates and many
//! seeds, summarised as p50/p95/p99 per scenario (the head-of-line lab's comparison table).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::run_scenario;
use crate::script::plan::{self, Overrides};
use crate::script::{InputError, Lab};
use crate::timeline::percentile;
use crate::timeline::sweeps::LossRow;

/// What one run gives the table: page load, longest stall, objects stalled (ms, ms, count).
type Figures = (f64, f64, f64);

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
    // Per case: None until run; Some(None) for a run that did not finish.
    let results: Mutex<Vec<Option<Option<Figures>>>> = Mutex::new(vec![None; cases.len()]);
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
                        let get = |k: &str| m.get(k).copied();
                        let finished = out.timeline.error.is_none();
                        let row = match (finished, get("page_load_ms"), get("max_stall_ms"), get("streams_stalled")) {
                            (true, Some(load), Some(stall), Some(stalled)) => Some((load, stall, stalled)),
                            _ => None,
                        };
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
            let all: Vec<Option<Figures>> = cases
                .iter()
                .zip(&results)
                .filter(|((l, i, _), _)| l == loss && names[*i] == sc)
                .map(|(_, r)| r.flatten())
                .collect();
            let cell: Vec<Figures> = all.iter().flatten().copied().collect();
            let mut loads: Vec<f64> = cell.iter().map(|r| r.0).collect();
            loads.sort_by(f64::total_cmp);
            let mean = |f: fn(&Figures) -> f64| {
                (!cell.is_empty()).then(|| cell.iter().map(f).sum::<f64>() / cell.len() as f64)
            };
            rows.push(LossRow {
                loss: loss.clone(),
                scenario: sc.clone(),
                runs: all.len(),
                failed: all.len() - cell.len(),
                page_load_p50_ms: percentile(&loads, 50.0),
                page_load_p95_ms: percentile(&loads, 95.0),
                page_load_p99_ms: percentile(&loads, 99.0),
                max_stall_mean_ms: mean(|r| r.1),
                streams_stalled_mean: mean(|r| r.2),
            });
        }
    }
    Ok(rows)
}

/// The table, and which scenario is fastest (by p95) at each loss rate: where that changes,
/// the lines cross. A cell where some runs did not finish says so, and takes no part in a
/// verdict: its percentiles describe only the runs that finished.
pub fn table(rows: &[LossRow]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if rows.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Page load under random loss ({} seeds per cell): ms, and stalls", rows[0].runs);
    let _ = writeln!(
        out,
        "   {:<6} {:<16} {:>4} {:>6} {:>9} {:>9} {:>9} {:>14} {:>16}",
        "loss", "scenario", "ok", "failed", "p50", "p95", "p99", "max stall avg", "objects stalled"
    );
    let num = |v: Option<f64>, decimals: usize| v.map_or("-".to_string(), |v| format!("{v:.decimals$}"));
    let mut best: Vec<String> = Vec::new();
    let mut losses: Vec<&str> = rows.iter().map(|r| r.loss.as_str()).collect();
    losses.dedup();
    for loss in losses {
        let cell: Vec<&LossRow> = rows.iter().filter(|r| r.loss == loss).collect();
        for r in &cell {
            let _ = writeln!(
                out,
                "   {:<6} {:<16} {:>4} {:>6} {:>9} {:>9} {:>9} {:>14} {:>16}",
                r.loss,
                r.scenario,
                r.runs - r.failed,
                r.failed,
                num(r.page_load_p50_ms, 0),
                num(r.page_load_p95_ms, 0),
                num(r.page_load_p99_ms, 0),
                num(r.max_stall_mean_ms, 0),
                num(r.streams_stalled_mean, 1)
            );
        }
        let incomplete: Vec<&str> = cell.iter().filter(|r| !r.complete()).map(|r| r.scenario.as_str()).collect();
        let fastest = cell
            .iter()
            .filter(|r| r.complete())
            .filter_map(|r| r.page_load_p95_ms.map(|p| (p, r.scenario.as_str())))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        best.push(match (fastest, incomplete.is_empty()) {
            (Some((_, sc)), true) => format!("{loss} {sc}"),
            (Some((_, sc)), false) => {
                format!("{loss} {sc} (of those whose runs all finished; not {})", incomplete.join(", "))
            }
            (None, _) => format!("{loss} no verdict (runs failed in every scenario)"),
        });
    }
    let _ = writeln!(out, "   fastest at p95: {}", best.join("; "));
    let failed: usize = rows.iter().map(|r| r.failed).sum();
    if failed > 0 {
        let _ = writeln!(
            out,
            "   {failed} of {} runs did not finish; their cells show only the runs that did, and no verdict uses them",
            rows.iter().map(|r| r.runs).sum::<usize>()
        );
    }
    // Pairwise: where one scenario's p95 line crosses another's (between complete cells only).
    let mut scenarios: Vec<&str> = Vec::new();
    for r in rows {
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
    }
    let p95 = |sc: &str| -> Vec<(&str, Option<f64>)> {
        rows.iter()
            .filter(|r| r.scenario == sc)
            .map(|r| (r.loss.as_str(), r.page_load_p95_ms.filter(|_| r.complete())))
            .collect()
    };
    for (i, a) in scenarios.iter().enumerate() {
        for b in &scenarios[i + 1..] {
            let (la, lb) = (p95(a), p95(b));
            for k in 1..la.len().min(lb.len()) {
                let (Some(a0), Some(b0), Some(a1), Some(b1)) = (la[k - 1].1, lb[k - 1].1, la[k].1, lb[k].1) else {
                    continue;
                };
                let (before, after) = (a0 - b0, a1 - b1);
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

/// The table as a plot: page load p50/p95/p99 against the loss rate, one series per scenario,
/// from the rows alone. `None` when there is no table.
pub fn plot(lab: &str, rows: &[LossRow]) -> Option<crate::picture::plots::percentiles::Percentiles> {
    use crate::picture::plots::percentiles::{Cell, Percentiles, Series};
    let first = rows.first()?;
    let mut xs: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for r in rows {
        if !xs.contains(&r.loss) {
            xs.push(r.loss.clone());
        }
        if !names.contains(&r.scenario) {
            names.push(r.scenario.clone());
        }
    }
    let series = names
        .into_iter()
        .map(|name| {
            let cells = xs
                .iter()
                .map(|x| {
                    rows.iter().find(|r| r.scenario == name && &r.loss == x).map_or(Cell::default(), |r| Cell {
                        n: r.runs - r.failed,
                        failed: r.failed,
                        p50: r.page_load_p50_ms,
                        p95: r.page_load_p95_ms,
                        p99: r.page_load_p99_ms,
                    })
                })
                .collect();
            Series { name, cells }
        })
        .collect();
    Some(Percentiles {
        title: format!("{lab}: page load under random loss, {} seeds per cell", first.runs),
        subtitle: "nearest-rank percentiles over the runs that finished".to_string(),
        key: "loss".to_string(),
        y_label: "page load, ms".to_string(),
        xs,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(loss: &str, scenario: &str, failed: usize, p95: Option<f64>) -> LossRow {
        LossRow {
            loss: loss.into(),
            scenario: scenario.into(),
            runs: 20,
            failed,
            page_load_p50_ms: p95,
            page_load_p95_ms: p95,
            page_load_p99_ms: p95,
            max_stall_mean_ms: p95.map(|_| 0.0),
            streams_stalled_mean: p95.map(|_| 0.0),
        }
    }

    #[test]
    fn a_scenario_whose_runs_failed_is_never_called_fastest() {
        let rows = [
            row("0%", "h2", 0, Some(1300.0)),
            row("0%", "h3", 20, None),
            row("1%", "h2", 0, Some(3000.0)),
            row("1%", "h3", 3, Some(10.0)),
        ];
        let t = table(&rows);
        assert!(t.contains("fastest at p95: 0% h2 (of those whose runs all finished; not h3); 1% h2 (of those"), "{t}");
        assert!(t.contains("23 of 80 runs did not finish"), "{t}");
        assert!(!t.contains("cross"), "no crossing through incomplete cells: {t}");
        // The failed cell prints its counts and no figures.
        assert!(
            t.lines().any(|l| l.contains("0%")
                && l.contains("h3")
                && l.contains(" 0 ")
                && l.contains("20")
                && l.contains(" - ")),
            "{t}"
        );
    }

    #[test]
    fn complete_cells_cross() {
        let rows = [
            row("0%", "a", 0, Some(1.0)),
            row("0%", "b", 0, Some(2.0)),
            row("1%", "a", 0, Some(5.0)),
            row("1%", "b", 0, Some(3.0)),
        ];
        let t = table(&rows);
        assert!(t.contains("fastest at p95: 0% a; 1% b"), "{t}");
        assert!(t.contains("cross between 0% and 1% loss: b becomes faster than a"), "{t}");
    }
}
