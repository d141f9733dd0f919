//! tc-netem's words for a link: `delay 75ms 5ms loss 1% rate 10mbit limit 100`.
//!
//! The delay is **one-way**, as with netem on one interface: `delay 75ms` on both directions
//! of a path makes a 150 ms RTT. The subset understood (values use [`crate::units`]):
//!
//! | words | meaning |
//! |---|---|
//! | `delay TIME [JITTER [CORR%]]` | one-way delay, uniform jitter ±JITTER, jitter correlation |
//! | `distribution uniform\|normal\|pareto\|paretonormal` | the shape of the jitter ([`super::distribution`]) |
//! | `loss [random] PERCENT [CORR%]` | independent (Bernoulli) loss; netem's correlated loss ([`super::loss`]) |
//! | `loss gemodel P [R [1-H [1-K]]]` | Gilbert-Elliott bursty loss (percentages, see below) |
//! | `corrupt PERCENT` | probability a packet arrives with a bit flipped; the receiver drops it |
//! | `duplicate PERCENT` | probability a packet is delivered twice |
//! | `reorder PERCENT` | probability a packet skips the delay (matters only with a delay) |
//! | `rate RATE` | serialization rate: `10mbit`, `1gbit`, `100kbps` (bytes/s) ... |
//! | `limit PACKETS` | drop-tail limit on packets waiting for the rate (default 1000) |
//! | `mtu BYTES` | wirelab extension: longer packets are dropped |
//! | `rate trace FILE` | wirelab extension: a mahimahi rate trace instead of a rate ([`super::trace`]) |
//! | `delay trace FILE` | wirelab extension: the delay follows `TIME_MS DELAY_MS` lines ([`super::trace`]) |
//!
//! `loss gemodel`: P = P(good → bad), R = P(bad → good) (default 100% - P), 1-H = loss in
//! the bad state (default 100%), 1-K = loss in the good state (default 0%); see
//! [`LossModel::GilbertElliott`] for how they are stored.
//!
//! `delay` sets delay, jitter and correlation together (jitter and correlation default to 0)
//! and ends a delay trace; `distribution` needs a jitter. `rate` and `rate trace` replace each
//! other. A later word overrides an earlier one, and [`apply`] overrides only what the words
//! name. Trace files are read by a loader the caller gives ([`apply_with`]: a lab reads them
//! next to the lab file); [`apply`] reads them from the working directory.
//!
//! Not supported, and rejected with a message rather than ignored: correlation after
//! `duplicate`, `reorder` or `corrupt`, `loss state`, `gap`, `slot`, `ecn` and `seed`.

use std::sync::Arc;

use super::{DelayTrace, Distribution, LinkConfig, LossModel, RateTrace};
use crate::units::{parse_duration, parse_percent, parse_rate, parse_size, UnitError};

/// Words that could not be understood. Displays as `--link "INPUT": MESSAGE`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--link \"{input}\": {message}")]
pub struct NetemError {
    pub input: String,
    pub message: String,
}

const WORDS: &str = "delay, distribution, loss, corrupt, duplicate, reorder, rate, limit, mtu";

/// netem words that are refused with a reason (they end the previous word's values).
const REJECTED: [&str; 4] = ["gap", "slot", "ecn", "seed"];

/// Reads a trace file named in the words: its text, or why it cannot be read.
pub type Loader<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Parses netem words into a config, starting from [`LinkConfig::default`].
pub fn parse(words: &str) -> Result<LinkConfig, NetemError> {
    apply(LinkConfig::default(), words)
}

/// Applies words on top of a base config (so a lab's `[link]` can be refined); trace files
/// are read from the working directory.
pub fn apply(base: LinkConfig, words: &str) -> Result<LinkConfig, NetemError> {
    apply_with(base, words, &|path: &str| std::fs::read_to_string(path).map_err(|e| e.to_string()))
}

/// [`apply`], reading trace files with `load`.
pub fn apply_with(base: LinkConfig, words: &str, load: Loader) -> Result<LinkConfig, NetemError> {
    let mut config = base;
    let mut tokens = Tokens { words: words.split_whitespace().collect(), at: 0, word: "" };
    let error = |message| NetemError { input: words.to_string(), message };
    while let Some(word) = tokens.next() {
        tokens.word = word;
        apply_word(&mut config, &mut tokens, load).map_err(error)?;
    }
    if tokens.words.contains(&"distribution") && config.jitter.is_zero() {
        return Err(error(
            "`distribution` shapes the jitter, and there is none: `delay TIME JITTER distribution NAME`".into(),
        ));
    }
    Ok(config)
}

