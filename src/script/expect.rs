//! Expectations: checks such as `tls_handshake.rtts == 1`, parsed and validated when a lab is
//! loaded; `for_scenario` picks those that apply to a scenario, with their models and
//! conditions. The runner evaluates them on a scenario's timeline (`runner::evaluate`).
//!
//! Grammar: `<phase>.<field> <op> <number>` or `metrics.<name> <op> <number>`, where field is
//! `rtts`, `ms`, `start_ms`, `end_ms` or `frames`, and op is one of `==`, `!=`, `<`, `<=`, `>`,
//! `>=`. `==` and `!=` compare to two decimal places (|a - b| < 0.005), as the tables print.

use super::fields::Params;
use super::raw::{RawLab, Scalar};
use super::InputError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// What a check reads from the timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Phase { id: String, field: String },
    Metric(String),
}

/// A parsed expectation.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub text: String,
    pub operand: Operand,
    pub op: Op,
    pub value: f64,
    /// The right-hand side is `theory`: the figure of this model for the settings that ran.
    pub model: Option<String>,
    /// Where the check applies: every one of these holds.
    pub holds_when: Vec<Condition>,
}

/// The settings a check holds for.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// No random loss on any of the scenario's paths (scripted drops still apply).
    Lossless,
    /// No random loss and no jitter on any path: round trips are all alike.
    CleanPath,
    /// No rate limit on any path: every round trip is propagation alone, no serialization
    /// (a model that counts round trips of propagation, to the microsecond).
    Unshaped,
    /// A comparison of the parameters, decided when the lab was loaded: `rtt 1ms >= 15ms`.
    Decided { text: String, holds: bool },
}

/// Models a check can compare with (`check = "... == theory"`, `model = "..."`).
pub const CHECK_MODELS: [&str; 10] = [
    "slow_start_flights",
    "warm_flights",
    "iw_segments",
    "iw10_flights",
    "bursts_x_requests",
    "budget_rtts",
    "budget_hop_share",
    "failover_bound",
    "connect_giveup",
    "dns_queries",
];

impl Condition {
    /// Parses conditions joined by ` and `, each `lossless`, `clean_path` or `<a> <op> <b>`
    /// where `a` and `b` (parameters already substituted) are both durations or both sizes.
    pub fn parse_all(text: &str, shown: &str, at: &str) -> Result<Vec<Condition>, InputError> {
        let shown_parts: Vec<&str> = shown.split(" and ").collect();
        let parts: Vec<&str> = text.split(" and ").collect();
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| Condition::parse(p, shown_parts.get(i).copied().unwrap_or(p), at))
            .collect()
    }

    fn parse(text: &str, shown: &str, at: &str) -> Result<Condition, InputError> {
        match text.trim() {
            "lossless" => return Ok(Condition::Lossless),
            "clean_path" => return Ok(Condition::CleanPath),
            "unshaped" => return Ok(Condition::Unshaped),
            _ => {}
        }
        let bad = |why: String| {
            InputError::new(format!(
                "{at}: cannot read holds_when `{shown}`: {why} (expected `lossless`, `clean_path`, `unshaped` or `<duration|size> <op> <duration|size>`, op one of == != < <= > >=, joined by ` and `)"
            ))
        };
        let (pos, sym, op) = OPS
            .iter()
            .filter_map(|(sym, op)| text.find(sym).map(|p| (p, *sym, *op)))
            .min_by_key(|(p, sym, _)| (*p, std::cmp::Reverse(sym.len())))
            .ok_or_else(|| bad("no comparison operator".into()))?;
        let (a, b) = (text[..pos].trim(), text[pos + sym.len()..].trim());
        // Both durations, else both sizes (a bare `0` is either).
        let durations = crate::units::parse_duration(a).and_then(|x| Ok((x, crate::units::parse_duration(b)?)));
        let sizes = crate::units::parse_size(a).and_then(|x| Ok((x, crate::units::parse_size(b)?)));
        let (x, y) = match (durations, sizes) {
            (Ok((x, y)), _) => (x.as_secs_f64(), y.as_secs_f64()),
            (_, Ok((x, y))) => (x as f64, y as f64),
            _ => return Err(bad(format!("`{a}` and `{b}` are not both durations or both sizes"))),
        };
        let probe = Check {
            text: String::new(),
            operand: Operand::Metric(String::new()),
            op,
            value: y,
            model: None,
            holds_when: Vec::new(),
        };
        Ok(Condition::Decided { text: format!("{shown} (here {a} {sym} {b})"), holds: probe.holds_within(x, 1e-12) })
    }
}

