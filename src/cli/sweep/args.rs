//! `wirelab sweep`'s command line: its flags, what they accept, and its help text.

use std::path::PathBuf;

use crate::cli::PathArgs;

pub const SWEEP_HELP: &str = "\
Runs are numbered 0..n: combination of the --set lists (keys in
command-line order, values in the order given, the last key varying
fastest), then seed, then scenario. Every run is a pure function of
(lab, parameters, seed): the output is identical whatever --jobs is, and
shards (--shard I/N: the runs whose number % N == I) concatenate into the
whole sweep. --seeds and --out are required.

Examples:
  wirelab sweep handshake --scenario fresh-tls13 \\
      --set rtt=50ms,150ms --seeds 1..3 --out sweep/
  wirelab sweep slow-start --scenario smoltcp-fresh \\
      --set loss=0%,1%,2% --seeds 1..100 --out sweep/
  # one machine of 4
  wirelab sweep slow-start --set loss=1% --seeds 1..1000 \\
      --shard 0/4 --out sweep/

Output (in --out): <lab>-sweep.jsonl, one JSON object per run
(<lab>-sweep.shard-I-of-N.jsonl with --shard), and a summary table on
stdout: per scenario and per value of each varied key, the runs that gave
a value (n), the runs that did not finish (failed: they give no value),
and the nearest-rank p50/p95/p99 of --metric. A sweep writes no captures
(so it has no --capture): where a scenario's results do not depend on its
capture (see run --help, --capture), its runs record none (--capture none),
which changes no metric and saves the memory and time of recording.

Pictures (--pictures svg, the default): <lab>-sweep-<key>.svg per varied
key (<lab>-sweep.shard-I-of-N-<key>.svg with --shard), the summary's
p50/p95/p99 against the key's values, one colour per scenario. Values in
wirelab's units (1%, 50ms, 10mbit, 200KB, plain numbers) sit on a numeric
axis; others are categories in the order given. Runs that did not finish
are counted in the legend and never plotted as 0. A shard's picture covers
only its own runs (its subtitle says so): draw the whole sweep from an
unsharded run. --pictures none writes none.

Exit status: 0 when every run finished and held its checks, 1 otherwise,
2 for bad input (nothing is run).";

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// A built-in lab name (see `wirelab list`) or a path to a lab file (.toml).
    pub(super) lab: String,
    /// A lab parameter and the values to sweep it over (repeatable), e.g. --set rtt=50ms,150ms.
    #[arg(long = "set", value_name = "KEY=V1,V2,...", value_parser = parse_set_list)]
    pub(super) set: Vec<(String, Vec<String>)>,
    /// The seeds to run, inclusive, e.g. 1..100 (required).
    #[arg(long, value_name = "A..B", value_parser = parse_seeds)]
    pub(super) seeds: Option<(u64, u64)>,
    /// Threads to run on (default: the number of CPUs).
    #[arg(long, value_name = "N", value_parser = parse_jobs)]
    pub(super) jobs: Option<usize>,
    /// Run only this machine's share: the runs whose number % N == I (0 <= I < N).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub(super) shard: Option<(usize, usize)>,
    /// The metric the summary table shows (a key of `metrics` in the JSON).
    #[arg(long, value_name = "NAME", default_value = "total_ms")]
    pub(super) metric: String,
    #[command(flatten)]
    pub(super) path: PathArgs,
    /// Run only this scenario (repeatable).
    #[arg(long = "scenario", value_name = "NAME")]
    pub(super) scenarios: Vec<String>,
    /// Directory for the results file (required).
    #[arg(long, value_name = "DIR")]
    pub(super) out: Option<PathBuf>,
    /// `svg` (the default) also writes <lab>-sweep-<key>.svg per varied key: p50/p95/p99 of
    /// --metric against the key's values, one colour per scenario; `none` writes no picture.
    #[arg(long, value_enum, default_value_t = SweepPictures::Svg)]
    pub(super) pictures: SweepPictures,
}

/// `sweep --pictures`: `run`'s flag, with the values that make sense without a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SweepPictures {
    Svg,
    None,
}

fn parse_set_list(s: &str) -> Result<(String, Vec<String>), String> {
    let (k, v) = match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => (k.trim(), v),
        _ => return Err(format!("`{s}` is not KEY=V1,V2,... (e.g. --set rtt=50ms,150ms)")),
    };
    let values: Vec<String> = v.split(',').map(|x| x.trim().to_string()).collect();
    if values.iter().any(String::is_empty) {
        return Err(format!("`{s}`: every value must be non-empty (allowed: KEY=V1,V2,..., e.g. {k}=1,2)"));
    }
    Ok((k.to_string(), values))
}

fn parse_seeds(s: &str) -> Result<(u64, u64), String> {
    let bad =
        || format!("`{s}` is not A..B (allowed: two whole numbers from 0 to {} with A <= B, e.g. 1..100)", u64::MAX);
    let (a, b) = s.trim().split_once("..").ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if a > b {
        return Err(format!("`{s}`: the first seed is larger than the last (allowed: A..B with A <= B)"));
    }
    Ok((a, b))
}

fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a number of threads (allowed: 1 or more)")),
    }
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not I/N (allowed: whole numbers with 0 <= I < N, e.g. 0/4)");
    let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
    let i: usize = i.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(parse_seeds("1..3"), Ok((1, 3)));
        assert!(parse_seeds("3..1").is_err());
        assert!(parse_seeds("1-3").is_err());
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("0/0").is_err());
        assert!(parse_jobs("0").is_err());
        assert_eq!(parse_set_list("rtt=50ms, 150ms"), Ok(("rtt".into(), vec!["50ms".into(), "150ms".into()])));
        assert!(parse_set_list("rtt=").is_err());
        assert!(parse_set_list("rtt").is_err());
    }
}
