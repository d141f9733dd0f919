//! Connection pools (the keepalive lab): churn, handshake time, latency, retries, and the
//! bytes keepalive probes or pings cost, per connection (`timeline::keepalive`).

use std::collections::BTreeMap;

use super::{Analyser, Run};
use crate::runner::pool::Pool;
use crate::script::plan::ScenarioPlan;
use crate::sim::network::Network;
use crate::timeline;

/// The metrics of a `bursts` step's pool.
pub struct PoolMetrics;

impl Analyser for PoolMetrics {
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario) {
        let Some(pool) = &run.client.pool else { return };
        let m = &mut scenario.metrics;
        pool_metrics(pool, run.plan, &run.net, m);
        // The same closes, counted at the server's end (a kernel server keeps no log).
        let server = run.servers.iter().find(|s| s.host() == run.plan.server).and_then(|s| s.service());
        if let Some(log) = server.map(|s| &s.log) {
            m.insert("server_idle_closes".into(), log.idle_closes as f64);
            m.insert("server_resets".into(), log.resets as f64);
        }
    }
}

/// The keepalive lab's figures: churn, handshake time, latency, retries, keepalive bytes.
fn pool_metrics(pool: &Pool, plan: &ScenarioPlan, net: &Network, m: &mut BTreeMap<String, f64>) {
    let s = &pool.stats;
    m.insert("requests".into(), s.requests as f64);
    m.insert("connections_opened".into(), s.connections_opened as f64);
    m.insert("handshakes".into(), s.handshakes as f64);
    m.insert("handshake_ms_total".into(), s.handshake_us_total as f64 / 1000.0);
    m.insert("requests_retried".into(), s.retried as f64);
    m.insert("requests_failed".into(), s.failed as f64);
    m.insert("closed_by_server".into(), s.closed_by_server as f64);
    if s.pings > 0 {
        m.insert("pings".into(), s.pings as f64);
        m.insert("ping_frame_bytes".into(), pool.ping_frame_bytes() as f64);
    }
    let mut lat: Vec<f64> = s.latencies_us.iter().map(|&us| us as f64 / 1000.0).collect();
    lat.sort_by(f64::total_cmp);
    for (name, p) in [("latency_p50_ms", 50.0), ("latency_p99_ms", 99.0)] {
        if let Some(v) = timeline::percentile(&lat, p) {
            m.insert(name.into(), v);
        }
    }
    let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
    let k = timeline::keepalive::measure(&net.tap.capture, client, server, &pool.idle);
    m.insert("keepalive_bytes".into(), k.bytes as f64);
    m.insert("keepalive_packets".into(), k.packets as f64);
    if let Some(b) = k.bytes_per_conn_per_30s() {
        m.insert("keepalive_bytes_per_conn_per_30s".into(), (b * 10.0).round() / 10.0);
        // At a million such connections: bytes per second, in MB/s.
        m.insert("keepalive_mb_per_s_at_1m_conns".into(), (b * 1e6 / 30.0 / 1e6 * 1000.0).round() / 1000.0);
    }
}
