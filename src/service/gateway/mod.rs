//! A gateway: for each request it serves, calls its upstream replicas as its call policy says.
//!
//! - **sequential**: `calls` calls, one after the other; the answer follows the last.
//! - **parallel**: all calls at once; the answer follows the first `wait_for` (all by
//!   default), and the others are cancelled.
//! - **hedged**: sequential, but a call not answered after the hedge delay (a fixed time, or
//!   the observed percentile of recent calls) is sent again to another replica; the first
//!   answer wins and the other copy is cancelled (Dean & Barroso, "The Tail at Scale", 2013).
//! - **tied**: sequential, each call sent to two replicas (the second copy after `delay`), each
//!   copy naming the other; the replica that starts its copy first has the other dropped from
//!   its queue ([`super::tie`]), and the first answer wins, as with a hedge.
//! - a **per-try timeout** cancels a try and retries on another replica, while the retry
//!   budget allows; a **deadline** covers the whole request, every try included, and answers
//!   504 when it passes (gRPC's deadline semantics).
//! - **retries are budgeted** as Finagle's `RetryBudget` does: each call deposits `ratio` of
//!   a token, each retry takes one, and a reserve of [`RETRY_RESERVE`] lets the first ones
//!   through; without tokens a timed-out call fails.
//!
//! Calls go round-robin over the replicas of their upstream (a gateway that names several
//! upstreams sends call `k` to the `k`-th of them, modulo their number); a hedge or retry goes
//! to the next replica of the same upstream. With `tls`, every upstream connection runs TLS
//! ([`super::tls::ServiceTls`]).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use rand_chacha::ChaCha8Rng;

mod hedge;
mod retries;
mod timers;
mod tries;

pub use retries::{RETRY_BUDGET_MAX, RETRY_RESERVE};
use tries::{try_name, Cancel, Try, TryKind};

use super::tls::ServiceTls;
use super::upstream::{CallEvent, ConnTimes, Upstream};
use super::{CallRecord, GatewayLog, GatewayRequest, GatewaySpec, HedgeAfter, Policy, RequestId};
use crate::proto::cwnd::TcpConfig;
use crate::sim::network::Network;
use crate::time::Instant;

#[derive(Default)]
struct Call {
    started: Option<Instant>,
    tries: Vec<Try>,
    /// Answered (Some(true)), failed (Some(false)).
    result: Option<bool>,
    hedge_at: Option<Instant>,
}

struct Plan {
    req: Option<u64>,
    started: Instant,
    deadline: Option<Instant>,
    calls: Vec<Call>,
    ok: u32,
    /// Calls that failed (`result == Some(false)`).
    failed: u32,
    max_call_us: u64,
}

/// A gateway's upstreams, its requests in progress and what it recorded.
pub struct Gateway {
    spec: GatewaySpec,
    upstreams: Vec<Upstream>,
    /// The replicas (indices of `upstreams`) of each upstream named, and the next of each.
    groups: Vec<Range<usize>>,
    round_robin: Vec<usize>,
    next_port: u16,
    plans: BTreeMap<u64, Plan>,
    answers: HashMap<u64, (u16, u64)>,
    /// Try tag → (connection, call).
    tags: HashMap<u64, (u64, usize)>,
    next_tag: u64,
    /// Recent call latencies, for a hedge after a percentile.
    recent: hedge::Recent,
    hedge_delay: Option<std::time::Duration>,
    budget: f64,
    events: Vec<CallEvent>,
    /// Tries of withdrawn requests, cancelled at the next poll (with what the try was).
    pending_cancels: Vec<(usize, u64, String)>,
    /// A try was queued since the upstreams were last polled.
    sent: bool,
    pub log: GatewayLog,
}

