//! The 14 KB rule: one fresh and one warm scenario run again for each response size.
//!
//! For every size the lab lists, both scenarios run with `response_size` set to it (no
//! captures are kept) and the table reports how many round trips passed from the request to
//! the last response byte, and in how many flights the data came. Where a size needs one more
//! round trip than the size before it, the row is marked: that is where the initial window ran
//! out.

use super::run_scenario;
use crate::script::plan::{self, Overrides};
use crate::script::{InputError, Lab};
use crate::timeline::sweeps::SizeRow;
use crate::timeline::{self, Scenario};

/// Request sent until the last response byte, in RTTs.
fn request_to_last_byte(s: &Scenario, rtt_ms: f64) -> Option<f64> {
    let start = s.phase("http_request")?.start_ms;
    let end = s.phase("http_response")?.end_ms?;
    timeline::rtts(end - start, rtt_ms)
}

/// Runs the lab's `[size_sweep]`, if it has one.
pub fn run(lab: &Lab, overrides: &Overrides, seed: u64) -> anyhow::Result<Vec<SizeRow>> {
    let Some(sweep) = &lab.raw.size_sweep else { return Ok(Vec::new()) };
    let index = |name: &str| {
        lab.scenario_names()
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| InputError::new(format!("[size_sweep]: unknown scenario `{name}`")))
    };
    let (fresh, warm) = (index(&sweep.fresh)?, index(&sweep.warm)?);
    let mut rows: Vec<SizeRow> = Vec::new();
    for size in &sweep.sizes {
        let bytes = crate::units::parse_size(size).map_err(|e| InputError::new(format!("[size_sweep].sizes: {e}")))?;
        let mut o = overrides.clone();
        o.set.push(("response_size".into(), size.clone()));
        let measure = |i: usize| -> anyhow::Result<(Option<f64>, Option<f64>)> {
            let p = plan::plan(lab, i, &o)?;
            let rtt_ms = p.rtt().as_secs_f64() * 1000.0;
            let out = run_scenario(&p, seed)?;
            let s = out.timeline;
            Ok((request_to_last_byte(&s, rtt_ms), s.metrics.get("rounds").copied()))
        };
        let (fresh_rtts, fresh_rounds) = measure(fresh)?;
        let (warm_rtts, warm_rounds) = measure(warm)?;
        let before = rows.last().and_then(|r| r.fresh_rtts);
        let one_more_rtt = matches!((before, fresh_rtts), (Some(b), Some(f)) if f >= b + 0.5);
        rows.push(SizeRow {
            size: size.clone(),
            bytes,
            fresh_rtts,
            fresh_rounds,
            warm_rtts,
            warm_rounds,
            one_more_rtt,
        });
    }
    Ok(rows)
}

/// The sweep as a terminal table.
pub fn table(rows: &[SizeRow]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if rows.is_empty() {
        return out;
    }
    let _ = writeln!(out, "The 14 KB rule: round trips from request to last byte (flights of data in brackets)");
    let _ = writeln!(out, "   {:<8} {:>9}  {:>14}  {:>14}", "size", "bytes", "fresh", "warm");
    let cell = |rtts: Option<f64>, rounds: Option<f64>| match (rtts, rounds) {
        (Some(t), Some(r)) => format!("{t:.2} ({r})"),
        _ => "-".to_string(),
    };
    for r in rows {
        let mark = if r.one_more_rtt { "   <- one more round trip" } else { "" };
        let _ = writeln!(
            out,
            "   {:<8} {:>9}  {:>14}  {:>14}{mark}",
            r.size,
            r.bytes,
            cell(r.fresh_rtts, r.fresh_rounds),
            cell(r.warm_rtts, r.warm_rounds)
        );
    }
    let _ = writeln!(out, "   (each response also carries about 120 bytes of HTTP headers)\n");
    out
}
