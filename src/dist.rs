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

use crate::units::{format_duration, parse_duration, parse_percent};

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

const KINDS: &str = "a duration or one of fixed, uniform, exponential, lognormal, pareto, bimodal, \
                     e.g. `lognormal p50=10ms p99=50ms`";
const FIXED: &str = "`fixed D` or a bare duration, e.g. `fixed 10ms`";
const UNIFORM: &str = "`uniform LO HI` or `uniform lo=LO hi=HI` with LO < HI, e.g. `uniform 5ms 15ms`";
const EXPONENTIAL: &str = "one of `exponential mean=D`, `exponential p50=D` or `exponential p99=D`, D above 0";
const LOGNORMAL: &str = "`lognormal p50=D p99=D` with 0 < p50 < p99, or `lognormal mu=X sigma=Y` \
                         (of ln seconds, sigma above 0)";
const PARETO: &str = "`pareto p50=D p99=D` with 0 < p50 < p99, or `pareto scale=D shape=X` (both above 0)";
const BIMODAL: &str = "`bimodal p=P slow=S fast=F`, P a percentage (1%) or a fraction (0.01), S and F \
                       durations or parenthesised distributions, e.g. `bimodal p=1% slow=1s fast=(uniform 5ms 15ms)`";

impl ServiceTime {
    /// Parses a distribution's text, e.g.
    /// `10ms`, `uniform 5ms 15ms`, `exponential mean=10ms`, `lognormal p50=10ms p99=50ms`,
    /// `pareto scale=5ms shape=1.5`, `bimodal p=1% slow=1s fast=(lognormal p50=10ms p99=50ms)`.
    pub fn parse(text: &str) -> Result<ServiceTime, DistError> {
        let words = split_words(text)?;
        let Some((&kind, rest)) = words.split_first() else {
            return Err(DistError { kind: "service time".into(), problem: "no words".into(), form: KINDS });
        };
        if rest.is_empty() {
            if let Some(inner) = kind.strip_prefix('(').and_then(|k| k.strip_suffix(')')) {
                return Self::parse(inner);
            }
            if let Ok(d) = parse_duration(kind) {
                return Ok(ServiceTime::Fixed(d));
            }
        }
        let form = match kind {
            "fixed" => FIXED,
            "uniform" => UNIFORM,
            "exponential" => EXPONENTIAL,
            "lognormal" => LOGNORMAL,
            "pareto" => PARETO,
            "bimodal" => BIMODAL,
            _ => {
                let problem = format!("unknown distribution `{kind}`");
                return Err(DistError { kind: "service time".into(), problem, form: KINDS });
            }
        };
        let mut a = Args { kind, form, positional: vec![], keyed: vec![] };
        for word in rest {
            match word.split_once('=') {
                Some((k, _)) if a.keyed.iter().any(|(seen, _)| *seen == k) => {
                    return Err(a.error(format!("`{k}=` is given twice")))
                }
                Some((k, v)) => a.keyed.push((k, v)),
                None => a.positional.push(word),
            }
        }
        if let (false, Some(word)) = (matches!(kind, "fixed" | "uniform"), a.positional.first()) {
            return Err(a.error(format!("unexpected `{word}` (parameters are key=value)")));
        }
        let dist = match kind {
            "fixed" => match std::mem::take(&mut a.positional)[..] {
                [d] => ServiceTime::Fixed(a.duration("the duration", d)?),
                _ => return Err(a.error("give one duration")),
            },
            "uniform" => {
                let (lo, hi) = (a.take("lo"), a.take("hi"));
                let (lo, hi) = match (std::mem::take(&mut a.positional).as_slice(), lo, hi) {
                    (&[lo, hi], None, None) | (&[], Some(lo), Some(hi)) => {
                        (a.duration("lo", lo)?, a.duration("hi", hi)?)
                    }
                    _ => return Err(a.error("give two durations, LO and HI")),
                };
                if hi <= lo {
                    let problem = format!("hi ({}) must be above lo ({})", format_duration(hi), format_duration(lo));
                    return Err(a.error(problem));
                }
                ServiceTime::Uniform { lo, hi }
            }
            "exponential" => {
                let mean = match (a.positive("mean")?, a.positive("p50")?, a.positive("p99")?) {
                    (Some(mean), None, None) => mean,
                    (None, Some(p50), None) => p50 / 2f64.ln(),
                    (None, None, Some(p99)) => p99 / 100f64.ln(),
                    _ => return Err(a.error("the exponential has one parameter: give one of mean=, p50=, p99=")),
                };
                ServiceTime::Exponential { mean }
            }
            "lognormal" => match (a.take("p50"), a.take("p99"), a.number("mu")?, a.number("sigma")?) {
                (Some(p50), Some(p99), None, None) => {
                    let (p50, p99) = a.percentiles(p50, p99)?;
                    ServiceTime::LogNormal { mu: p50.ln(), sigma: (p99.ln() - p50.ln()) / Z99 }
                }
                (None, None, Some(mu), Some(sigma)) if sigma > 0.0 => ServiceTime::LogNormal { mu, sigma },
                (None, None, Some(_), Some(sigma)) => return Err(a.error(format!("sigma ({sigma}) must be above 0"))),
                _ => return Err(a.error("give p50= and p99=, or mu= and sigma=")),
            },
            "pareto" => match (a.take("p50"), a.take("p99"), a.positive("scale")?, a.number("shape")?) {
                (Some(p50), Some(p99), None, None) => {
                    // Solve (scale/p50)^shape = 0.5 and (scale/p99)^shape = 0.01.
                    let (p50, p99) = a.percentiles(p50, p99)?;
                    let shape = (0.5f64 / 0.01).ln() / (p99 / p50).ln();
                    ServiceTime::Pareto { scale: p50 * 0.5f64.powf(1.0 / shape), shape }
                }
                (None, None, Some(scale), Some(shape)) if shape > 0.0 => ServiceTime::Pareto { scale, shape },
                (None, None, Some(_), Some(shape)) => return Err(a.error(format!("shape ({shape}) must be above 0"))),
                _ => return Err(a.error("give p50= and p99=, or scale= and shape=")),
            },
            _ => {
                let (Some(p), Some(slow), Some(fast)) = (a.take("p"), a.take("slow"), a.take("fast")) else {
                    return Err(a.error("give p=, slow= and fast="));
                };
                let p_slow = match p.strip_suffix('%') {
                    Some(_) => parse_percent(p).map_err(|e| a.error(format!("p: {e}")))?,
                    None => p.parse::<f64>().ok().filter(|f| (0.0..=1.0).contains(f)).ok_or_else(|| {
                        a.error(format!("p (`{p}`) must be a fraction from 0 to 1, or a percentage such as 1%"))
                    })?,
                };
                ServiceTime::Bimodal {
                    p_slow,
                    slow: Box::new(a.nested("slow", slow)?),
                    fast: Box::new(a.nested("fast", fast)?),
                }
            }
        };
        match (a.positional.first(), a.keyed.first()) {
            (Some(word), _) => Err(a.error(format!("unexpected `{word}`"))),
            (None, Some((k, _))) => Err(a.error(format!("unknown parameter `{k}=`"))),
            (None, None) => Ok(dist),
        }
    }

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

/// The words of a distribution's text and what has not been used yet.
struct Args<'a> {
    kind: &'a str,
    form: &'static str,
    positional: Vec<&'a str>,
    keyed: Vec<(&'a str, &'a str)>,
}