impl Gateway {
    /// The gateway on `host`; its TLS client setups (when `spec.tls` asks) come from `tls`.
    pub fn new(
        host: usize,
        spec: &GatewaySpec,
        tcp: TcpConfig,
        tls: &ServiceTls,
        rng: ChaCha8Rng,
    ) -> Result<Gateway, String> {
        use rand_core::RngCore;
        let mut rng = rng;
        let mut upstreams = Vec::new();
        for r in &spec.replicas {
            let setup = match spec.tls {
                Some(v) => Some(
                    tls.client_for(r, v).ok_or_else(|| format!("{} serves no TLS for the gateway to call", r.name))?,
                ),
                None => None,
            };
            // An HTTP/3 replica's QUIC seed, drawn without moving `rng`.
            let quic_seed = crate::rng::derive(rng.clone().next_u64(), &format!("quic:gateway {}", upstreams.len()));
            upstreams.push(Upstream::new(host, r, tcp, setup, spec.pool).with_quic_seed(quic_seed));
        }
        let groups: Vec<Range<usize>> =
            spec.call_groups().into_iter().filter(|g| !g.is_empty() && g.end <= upstreams.len()).collect();
        if groups.is_empty() {
            return Err("a gateway needs at least one upstream replica".into());
        }
        let hedge_delay = match spec.policy {
            Policy::Hedged { after: HedgeAfter::Delay(d) } => Some(d),
            Policy::Tied { delay } => Some(delay),
            _ => None,
        };
        Ok(Gateway {
            spec: spec.clone(),
            upstreams,
            round_robin: vec![0; groups.len()],
            groups,
            next_port: 49152 + (rng.next_u32() % 8192) as u16,
            plans: BTreeMap::new(),
            answers: HashMap::new(),
            tags: HashMap::new(),
            next_tag: 0,
            recent: hedge::Recent::default(),
            hedge_delay,
            budget: RETRY_RESERVE,
            events: Vec::new(),
            pending_cancels: Vec::new(),
            sent: false,
            log: GatewayLog::default(),
        })
    }

    /// What it was asked to do.
    pub fn spec(&self) -> &GatewaySpec {
        &self.spec
    }

    /// The replica after `upstream` in its group: where a hedge or a retry goes.
    fn next_replica(&self, upstream: usize) -> usize {
        match self.groups.iter().find(|g| g.contains(&upstream)) {
            Some(g) => g.start + (upstream - g.start + 1) % g.len(),
            None => upstream,
        }
    }

    pub fn warmed(&self) -> bool {
        self.upstreams.iter().all(Upstream::warmed)
    }

    /// Its connection pools, one per upstream replica.
    pub fn upstreams(&self) -> &[Upstream] {
        &self.upstreams
    }

    /// Connections opened to the upstreams, and the handshake time they cost.
    pub fn connections(&self) -> (u64, u64) {
        (self.upstreams.iter().map(|u| u.opened).sum(), self.upstreams.iter().map(|u| u.handshake_us).sum())
    }

    /// Starts the calls for request `conn` (path `/r/<id>` names the client's request).
    pub fn start(&mut self, conn: u64, path: &str, now: Instant, net: &mut Network) -> Result<(), String> {
        let req = RequestId::parse(path).map(|id| id.req);
        let calls = (0..self.spec.calls).map(|_| Call::default()).collect();
        let deadline = self.spec.deadline.map(|d| now + d);
        self.plans.insert(conn, Plan { req, started: now, deadline, calls, ok: 0, failed: 0, max_call_us: 0 });
        let first: Vec<usize> = match self.spec.policy {
            Policy::Parallel { .. } => (0..self.spec.calls as usize).collect(),
            _ => vec![0],
        };
        for k in first {
            self.start_call(conn, k, now, net);
        }
        self.finish_if_done(conn, now, net);
        Ok(())
    }

    /// The caller withdrew request `conn`: its calls are cancelled.
    pub fn withdraw(&mut self, conn: u64) {
        if let Some(plan) = self.plans.remove(&conn) {
            for (k, call) in plan.calls.iter().enumerate() {
                for (i, t) in call.tries.iter().enumerate().filter(|(_, t)| t.open) {
                    self.tags.remove(&t.tag);
                    // The connections are reset at the next poll, which has the network.
                    let name = try_name(self.spec.calls, plan.req, conn, k, i, t.kind);
                    self.pending_cancels.push((t.upstream, t.tag, name));
                }
            }
        }
    }

    /// The answer for request `conn`, once its calls are done: (status, body length).
    pub fn take_answer(&mut self, conn: u64) -> Option<(u16, u64)> {
        self.answers.remove(&conn)
    }

