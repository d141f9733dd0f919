//! The tail-latency figures of a workload: latency percentiles at the client, and what the
//! gateway saw of its calls.
//!
//! Percentiles are nearest-rank over every successful request ([`super::percentile`]); a
//! failed request (an error status, a broken connection, a deadline) gives no latency and is
//! counted in `failed_requests`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::service::workload::RequestRecord;
use crate::service::GatewayLog;

/// What the figures are measured against: the lab's `service_p99` and `slow_time`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Thresholds {
    pub service_p99: Option<Duration>,
    pub slow_time: Option<Duration>,
}

/// The metrics of a workload (names are a contract: users' scripts read them).
pub fn measure(records: &[RequestRecord], gateway: Option<&GatewayLog>, t: Thresholds) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    let mut ok: Vec<f64> = records.iter().filter(|r| r.ok()).filter_map(|r| r.latency_us()).map(ms).collect();
    ok.sort_by(f64::total_cmp);
    m.insert("requests".into(), records.len() as f64);
    m.insert("failed_requests".into(), (records.len() - ok.len()) as f64);
    for (name, p) in
        [("latency_p50_ms", 50.0), ("latency_p90_ms", 90.0), ("latency_p99_ms", 99.0), ("latency_p999_ms", 99.9)]
    {
        if let Some(v) = super::percentile(&ok, p) {
            m.insert(name.into(), v);
        }
    }
    if let Some(max) = records.iter().filter_map(|r| r.latency_us()).max() {
        m.insert("latency_max_ms".into(), ms(max));
    }
    if let Some(slow) = t.slow_time {
        if let Some(g) = gateway.filter(|g| !g.requests.is_empty()) {
            // A request is slow when one of its calls was: the slowest call reached slow_time.
            let answered: Vec<_> = g.requests.iter().filter(|r| r.status == 200).collect();
            let slow_n = answered.iter().filter(|r| r.max_call_us >= slow.as_micros() as u64).count();
            if !answered.is_empty() {
                m.insert("frac_slow_requests".into(), slow_n as f64 / answered.len() as f64);
            }
        }
    }
    let Some(g) = gateway else { return m };
    m.insert("calls".into(), g.calls as f64);
    if g.calls > 0 {
        m.insert("extra_load".into(), (g.hedges + g.retries) as f64 / g.calls as f64);
    }
    for (name, n) in [
        ("hedges", g.hedges),
        ("retries", g.retries),
        ("cancelled_tries", g.cancelled),
        ("timeouts", g.timeouts),
        ("deadline_exceeded", g.deadline_exceeded),
    ] {
        m.insert(name.into(), n as f64);
    }
    let answered: Vec<u64> = g.requests.iter().filter(|r| r.status == 200).map(|r| r.max_call_us).collect();
    if let (Some(p99), false) = (t.service_p99, answered.is_empty()) {
        let under = answered.iter().filter(|&&us| us < p99.as_micros() as u64).count();
        m.insert("frac_all_calls_under_p99".into(), under as f64 / answered.len() as f64);
    }
    // The chain's p99, read as its slowest call, placed in the distribution of single calls.
    let mut slowest: Vec<f64> = answered.iter().map(|&us| us as f64).collect();
    slowest.sort_by(f64::total_cmp);
    let mut calls: Vec<u64> = g.call_us.clone();
    calls.sort_unstable();
    if let (Some(chain_p99), false) = (super::percentile(&slowest, 99.0), calls.is_empty()) {
        let at_or_below = calls.partition_point(|&us| us as f64 <= chain_p99);
        m.insert("single_percentile_of_chain_p99".into(), 100.0 * at_or_below as f64 / calls.len() as f64);
    }
    m
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}