pub const PHASE_FIELDS: [&str; 5] = ["rtts", "ms", "start_ms", "end_ms", "frames"];
const OPS: [(&str, Op); 6] =
    [("==", Op::Eq), ("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)];

impl Operand {
    /// Fails unless the operand can be measured: a phase that one of the scenario's steps
    /// produces (`phase_ids`, plus `slow_start_round_N` where the lab measures `rounds`), or a
    /// metric wirelab computes ([`crate::metrics::NAMES`]).
    pub fn check_exists(&self, phase_ids: &[&str], rounds: bool, field: &str) -> Result<(), InputError> {
        match self {
            Operand::Metric(name) => {
                if crate::metrics::NAMES.contains(&name.as_str()) {
                    return Ok(());
                }
                Err(InputError::new(format!(
                    "{field}: `metrics.{name}` is not a metric wirelab measures (metrics: {})",
                    crate::metrics::NAMES.join(", ")
                )))
            }
            Operand::Phase { id, .. } => {
                let round =
                    id.strip_prefix("slow_start_round_").is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1));
                if phase_ids.contains(&id.as_str()) || (rounds && round) {
                    return Ok(());
                }
                let mut known: Vec<&str> = Vec::new();
                for p in phase_ids {
                    if !known.contains(p) {
                        known.push(p);
                    }
                }
                if rounds {
                    known.push("slow_start_round_N");
                }
                Err(InputError::new(format!(
                    "{field}: no phase `{id}` in this scenario (its phases: {})",
                    known.join(", ")
                )))
            }
        }
    }

    /// Parses `<phase>.<field>` or `metrics.<name>`.
    pub fn parse(text: &str, at: &str) -> Result<Operand, InputError> {
        Check::parse(&format!("{text} == 0"), at).map(|c| c.operand)
    }
}

impl Check {
    pub fn parse(text: &str, at: &str) -> Result<Check, InputError> {
        let bad = |why: &str| {
            InputError::new(format!(
                "{at}: cannot read check `{text}`: {why} (expected `<phase>.<{}> <op> <number>` or `metrics.<name> <op> <number>`, op one of == != < <= > >=)",
                PHASE_FIELDS.join("|")
            ))
        };
        let (pos, sym, op) = OPS
            .iter()
            .filter_map(|(sym, op)| text.find(sym).map(|p| (p, *sym, *op)))
            .min_by_key(|(p, sym, _)| (*p, std::cmp::Reverse(sym.len())))
            .ok_or_else(|| bad("no comparison operator"))?;
        let lhs = text[..pos].trim();
        let rhs = text[pos + sym.len()..].trim();
        let model = (rhs == "theory").then(String::new);
        let value: f64 = if model.is_some() {
            0.0
        } else {
            rhs.parse().map_err(|_| bad(&format!("`{rhs}` is neither a number nor `theory`")))?
        };
        if !value.is_finite() {
            return Err(bad("the number must be finite"));
        }
        let (head, field) = lhs.split_once('.').ok_or_else(|| bad(&format!("`{lhs}` has no `.field`")))?;
        let operand = if head == "metrics" {
            Operand::Metric(field.to_string())
        } else {
            if !PHASE_FIELDS.contains(&field) {
                return Err(bad(&format!("unknown phase field `{field}`")));
            }
            if head.is_empty() {
                return Err(bad("missing phase id"));
            }
            Operand::Phase { id: head.to_string(), field: field.to_string() }
        };
        Ok(Check { text: text.trim().to_string(), operand, op, value, model, holds_when: Vec::new() })
    }

