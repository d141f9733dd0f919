//! `wirelab sweep`: one lab over every combination of parameter values × seeds × scenarios
//! (design.md §3).
//!
//! Runs are numbered `0..n` in a fixed order: combination-major (the cartesian product of the
//! `--set` lists, keys in command-line order, values in the order given, the last key varying
//! fastest), then seed (A..B, ascending), then scenario (lab order). Each run is a pure function
//! of (lab, parameters, seed), and results are written in run order, so the output is the same
//! bytes whatever `--jobs` is, and the shards `--shard I/N` (runs with `index % N == I`) of a
//! sweep concatenate into the whole sweep.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::Context;
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{output, Failure};

mod args;
mod plot;
mod summary;

use crate::script::plan::{self, ScenarioPlan};
use crate::script::{InputError, Lab};
pub use args::{SweepArgs, SweepPictures, SWEEP_HELP};
use summary::{runs_of, summary, values_of, Runs};

/// The most runs one sweep may have (all shards together).
pub const MAX_RUNS: u128 = 100_000;

/// A list of pairs serialized as a JSON object in list order.
struct Pairs<'a, V>(&'a [(String, V)]);

impl<V: Serialize> Serialize for Pairs<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// One line of `<lab>-sweep.jsonl`.
#[derive(serde::Serialize)]
struct Record<'a> {
    run: usize,
    lab: &'a str,
    scenario: &'a str,
    seed: u64,
    params: Pairs<'a, String>,
    ok: bool,
    error: Option<String>,
    /// Phase id → duration in ms (summed when an id occurs more than once), in timeline order;
    /// `null` for a phase that never ended.
    phases: Pairs<'a, Option<f64>>,
    metrics: &'a BTreeMap<String, f64>,
}

/// What the main thread keeps of a run.
struct Done {
    line: String,
    ok: bool,
    /// The run stopped before its end (an error, the time limit): it contributes no value.
    unfinished: bool,
    value: Option<f64>,
}

/// One run as the summary sees it: its value of the metric, or why it has none.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum Outcome {
    /// Not run (another shard's).
    #[default]
    Absent,
    /// Finished, with this value of the metric.
    Value(f64),
    /// Finished, but the metric was not measured.
    NoValue,
    /// Stopped before its end: no value, counted as failed.
    Unfinished,
}

/// The sweep's shape: how a run number maps to (combination, seed, scenario).
struct Grid {
    /// Per key: its name and values.
    keys: Vec<(String, Vec<String>)>,
    combos: usize,
    seeds: (u64, u64),
    scenarios: usize,
}

impl Grid {
    fn seed_count(&self) -> u128 {
        u128::from(self.seeds.1 - self.seeds.0) + 1
    }

    /// The value index of each key in combination `c` (the last key varies fastest).
    fn combo(&self, mut c: usize) -> Vec<usize> {
        let mut idx = vec![0; self.keys.len()];
        for (k, (_, values)) in self.keys.iter().enumerate().rev() {
            idx[k] = c % values.len();
            c /= values.len();
        }
        idx
    }

    /// (combination, seed, scenario) of run `i`.
    fn run(&self, i: usize) -> (usize, u64, usize) {
        let per_combo = (self.seed_count() as usize) * self.scenarios;
        let c = i / per_combo;
        let rest = i % per_combo;
        (c, self.seeds.0 + (rest / self.scenarios) as u64, rest % self.scenarios)
    }
}

