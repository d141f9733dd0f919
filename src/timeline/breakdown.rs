//! Where a request's time went: its latency at the client split along its critical path into
//! network legs, handshakes waited for, queueing, service time, and the gateway's own time.
//!
//! A request's path is read from what each program recorded, never from the packets: the
//! client's request (when it was due, when it ended, the connection it waited for), the first
//! service's record of it (arrived, work started, answered), and for a gateway its calls that
//! were answered and the called services' records of those tries. The gateway's time from the
//! start of its work to its answer is split backwards from the answer: the call that ended
//! last is on the critical path for its span (from when its answering try was sent); before
//! that, the call that ended last before that try was sent; and so on. What no call covers is
//! the gateway's own (including a hedge's wait before its copy went out). A call's span is its
//! service's queue and service time, the handshakes its connection needed, and the network
//! legs (the rest). The parts add up to the latency exactly (virtual microseconds).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::service::workload::RequestRecord;
use crate::service::{CallRecord, Served};

/// One request's latency, split (ms).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// The percentile (nearest rank over the requests that succeeded) this request stands for.
    pub percentile: f64,
    /// The request's number.
    pub request: u64,
    pub total_ms: f64,
    pub network_ms: f64,
    pub handshake_ms: f64,
    pub queue_ms: f64,
    pub service_ms: f64,
    pub gateway_ms: f64,
}

/// What the services recorded: the first service's record of each client request (by its
/// number), the gateway's answered calls, and the called services' records of each try, by
/// (the callee's host, request, call, try); `replica_host` maps a call's replica to its host.
#[derive(Default)]
pub struct Records<'a> {
    pub front: HashMap<u64, &'a Served>,
    pub calls: HashMap<u64, Vec<&'a CallRecord>>,
    pub tries: HashMap<(usize, u64, u32, u32), &'a Served>,
    pub replica_host: Vec<usize>,
}

/// The split of the requests at `percentiles` of the latency (nearest rank over those that
/// succeeded), where the services recorded them.
pub fn at_percentiles(requests: &[RequestRecord], r: &Records<'_>, percentiles: &[f64]) -> Vec<Breakdown> {
    let mut ok: Vec<(u64, usize)> =
        requests.iter().enumerate().filter(|(_, q)| q.ok()).filter_map(|(i, q)| Some((q.latency_us()?, i))).collect();
    ok.sort_unstable();
    percentiles
        .iter()
        .filter_map(|&p| {
            let rank = ((p / 100.0) * ok.len() as f64).ceil() as usize;
            let (_, i) = *ok.get(rank.clamp(1, ok.len().max(1)) - 1)?;
            split(i as u64, &requests[i], r).map(|b| Breakdown { percentile: p, ..b })
        })
        .collect()
}

