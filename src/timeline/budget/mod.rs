//! The latency budget of a request, hop by hop (the latency-budget lab).
//!
//! A hop is a caller and the service it calls: the client and the service its workload
//! calls, or a gateway and one of its upstreams. Each end keeps a structured record of every
//! request (the client's [`RequestRecord`], a gateway's [`CallRecord`], each service's
//! [`Served`](crate::service::Served)); nothing is read from packets. For each request:
//!
//! - the caller **waited** from queueing the call to having its whole answer;
//! - the callee spent **inside** from having the whole request to writing the answer (its own
//!   work, and the calls it made in turn);
//! - the hop cost the difference: the round trips on the path (request and answer, and on a
//!   fresh connection the TCP and TLS handshakes before them).
//!
//! A hop's time is its mean over the requests that crossed it (per request, the sum when it
//! carried several calls): what the hop costs a request that takes it. Not every request
//! takes every hop (replicas share the requests), so each hop also says how many did, and
//! the hops weighted by the share of requests that crossed them, plus the services' own
//! time, add up to the mean request latency. The
//! handshake a call waited for is read off its connection's setup times
//! ([`crate::service::ConnTimes`]): none
//! for a pooled connection that was ready before the call, all of it for a fresh one.
//!
//! A relay (`relay`) sees no requests, only the turns of each connection: its time inside
//! a request is its turns' within the caller's wait, and the same time is its own wait on
//! its upstream.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::service::workload::{RequestRecord, WorkloadSpec};
use crate::service::{CallRecord, ConnTimes, GatewayLog, GatewaySpec, RequestId, ServiceLog};
use crate::time::Instant;

mod relay;

pub use relay::RelaySite;

/// One hop of a request's path (`hops` in the timeline JSON; names are a contract).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Hop {
    pub from: String,
    pub to: String,
    /// The path's round-trip propagation time.
    pub rtt_ms: f64,
    /// What the hop cost a request: the caller's wait minus the callee's time inside.
    pub ms: f64,
    /// `ms` over the budget (0.75 is 75%).
    pub share_of_budget: f64,
    /// `fresh` (a new connection per request) or `pooled` (warm connections), as the caller
    /// was set up.
    pub connection: String,
    /// Round trips of the path spent in the TCP and TLS handshakes the request waited for
    /// (none on a warm pooled connection); `None` when the path has no RTT to count in.
    pub handshake_rtts: Option<f64>,
    /// How many of the answered requests crossed it (each of three replicas: about a third).
    #[serde(default)]
    pub requests: u64,
}

/// A service's records, and where it is.
pub struct Site<'a> {
    pub host: usize,
    pub name: &'a str,
    pub addr: Ipv4Addr,
    pub port: u16,
    pub log: &'a ServiceLog,
    /// What it was told and what it recorded, for a gateway.
    pub gateway: Option<(&'a GatewaySpec, &'a GatewayLog)>,
}

/// The client program: where it runs, what it did, what it recorded.
pub struct Client<'a> {
    pub host: usize,
    pub name: &'a str,
    pub addr: Ipv4Addr,
    pub spec: &'a WorkloadSpec,
    pub records: &'a [RequestRecord],
}

/// A request's latency, broken down.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    pub hops: Vec<Hop>,
    /// The mean latency of the answered requests at the client.
    pub total_ms: Option<f64>,
    pub budget_ms: f64,
    /// What is not in any hop: the services' own work (a query's time, a handler's).
    pub services_ms: Option<f64>,
    /// The largest fresh hop's time over its time without its handshakes (what the same hop
    /// costs on a warm connection).
    pub fresh_over_pooled: Option<f64>,
}

/// One hop's sums over the requests that crossed it.
struct Sum {
    from: usize,
    to: usize,
    fresh: bool,
    requests: u64,
    us: i64,
    handshake_us: u64,
}

/// What the services and relays recorded, looked up by the walk along each request.
struct Records<'r, 'a> {
    sites: &'r [Site<'a>],
    relays: &'r [RelaySite<'a>],
    inside: HashMap<(usize, u16, Ipv4Addr, RequestId), u64>,
    calls: HashMap<(usize, u16, u64), Vec<&'a CallRecord>>,
}

