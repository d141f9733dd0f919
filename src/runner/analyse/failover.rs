//! A fleet of clients (the dns-failover lab): the failover figures (`timeline::failover`),
//! measured against the first host a scheduled event took down, and the DNS queries the
//! clients and the resolver sent.

use super::{Analyser, Run};
use crate::script::events::Action;
use crate::timeline;

/// The metrics of a `clients` step.
pub struct FleetMetrics;

impl Analyser for FleetMetrics {
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario) {
        let Some(fleet) = &run.client.fleet else { return };
        // The first host an event took down, and when that happened.
        let down = run.plan.events.iter().find_map(|e| match e.action {
            Action::HostDown { host, .. } => Some((host, &e.label)),
            _ => None,
        });
        let failed = down.and_then(|(host, label)| {
            let at = run.events.iter().find(|f| &f.label == label)?.at;
            Some(timeline::failover::Failed { at, addr: run.plan.hosts[host].addr })
        });
        let (metrics, seconds) = timeline::failover::measure(&fleet.records, fleet.spec().clients, failed, run.t0);
        scenario.metrics.extend(metrics);
        scenario.metrics.insert("dns_queries".into(), fleet.dns_queries() as f64);
        if let Some(resolver) = run.servers.iter().filter_map(|s| s.dns()).find(|d| d.is_resolver()) {
            scenario.metrics.insert("resolver_queries".into(), resolver.forwarded as f64);
            scenario.metrics.insert("stale_answers".into(), resolver.stale_answers as f64);
            // How long after the failure the resolver could still hand out the answer it
            // fetched before it: the last fetch at or before the failure, plus its TTL.
            let name = &fleet.spec().name;
            let before = failed.and_then(|f| {
                let last = resolver.fetched.iter().rfind(|(n, at, _)| n == name && *at <= f.at)?;
                let expires = last.1 + std::time::Duration::from_secs(u64::from(last.2));
                Some(timeline::ms(expires.saturating_since(f.at).as_micros() as u64))
            });
            if let Some(ms) = before {
                scenario.metrics.insert("resolver_stale_window_ms".into(), ms);
            }
        }
        scenario.failover_seconds = seconds;
    }
}