impl<'a> Args<'a> {
    fn error(&self, problem: impl Into<String>) -> DistError {
        DistError { kind: self.kind.to_string(), problem: problem.into(), form: self.form }
    }

    fn take(&mut self, key: &str) -> Option<&'a str> {
        let i = self.keyed.iter().position(|(k, _)| *k == key)?;
        Some(self.keyed.remove(i).1)
    }

    fn duration(&self, name: &str, text: &str) -> Result<Duration, DistError> {
        parse_duration(text).map_err(|e| self.error(format!("{name}: {e}")))
    }

    /// `key=` as seconds, above zero.
    fn positive(&mut self, key: &str) -> Result<Option<f64>, DistError> {
        let Some(text) = self.take(key) else { return Ok(None) };
        match self.duration(key, text)? {
            d if d.is_zero() => Err(self.error(format!("{key} must be above 0"))),
            d => Ok(Some(d.as_secs_f64())),
        }
    }

    fn number(&mut self, key: &str) -> Result<Option<f64>, DistError> {
        let Some(text) = self.take(key) else { return Ok(None) };
        let n = text.parse::<f64>().ok().filter(|n| n.is_finite());
        n.map(Some).ok_or_else(|| self.error(format!("{key} (`{text}`) must be a finite number")))
    }

    /// p50 and p99 in seconds, with 0 < p50 < p99.
    fn percentiles(&self, p50: &str, p99: &str) -> Result<(f64, f64), DistError> {
        let (p50, p99) = (self.duration("p50", p50)?, self.duration("p99", p99)?);
        if p50.is_zero() {
            return Err(self.error("p50 must be above 0"));
        }
        if p99 <= p50 {
            let problem = format!("p99 ({}) must be above p50 ({})", format_duration(p99), format_duration(p50));
            return Err(self.error(problem));
        }
        Ok((p50.as_secs_f64(), p99.as_secs_f64()))
    }

    fn nested(&self, key: &str, text: &str) -> Result<ServiceTime, DistError> {
        ServiceTime::parse(text).map_err(|e| DistError { kind: format!("{} (in {}'s {key}=)", e.kind, self.kind), ..e })
    }
}

