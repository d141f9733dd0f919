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

/// One point of a latency distribution.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CdfPoint {
    pub percentile: f64,
    pub ms: f64,
}

/// The percentiles a latency distribution is kept at.
pub fn cdf_percentiles() -> Vec<f64> {
    (1..=99).map(f64::from).chain([99.5, 99.9, 99.99, 100.0]).collect()
}

/// The latency of the requests that succeeded, at [`cdf_percentiles`] (nearest rank).
pub fn latency_cdf(records: &[RequestRecord]) -> Vec<CdfPoint> {
    let mut ok: Vec<f64> = records.iter().filter(|r| r.ok()).filter_map(|r| r.latency_us()).map(ms).collect();
    ok.sort_by(f64::total_cmp);
    cdf_percentiles()
        .into_iter()
        .filter_map(|p| super::percentile(&ok, p).map(|ms| CdfPoint { percentile: p, ms }))
        .collect()
}

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
        m.insert("extra_load".into(), (g.hedges + g.retries + g.ties) as f64 / g.calls as f64);
    }
    for (name, n) in [
        ("hedges", g.hedges),
        ("ties", g.ties),
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

/// The figures the tail-latency lab sets beside its measurements, from the distribution that
/// ran. A call on a warm connection costs one round trip `rtt` on top of its service time.
pub mod theory {
    use std::time::Duration;

    use crate::dist::ServiceTime;

    /// When a hedged call sends its second copy.
    #[derive(Clone, Copy, Debug)]
    pub enum Hedge {
        None,
        /// After a fixed delay.
        Delay(Duration),
        /// After the p-th percentile (0–1) of the calls' latency.
        Quantile(f64),
    }

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    fn cdf_at(dist: &ServiceTime, seconds: f64) -> f64 {
        if seconds <= 0.0 {
            0.0
        } else {
            dist.cdf(Duration::from_secs_f64(seconds))
        }
    }

    /// The hedge delay, as a latency at the caller.
    fn hedge_delay(dist: &ServiceTime, rtt: Duration, hedge: Hedge) -> Option<f64> {
        match hedge {
            Hedge::None => None,
            Hedge::Delay(d) => Some(secs(d)),
            Hedge::Quantile(q) => Some(secs(dist.quantile(q)) + secs(rtt)),
        }
    }

    /// P(one call's latency at the caller is under `threshold`): its service time under
    /// `threshold - rtt`; hedged, either copy in time (the second starts `delay` later).
    pub fn call_under(dist: &ServiceTime, threshold: Duration, rtt: Duration, hedge: Hedge) -> f64 {
        let x = secs(threshold) - secs(rtt);
        let first = cdf_at(dist, x);
        match hedge_delay(dist, rtt, hedge) {
            None => first,
            Some(d) => 1.0 - (1.0 - first) * (1.0 - cdf_at(dist, x - d)),
        }
    }

    /// P(every one of `calls` independent calls is under `threshold`): 0.99^4 = 0.961 when
    /// the threshold is the p99 and the round trip is negligible.
    pub fn all_calls_under(dist: &ServiceTime, threshold: Duration, rtt: Duration, calls: u32, hedge: Hedge) -> f64 {
        call_under(dist, threshold, rtt, hedge).powi(calls as i32)
    }

    /// The percentile of a single call at which the slowest of `calls` sits at its own p99:
    /// F(x)^calls = 0.99, so F(x) = 0.99^(1/calls) (p99.75 for four calls).
    pub fn chain_p99_as_single_percentile(calls: u32) -> f64 {
        100.0 * 0.99f64.powf(1.0 / f64::from(calls.max(1)))
    }

    /// P(a request is slow): some one of its `calls` takes `slow` or more (Dean & Barroso:
    /// 1 - 0.99^100 = 63% of requests, when 1% of calls hit a hiccup).
    pub fn some_call_slow(dist: &ServiceTime, slow: Duration, rtt: Duration, calls: u32) -> f64 {
        // Strictly under `slow` is fast: a hiccup of exactly `slow` counts as slow.
        1.0 - cdf_at(dist, secs(slow) - secs(rtt) - 1e-9).powi(calls as i32)
    }

    /// Extra copies sent per call by hedging: the share of calls still unanswered at the hedge
    /// delay (about 5% for a hedge at the p95).
    pub fn hedge_load(dist: &ServiceTime, rtt: Duration, hedge: Hedge) -> f64 {
        match hedge {
            Hedge::None => 0.0,
            Hedge::Quantile(q) => 1.0 - q,
            Hedge::Delay(d) => 1.0 - cdf_at(dist, secs(d) - secs(rtt)),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_texts_figures() {
            let d = ServiceTime::parse("lognormal p50=10ms p99=50ms").unwrap();
            let p99 = Duration::from_millis(50);
            let all = all_calls_under(&d, p99, Duration::ZERO, 4, Hedge::None);
            assert!((all - 0.99f64.powi(4)).abs() < 1e-9, "{all}");
            assert!((chain_p99_as_single_percentile(4) - 99.749).abs() < 0.001);
            // Both copies at once: p -> p^2.
            let both = 1.0 - call_under(&d, p99, Duration::ZERO, Hedge::Delay(Duration::ZERO));
            assert!((both - 0.0001).abs() < 1e-9, "{both}");
            let b = ServiceTime::parse("bimodal p=1% slow=1s fast=(lognormal p50=10ms p99=50ms)").unwrap();
            let slow = some_call_slow(&b, Duration::from_secs(1), Duration::ZERO, 100);
            assert!((slow - 0.634).abs() < 0.001, "{slow}");
            assert!((hedge_load(&d, Duration::ZERO, Hedge::Quantile(0.95)) - 0.05).abs() < 1e-12);
        }
    }
}
