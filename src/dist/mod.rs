//! Service times: seeded distributions, named in a lab file (`"lognormal p50=10ms p99=50ms"`).
//!
//! A [`ServiceTime`] is parsed from words separated by spaces, a kind then `key=value`s, and can
//! be given by its median and 99th percentile, the two numbers people quote. It is sampled by
//! inverse transform from the caller's seeded stream, so a run is a function of its seed; it also
//! states the theory ([`quantile`](ServiceTime::quantile), [`cdf`](ServiceTime::cdf),
//! [`mean`](ServiceTime::mean)) that checks and tests compare samples with.
//!
//! The bimodal kind is the mix behind Dean & Barroso, "The Tail at Scale" (CACM 56(2), 2013):
//! a server that is slow 1% of the time makes 63% of requests slow when each one fans out to 100
//! servers (1 − 0.99¹⁰⁰).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand_core::RngCore;

use crate::units::format_duration;
use normal::{inverse_normal_cdf, normal_cdf};

mod normal;
mod parse;

/// Samples are capped at one hour (a service time beyond it is a lab error, and heavy tails such
/// as a Pareto of shape below 1 would otherwise overflow). [`quantile`](ServiceTime::quantile),
/// [`cdf`](ServiceTime::cdf) and [`mean`](ServiceTime::mean) describe the uncapped distribution.
pub const CAP: Duration = Duration::from_secs(3600);

/// Φ⁻¹(0.99), the standard normal's 99th percentile.
const Z99: f64 = 2.326_347_874_040_841;

/// A distribution of service times. Parameters that are not durations are in seconds, kept as
/// `f64` so that a distribution given by its percentiles states them again exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceTime {
    /// Always the same time.
    Fixed(Duration),
    /// Uniform on `lo..hi`.
    Uniform { lo: Duration, hi: Duration },
    /// Exponential with this mean (seconds): P(X > x) = e^(−x/mean).
    Exponential { mean: f64 },
    /// ln X (X in seconds) is normal with mean `mu` and standard deviation `sigma`.
    LogNormal { mu: f64, sigma: f64 },
    /// Pareto type I: P(X > x) = (scale/x)^shape for x ≥ scale (seconds).
    Pareto { scale: f64, shape: f64 },
    /// `slow` with probability `p_slow`, else `fast`.
    Bimodal { p_slow: f64, slow: Box<ServiceTime>, fast: Box<ServiceTime> },
}

/// Text that is not a service time: the word at fault, what is wrong, and the accepted form.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind}: {problem}; expected {form}")]
pub struct DistError {
    pub kind: String,
    pub problem: String,
    pub form: &'static str,
}

impl ServiceTime {
    /// One sample, in whole microseconds, capped at [`CAP`]: the [`quantile`](Self::quantile) of
    /// a uniform draw (one draw from `rng`; none for `Fixed`; for `Bimodal`, one to choose the
    /// mode and then the mode's). Deterministic given the rng.
    pub fn sample(&self, rng: &mut impl RngCore) -> Duration {
        let secs = match self {
            ServiceTime::Fixed(d) => d.as_secs_f64(),
            ServiceTime::Bimodal { p_slow, slow, fast } => {
                return if unit(rng) < *p_slow { slow.sample(rng) } else { fast.sample(rng) };
            }
            _ => self.quantile_secs(unit(rng)),
        };
        Duration::from_micros((secs * 1e6).round().min(CAP.as_micros() as f64) as u64)
    }

    /// The exact inverse CDF, inf { x : cdf(x) ≥ q }, for q in 0..=1, to the nanosecond;
    /// `Duration::MAX` where it is infinite (q = 1 for an unbounded distribution).
    pub fn quantile(&self, q: f64) -> Duration {
        assert!((0.0..=1.0).contains(&q), "quantile of q = {q}, outside 0..=1");
        duration_of(self.quantile_secs(q)).unwrap_or(Duration::MAX)
    }

    /// P(X ≤ t).
    pub fn cdf(&self, t: Duration) -> f64 {
        self.cdf_secs(t.as_secs_f64())
    }

    /// The mean, or `None` where it is infinite (Pareto of shape ≤ 1) or beyond a `Duration`.
    pub fn mean(&self) -> Option<Duration> {
        match self {
            ServiceTime::Fixed(d) => Some(*d),
            ServiceTime::Uniform { lo, hi } => Some((*lo + *hi) / 2),
            ServiceTime::Exponential { mean } => duration_of(*mean),
            ServiceTime::LogNormal { mu, sigma } => duration_of((mu + sigma * sigma / 2.0).exp()),
            ServiceTime::Pareto { scale, shape } => {
                (*shape > 1.0).then(|| shape * scale / (shape - 1.0)).and_then(duration_of)
            }
            ServiceTime::Bimodal { p_slow, slow, fast } => match *p_slow {
                0.0 => fast.mean(),
                1.0 => slow.mean(),
                p => duration_of(p * slow.mean()?.as_secs_f64() + (1.0 - p) * fast.mean()?.as_secs_f64()),
            },
        }
    }

