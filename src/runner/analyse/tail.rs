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
        // Tied calls: the copies the services dropped from their queues, and those both ran.
        if gateway.is_some_and(|g| g.ties > 0) {
            let logs = || run.servers.iter().filter_map(|s| s.service()).map(|s| &s.log);
            scenario.metrics.insert("tie_dropped".into(), logs().map(|l| l.tie_dropped).sum::<u64>() as f64);
            scenario.metrics.insert("tie_both_ran".into(), crate::service::tied_both_ran(logs()) as f64);
        }
        // Connections the client's gateway opened to its upstreams (HTTP/1.1 needs one per call
        // in flight; HTTP/2 puts every call on its warm ones), handshakes included.
        let opened = run
            .servers
            .iter()
            .filter(|s| s.host() == run.plan.server && !budgeted)
            .find_map(|s| s.service().and_then(|svc| svc.gateway()))
            .map(|g| g.upstreams().iter().map(|u| u.opened).sum::<u64>());
        if let Some(n) = opened {
            scenario.metrics.insert("upstream_connections".into(), n as f64);
        }
        if !budgeted {
            scenario.latency_cdf = timeline::tail::latency_cdf(&w.records);
            scenario.breakdown = breakdown(run, &w.records);
        }
    }
}

/// The split of the p50, p90, p99 and p99.9 requests, from what the services recorded.
fn breakdown(
    run: &Run<'_>,
    requests: &[crate::service::workload::RequestRecord],
) -> Vec<timeline::breakdown::Breakdown> {
    use crate::service::Served;
    let services: Vec<_> = run.servers.iter().filter_map(|s| s.service().map(|svc| (s.host(), svc))).collect();
    let mut r = timeline::breakdown::Records::default();
    for (host, svc) in &services {
        for served in &svc.log.served {
            let Some(id) = served.id else { continue };
            match id.call {
                None if *host == run.plan.server => {
                    r.front.insert(id.req, served as &Served);
                }
                Some((k, a)) => {
                    r.tries.insert((*host, id.req, k, a), served);
                }
                None => {}
            }
        }
    }
    if let Some(g) = services.iter().filter(|(h, _)| *h == run.plan.server).find_map(|(_, s)| s.gateway()) {
        r.replica_host = g.spec().replicas.iter().map(|rep| rep.host).collect();
        for c in &g.log.call_log {
            if let Some(req) = c.req {
                r.calls.entry(req).or_default().push(c);
            }
        }
    }
    timeline::breakdown::at_percentiles(requests, &r, &[50.0, 90.0, 99.0, 99.9])
}