/// Request `n`'s split, or `None` where the first service has no record of it.
pub fn split(n: u64, q: &RequestRecord, r: &Records<'_>) -> Option<Breakdown> {
    let done = q.done?;
    let total = done.saturating_since(q.due).as_micros() as u64;
    let front = r.front.get(&n)?;
    let client_handshake = q.conn.map_or(0, |c| c.waited_us(q.due));
    let at_front = front.answered.saturating_since(front.arrived).as_micros() as u64;
    let mut network = total.saturating_sub(client_handshake + at_front);
    let mut handshake = client_handshake;
    let mut queue = front.started.saturating_since(front.arrived).as_micros() as u64;
    let (mut service, mut gateway) = (0u64, 0u64);
    let mut t = front.answered;
    match r.calls.get(&n) {
        None => service = front.answered.saturating_since(front.started).as_micros() as u64,
        Some(calls) => {
            // Backwards from the answer: the call that ended last before `t` is on the path.
            loop {
                let on_path = calls.iter().filter(|c| c.done <= t && c.sent >= front.started).max_by_key(|c| c.done);
                let Some(c) = on_path else { break };
                gateway += t.saturating_since(c.done).as_micros() as u64;
                let span = c.done.saturating_since(c.sent).as_micros() as u64;
                let host = r.replica_host.get(c.replica).copied().unwrap_or(usize::MAX);
                let at_callee = match r.tries.get(&(host, n, c.call, c.attempt)) {
                    Some(b) => {
                        queue += b.started.saturating_since(b.arrived).as_micros() as u64;
                        service += b.answered.saturating_since(b.started).as_micros() as u64;
                        b.answered.saturating_since(b.arrived).as_micros() as u64
                    }
                    None => 0,
                };
                let hs = c.conn.waited_us(c.sent).min(span - at_callee.min(span));
                handshake += hs;
                network += span.saturating_sub(at_callee + hs);
                t = c.sent;
            }
            gateway += t.saturating_since(front.started).as_micros() as u64;
        }
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Some(Breakdown {
        percentile: 0.0,
        request: n,
        total_ms: ms(total),
        network_ms: ms(network),
        handshake_ms: ms(handshake),
        queue_ms: ms(queue),
        service_ms: ms(service),
        gateway_ms: ms(gateway),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::upstream::ConnTimes;
    use crate::time::Instant;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn t(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    fn served(arrived: u64, started: u64, answered: u64) -> Served {
        Served { from: Ipv4Addr::LOCALHOST, id: None, arrived: t(arrived), started: t(started), answered: t(answered) }
    }

    fn warm() -> ConnTimes {
        ConnTimes { port: 0, opened: t(0), connected: Some(t(0)), ready: Some(t(0)) }
    }

    #[test]
    fn two_sequential_calls_add_up_to_the_latency() {
        // Client request due at 100, answered at 160; 1 ms each way to the gateway.
        let q = RequestRecord { due: t(100), done: Some(t(160)), status: 200, conn: Some(warm()) };
        let front = served(101, 103, 159);
        // Call 0: sent 103, done 120 (backend 104..119, 2 ms queued); call 1: sent 125, done 158.
        let calls = [
            CallRecord { req: Some(0), call: 0, attempt: 0, replica: 0, sent: t(103), done: t(120), conn: warm() },
            CallRecord { req: Some(0), call: 1, attempt: 0, replica: 1, sent: t(125), done: t(158), conn: warm() },
        ];
        let (b0, b1) = (served(104, 106, 119), served(126, 126, 157));
        let mut r = Records::default();
        r.front.insert(0, &front);
        r.calls.insert(0, calls.iter().collect());
        r.replica_host = vec![5, 6];
        r.tries.insert((5, 0, 0, 0), &b0);
        r.tries.insert((6, 0, 1, 0), &b1);
        let b = split(0, &q, &r).unwrap();
        assert_eq!(b.total_ms, 60.0);
        assert_eq!((b.queue_ms, b.service_ms), (2.0 + 2.0, 13.0 + 31.0));
        // Client legs 2 + 2 = 4 ms; each call 2 ms of legs.
        assert_eq!(b.network_ms, 2.0 + 2.0 + 2.0);
        // At the gateway: 1 ms before its answer, 5 between the calls.
        assert_eq!(b.gateway_ms, 1.0 + 5.0);
        let sum = b.network_ms + b.handshake_ms + b.queue_ms + b.service_ms + b.gateway_ms;
        assert_eq!(sum, b.total_ms);
    }

    #[test]
    fn parallel_calls_put_only_the_last_on_the_path() {
        let q = RequestRecord { due: t(0), done: Some(t(52)), status: 200, conn: Some(warm()) };
        let front = served(1, 1, 51);
        let calls = [
            CallRecord { req: Some(7), call: 0, attempt: 0, replica: 0, sent: t(1), done: t(20), conn: warm() },
            CallRecord { req: Some(7), call: 1, attempt: 0, replica: 1, sent: t(1), done: t(50), conn: warm() },
        ];
        let (b0, b1) = (served(2, 2, 19), served(2, 2, 49));
        let mut r = Records::default();
        r.front.insert(7, &front);
        r.calls.insert(7, calls.iter().collect());
        r.replica_host = vec![5, 6];
        r.tries.insert((5, 7, 0, 0), &b0);
        r.tries.insert((6, 7, 1, 0), &b1);
        let b = split(7, &q, &r).unwrap();
        assert_eq!((b.service_ms, b.network_ms, b.gateway_ms), (47.0, 2.0 + 2.0, 1.0));
    }
}