/// Reads and parses the trace file after `rate trace` or `delay trace`.
fn trace<V>(tokens: &mut Tokens, load: Loader, parse: fn(&str, &str) -> Result<V, String>) -> Result<Arc<V>, String> {
    tokens.at += 1;
    let word = tokens.word;
    let path = tokens.value().ok_or_else(|| format!("`{word} trace` needs a file: `{word} trace FILE`"))?;
    let text = load(path).map_err(|e| format!("`{word} trace {path}`: cannot read it: {e}"))?;
    parse(path, &text).map(Arc::new).map_err(|e| format!("`{word} trace`: {path}: {e}"))
}

/// Applies `tokens.word` and its values, or explains what is wrong.
fn apply_word(config: &mut LinkConfig, tokens: &mut Tokens, load: Loader) -> Result<(), String> {
    let next = tokens.words.get(tokens.at).copied();
    match tokens.word {
        "delay" if next == Some("trace") => {
            let trace = trace(tokens, load, DelayTrace::parse)?;
            config.delay = trace.first();
            config.delay_trace = Some(trace);
        }
        "delay" => {
            config.delay = tokens.required(parse_duration)?;
            config.jitter = tokens.optional(parse_duration)?.unwrap_or_default();
            config.jitter_correlation = tokens.optional(parse_percent)?.unwrap_or(0.0);
            config.delay_trace = None;
        }
        "distribution" => {
            let name = tokens.value().unwrap_or_default();
            config.distribution = Distribution::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = Distribution::NAMES.iter().map(|(n, _)| *n).collect();
                let what = if name.is_empty() { "needs a name".to_string() } else { format!("`{name}` is not one") };
                format!("`distribution` {what}; form: `distribution {}`", names.join("|"))
            })?;
        }
        "rate" if next == Some("trace") => {
            config.rate_trace = Some(trace(tokens, load, RateTrace::parse)?);
            config.rate_bps = None;
        }
        "corrupt" => config.corrupt = tokens.required(parse_percent)?,
        "gap" => return Err("`gap` is not supported: `reorder` sends a share of packets early, not every Nth".into()),
        "slot" => {
            return Err(
                "`slot` is not supported; a rate trace (`rate trace FILE`) models capacity that comes in bursts".into(),
            )
        }
        "ecn" => {
            return Err("`ecn` is not supported: the lab's hosts do not negotiate ECN, so marks would do nothing".into())
        }
        "seed" => return Err("`seed` is not supported: the run's `--seed` seeds every link".into()),
        "loss" => match tokens.words.get(tokens.at).copied() {
            Some("gemodel") => {
                tokens.at += 1;
                let p = tokens.required(parse_percent)?;
                let r = tokens.optional(parse_percent)?;
                let h = tokens.optional(parse_percent)?;
                let k = tokens.optional(parse_percent)?;
                config.loss = LossModel::gemodel(p, r, h, k);
                // A later `loss` replaces an earlier one, its correlation (random loss's only)
                // included.
                config.loss_correlation = 0.0;
            }
            Some("state") => return Err("`loss state` is not supported; use `loss gemodel`".into()),
            next => {
                tokens.at += usize::from(next == Some("random"));
                let p = tokens.required(parse_percent)?;
                config.loss = if p == 0.0 { LossModel::None } else { LossModel::Bernoulli { p } };
                config.loss_correlation = tokens.optional(parse_percent)?.unwrap_or(0.0);
            }
        },
        "duplicate" => config.duplicate = tokens.required(parse_percent)?,
        "reorder" => config.reorder = tokens.required(parse_percent)?,
        "rate" => {
            config.rate_bps = Some(tokens.required(parse_rate)?);
            config.rate_trace = None;
        }
        "limit" => config.limit = tokens.required(parse_limit)?,
        "mtu" => config.mtu = Some(tokens.required(parse_mtu)?),
        word => return Err(format!("unknown word `{word}`; accepted: {}", WORDS)),
    }
    match tokens.value() {
        None => Ok(()),
        Some(extra) => {
            let why = match tokens.word {
                "delay" | "loss" | "distribution" | "rate" => "too many values",
                _ => "correlation is not supported",
            };
            let (word, form) = (tokens.word, form(tokens.word));
            Err(format!("unexpected `{extra}` after `{word}`: {why}; form: `{form}`"))
        }
    }
}

fn parse_limit(s: &str) -> Result<usize, UnitError> {
    s.parse().ok().filter(|&n| n > 0).ok_or_else(|| UnitError {
        value: s.to_string(),
        what: "a number of packets",
        expected: "a whole number above 0",
    })
}

