//! The parameters as a run shows them (its title and note, the JSON, the terminal's header):
//! the values that ran, a derived timing (`${gap} - ${rtt} / 2`) as its result, and where each
//! value that differs from the lab's `[params]` came from.

use std::collections::BTreeMap;
use std::time::Duration;

use super::fields::Params;
use super::overrides::Overrides;
use super::raw::{RawScenario, Scalar};
use super::InputError;

/// The parameters in force, each resolved; a derived timing as its result.
pub(super) fn values(params: &Params) -> Result<Params, InputError> {
    let mut shown = Params { values: BTreeMap::new() };
    for (k, v) in &params.values {
        let resolved = params.resolve(&format!("params.{k}"), v)?.scalar;
        let text = resolved.to_string();
        let derived = text.split_whitespace().count() > 1;
        let value = match crate::units::parse_duration(&text) {
            Ok(d) if derived => Scalar::Str(derived_duration(d)),
            _ => resolved,
        };
        shown.values.insert(k.clone(), value);
    }
    Ok(shown)
}

/// A derived timing as it is shown: whole units where it has them (`5s`), else milliseconds
/// to the microsecond (`5448.5ms`), which parses back to the same value.
fn derived_duration(d: Duration) -> String {
    let whole = crate::units::format_duration(d);
    if d.subsec_nanos() % 1_000_000 == 0 || d < Duration::from_millis(1) {
        return whole;
    }
    let ms = format!("{:.3}", d.as_nanos() as f64 / 1e6);
    format!("{}ms", ms.trim_end_matches('0').trim_end_matches('.'))
}

/// Scenario field `field` of scenario `at` (a title, a note) with the `shown` values in it.
pub(super) fn text(shown: &Params, at: &str, field: &str, t: &Option<String>) -> Result<Option<String>, InputError> {
    t.as_ref()
        .map(|t| shown.resolve(&format!("{at}.{field}"), &Scalar::Str(t.clone())).map(|v| v.scalar.to_string()))
        .transpose()
}

/// Where the `shown` values that differ from the lab's came from, in words: `--set` wins over
/// the scenario's own `params`, which win over the lab's.
pub(super) fn sources(shown: &Params, sc: &RawScenario, overrides: &Overrides) -> Vec<String> {
    let mut param_sources = Vec::new();
    for (k, v) in &shown.values {
        let own = sc.params.get(k).map(|o| o.to_string());
        let set = overrides.set.iter().rev().find(|(sk, _)| sk == k);
        let derived = |o: &str| if o.contains("${") { format!(": {o}") } else { String::new() };
        match (set, own) {
            (Some(_), Some(own)) => param_sources.push(format!("{k} = {v} (--set, over this scenario's own {own})")),
            (Some(_), None) => param_sources.push(format!("{k} = {v} (--set)")),
            (None, Some(own)) => param_sources.push(format!("{k} = {v} (this scenario's own{})", derived(&own))),
            (None, None) => {}
        }
    }
    param_sources
}
