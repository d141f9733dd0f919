//! Reading a service time from a lab file's words: a kind, then positional or `key=value`
//! parameters, or a distribution given by its median and 99th percentile.

use std::time::Duration;

use super::{DistError, ServiceTime, Z99};
use crate::units::{format_duration, parse_duration, parse_percent};

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