fn parse_mtu(s: &str) -> Result<usize, UnitError> {
    let bytes = usize::try_from(parse_size(s)?).ok();
    bytes.filter(|&n| n > 0).ok_or_else(|| UnitError {
        value: s.to_string(),
        what: "an MTU",
        expected: "at least 1 byte",
    })
}

/// The expected form of a word, for error messages.
fn form(word: &str) -> &'static str {
    match word {
        "delay" => "delay TIME [JITTER [CORRELATION%]] | delay trace FILE",
        "loss" => "loss [random] PERCENT [CORRELATION%] | loss gemodel P% [R% [1-H% [1-K%]]]",
        "corrupt" => "corrupt PERCENT",
        "distribution" => "distribution uniform|normal|pareto|paretonormal",
        "duplicate" => "duplicate PERCENT",
        "reorder" => "reorder PERCENT",
        "rate" => "rate RATE | rate trace FILE",
        "limit" => "limit PACKETS",
        "mtu" => "mtu BYTES",
        _ => "",
    }
}

/// The words, a cursor, and the keyword whose values are being read.
struct Tokens<'a> {
    words: Vec<&'a str>,
    at: usize,
    word: &'a str,
}

impl<'a> Tokens<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let word = self.words.get(self.at).copied()?;
        self.at += 1;
        Some(word)
    }

    /// The next token if it is a value (not one of the keywords).
    fn value(&mut self) -> Option<&'a str> {
        let word = self.words.get(self.at).copied()?;
        if WORDS.split(", ").chain(REJECTED).any(|w| w == word) {
            return None;
        }
        self.next()
    }

    fn required<V>(&mut self, parse: fn(&str) -> Result<V, UnitError>) -> Result<V, String> {
        match self.value() {
            Some(v) => parse(v).map_err(|e| self.explain(e)),
            None => Err(format!("`{}` needs a value: `{}`", self.word, form(self.word))),
        }
    }

    fn optional<V>(&mut self, parse: fn(&str) -> Result<V, UnitError>) -> Result<Option<V>, String> {
        self.value().map(|v| parse(v).map_err(|e| self.explain(e))).transpose()
    }

    fn explain(&self, e: UnitError) -> String {
        format!("`{}`: {e}; form: `{}`", self.word, form(self.word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn contract_example() {
        let c = parse("delay 75ms 5ms loss 1% rate 10mbit limit 100").unwrap();
        assert_eq!(c.delay, Duration::from_millis(75));
        assert_eq!(c.jitter, Duration::from_millis(5));
        assert_eq!(c.loss, LossModel::Bernoulli { p: 0.01 });
        assert_eq!(c.rate_bps, Some(10_000_000));
        assert_eq!(c.limit, 100);
        assert_eq!(c.mtu, None);
    }

    #[test]
    fn every_word() {
        let c = parse("delay 10ms 2ms 25% loss random 0.5% duplicate 1% reorder 25% mtu 1400").unwrap();
        assert_eq!(c.jitter_correlation, 0.25);
        assert_eq!(c.loss, LossModel::Bernoulli { p: 0.005 });
        assert_eq!((c.duplicate, c.reorder, c.mtu), (0.01, 0.25, Some(1400)));
        assert_eq!(parse("").unwrap(), LinkConfig::default());
        assert_eq!(parse("loss 0%").unwrap().loss, LossModel::None);
    }

    #[test]
    fn gemodel_words_and_defaults() {
        let c = parse("loss gemodel 1% 25% 70% 0.1%").unwrap();
        assert_eq!(c.loss, LossModel::gemodel(0.01, Some(0.25), Some(0.7), Some(0.001)));
        let c = parse("loss gemodel 1% delay 5ms").unwrap();
        // netem's defaults (r = 1 - p, h = 0, k = 1) are checked in `loss`.
        assert_eq!(c.loss, LossModel::gemodel(0.01, None, None, None));
        assert_eq!(c.delay, Duration::from_millis(5));
    }

    #[test]
    fn new_words() {
        let c = parse("delay 20ms 5ms distribution paretonormal loss random 10% 25% corrupt 0.5%").unwrap();
        assert_eq!(c.distribution, Distribution::ParetoNormal);
        assert_eq!((c.loss.clone(), c.loss_correlation), (LossModel::Bernoulli { p: 0.1 }, 0.25));
        assert_eq!(c.corrupt, 0.005);
        assert_eq!(parse("loss 1%").unwrap().loss_correlation, 0.0);
        // Found by the netem_words fuzz target: the gemodel keeps no random loss's correlation.
        let c = parse("loss 2 2 loss gemodel 2% 2").unwrap();
        assert_eq!(c.loss_correlation, 0.0);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn traces_are_loaded_and_replace_rate_and_delay() {
        let load = |path: &str| match path {
            "up.trace" => Ok("1\n1\n2\n".to_string()),
            "delay.trace" => Ok("0 25\n1000 40\n".to_string()),
            "bad.trace" => Ok("1\nx\n".to_string()),
            other => Err(format!("no file {other}")),
        };
        let c =
            apply_with(LinkConfig::default(), "rate 1mbit rate trace up.trace delay trace delay.trace", &load).unwrap();
        assert_eq!((c.rate_bps, c.rate_trace.as_ref().map(|t| t.mean_rate_bps())), (None, Some(18_000_000)));
        assert_eq!(c.delay, Duration::from_millis(25));
        assert!(c.delay_trace.is_some());
        let c = apply_with(c, "rate 2mbit delay 10ms", &load).unwrap();
        assert_eq!((c.rate_bps, c.rate_trace.is_none(), c.delay_trace.is_none()), (Some(2_000_000), true, true));
        let e = apply_with(LinkConfig::default(), "rate trace bad.trace", &load).unwrap_err().to_string();
        assert!(e.contains("`rate trace`: bad.trace: line 2: `x` is not a time"), "{e}");
        let e = apply_with(LinkConfig::default(), "delay trace gone.trace", &load).unwrap_err().to_string();
        assert!(e.contains("`delay trace gone.trace`: cannot read it: no file gone.trace"), "{e}");
    }

    #[test]
    fn apply_refines_a_base() {
        let base = parse("delay 75ms loss 1%").unwrap();
        let c = apply(base, "rate 1mbit").unwrap();
        assert_eq!(c.delay, Duration::from_millis(75));
        assert_eq!(c.loss, LossModel::Bernoulli { p: 0.01 });
        assert_eq!(c.rate_bps, Some(1_000_000));
    }

    #[test]
    fn bad_words() {
        let cases = [
            ("delay 75ms jiggle", "`jiggle` is not a duration", "delay TIME"),
            ("corrupt 1% 25%", "unexpected `25%` after `corrupt`", "correlation is not supported"),
            ("corrupt", "`corrupt` needs a value", "corrupt PERCENT"),
            ("slot 10ms", "`slot` is not supported", "rate trace FILE"),
            ("reorder 25% gap 5", "`gap` is not supported", "reorder"),
            ("loss 1% ecn", "`ecn` is not supported", "ECN"),
            ("distribution normal", "`distribution` shapes the jitter", "delay TIME JITTER"),
            ("delay 5ms 1ms distribution gauss", "`gauss` is not one", "uniform|normal|pareto|paretonormal"),
            ("delay 5ms 1ms distribution", "`distribution` needs a name", "paretonormal"),
            ("loss gemodel 1% 2% 3% 4% 5%", "unexpected `5%` after `loss`", "too many values"),
            ("rate trace", "`rate trace` needs a file", "rate trace FILE"),
            ("rate trace /nonexistent/x.trace", "`rate trace /nonexistent/x.trace`: cannot read it", "No such file"),
            ("jitter 5ms", "unknown word `jitter`", "accepted: delay, distribution, loss"),
            ("delay", "`delay` needs a value", "delay TIME [JITTER"),
            ("delay 75", "`75` is not a duration", "delay TIME"),
            ("delay 75ms 5ms 25% 3", "unexpected `3` after `delay`", "too many"),
            ("loss 1% 25% 3%", "unexpected `3%` after `loss`", "too many values"),
            ("loss 150%", "`150%` is not a percentage", "0 to 100"),
            ("loss", "`loss` needs a value", "gemodel"),
            ("loss gemodel", "`loss` needs a value", "gemodel P%"),
            ("loss state 1%", "`loss state`", "use `loss gemodel`"),
            ("rate fast", "`fast` is not a rate", "mbit"),
            ("rate 0", "`0` is not a rate", "rate RATE"),
            ("limit -1", "`-1` is not a number of packets", "PACKETS"),
            ("limit 0", "`0` is not a number of packets", "above 0"),
            ("mtu 0", "`0` is not an MTU", "at least 1 byte"),
            ("mtu 1.5B", "`1.5B` is not a size", "mtu BYTES"),
            ("duplicate", "`duplicate` needs a value", "duplicate PERCENT"),
            ("reorder 25% 50%", "unexpected `50%` after `reorder`", "correlation"),
            ("rate 1mbit 2mbit", "unexpected `2mbit` after `rate`", "too many values"),
        ];
        for (input, a, b) in cases {
            let e = parse(input).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with(&format!("--link \"{input}\": ")), "{text}");
            assert!(text.contains(a) && text.contains(b), "{input}: {text}");
        }
    }
}