/// What a caller waited for, for one request or call.
#[derive(Clone, Copy, Debug)]
struct Wait {
    /// When it queued the call, and when it had the whole answer.
    sent: Instant,
    done: Instant,
    /// How long it waited, µs (`done - sent`; a relay's, its time inside).
    us: u64,
    /// How much of that went on its connection's handshakes, µs.
    handshake_us: u64,
    /// Its own port on the connection (what names the connection at a relay).
    port: Option<u16>,
    /// The span of the caller's handshakes that it waited for: a relay on the path spends
    /// part of it passing the handshake on.
    handshake: Option<(Instant, Instant)>,
}

impl Wait {
    /// A call queued at `sent`, answered at `done`, over a connection set up as `conn` says.
    fn of(sent: Instant, done: Instant, conn: Option<&ConnTimes>) -> Wait {
        let handshake = conn.and_then(|c| Some((c.opened.max(sent), c.ready?))).filter(|(a, b)| b > a);
        Wait {
            sent,
            done,
            us: done.saturating_since(sent).as_micros() as u64,
            handshake_us: conn.map_or(0, |c| c.waited_us(sent)),
            port: conn.map(|c| c.port),
            handshake,
        }
    }
}

/// Reads every answered request of `client` through the `sites` and `relays` it reached.
/// `rtt_ms(a, b)` is the round trip between hosts `a` and `b`; `names` gives a host's name.
pub fn measure(
    client: &Client<'_>,
    sites: &[Site<'_>],
    relays: &[RelaySite<'_>],
    rtt_ms: &dyn Fn(usize, usize) -> f64,
    names: &dyn Fn(usize) -> String,
    budget: Duration,
) -> Budget {
    let records = Records { sites, relays, inside: inside_times(sites), calls: calls_by_request(sites) };
    let mut sums: Vec<Sum> = Vec::new();
    let (mut total_us, mut answered) = (0u64, 0u64);
    for (i, r) in client.records.iter().enumerate() {
        let (Some(done), true) = (r.done, r.ok()) else { continue };
        let wait = Wait::of(r.due, done, r.conn.as_ref());
        total_us += wait.us;
        answered += 1;
        let mut this: Vec<Sum> = Vec::new();
        let to = (client.spec.to.host, client.spec.to.addr.port());
        let leg = Leg { from: client.host, from_addr: client.addr, to, fresh: client.spec.pool == 0 };
        let id = RequestId { req: i as u64, call: None };
        walk(&leg, id, &wait, &records, &mut this);
        for s in this {
            match sums.iter_mut().find(|o| o.from == s.from && o.to == s.to) {
                Some(o) => {
                    o.requests += 1;
                    o.us += s.us;
                    o.handshake_us += s.handshake_us;
                }
                None => sums.push(Sum { requests: 1, ..s }),
            }
        }
    }
    let budget_ms = budget.as_secs_f64() * 1000.0;
    let hops: Vec<Hop> = sums
        .iter()
        .map(|s| {
            let n = s.requests.max(1) as f64;
            let ms = round(s.us as f64 / n / 1000.0, 1e3);
            let rtt = rtt_ms(s.from, s.to);
            let handshake_ms = s.handshake_us as f64 / n / 1000.0;
            Hop {
                from: names(s.from),
                to: names(s.to),
                rtt_ms: rtt,
                ms,
                share_of_budget: if budget_ms > 0.0 { round(ms / budget_ms, 1e6) } else { 0.0 },
                connection: if s.fresh { "fresh" } else { "pooled" }.to_string(),
                handshake_rtts: (rtt > 0.0).then(|| round(handshake_ms / rtt, 1e3)),
                requests: s.requests,
            }
        })
        .collect();
    let total_ms = (answered > 0).then(|| round(total_us as f64 / answered as f64 / 1000.0, 1e3));
    // Each hop's share of the mean latency: its time, for the requests that crossed it.
    let in_hops: f64 = sums.iter().map(|s| s.us as f64).sum::<f64>() / answered.max(1) as f64 / 1000.0;
    let services_ms = total_ms.map(|t| round(t - in_hops, 1e3));
    let fresh_over_pooled = sums
        .iter()
        .zip(&hops)
        .filter(|(s, h)| s.fresh && s.handshake_us > 0 && h.ms > 0.0)
        .max_by(|a, b| a.1.ms.total_cmp(&b.1.ms))
        .and_then(|(s, h)| {
            let without = h.ms - s.handshake_us as f64 / s.requests.max(1) as f64 / 1000.0;
            (without > 0.0).then(|| round(h.ms / without, 1e3))
        });
    Budget { hops, total_ms, budget_ms, services_ms, fresh_over_pooled }
}

/// A caller and the service it calls: (host, port).
struct Leg {
    from: usize,
    from_addr: Ipv4Addr,
    to: (usize, u16),
    fresh: bool,
}

/// Adds `us` (of which `handshake_us` on handshakes) to the hop `from` -> `to` in `out`.
fn add(out: &mut Vec<Sum>, (from, to, fresh): (usize, usize, bool), us: i64, handshake_us: u64) {
    match out.iter_mut().find(|o| o.from == from && o.to == to) {
        Some(o) => {
            o.us += us;
            o.handshake_us += handshake_us;
        }
        None => out.push(Sum { from, to, fresh, requests: 1, us, handshake_us }),
    }
}

/// Adds to `out` the hop of `leg` for request `id` (the caller waited as `wait` says), then
/// the hops of the calls the callee made for it; through a relay, the relay's hop to its
/// upstream and on.
fn walk(leg: &Leg, id: RequestId, wait: &Wait, records: &Records<'_, '_>, out: &mut Vec<Sum>) {
    if let Some(r) = records.relays.iter().find(|r| (r.host, r.port) == leg.to) {
        let Some(through) = relay::through(r, leg.from_addr, wait) else { return };
        add(out, (leg.from, r.host, leg.fresh), through.caller_us, through.caller_handshake_us);
        let next = Leg { from: r.host, from_addr: r.addr, to: through.upstream, fresh: leg.fresh };
        walk(&next, id, &through.relay_wait, records, out);
        return;
    }
    let Some(site) = records.sites.iter().find(|s| (s.host, s.port) == leg.to) else { return };
    let Some(&inside_us) = records.inside.get(&(site.host, site.port, leg.from_addr, id)) else { return };
    add(out, (leg.from, site.host, leg.fresh), wait.us as i64 - inside_us as i64, wait.handshake_us);
    let Some((spec, _)) = site.gateway else { return };
    for c in records.calls.get(&(site.host, site.port, id.req)).into_iter().flatten() {
        let Some(r) = spec.replicas.get(c.replica) else { continue };
        let next = Leg { from: site.host, from_addr: site.addr, to: (r.host, r.addr.port()), fresh: spec.pool == 0 };
        let call = RequestId { req: id.req, call: Some((c.call, c.attempt)) };
        walk(&next, call, &Wait::of(c.sent, c.done, Some(&c.conn)), records, out);
    }
}

/// Every request each service answered: (host, port, caller, request) → µs inside.
fn inside_times(sites: &[Site<'_>]) -> HashMap<(usize, u16, Ipv4Addr, RequestId), u64> {
    let mut map = HashMap::new();
    for s in sites {
        for r in &s.log.served {
            if let Some(id) = r.id {
                map.insert((s.host, s.port, r.from, id), r.answered.saturating_since(r.arrived).as_micros() as u64);
            }
        }
    }
    map
}

/// Every answered call of each gateway, by the client's request it was made for.
fn calls_by_request<'a>(sites: &[Site<'a>]) -> HashMap<(usize, u16, u64), Vec<&'a CallRecord>> {
    let mut map: HashMap<(usize, u16, u64), Vec<&'a CallRecord>> = HashMap::new();
    for s in sites {
        let Some((_, log)) = s.gateway else { continue };
        for c in &log.call_log {
            if let Some(req) = c.req {
                map.entry((s.host, s.port, req)).or_default().push(c);
            }
        }
    }
    map
}

fn round(v: f64, per: f64) -> f64 {
    (v * per).round() / per
}
