//! The figures every scenario has: how long the script took, how many packets the client
//! sent and received (the frames of its whole capture) and the links dropped.

use super::{Analyser, Run};
use crate::timeline;

/// `total_ms` and `total_rtts` (when the script ran to its end), `frames` and `dropped`.
pub struct Totals;

impl Analyser for Totals {
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario) {
        let metrics = &mut scenario.metrics;
        if let Some(end) = run.client.end {
            let total = run.rel(end);
            metrics.insert("total_ms".into(), total);
            if let Some(r) = timeline::rtts(total, run.rtt_ms) {
                metrics.insert("total_rtts".into(), r);
            }
        }
        // Every frame the client sent and received, whatever its capture keeps.
        metrics.insert("frames".into(), run.capture().recorded() as f64);
        metrics.insert("dropped".into(), run.net.dropped() as f64);
    }
}