    fn start_call(&mut self, conn: u64, k: usize, now: Instant, net: &mut Network) {
        let g = k % self.groups.len();
        let group = &self.groups[g];
        let upstream = group.start + self.round_robin[g] % group.len();
        self.round_robin[g] += 1;
        self.deposit();
        self.log.calls += 1;
        let copies = matches!(self.spec.policy, Policy::Hedged { .. } | Policy::Tied { .. });
        let hedge_at = self.hedge_delay.filter(|_| copies).map(|d| now + d);
        if let Some(call) = self.plans.get_mut(&conn).and_then(|p| p.calls.get_mut(k)) {
            call.started = Some(now);
            call.hedge_at = hedge_at;
        }
        let twin = matches!(self.spec.policy, Policy::Tied { .. }).then(|| self.next_replica(upstream));
        self.send_try(conn, k, upstream, TryKind::First, twin, now, net);
    }

    /// Sends try `kind` of call `k` to `upstream`; a tied copy's path names its `twin`.
    #[allow(clippy::too_many_arguments)]
    fn send_try(
        &mut self,
        conn: u64,
        k: usize,
        upstream: usize,
        kind: TryKind,
        twin: Option<usize>,
        now: Instant,
        net: &mut Network,
    ) {
        let tie = twin.map_or(String::new(), |t| super::tie::query(self.upstreams[t].addr()));
        let tag = self.next_tag;
        self.next_tag += 1;
        let Some(plan) = self.plans.get_mut(&conn) else { return };
        let attempt = plan.calls[k].tries.len();
        let req_id = plan.req;
        let req = plan.req.map_or_else(|| format!("c{conn}"), |r| r.to_string());
        let timeout = self.spec.per_try_timeout.map(|d| now + d);
        plan.calls[k].tries.push(Try { upstream, tag, sent: now, timeout, open: true, kind });
        self.tags.insert(tag, (conn, k));
        let calls = self.spec.calls;
        let name = move || try_name(calls, req_id, conn, k, attempt, kind);
        self.upstreams[upstream].send(tag, format!("/c/{req}/{k}/{attempt}{tie}"), net, name);
        self.log.tries += 1;
        self.sent = true;
    }

    /// Cancels try `tag` of call `k` of request `conn`, `why` it is.
    fn cancel_try(&mut self, conn: u64, k: usize, tag: u64, why: Cancel, net: &mut Network) {
        let calls = self.spec.calls;
        let Some(plan) = self.plans.get_mut(&conn) else { return };
        let req = plan.req;
        let Some((i, t)) = plan.calls[k].tries.iter_mut().enumerate().find(|(_, t)| t.tag == tag) else { return };
        if t.open {
            t.open = false;
            let (kind, upstream) = (t.kind, t.upstream);
            let name = move || format!("reset: cancels {}: {}", try_name(calls, req, conn, k, i, kind), why.why());
            self.upstreams[upstream].cancel(tag, net, name);
            self.tags.remove(&tag);
            self.log.cancelled += 1;
        }
    }

    /// Cancels every open try of call `k`, `why` it is.
    fn cancel_call(&mut self, conn: u64, k: usize, why: Cancel, net: &mut Network) {
        let tags: Vec<u64> = self
            .plans
            .get(&conn)
            .map(|p| p.calls[k].tries.iter().filter(|t| t.open).map(|t| t.tag).collect())
            .unwrap_or_default();
        for tag in tags {
            self.cancel_try(conn, k, tag, why, net);
        }
    }

