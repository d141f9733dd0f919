//! The sweep's summary table: per scenario, the percentiles of the metric over all its runs,
//! then per value of each varied key (nearest rank; runs that did not finish give no value and
//! are counted).

use std::fmt::Write as _;

use super::{Grid, Outcome, SweepArgs};
use crate::timeline::percentile;

/// Each run of this shard: the value index of each key, its scenario, its outcome.
pub(super) type Runs = Vec<(Vec<usize>, usize, Outcome)>;

pub(super) fn runs_of(grid: &Grid, mine: &[usize], values: &[Outcome]) -> Runs {
    mine.iter()
        .zip(values)
        .map(|(&i, &v)| {
            let (c, _, s) = grid.run(i);
            (grid.combo(c), s, v)
        })
        .collect()
}

/// The values (sorted) of scenario `s`'s runs whose combination `keep` accepts, and how many
/// of them did not finish: what a summary row and a plotted cell both show.
pub(super) fn values_of(runs: &Runs, s: usize, keep: &dyn Fn(&[usize]) -> bool) -> (Vec<f64>, usize) {
    let these: Vec<Outcome> =
        runs.iter().filter(|(combo, sc, _)| *sc == s && keep(combo)).map(|(_, _, v)| *v).collect();
    let failed = these.iter().filter(|v| **v == Outcome::Unfinished).count();
    let mut got: Vec<f64> = these
        .iter()
        .filter_map(|v| match v {
            Outcome::Value(x) => Some(*x),
            _ => None,
        })
        .collect();
    got.sort_by(f64::total_cmp);
    (got, failed)
}

/// The summary table: per scenario, all its runs and then per value of each varied key.
pub(super) fn summary(
    grid: &Grid,
    args: &SweepArgs,
    lab: &str,
    scenarios: &[&str],
    mine: &[usize],
    values: &[Outcome],
    total: usize,
) -> String {
    let mut out = String::new();
    let set: Vec<String> = grid.keys.iter().map(|(k, v)| format!("{k}={}", v.join(","))).collect();
    let _ = writeln!(
        out,
        "sweep {lab}: {total} runs = {} combination(s){} x {} seed(s) ({}..{}) x {} scenario(s); metric {}",
        grid.combos,
        if set.is_empty() { String::new() } else { format!(" ({})", set.join(" ")) },
        grid.seed_count(),
        grid.seeds.0,
        grid.seeds.1,
        grid.scenarios,
        args.metric
    );
    let _ = writeln!(
        out,
        "   {:<20} {:<14} {:<14} {:>6} {:>6} {:>11} {:>11} {:>11}",
        "scenario", "key", "value", "n", "failed", "p50", "p95", "p99"
    );
    let runs = runs_of(grid, mine, values);
    let row = |out: &mut String, scenario: &str, key: &str, value: &str, keep: &dyn Fn(&[usize]) -> bool, s: usize| {
        let (got, failed) = values_of(&runs, s, keep);
        if got.is_empty() {
            let _ = writeln!(out, "   {scenario:<20} {key:<14} {value:<14} {:>6} {failed:>6} {:>11}", 0, "no values");
        } else {
            let _ = writeln!(
                out,
                "   {scenario:<20} {key:<14} {value:<14} {:>6} {failed:>6} {:>11.3} {:>11.3} {:>11.3}",
                got.len(),
                percentile(&got, 50.0).unwrap_or(f64::NAN),
                percentile(&got, 95.0).unwrap_or(f64::NAN),
                percentile(&got, 99.0).unwrap_or(f64::NAN)
            );
        }
    };
    for (s, name) in scenarios.iter().enumerate() {
        row(&mut out, name, "(all)", "", &|_| true, s);
        for (k, (key, vals)) in grid.keys.iter().enumerate() {
            for (v, val) in vals.iter().enumerate() {
                row(&mut out, "", key, val, &|combo| combo[k] == v, s);
            }
        }
    }
    out
}
