//! Workloads (the tail-latency lab): every request's latency at the client, and what the
//! gateway recorded of its calls (`timeline::tail`).

use super::{Analyser, Run};
use crate::script::steps::Step;
use crate::timeline;

/// The metrics of a `workload` step.
pub struct WorkloadMetrics;

impl Analyser for WorkloadMetrics {
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario) {
        let Some(w) = &run.client.workload else { return };
        // The gateway the client calls (other gateways of the lab may sit idle). A workload
        // with a latency budget is about its hops (`budget`), not its calls' distribution.
        let budgeted = run.plan.steps.iter().any(|s| matches!(s, Step::Workload(w) if w.budget.is_some()));
        let gateway = run.servers.iter().filter(|s| s.host() == run.plan.server && !budgeted).find_map(|s| s.gateway());
        // The thresholds the lab's figures are about, where it names them.
        let param = |k: &str| run.plan.params.get(k).and_then(|v| crate::units::parse_duration(v).ok());
        let t = timeline::tail::Thresholds { service_p99: param("service_p99"), slow_time: param("slow_time") };
        scenario.metrics.extend(timeline::tail::measure(&w.records, gateway, t));
        if !budgeted {
            scenario.latency_cdf = timeline::tail::latency_cdf(&w.records);
        }
    }
}