    /// Text that [`parse`](Self::parse) reads back as the same distribution: for the kinds with
    /// two forms, the shorter (`lognormal p50=10ms p99=50ms`, `pareto scale=5ms shape=1.5`).
    pub fn describe(&self) -> String {
        // A percentile as a duration, when it prints as a positive one.
        let at = |q: f64| duration_of(self.quantile_secs(q)).filter(|d| !d.is_zero());
        let secs = |s: f64| duration_of(s).map_or_else(|| format!("{s}s"), format_duration);
        let percentiles = |kind: &str| match (at(0.5), at(0.99)) {
            (Some(p50), Some(p99)) if p99 > p50 => {
                Some(format!("{kind} p50={} p99={}", format_duration(p50), format_duration(p99)))
            }
            _ => None,
        };
        let shortest = |forms: Vec<Option<String>>| forms.into_iter().flatten().min_by_key(|f| f.len()).unwrap();
        match self {
            ServiceTime::Fixed(d) => format!("fixed {}", format_duration(*d)),
            ServiceTime::Uniform { lo, hi } => format!("uniform {} {}", format_duration(*lo), format_duration(*hi)),
            ServiceTime::Exponential { mean } => shortest(vec![
                Some(format!("exponential mean={}", secs(*mean))),
                at(0.5).map(|p50| format!("exponential p50={}", format_duration(p50))),
            ]),
            ServiceTime::LogNormal { mu, sigma } => {
                shortest(vec![Some(format!("lognormal mu={mu} sigma={sigma}")), percentiles("lognormal")])
            }
            ServiceTime::Pareto { scale, shape } => {
                shortest(vec![Some(format!("pareto scale={} shape={shape}", secs(*scale))), percentiles("pareto")])
            }
            ServiceTime::Bimodal { p_slow, slow, fast } => {
                // As a percentage where that reads back exactly and is shorter.
                let percent = Some(format!("{}%", p_slow * 100.0)).filter(|_| p_slow * 100.0 / 100.0 == *p_slow);
                let p = shortest(vec![percent, Some(p_slow.to_string())]);
                let nested = |d: &ServiceTime| match d {
                    ServiceTime::Fixed(d) => format_duration(*d),
                    d => format!("({})", d.describe()),
                };
                format!("bimodal p={p} slow={} fast={}", nested(slow), nested(fast))
            }
        }
    }

    fn quantile_secs(&self, q: f64) -> f64 {
        match self {
            ServiceTime::Fixed(d) => d.as_secs_f64(),
            ServiceTime::Uniform { lo, hi } => lo.as_secs_f64() + q * (*hi - *lo).as_secs_f64(),
            ServiceTime::Exponential { mean } => -mean * (-q).ln_1p(),
            ServiceTime::LogNormal { mu, sigma } => (mu + sigma * inverse_normal_cdf(q)).exp(),
            ServiceTime::Pareto { scale, shape } => scale * (1.0 - q).powf(-1.0 / shape),
            ServiceTime::Bimodal { slow, fast, .. } => {
                // The mixture's quantile lies between its modes' (at the lower one, cdf ≤ q; at
                // the higher, cdf ≥ q): bisect on the cdf, to the last bit of an f64.
                let (a, b) = (slow.quantile_secs(q), fast.quantile_secs(q));
                let (mut lo, mut hi) = (a.min(b), a.max(b));
                if hi.is_infinite() {
                    return hi;
                }
                if self.cdf_secs(lo) >= q {
                    return lo;
                }
                loop {
                    let mid = lo + (hi - lo) / 2.0;
                    if mid <= lo || mid >= hi {
                        return hi;
                    }
                    if self.cdf_secs(mid) >= q {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
            }
        }
    }

    fn cdf_secs(&self, x: f64) -> f64 {
        match self {
            ServiceTime::Fixed(d) => f64::from(u8::from(x >= d.as_secs_f64())),
            ServiceTime::Uniform { lo, hi } => ((x - lo.as_secs_f64()) / (*hi - *lo).as_secs_f64()).clamp(0.0, 1.0),
            ServiceTime::Exponential { mean } => (-(-x.max(0.0) / mean).exp_m1()).max(0.0),
            ServiceTime::LogNormal { mu, sigma } if x > 0.0 => normal_cdf((x.ln() - mu) / sigma),
            ServiceTime::LogNormal { .. } => 0.0,
            ServiceTime::Pareto { scale, shape } => 1.0 - (scale / x.max(*scale)).powf(*shape),
            ServiceTime::Bimodal { p_slow, slow, fast } => {
                p_slow * slow.cdf_secs(x) + (1.0 - p_slow) * fast.cdf_secs(x)
            }
        }
    }
}

impl fmt::Display for ServiceTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl FromStr for ServiceTime {
    type Err = DistError;
    fn from_str(s: &str) -> Result<Self, DistError> {
        Self::parse(s)
    }
}

/// Seconds as a `Duration`, to the nanosecond, when finite and in range.
fn duration_of(secs: f64) -> Option<Duration> {
    let nanos = (secs * 1e9).round();
    (0.0..u64::MAX as f64).contains(&nanos).then(|| Duration::from_nanos(nanos as u64))
}

/// A uniform draw in (0, 1), never 0 or 1: the top 53 bits of a `u64`, at the middle of their step.
fn unit(rng: &mut impl RngCore) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests;
