//! The failover figures of a fleet of clients (the dns-failover lab): how long each client
//! kept sending requests to a backend after it died, what failed, and what the requests cost.
//!
//! A request goes "to the dead address" when the first address it tried (or its pooled
//! connection's) is the failed host's, and it was due at or after the failure. A client's
//! failover time is from the failure to its last such request (0 when it sent none); the
//! figures over clients are nearest-rank ([`super::percentile`]). Latency percentiles are over
//! the requests that succeeded; a failed one gives no latency and is counted in
//! `failed_requests`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::service::fleet::{Failure, FleetRecord};
use crate::time::Instant;

/// One second of the run: requests due in it, and how many went to the dead address.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the scenario's time 0 (this second is `[second, second + 1)`).
    pub second: u64,
    pub requests: u64,
    pub to_dead: u64,
    pub failed: u64,
}

/// What failed, and where.
#[derive(Clone, Copy, Debug)]
pub struct Failed {
    /// When the host went down.
    pub at: Instant,
    pub addr: Ipv4Addr,
}

/// The failover metrics (names are a contract: users' scripts read them) and the per-second
/// series, for records of a fleet whose time 0 is `t0`.
pub fn measure(
    records: &[FleetRecord],
    clients: u32,
    failed: Option<Failed>,
    t0: Instant,
) -> (BTreeMap<String, f64>, Vec<Second>) {
    let mut m = BTreeMap::new();
    let ms = |us: u64| us as f64 / 1000.0;
    let ok = |r: &FleetRecord| r.ok();
    m.insert("requests".into(), records.len() as f64);
    m.insert("failed_requests".into(), records.iter().filter(|r| !ok(r)).count() as f64);
    for (name, f) in [
        ("connect_timeouts", Failure::ConnectTimeout),
        ("refused", Failure::Refused),
        ("broken", Failure::Broken),
        ("unanswered", Failure::Unanswered),
    ] {
        m.insert(name.into(), records.iter().filter(|r| r.failure == Some(f)).count() as f64);
    }
    m.insert("client_dns_queries".into(), records.iter().filter(|r| r.queried).count() as f64);
    // How long a failed request took to fail (a black hole's connect timeout, a reset's RTT).
    let mut to_fail: Vec<f64> = records
        .iter()
        .filter(|r| !ok(r) && r.failure != Some(Failure::Unanswered))
        .filter_map(|r| r.latency_us())
        .map(ms)
        .collect();
    to_fail.sort_by(f64::total_cmp);
    if let Some(v) = super::percentile(&to_fail, 50.0) {
        m.insert("time_to_fail_ms_p50".into(), v);
    }
    let mut all: Vec<f64> = records.iter().filter(|r| ok(r)).filter_map(|r| r.latency_us()).map(ms).collect();
    all.sort_by(f64::total_cmp);
    if let Some(v) = super::percentile(&all, 99.0) {
        m.insert("latency_p99_all_ms".into(), v);
    }
    let to_dead = |r: &FleetRecord, f: &Failed| r.due >= f.at && r.addrs.first() == Some(&f.addr);
    let mut series: Vec<Second> = Vec::new();
    for r in records {
        let second = r.due.saturating_since(t0).as_secs();
        let at = match series.binary_search_by_key(&second, |s| s.second) {
            Ok(i) => i,
            Err(i) => {
                series.insert(i, Second { second, requests: 0, to_dead: 0, failed: 0 });
                i
            }
        };
        let s = &mut series[at];
        s.requests += 1;
        s.to_dead += u64::from(failed.is_some_and(|f| to_dead(r, &f)));
        s.failed += u64::from(!ok(r));
    }
    let Some(f) = failed else { return (m, series) };
    // Per client: from the failure to its last request to the dead address.
    let mut last = vec![0u64; clients as usize];
    for r in records.iter().filter(|r| to_dead(r, &f)) {
        if let Some(l) = last.get_mut(r.client as usize) {
            *l = (*l).max(r.due.saturating_since(f.at).as_micros() as u64);
        }
    }
    let mut per_client: Vec<f64> = last.iter().map(|&us| ms(us)).collect();
    per_client.sort_by(f64::total_cmp);
    let max = per_client.last().copied().unwrap_or(0.0);
    m.insert("failover_ms_max".into(), max);
    if let Some(p50) = super::percentile(&per_client, 50.0) {
        m.insert("failover_ms_p50".into(), p50);
    }
    m.insert("requests_to_dead".into(), records.iter().filter(|r| to_dead(r, &f)).count() as f64);
    // Requests that started after the failure and failed (not those it caught in flight).
    m.insert("failed_after_failure".into(), records.iter().filter(|r| r.due >= f.at && !ok(r)).count() as f64);
    // The failover window: from the failure to the last request to the dead address (at
    // least one second, so a clean failover still has a window).
    let end = f.at + std::time::Duration::from_micros((max * 1000.0) as u64).max(std::time::Duration::from_secs(1));
    let mut window: Vec<f64> = records
        .iter()
        .filter(|r| r.due >= f.at && r.due <= end && ok(r))
        .filter_map(|r| r.latency_us())
        .map(ms)
        .collect();
    window.sort_by(f64::total_cmp);
    if let Some(v) = super::percentile(&window, 99.0) {
        m.insert("latency_p99_ms".into(), v);
    }
    (m, series)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rec(client: u32, due_s: f64, addr: [u8; 4], ok: bool) -> FleetRecord {
        let due = Instant::ZERO + Duration::from_secs_f64(due_s);
        FleetRecord {
            client,
            due,
            done: Some(due + Duration::from_millis(if ok { 20 } else { 1000 })),
            status: if ok { 200 } else { 0 },
            failure: (!ok).then_some(Failure::ConnectTimeout),
            addrs: vec![addr.into()],
            queried: false,
        }
    }

    #[test]
    fn failover_per_client_is_the_last_request_to_the_dead_address() {
        let dead = [10, 0, 0, 10];
        let live = [10, 0, 0, 11];
        let records = vec![
            rec(0, 5.0, dead, true),   // before the failure: not counted
            rec(0, 31.0, dead, false), // 1 s after
            rec(0, 42.5, dead, false), // 12.5 s after: client 0's last
            rec(0, 43.5, live, true),
            rec(1, 30.5, live, true), // client 1 never went to the dead address
            rec(2, 35.0, dead, false),
        ];
        let failed = Failed { at: Instant::ZERO + Duration::from_secs(30), addr: dead.into() };
        let (m, series) = measure(&records, 3, Some(failed), Instant::ZERO);
        assert_eq!(m["failover_ms_max"], 12_500.0);
        // Clients 0 s, 5 s, 12.5 s: the nearest-rank median is 5 s.
        assert_eq!(m["failover_ms_p50"], 5_000.0);
        assert_eq!(m["requests_to_dead"], 3.0);
        assert_eq!(m["failed_requests"], 3.0);
        assert_eq!(m["connect_timeouts"], 3.0);
        // The window [30 s, 42.5 s] holds one success, at 20 ms.
        assert_eq!(m["latency_p99_ms"], 20.0);
        let at = |s: u64| series.iter().find(|x| x.second == s).copied().unwrap();
        assert_eq!((at(42).requests, at(42).to_dead, at(5).to_dead), (1, 1, 0));
    }
}
