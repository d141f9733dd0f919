//! Evaluate: a scenario's `[[expect]]` checks, on its measured timeline.
//!
//! `script::expect` parses a check and, when the lab is loaded, makes sure it names a phase or
//! metric that can be measured. Here, after the run, each check is read off the timeline and
//! compared: against its number, or against the figure its model gives for the settings that
//! ran (`runner::theory`), within a tolerance that follows the path (jitter, rate) and the
//! clock (virtual or real time). Both the plan and the timeline are needed, and the models and
//! the clock are the runner's, so this sits in the runner, above `script` and `timeline`.

use super::{theory, Clock};
use crate::link::LinkConfig;
use crate::script::expect::{Check, Condition, Operand};
use crate::script::plan::ScenarioPlan;
use crate::timeline::{self, Expectation};

/// Every check of `plan`, evaluated on `scenario` as it ran on `clock`, in the plan's order.
pub fn expectations(plan: &ScenarioPlan, scenario: &timeline::Scenario, clock: Clock) -> Vec<Expectation> {
    let rtt_ms = plan.rtt().as_secs_f64() * 1000.0;
    plan.checks.iter().map(|c| evaluate(c, scenario, plan, clock, rtt_ms)).collect()
}

/// Reads a check's operand from a scenario's timeline (`None` when the phase or metric is
/// absent).
pub fn measure(operand: &Operand, s: &timeline::Scenario) -> Option<f64> {
    match operand {
        Operand::Metric(name) => s.metrics.get(name).copied(),
        Operand::Phase { id, field } => {
            let p = s.phase(id)?;
            match field.as_str() {
                "rtts" => p.rtts,
                "ms" => p.duration_ms(),
                "start_ms" => Some(p.start_ms),
                "end_ms" => p.end_ms,
                "frames" => Some(p.frames() as f64),
                _ => None,
            }
        }
    }
}

/// Evaluates one check on a finished scenario: against its number, or against the figure its
/// model gives for the settings that ran; skipped, saying why, where the settings are outside
/// those it holds for.
pub fn evaluate(
    c: &Check,
    scenario: &timeline::Scenario,
    plan: &ScenarioPlan,
    clock: Clock,
    rtt_ms: f64,
) -> Expectation {
    let measured = measure(&c.operand, scenario);
    let counts_rtts = match &c.operand {
        Operand::Phase { field, .. } => field == "rtts",
        Operand::Metric(name) => name.ends_with("rtts"),
    };
    let tolerance = match (clock, counts_rtts) {
        (Clock::Realtime, true) => realtime_rtt_tolerance(rtt_ms).max(path_rtt_tolerance(plan)),
        (Clock::Virtual, true) => path_rtt_tolerance(plan),
        _ => 0.005,
    };
    // A request's time along its chain: virtual time rounds each one-way trip up to the
    // microsecond, so the measurement may be that much over the model's figure.
    let tolerance = match c.model.as_deref() {
        Some("budget_rtts") => theory::budget_tolerance_ms(plan).unwrap_or(tolerance),
        _ => tolerance,
    };
    let (value, theory) = match &c.model {
        Some(m) => {
            let (v, how) = theory::figure(Some(m), 0.0, plan);
            (v, Some(format!("{m}: {how}")))
        }
        None => (Some(c.value), None),
    };
    let check = match (&c.model, value) {
        (Some(_), Some(v)) => c.text.replace("theory", &format!("{}", (v * 1000.0).round() / 1000.0)),
        _ => c.text.clone(),
    };
    // Every setting a path had during the run: as planned, and as scheduled events changed it.
    let changed = plan.events.iter().flat_map(|e| match &e.action {
        crate::script::events::Action::PathChange { forward, back, .. } => vec![&**forward, &**back],
        _ => Vec::new(),
    });
    let configs: Vec<&crate::link::LinkConfig> = plan.links.iter().map(|(l, _)| l).chain(changed).collect();
    let random_loss = configs.iter().any(|l| l.lossy());
    let jitter = configs.iter().any(|l| l.jittery());
    let rate = configs.iter().any(|l| l.shaped());
    let unmet = c.holds_when.iter().find_map(|cond| match cond {
        Condition::Lossless if random_loss => {
            Some("holds only on paths without random loss, and this run had random loss".to_string())
        }
        Condition::CleanPath if random_loss || jitter => Some(
            "holds only on paths without random loss or jitter (round trips all alike), and this run had them"
                .to_string(),
        ),
        Condition::Unshaped if rate => Some(
            "holds only on paths without a rate limit (it counts propagation, not serialization), and this run had one"
                .to_string(),
        ),
        Condition::Decided { text, holds: false } => Some(format!("holds only when {text}")),
        _ => None,
    });
    let skipped = match value {
        None => Some(format!("the model does not apply to these settings ({})", theory.clone().unwrap_or_default())),
        Some(_) => unmet,
    };
    let ok = skipped.is_none()
        && value.is_some_and(|v| measured.is_some_and(|m| Check { value: v, ..c.clone() }.holds_within(m, tolerance)));
    // Said where it is more than the tables' rounding: a path with jitter, a rate, real time.
    let tolerance = (tolerance > 0.005 + 1e-9).then_some((tolerance * 1000.0).round() / 1000.0);
    Expectation { check, ok, measured, tolerance, theory, skipped }
}

/// How far an RTT count may be from the expected one for `==` to hold on the wall clock: the
/// relay wakes a fraction of a millisecond late, and crypto and the scheduler take real time.
/// 5% of an RTT, or 3 ms, whichever is more.
pub fn realtime_rtt_tolerance(rtt_ms: f64) -> f64 {
    if rtt_ms > 0.0 {
        (3.0 / rtt_ms).max(0.05)
    } else {
        0.05
    }
}

/// How far an exchange of one round trip may stray from the path's RTT, in RTTs, for the path
/// that ran: the tables' rounding (0.005), plus twice the jitter (each direction may add up
/// to +-jitter), plus the serialization of a full packet each way when a rate is set. RTT
/// checks (`== 1`) hold within it, so a check under jitter follows the jitter.
pub fn path_rtt_tolerance(plan: &ScenarioPlan) -> f64 {
    let rtt = plan.rtt().as_secs_f64();
    if rtt <= 0.0 {
        return 0.005;
    }
    let (up, down) = (plan.link(plan.client, plan.server), plan.link(plan.server, plan.client));
    let jitter = (up.jitter + down.jitter).as_secs_f64();
    let serialization = |c: &LinkConfig| c.rate_bps.map_or(0.0, |bps| 1500.0 * 8.0 / bps as f64);
    0.005 + (jitter + serialization(up) + serialization(down)) / rtt
}
