//! The latency budget (the latency-budget lab): each hop of a request's path, its time and
//! its share of the budget the workload step names (`timeline::budget`), from what the client,
//! the gateways and the services recorded of each request.
//!
//! It runs after [`super::totals::Totals`] and replaces `total_ms` (there, the script's span)
//! with the mean request latency, the figure the hops add up to; with one request they are
//! the same.

use super::{Analyser, Run};
use crate::script::steps::Step;
use crate::timeline::{self, budget};

/// `hops`, and the budget's metrics: `total_ms`, `budget_ms`, `share_of_budget`,
/// `within_budget`, `largest_hop_share`, `services_ms`, `fresh_over_pooled`.
pub struct LatencyBudget;

impl Analyser for LatencyBudget {
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario) {
        let plan = run.plan;
        let Some(limit) = plan.steps.iter().find_map(|s| match s {
            Step::Workload(w) => w.budget,
            _ => None,
        }) else {
            return;
        };
        let Some(w) = &run.client.workload else { return };
        let hosts = &plan.hosts;
        let sites: Vec<budget::Site<'_>> = run
            .servers
            .iter()
            .filter_map(|s| s.service())
            .map(|s| budget::Site {
                host: s.host,
                name: &hosts[s.host].name,
                addr: hosts[s.host].addr,
                port: s.port(),
                log: &s.log,
                gateway: s.gateway().map(|g| (g.spec(), &g.log)),
            })
            .collect();
        let relays: Vec<budget::RelaySite<'_>> = run
            .servers
            .iter()
            .filter_map(|s| s.relay())
            .map(|r| budget::RelaySite {
                host: r.host,
                addr: hosts[r.host].addr,
                port: r.port(),
                replicas: r.replicas(),
                log: &r.log,
            })
            .collect();
        let client = budget::Client {
            host: plan.client,
            name: &hosts[plan.client].name,
            addr: hosts[plan.client].addr,
            spec: w.spec(),
            records: &w.records,
        };
        let rtt = |a: usize, b: usize| (plan.link(a, b).delay + plan.link(b, a).delay).as_secs_f64() * 1000.0;
        let name = |h: usize| hosts.get(h).map_or_else(|| format!("host {h}"), |h| h.name.clone());
        let b = budget::measure(&client, &sites, &relays, &rtt, &name, limit);
        let m = &mut scenario.metrics;
        m.insert("budget_ms".into(), b.budget_ms);
        if let Some(total) = b.total_ms {
            m.insert("total_ms".into(), total);
            match timeline::rtts(total, run.rtt_ms) {
                Some(r) => m.insert("total_rtts".into(), r),
                None => m.remove("total_rtts"),
            };
            if b.budget_ms > 0.0 {
                m.insert("share_of_budget".into(), (total / b.budget_ms * 1e6).round() / 1e6);
            }
            m.insert("within_budget".into(), f64::from(u8::from(total <= b.budget_ms)));
        }
        if let Some(largest) = b.hops.iter().map(|h| h.share_of_budget).max_by(f64::total_cmp) {
            m.insert("largest_hop_share".into(), largest);
        }
        if let Some(v) = b.services_ms {
            m.insert("services_ms".into(), v);
        }
        if let Some(v) = b.fresh_over_pooled {
            m.insert("fresh_over_pooled".into(), v);
        }
        scenario.hops = b.hops;
    }
}
