//! The shape of jitter: netem's `delay TIME JITTER distribution uniform|normal|pareto|paretonormal`.
//!
//! netem draws a delay from a table: `delay + jitter * table[random % size] / 8192`
//! (`tabledist` in the kernel's `net/sched/sch_netem.c`), where the table, loaded by `tc` from
//! `/usr/lib/tc/*.dist`, is the inverse of the distribution's CDF scaled by
//! `NETEM_DIST_SCALE` (8192) at 4096 evenly spaced quantiles. The tables here are computed the
//! way iproute2's generators compute them (`netem/normal.c`, `netem/pareto.c`,
//! `netem/paretonormal.c`, from NIST Net), once per process, so their shapes are netem's:
//!
//! - **uniform** (the default, no table): in `[-jitter, +jitter]`.
//! - **normal**: mean 0, standard deviation `jitter` (the table stops near ±4 sigma).
//! - **pareto**: Pareto with shape a = 3, shifted and scaled as NIST Net does
//!   (`(u^(-1/3) - 1.5) * 4/3`): mean about 0, median `-0.32 * jitter`, never below
//!   `-0.67 * jitter`, and a long tail cut at `+4 * jitter` (the table's `i16` limit).
//! - **paretonormal**: quantile by quantile `(normal + 3 * pareto) / 4`, i.e. a quarter normal and
//!   three quarters pareto, as `paretonormal.c` computes it (its comment says the
//!   opposite, ".25*normal + .75*pareto" matches its code; what netem runs is the code).
//!
//! One uniform draw picks the table entry, as for uniform jitter, so the link's draw order does
//! not depend on the distribution.

use std::sync::OnceLock;

/// netem's `NETEM_DIST_SCALE`: table entries are multiples of 1/8192 of the jitter.
const SCALE: f64 = 8192.0;
/// Entries in each table (iproute2's generators write every 4th of 16384 quantiles).
const ENTRIES: usize = 4096;
/// The generators' `TABLESIZE`.
const TABLESIZE: usize = 16384;

/// The distribution of jitter around the delay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Distribution {
    #[default]
    Uniform,
    Normal,
    Pareto,
    ParetoNormal,
}

impl Distribution {
    /// Every distribution with the word netem uses for it.
    pub const NAMES: [(&'static str, Distribution); 4] = [
        ("uniform", Distribution::Uniform),
        ("normal", Distribution::Normal),
        ("pareto", Distribution::Pareto),
        ("paretonormal", Distribution::ParetoNormal),
    ];

    pub fn from_name(name: &str) -> Option<Distribution> {
        Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, d)| *d == self).map_or("uniform", |(n, _)| n)
    }

    /// The jitter, in units of the configured jitter, for a uniform draw `u` in `[0, 1)`.
    pub(crate) fn sample(self, u: f64) -> f64 {
        let table = match self {
            Distribution::Uniform => return 2.0 * u - 1.0,
            Distribution::Normal => &tables().normal,
            Distribution::Pareto => &tables().pareto,
            Distribution::ParetoNormal => &tables().paretonormal,
        };
        let i = ((u * ENTRIES as f64) as usize).min(ENTRIES - 1);
        f64::from(table[i]) / SCALE
    }
}

struct Tables {
    normal: Vec<i16>,
    pareto: Vec<i16>,
    paretonormal: Vec<i16>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let quantiles = normal_quantiles();
        let normal: Vec<i32> = (0..ENTRIES).map(|k| (quantiles[4 * k] * SCALE).round_ties_even() as i32).collect();
        let pareto: Vec<i32> = (0..ENTRIES).map(|k| pareto_value(4 * k)).collect();
        let paretonormal = normal.iter().zip(&pareto).map(|(&n, &p)| clamp((n + 3 * p) / 4)).collect();
        Tables {
            normal: normal.into_iter().map(clamp).collect(),
            pareto: pareto.into_iter().map(clamp).collect(),
            paretonormal,
        }
    })
}