/// Splits at spaces outside parentheses: `fast=(uniform 5ms 15ms)` is one word.
fn split_words(text: &str) -> Result<Vec<&str>, DistError> {
    let unbalanced =
        || DistError { kind: "service time".into(), problem: "unbalanced parentheses".into(), form: KINDS };
    let (mut words, mut depth, mut start) = (Vec::new(), 0usize, None);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or_else(unbalanced)?,
            c if c.is_whitespace() && depth == 0 => {
                words.extend(start.take().map(|s| &text[s..i]));
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if depth != 0 {
        return Err(unbalanced());
    }
    words.extend(start.map(|s| &text[s..]));
    Ok(words)
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

/// The complementary error function, to a few parts in 1e15 (checked against libm's): for
/// x < 1.5, 1 − erf(x) with the series of Abramowitz & Stegun 7.1.6,
/// erf x = 2/√π e^(−x²) Σ 2ⁿ x^(2n+1) / (1·3···(2n+1)); beyond, 100 terms of the continued
/// fraction of A&S 7.1.14, erfc x = e^(−x²)/√π · 1/(x+ ½/(x+ 1/(x+ 3/2/(x+ …)))).
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    let scale = (-x * x).exp() / std::f64::consts::PI.sqrt();
    if x < 1.5 {
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * x * x / (2.0 * n + 1.0);
            sum += term;
        }
        1.0 - 2.0 * scale * sum
    } else {
        let tail = (1..=100).rev().fold(x, |t, k| x + f64::from(k) / 2.0 / t);
        scale / tail
    }
}

