//! `sweep --pictures svg`: the summary's percentiles against each varied key, as a plot.

use super::{values_of, Grid, Runs};
use crate::timeline::percentile;

/// Per varied key: p50/p95/p99 of the metric against the key's values, one series per
/// scenario, from the same cells as the summary's rows.
pub(super) fn plots(
    grid: &Grid,
    metric: &str,
    lab: &str,
    scenarios: &[&str],
    runs: &Runs,
    shard: Option<(usize, usize)>,
) -> Vec<(String, crate::picture::plots::percentiles::Percentiles)> {
    use crate::picture::plots::percentiles::{Cell, Percentiles, Series};
    let (n, total) = (runs.len(), grid.combos as u128 * grid.seed_count() * grid.scenarios as u128);
    let covers = match shard {
        Some((i, k)) => format!("shard {i}/{k} only: its {n} of {total} runs"),
        None => format!("{n} runs"),
    };
    grid.keys
        .iter()
        .enumerate()
        .map(|(k, (key, vals))| {
            let series = scenarios
                .iter()
                .enumerate()
                .map(|(s, name)| Series {
                    name: name.to_string(),
                    cells: (0..vals.len())
                        .map(|v| {
                            let (got, failed) = values_of(runs, s, &|combo| combo[k] == v);
                            Cell {
                                n: got.len(),
                                failed,
                                p50: percentile(&got, 50.0),
                                p95: percentile(&got, 95.0),
                                p99: percentile(&got, 99.0),
                            }
                        })
                        .collect(),
                })
                .collect();
            let others: Vec<&str> = grid.keys.iter().filter(|(o, _)| o != key).map(|(o, _)| o.as_str()).collect();
            let pooled = if others.is_empty() { String::new() } else { format!("; pooled over {}", others.join(", ")) };
            let plot = Percentiles {
                title: format!("{lab} sweep: {metric} against {key}"),
                subtitle: format!(
                    "{covers}, seeds {}..{}; nearest-rank percentiles of the runs that finished{pooled}",
                    grid.seeds.0, grid.seeds.1
                ),
                key: key.clone(),
                y_label: metric.to_string(),
                xs: vals.clone(),
                series,
            };
            (key.clone(), plot)
        })
        .collect()
}

/// A key as it may appear in a file name.
pub(super) fn file_key(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_become_file_names() {
        assert_eq!(super::file_key("response_size"), "response_size");
        assert_eq!(super::file_key("a/b c"), "a_b_c");
    }
}