pub fn run(args: SweepArgs) -> Result<i32, Failure> {
    let Some(seeds) = args.seeds else {
        return Err(
            InputError::new("--seeds A..B is required (the seeds to run, inclusive, e.g. --seeds 1..100)").into()
        );
    };
    let Some(out) = args.out.clone() else {
        return Err(InputError::new("--out DIR is required (the directory for <lab>-sweep.jsonl)").into());
    };
    let lab = Lab::load(&args.lab)?;
    for (n, (k, values)) in args.set.iter().enumerate() {
        lab.check_param(k, &values.join(","))?;
        if args.set[..n].iter().any(|(prev, _)| prev == k) {
            return Err(InputError::new(format!(
                "--set {k}: given more than once (list all its values in one --set, e.g. --set {k}=V1,V2)"
            ))
            .into());
        }
    }
    lab.check_scenarios(&args.scenarios)?;
    let metric = args.metric.strip_prefix("metrics.").unwrap_or(&args.metric);
    if !crate::metrics::NAMES.contains(&metric) {
        return Err(InputError::new(format!(
            "--metric {}: not a metric wirelab measures (metrics: {})",
            args.metric,
            crate::metrics::NAMES.join(", ")
        ))
        .into());
    }
    let names = lab.scenario_names();
    let chosen: Vec<usize> = (0..names.len())
        .filter(|&i| args.scenarios.is_empty() || args.scenarios.iter().any(|s| s == names[i]))
        .collect();
    // Sweeps run in virtual time; scenarios with kernel hosts need the wall clock.
    if let Some(&i) = chosen.iter().find(|&&i| !args.scenarios.is_empty() && !lab.raw.scenarios[i].kernel.is_empty()) {
        return Err(InputError::new(format!(
            "--scenario {}: has kernel hosts and runs only with `wirelab run --backend realtime`; sweeps run in virtual time",
            names[i]
        ))
        .into());
    }
    let chosen: Vec<usize> = chosen.into_iter().filter(|&i| lab.raw.scenarios[i].kernel.is_empty()).collect();

    let combos: u128 = args.set.iter().map(|(_, v)| v.len() as u128).product();
    let grid_seeds = u128::from(seeds.1 - seeds.0) + 1;
    let total = combos.saturating_mul(grid_seeds).saturating_mul(chosen.len() as u128);
    if total > MAX_RUNS {
        return Err(InputError::new(format!(
            "--seeds {}..{}: {} combinations of --set x {grid_seeds} seeds x {} scenarios = {total} runs, more than \
             the limit of {MAX_RUNS} (allowed: at most {MAX_RUNS} runs; use fewer seeds, values or --scenario)",
            seeds.0,
            seeds.1,
            combos,
            chosen.len()
        ))
        .into());
    }
    let base = args.path.overrides(Vec::new());
    for (k, values) in &args.set {
        for &s in &chosen {
            plan::check_flags_keep(&lab, s, &base, k, values, &format!("--set {k}={}", values.join(",")))?;
        }
    }
    let grid = Grid { keys: args.set.clone(), combos: combos as usize, seeds, scenarios: chosen.len() };
    let total = total as usize;

    // Resolve every (combination, scenario) before running anything, so a bad value fails
    // before anything is written.
    let mut plans: Vec<ScenarioPlan> = Vec::with_capacity(grid.combos * grid.scenarios);
    let mut combo_params: Vec<Vec<(String, String)>> = Vec::with_capacity(grid.combos);
    for c in 0..grid.combos {
        let set: Vec<(String, String)> =
            grid.combo(c).iter().zip(&grid.keys).map(|(&v, (k, values))| (k.clone(), values[v].clone())).collect();
        let overrides = args.path.overrides(set.clone());
        for &s in &chosen {
            let mut p = plan::plan(&lab, s, &overrides).map_err(|e| {
                let shown: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
                InputError::new(format!("--set {}: {}", shown.join(" --set "), e.within(&lab.origin)))
            })?;
            // The sweep drops the captures: record none where no analysis reads them.
            if crate::runner::analyse::reads_capture(&p).is_none() {
                p.capture = crate::capture::Keep::None;
            }
            plans.push(p);
        }
        combo_params.push(set);
    }

    let (shard_i, shard_n) = args.shard.unwrap_or((0, 1));
    let mine: Vec<usize> = (shard_i..total).step_by(shard_n).collect();
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let jobs = jobs.clamp(1, mine.len().max(1));

    output::prepare_dir(&out)?;
    let lab_name = lab.raw.name.clone();
    let file_name = match args.shard {
        Some((i, n)) => format!("{lab_name}-sweep.shard-{i}-of-{n}.jsonl"),
        None => format!("{lab_name}-sweep.jsonl"),
    };
    let path = out.join(&file_name);
    let tmp = out.join(format!(".{file_name}.tmp"));
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display())).map_err(Failure::Run)?;
    let mut writer = std::io::BufWriter::new(file);

    let bar = {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(mine.len() as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {eta}") {
                bar.set_style(style);
            }
            bar
        } else {
            indicatif::ProgressBar::hidden()
        }
    };

    let one = |i: usize| -> Done {
        let (c, seed, s) = grid.run(i);
        let plan = &plans[c * grid.scenarios + s];
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| crate::runner::run_scenario(plan, seed)))
            .unwrap_or_else(|panic| {
                let msg = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                Err(anyhow::anyhow!("the run panicked: {msg}"))
            });
        let empty = BTreeMap::new();
        let (ok, error, phases, metrics) = match &result {
            Ok(o) => {
                let t = &o.timeline;
                let mut phases: Vec<(String, Option<f64>)> = Vec::new();
                for p in &t.phases {
                    match phases.iter_mut().find(|(id, _)| *id == p.id) {
                        Some((_, d)) => *d = d.zip(p.duration_ms()).map(|(a, b)| a + b),
                        None => phases.push((p.id.clone(), p.duration_ms())),
                    }
                }
                (t.passed(), t.error.clone(), phases, &t.metrics)
            }
            Err(e) => (false, Some(format!("{e:#}")), Vec::new(), &empty),
        };
        let unfinished = error.is_some();
        let record = Record {
            run: i,
            lab: &lab_name,
            scenario: &plan.name,
            seed,
            params: Pairs(&combo_params[c]),
            ok,
            error,
            phases: Pairs(&phases),
            metrics,
        };
        let mut line =
            serde_json::to_string(&record).unwrap_or_else(|e| format!("{{\"run\": {i}, \"error\": \"{e}\"}}"));
        line.push('\n');
        let metric = args.metric.strip_prefix("metrics.").unwrap_or(&args.metric);
        let value = metrics.get(metric).copied().filter(|v| v.is_finite() && !unfinished);
        Done { line, ok, unfinished, value }
    };

    // Workers take the next run from a shared counter; the main thread writes results in run
    // order as they become contiguous.
    let next = AtomicUsize::new(0);
    let mut values: Vec<Outcome> = vec![Outcome::Absent; mine.len()];
    let (mut failed, mut unfinished) = (0usize, 0usize);
    let written: anyhow::Result<()> = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Done)>();
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, mine, one) = (&next, &mine, &one);
            scope.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = mine.get(k) else { break };
                if tx.send((k, one(i))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, Done> = BTreeMap::new();
        let mut due = 0usize;
        let mut result = Ok(());
        for (k, done) in rx {
            pending.insert(k, done);
            bar.inc(1);
            while let Some(done) = pending.remove(&due) {
                if !done.ok {
                    failed += 1;
                }
                values[due] = match (done.unfinished, done.value) {
                    (true, _) => {
                        unfinished += 1;
                        Outcome::Unfinished
                    }
                    (false, Some(v)) => Outcome::Value(v),
                    (false, None) => Outcome::NoValue,
                };
                if result.is_ok() {
                    result =
                        writer.write_all(done.line.as_bytes()).with_context(|| format!("writing {}", tmp.display()));
                }
                due += 1;
            }
        }
        result
    });
    bar.finish_and_clear();
    written.map_err(Failure::Run)?;
    writer.flush().with_context(|| format!("writing {}", tmp.display())).map_err(Failure::Run)?;
    drop(writer);
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
        .map_err(Failure::Run)?;

    let shown_names: Vec<&str> = chosen.iter().map(|&s| names[s]).collect();
    out!("{}", summary(&grid, &args, &lab_name, &shown_names, &mine, &values, total));
    if args.pictures == SweepPictures::Svg {
        let runs = runs_of(&grid, &mine, &values);
        let mut written = Vec::new();
        for (key, plot) in plot::plots(&grid, metric, &lab_name, &shown_names, &runs, args.shard) {
            let stem = file_name.trim_end_matches(".jsonl");
            let name = format!("{stem}-{}.svg", plot::file_key(&key));
            let svg = crate::picture::plots::percentiles::render(&plot);
            output::write_atomic(&out.join(&name), svg.as_bytes()).map_err(Failure::Run)?;
            written.push(name);
        }
        if !written.is_empty() {
            outln!("Plots of {metric} against each varied key: {} in {}/", written.join(", "), out.display());
        }
    }
    let shard_note =
        args.shard.map_or(String::new(), |(i, n)| format!(" (shard {i}/{n}: {} of {total} runs)", mine.len()));
    outln!(
        "{} runs{shard_note}: {} succeeded, {failed} failed ({unfinished} did not finish, {} finished with an expectation that did not hold); results in {}",
        mine.len(),
        mine.len() - failed,
        failed - unfinished,
        path.display()
    );
    Ok(if failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_order() {
        let grid = Grid {
            keys: vec![
                ("a".into(), vec!["1".into(), "2".into()]),
                ("b".into(), vec!["x".into(), "y".into(), "z".into()]),
            ],
            combos: 6,
            seeds: (5, 6),
            scenarios: 2,
        };
        assert_eq!(grid.combo(0), vec![0, 0]);
        assert_eq!(grid.combo(1), vec![0, 1]);
        assert_eq!(grid.combo(3), vec![1, 0]);
        assert_eq!(grid.run(0), (0, 5, 0));
        assert_eq!(grid.run(1), (0, 5, 1));
        assert_eq!(grid.run(2), (0, 6, 0));
        assert_eq!(grid.run(4), (1, 5, 0));
        assert_eq!(grid.run(23), (5, 6, 1));
    }
}