fn clamp(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// `table[i]` of `normal.c`: the last `x` of a sweep from -10 in steps of 0.00005 with
/// `rint(16384 * Phi(x)) == i`, i.e. the standard normal's quantile at `i / 16384`.
fn normal_quantiles() -> Vec<f64> {
    let mut table = vec![0.0; TABLESIZE + 1];
    let mut x = -10.0_f64;
    while x < 10.05 {
        let i = (TABLESIZE as f64 * phi(x)).round_ties_even();
        if let Some(slot) = table.get_mut(i as usize) {
            *slot = x;
        }
        x += 0.00005;
    }
    table
}

/// `paretovalue(i)` of `paretonormal.c` (and entry `i / 4` of `pareto.c`'s table).
fn pareto_value(i: usize) -> i32 {
    let u = (65536 - 4 * i) as f64 / 65536.0;
    let v = ((1.0 / u.powf(1.0 / 3.0)) - 1.5) * (4.0 / 3.0) * SCALE;
    v.min(32767.0).round_ties_even() as i32
}

/// The standard normal CDF.
fn phi(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The complementary error function, with fractional error below 1.2e-7 everywhere (the
/// Chebyshev fit of Numerical Recipes' `erfcc`); the tables round to 1/8192, far coarser.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean, standard deviation and the sorted sample of `n` draws, in units of the jitter.
    fn draws(d: Distribution, n: usize) -> (f64, f64, Vec<f64>) {
        let mut rng = crate::rng::stream(3, "distribution-test");
        let mut xs: Vec<f64> = (0..n).map(|_| d.sample(super::super::loss::unit(&mut rng))).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let sd = (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64).sqrt();
        xs.sort_by(f64::total_cmp);
        (mean, sd, xs)
    }

    fn quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
    }

    #[test]
    fn tables_match_iproute2s_first_entries() {
        // pareto.c's first value is (1 - 1.5) * 4/3 * 8192 = -5461; normal.c's is the quantile
        // at 0.5 / 16384 (-4.01 sigma), below what an i16 holds.
        let t = tables();
        assert_eq!(t.pareto[0], -5461);
        assert_eq!(t.normal[0], i16::MIN);
        // Entry k is the last sweep point that rounds to quantile 4k: just below (4k + 0.5) / 16384.
        for k in [1, 1000, 2048, 3000] {
            let exact = quantile_of((4 * k) as f64 + 0.5) * 8192.0;
            assert!((f64::from(t.normal[k]) - exact).abs() <= 1.0, "normal[{k}] = {} vs {exact}", t.normal[k]);
        }
        assert!(t.normal.windows(2).all(|w| w[0] <= w[1]), "normal table not sorted");
        assert!(t.pareto.windows(2).all(|w| w[0] <= w[1]), "pareto table not sorted");
        assert_eq!(*t.pareto.last().unwrap(), 32767);
    }

    /// The normal quantile at `i / 16384`, bisected on `phi`.
    fn quantile_of(i: f64) -> f64 {
        let (mut lo, mut hi) = (-10.0, 10.0);
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if phi(mid) < i / 16384.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }

    #[test]
    fn phi_is_accurate() {
        assert!((phi(0.0) - 0.5).abs() < 1e-7);
        assert!((phi(1.0) - 0.841_344_746).abs() < 1e-7);
        assert!((phi(-1.96) - 0.024_997_895).abs() < 1e-7);
    }

    #[test]
    fn uniform_is_in_plus_minus_one() {
        let (mean, sd, xs) = draws(Distribution::Uniform, 100_000);
        assert!(mean.abs() < 0.01, "mean {mean}");
        // Uniform on [-1, 1]: sd = 1/sqrt(3).
        assert!((sd - 0.577).abs() < 0.01, "sd {sd}");
        assert!(xs[0] >= -1.0 && *xs.last().unwrap() < 1.0);
    }

    #[test]
    fn normal_has_sigma_jitter() {
        let (mean, sd, xs) = draws(Distribution::Normal, 200_000);
        // Standard error of the mean is 1/sqrt(200000) = 0.0022.
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((sd - 1.0).abs() < 0.01, "sd {sd}");
        let within = xs.iter().filter(|x| x.abs() <= 1.0).count() as f64 / xs.len() as f64;
        assert!((within - 0.6827).abs() < 0.005, "share within one sigma {within}");
        assert!((quantile(&xs, 0.975) - 1.96).abs() < 0.03);
        assert!(xs[0] > -4.1 && *xs.last().unwrap() < 4.1);
    }

    #[test]
    fn pareto_is_skewed_with_a_long_tail() {
        let (mean, _, xs) = draws(Distribution::Pareto, 200_000);
        // Median: (2^(1/3) - 1.5) * 4/3 = -0.3206; minimum -2/3; cut at 32767/8192 = 4.
        assert!((quantile(&xs, 0.5) + 0.3206).abs() < 0.01, "median {}", quantile(&xs, 0.5));
        assert!(xs[0] >= -0.6667 && xs[0] < -0.66, "min {}", xs[0]);
        assert!(*xs.last().unwrap() <= 4.0);
        // 99th percentile: (0.01^(-1/3) - 1.5) * 4/3 = 4.19, cut to 4.
        assert!(quantile(&xs, 0.99) > 3.5);
        // The mean of the uncut distribution is 0; the cut at 4 lowers it a little.
        assert!(mean.abs() < 0.05, "mean {mean}");
    }

    #[test]
    fn paretonormal_is_a_quarter_normal_three_quarters_pareto() {
        let t = tables();
        // (Entry 0's normal value is below what an i16 holds; the generator sums the unclamped one.)
        for k in [100, 2048, 4000, 4095] {
            let expected = (i32::from(t.normal[k]) + 3 * i32::from(t.pareto[k])) / 4;
            assert_eq!(i32::from(t.paretonormal[k]), expected);
        }
        let (_, _, xs) = draws(Distribution::ParetoNormal, 100_000);
        // Median: 0.25 * 0 + 0.75 * -0.3206.
        assert!((quantile(&xs, 0.5) + 0.2404).abs() < 0.01, "median {}", quantile(&xs, 0.5));
    }

    #[test]
    fn names_round_trip() {
        for (name, d) in Distribution::NAMES {
            assert_eq!(Distribution::from_name(name), Some(d));
            assert_eq!(d.name(), name);
        }
        assert_eq!(Distribution::from_name("exponential"), None);
    }
}