/// Φ, the standard normal CDF: Φ(z) = ½ erfc(−z/√2) (A&S 26.2.29).
fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Φ⁻¹, the standard normal quantile: P. J. Acklam's rational approximation (2003, relative
/// error below 1.15e-9), refined by one step of Halley's method on [`normal_cdf`] to full
/// double precision, as Acklam suggests.
fn inverse_normal_cdf(p: f64) -> f64 {
    #[rustfmt::skip]
    const A: [f64; 6] = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2,
                         1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
    #[rustfmt::skip]
    const B: [f64; 6] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2,
                         6.680131188771972e1, -1.328068155288572e1, 1.0];
    #[rustfmt::skip]
    const C: [f64; 6] = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838,
                         -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 5] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416, 1.0];
    const LOW: f64 = 0.02425;
    let poly = |coefficients: &[f64], x: f64| coefficients.iter().fold(0.0, |acc, c| acc * x + c);
    if p <= 0.0 || p >= 1.0 {
        return if p <= 0.0 { f64::NEG_INFINITY } else { f64::INFINITY };
    }
    let x = if (LOW..=1.0 - LOW).contains(&p) {
        let (q, r) = (p - 0.5, (p - 0.5) * (p - 0.5));
        q * poly(&A, r) / poly(&B, r)
    } else {
        // The tails, by symmetry: Φ⁻¹(p) = −Φ⁻¹(1 − p).
        let q = (-2.0 * p.min(1.0 - p).ln()).sqrt();
        poly(&C, q) / poly(&D, q) * if p < LOW { 1.0 } else { -1.0 }
    };
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn d(text: &str) -> ServiceTime {
        ServiceTime::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    const KINDS_TO_SAMPLE: &[&str] = &[
        "fixed 10ms",
        "uniform 5ms 15ms",
        "exponential mean=10ms",
        "lognormal p50=10ms p99=50ms",
        "pareto p50=10ms p99=50ms",
        "bimodal p=5% slow=(uniform 200ms 400ms) fast=(lognormal p50=10ms p99=50ms)",
        "bimodal p=1% slow=1s fast=(exponential p99=20ms)",
    ];

    #[test]
    fn the_math_matches_reference_values() {
        // erfc from Abramowitz & Stegun table 7.1 / mpmath; Φ⁻¹ from R's qnorm.
        for (x, want) in [
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_1),
            (2.0, 0.004_677_734_981_047_266),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_035e-12),
        ] {
            assert!((erfc(x) / want - 1.0).abs() < 1e-14, "erfc({x}) = {} not {want}", erfc(x));
            assert!((erfc(-x) - (2.0 - want)).abs() < 1e-15, "erfc(-{x}) = {}", erfc(-x));
        }
        for (p, want) in [
            (0.99, Z99),
            (0.975, 1.959_963_984_540_054),
            (0.5, 0.0),
            (1e-10, -6.361_340_902_404_056),
            (0.3, -0.524_400_512_708_041),
        ] {
            assert!((inverse_normal_cdf(p) - want).abs() < 1e-13, "Φ⁻¹({p}) = {} not {want}", inverse_normal_cdf(p));
        }
    }

    #[test]
    fn forms_parse_to_their_parameters() {
        assert_eq!(d("10ms"), ServiceTime::Fixed(Duration::from_millis(10)));
        assert_eq!(d("fixed 10ms"), d("(fixed 10ms)"));
        assert_eq!(d("uniform 5ms 15ms"), d("uniform  lo=5ms hi=15ms "));
        assert_eq!(
            d("uniform 5ms 15ms"),
            ServiceTime::Uniform { lo: Duration::from_millis(5), hi: Duration::from_millis(15) }
        );
        assert_eq!(d("exponential mean=10ms"), ServiceTime::Exponential { mean: 0.01 });
        assert_eq!(d("lognormal mu=-4 sigma=0.5"), ServiceTime::LogNormal { mu: -4.0, sigma: 0.5 });
        assert_eq!(d("pareto scale=5ms shape=1.5"), ServiceTime::Pareto { scale: 0.005, shape: 1.5 });
        let ServiceTime::Bimodal { p_slow, slow, fast } = d("bimodal p=0.01 slow=1s fast=(uniform 5ms 15ms)") else {
            panic!()
        };
        assert_eq!((p_slow, *slow, *fast), (0.01, d("1s"), d("uniform 5ms 15ms")));
        assert_eq!(d("bimodal p=1% slow=1s fast=10ms"), d("bimodal fast=(fixed 10ms) p=0.01 slow=(1s)"));
    }

    #[test]
    fn given_percentiles_are_the_quantiles() {
        let us = |a: Duration, b: Duration| a.abs_diff(b) <= Duration::from_micros(1);
        for kind in ["lognormal", "pareto"] {
            let dist = d(&format!("{kind} p50=10ms p99=50ms"));
            assert!(us(dist.quantile(0.5), Duration::from_millis(10)), "{kind}: p50 {:?}", dist.quantile(0.5));
            assert!(us(dist.quantile(0.99), Duration::from_millis(50)), "{kind}: p99 {:?}", dist.quantile(0.99));
        }
        assert!(us(d("exponential p50=10ms").quantile(0.5), Duration::from_millis(10)));
        assert!(us(d("exponential p99=10ms").quantile(0.99), Duration::from_millis(10)));
        assert!(us(d("pareto scale=5ms shape=1.5").quantile(0.0), Duration::from_millis(5)));
        assert_eq!(d("exponential mean=1s").quantile(1.0), Duration::MAX);
    }

    #[test]
    fn describe_reads_back_as_the_same_distribution() {
        for text in [
            "fixed 10ms",
            "uniform 5ms 15ms",
            "exponential mean=10ms",
            "exponential p50=10ms",
            "lognormal p50=10ms p99=50ms",
            "lognormal mu=-4 sigma=0.5",
            "pareto p50=10ms p99=50ms",
            "pareto scale=5ms shape=1.5",
            "bimodal p=1% slow=1s fast=(lognormal p50=10ms p99=50ms)",
            "bimodal p=0.125 slow=(pareto scale=5ms shape=1.5) fast=10ms",
        ] {
            let dist = d(text);
            let back = d(&dist.describe());
            for q in [0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999] {
                let (a, b) = (dist.quantile(q), back.quantile(q));
                assert!(
                    a.abs_diff(b) <= a / 1_000_000_000 + Duration::from_nanos(2),
                    "{text} → {back}: q{q} {a:?} {b:?}"
                );
            }
        }
        // Given in the shorter form, described in it.
        for text in [
            "fixed 10ms",
            "uniform 5ms 15ms",
            "exponential p50=10ms",
            "lognormal p50=10ms p99=50ms",
            "pareto scale=5ms shape=1.5",
            "bimodal p=1% slow=1s fast=(lognormal p50=10ms p99=50ms)",
            "bimodal p=12.5% slow=(pareto p50=10ms p99=50ms) fast=10ms",
        ] {
            assert_eq!(d(text).to_string(), text);
        }
    }

    #[test]
    fn bad_text_is_refused_naming_the_problem() {
        for (text, says) in [
            ("", "service time: no words"),
            ("gamma 10ms", "unknown distribution `gamma`"),
            ("10", "unknown distribution `10`"),
            ("fixed", "fixed: give one duration"),
            ("fixed -5ms", "fixed: the duration: `-5ms` is not a duration"),
            ("uniform 15ms 5ms", "uniform: hi (5ms) must be above lo (15ms)"),
            ("uniform 5ms", "uniform: give two durations"),
            ("uniform lo=5ms hi=15ms lo=6ms", "`lo=` is given twice"),
            ("exponential mean=0s", "exponential: mean must be above 0"),
            ("exponential p50=10ms p99=50ms", "the exponential has one parameter"),
            ("exponential", "the exponential has one parameter"),
            ("exponential 10ms", "unexpected `10ms` (parameters are key=value)"),
            ("lognormal p50=10ms p99=5ms", "lognormal: p99 (5ms) must be above p50 (10ms)"),
            ("lognormal p50=10ms p99=10ms", "p99 (10ms) must be above p50 (10ms)"),
            ("lognormal p50=10ms", "lognormal: give p50= and p99=, or mu= and sigma="),
            ("lognormal p50=10ms p99=50ms mu=1", "give p50= and p99=, or mu= and sigma="),
            ("lognormal mu=NaN sigma=1", "mu (`NaN`) must be a finite number"),
            ("lognormal mu=1 sigma=0", "sigma (0) must be above 0"),
            ("lognormal p50=10ms p99=50ms p90=20ms", "unknown parameter `p90=`"),
            ("pareto p50=0s p99=50ms", "pareto: p50 must be above 0"),
            ("pareto scale=5ms shape=-1", "shape (-1) must be above 0"),
            ("pareto scale=5ms shape=inf", "shape (`inf`) must be a finite number"),
            ("bimodal p=1% slow=1s", "bimodal: give p=, slow= and fast="),
            ("bimodal p=5 slow=1s fast=10ms", "p (`5`) must be a fraction from 0 to 1, or a percentage"),
            ("bimodal p=101% slow=1s fast=10ms", "`101%` is not a percentage"),
            ("bimodal p=1% slow=1s fast=(lognormal p50=10ms p99=5ms)", "lognormal (in bimodal's fast=): p99 (5ms)"),
            ("bimodal p=1% slow=1s fast=(uniform 5ms 15ms", "unbalanced parentheses"),
        ] {
            let e = ServiceTime::parse(text).expect_err(text).to_string();
            assert!(e.contains(says), "`{text}` gave `{e}`, which does not say `{says}`");
            assert!(e.contains("; expected "), "`{e}` does not give the form");
        }
    }

    #[test]
    fn cdf_inverts_quantile() {
        for text in &KINDS_TO_SAMPLE[1..6] {
            let dist = d(text);
            for q in [0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999] {
                let c = dist.cdf_secs(dist.quantile_secs(q));
                assert!((c - q).abs() < 1e-12, "{text}: cdf(quantile({q})) = {c}");
                assert!((dist.cdf(dist.quantile(q)) - q).abs() < 1e-6, "{text}: as durations, at {q}");
            }
        }
    }

    #[test]
    fn samples_follow_the_theory() {
        const N: usize = 200_000;
        for text in KINDS_TO_SAMPLE {
            let dist = d(text);
            let mut rng = stream(7, "test");
            let samples: Vec<Duration> = (0..N).map(|_| dist.sample(&mut rng)).collect();
            assert!(samples.iter().all(|s| s.subsec_nanos() % 1000 == 0), "{text}: not whole microseconds");
            for q in [0.5, 0.9, 0.99] {
                // The share at or below the theoretical quantile is the cdf there (q itself,
                // unless the quantile is an atom, as a fixed time is).
                let t = dist.quantile(q);
                let c = dist.cdf(t);
                let share = samples.iter().filter(|&&s| s <= t).count() as f64 / N as f64;
                let se = (c * (1.0 - c) / N as f64).sqrt();
                assert!(
                    (share - c).abs() <= 4.0 * se,
                    "{text}: {share} at or below p{} ({t:?}), not {c} ± 4 × {se}",
                    q * 100.0
                );
            }
            // The sample mean, within 4 standard errors (from the sample's own spread) of the theory.
            let secs: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
            let mean = secs.iter().sum::<f64>() / N as f64;
            let se = (secs.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (N * (N - 1)) as f64).sqrt();
            let want = dist.mean().unwrap().as_secs_f64();
            assert!((mean - want).abs() <= 4.0 * se + 1e-9, "{text}: sample mean {mean}, theory {want} ± 4 × {se}");
        }
    }

    #[test]
    fn bimodal_is_slow_with_probability_p() {
        const N: usize = 200_000;
        let dist = d("bimodal p=1% slow=1s fast=(uniform 5ms 15ms)");
        let mut rng = stream(8, "test");
        let slow = (0..N).filter(|_| dist.sample(&mut rng) == Duration::from_secs(1)).count() as f64 / N as f64;
        assert!((slow - 0.01).abs() <= 4.0 * (0.01 * 0.99 / N as f64).sqrt(), "slow share {slow}");
        assert_eq!(d("bimodal p=0 slow=1s fast=10ms").sample(&mut rng), Duration::from_millis(10));
        assert_eq!(d("bimodal p=100% slow=1s fast=10ms").sample(&mut rng), Duration::from_secs(1));
    }

    #[test]
    fn samples_are_capped_and_infinite_means_are_none() {
        let dist = d("pareto scale=1s shape=0.1");
        assert_eq!(dist.mean(), None);
        let mut rng = stream(9, "test");
        let samples: Vec<Duration> = (0..10_000).map(|_| dist.sample(&mut rng)).collect();
        assert!(samples.iter().all(|&s| s >= Duration::from_secs(1) && s <= CAP));
        assert!(samples.contains(&CAP), "P(X > 1h) = 3600^-0.1 = 44%, yet no sample was capped");
    }

    #[test]
    fn the_same_seed_gives_the_same_samples() {
        for text in KINDS_TO_SAMPLE {
            let draw = |seed, label| {
                let mut rng = stream(seed, label);
                (0..100).map(|_| d(text).sample(&mut rng)).collect::<Vec<_>>()
            };
            assert_eq!(draw(1, "test"), draw(1, "test"), "{text}");
            if !text.starts_with("fixed") {
                assert_ne!(draw(1, "test"), draw(2, "test"), "{text}");
            }
        }
    }
}