    /// Compares a measured value (`==` within 0.005).
    pub fn holds(&self, measured: f64) -> bool {
        self.holds_within(measured, 0.005)
    }

    /// Compares a measured value, `==` meaning within `tolerance`.
    pub fn holds_within(&self, measured: f64, tolerance: f64) -> bool {
        let close = (measured - self.value).abs() < tolerance;
        match self.op {
            Op::Eq => close,
            Op::Ne => !close,
            Op::Lt => measured < self.value,
            Op::Le => measured <= self.value || close,
            Op::Gt => measured > self.value,
            Op::Ge => measured >= self.value || close,
        }
    }
}

/// The `[[expect]]` checks that apply to scenario `name` (all its scenarios, or it among them),
/// each on a phase its steps measure (`phase_ids`), with its model and its `holds_when`
/// conditions (in the `shown` values).
pub(super) fn for_scenario(
    raw: &RawLab,
    name: &str,
    phase_ids: &[&str],
    shown: &Params,
) -> Result<Vec<Check>, InputError> {
    let mut checks = Vec::new();
    for (i, e) in raw.expects.iter().enumerate() {
        if e.scenarios.is_empty() || e.scenarios.iter().any(|s| s == name) {
            let field = format!("[[expect]] {}.check", i + 1);
            let mut check = Check::parse(&e.check, &field)?;
            check.operand.check_exists(phase_ids, raw.rounds, &format!("{field} (scenario `{name}`)"))?;
            let models = CHECK_MODELS;
            match (&check.model, &e.model) {
                (Some(_), Some(m)) if models.contains(&m.as_str()) => check.model = Some(m.clone()),
                (Some(_), Some(m)) => {
                    return Err(InputError::new(format!(
                        "[[expect]] {}.model: unknown model `{m}` (models: {})",
                        i + 1,
                        models.join(", ")
                    )))
                }
                (Some(_), None) => {
                    return Err(InputError::new(format!(
                        "{field}: `{}` compares with `theory`, so the expect needs `model` (one of {})",
                        e.check,
                        models.join(", ")
                    )))
                }
                (None, Some(_)) => {
                    return Err(InputError::new(format!(
                        "[[expect]] {}.model: given, but the check compares with a number, not `theory`",
                        i + 1
                    )))
                }
                (None, None) => {}
            }
            if let Some(when) = &e.holds_when {
                let at = format!("[[expect]] {}.holds_when", i + 1);
                let resolved = shown.resolve(&at, &Scalar::Str(when.clone()))?.scalar.to_string();
                check.holds_when = Condition::parse_all(&resolved, when, &at)?;
            }
            checks.push(check);
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_phase_and_metric_checks() {
        let c = Check::parse("tls_handshake.rtts == 1", "expect[0]").unwrap();
        assert_eq!(c.operand, Operand::Phase { id: "tls_handshake".into(), field: "rtts".into() });
        assert_eq!(c.op, Op::Eq);
        assert!(c.holds(1.004) && !c.holds(1.01));
        let c = Check::parse("metrics.total_ms <= 900", "x").unwrap();
        assert_eq!(c.op, Op::Le);
        assert!(c.holds(900.0) && !c.holds(900.1));
    }

    #[test]
    fn rejects_malformed_checks_naming_them() {
        for bad in ["tls.rtts = 1", "tls.speed == 1", "tls.rtts == x", ".rtts == 1", "rtts == 1"] {
            let e = Check::parse(bad, "expect[3]").unwrap_err().to_string();
            assert!(e.contains("expect[3]") && e.contains(bad), "{e}");
        }
    }
}