    /// Moves the upstream connections along and the requests with them: answers, hedges,
    /// per-try timeouts, retries, deadlines.
    pub fn poll(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        for (upstream, tag, name) in std::mem::take(&mut self.pending_cancels) {
            self.upstreams[upstream]
                .cancel(tag, net, || format!("reset: cancels {name}: the caller withdrew the request"));
            self.log.cancelled += 1;
        }
        // Answers start new calls and tries; each goes out through the upstream's next poll,
        // in this instant, until nothing moves.
        for _ in 0..64 {
            let mut events = std::mem::take(&mut self.events);
            for u in &mut self.upstreams {
                u.poll(now, net, &mut self.next_port, &mut events)?;
            }
            self.sent = false;
            for event in events.drain(..) {
                let tag = event.tag();
                let Some((conn, k)) = self.tags.remove(&tag) else { continue };
                let tries = self.plans.get_mut(&conn).map(|p| &mut p.calls[k].tries);
                if let Some(t) = tries.and_then(|ts| ts.iter_mut().find(|t| t.tag == tag)) {
                    t.open = false;
                }
                match event {
                    CallEvent::Done { status: 200, at, conn: times, .. } => {
                        self.call_answered(conn, k, (tag, times), at, net)
                    }
                    _ => self.try_failed(conn, k, now, net),
                }
            }
            self.events = events;
            self.run_timers(now, net);
            if !self.sent {
                break;
            }
        }
        Ok(())
    }

    /// Call `k` of request `conn` was answered at `at` by try `tag`, over a connection set up
    /// as `times` says.
    fn call_answered(&mut self, conn: u64, k: usize, (tag, times): (u64, ConnTimes), at: Instant, net: &mut Network) {
        let Some(plan) = self.plans.get_mut(&conn) else { return };
        let call = &mut plan.calls[k];
        if call.result.is_some() {
            return;
        }
        call.result = Some(true);
        let us = (at - call.started.unwrap_or(at)).as_micros() as u64;
        if let Some((attempt, t)) = call.tries.iter().enumerate().find(|(_, t)| t.tag == tag) {
            self.log.call_log.push(CallRecord {
                req: plan.req,
                call: k as u32,
                attempt: attempt as u32,
                replica: t.upstream,
                sent: t.sent,
                done: at,
                conn: times,
            });
        }
        plan.ok += 1;
        plan.max_call_us = plan.max_call_us.max(us);
        self.log.call_us.push(us);
        if let Policy::Hedged { after: HedgeAfter::Percentile(p) } = self.spec.policy {
            if let Some(d) = self.recent.observe(us, p, self.hedge_delay.is_none()) {
                self.hedge_delay = Some(d);
            }
        }
        // A hedge's loser.
        self.cancel_call(conn, k, Cancel::Lost, net);
        self.advance(conn, k, at, net);
    }

    /// After call `k` ended: start the next one (sequential, hedged), or finish.
    fn advance(&mut self, conn: u64, k: usize, now: Instant, net: &mut Network) {
        let sequential = !matches!(self.spec.policy, Policy::Parallel { .. });
        let next = self.plans.get(&conn).and_then(|p| {
            let ok = p.calls[k].result == Some(true);
            (sequential && ok && k + 1 < p.calls.len()).then_some(k + 1)
        });
        match next {
            Some(n) => self.start_call(conn, n, now, net),
            None => self.finish_if_done(conn, now, net),
        }
    }

    /// Answers request `conn` once its policy is satisfied (or cannot be any more).
    fn finish_if_done(&mut self, conn: u64, now: Instant, net: &mut Network) {
        let Some(plan) = self.plans.get(&conn) else { return };
        let n = plan.calls.len() as u32;
        let failed = plan.failed;
        let status = match self.spec.policy {
            Policy::Parallel { wait_for } => {
                let want = wait_for.unwrap_or(n).min(n);
                if plan.ok >= want {
                    Some(200)
                } else if n - failed < want {
                    Some(502)
                } else {
                    None
                }
            }
            _ if failed > 0 => Some(502),
            _ if plan.ok == n => Some(200),
            _ => None,
        };
        if let Some(status) = status {
            self.finish(conn, status, now, net);
        }
    }

    fn finish(&mut self, conn: u64, status: u16, now: Instant, net: &mut Network) {
        let Some(calls) = self.plans.get(&conn).map(|p| p.calls.len()) else { return };
        for k in 0..calls {
            self.cancel_call(conn, k, Cancel::Finished(status), net);
        }
        let Some(plan) = self.plans.remove(&conn) else { return };
        self.log.requests.push(GatewayRequest {
            req: plan.req,
            status,
            started: plan.started,
            finished: now,
            max_call_us: plan.max_call_us,
            calls_ok: plan.ok,
        });
        let len = if status == 200 { self.spec.response } else { 0 };
        self.answers.insert(conn, (status, len));
    }
}
