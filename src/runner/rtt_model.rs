//! The round trips a request pays along its call chain, read off the plan alone (the
//! latency-budget lab's theory): for the settings that ran, not only the defaults.
//!
//! Each hop costs, in its path's round trips:
//! - **1** for the request and its answer;
//! - on a **fresh** connection (a pool of 0) another **1** for TCP's handshake (RFC 9293
//!   §3.5: the SYN-ACK comes back one round trip after the SYN), and for TLS **1** more with
//!   TLS 1.3 (RFC 8446 §2: the server's flight up to its Finished answers the ClientHello, and
//!   the request goes with the client's Finished) or **2** with TLS 1.2 (RFC 5246 §7.3, no
//!   False Start);
//! - nothing more on a **pooled** connection that was warm before the request.
//!
//! A caller's later fresh connections to the same server resume its TLS session: 1 RTT for
//! TLS 1.2 then (the abbreviated handshake), and still 1 for TLS 1.3.
//!
//! A gateway's calls add up in sequence (the slowest counts, for parallel calls); a service
//! adds its fixed service time. No slow start: the lab's answers (1 KB) fit in the first
//! congestion window, so every answer is one flight.
//!
//! A **relay** (TLS passed through) makes two hops of one connection. With `e` the caller's
//! RTT to it, `o` its RTT to the upstream and `k` the TLS handshake's round trips: the relay
//! opens its upstream connection on the caller's SYN (at `e/2`; open at `e/2 + o`), while the
//! caller finishes its own handshake and sends its first bytes (at the relay at `3e/2`). These
//! wait for the upstream connection when `o > e`; then every turn (the TLS handshake's, the
//! request's) crosses both paths: `(k + 1)(e + o) + max(e, o)` in all. Along that critical
//! path the caller's hop costs `(k + 1) e` (its TCP handshake hidden behind the relay's; with
//! no TLS, half of it is: the SYN) and the relay's `(k + 2) o`; when `o <= e` it is the other
//! way round: `(k + 2) e` and `(k + 1) o`. On a warm connection both cost one round trip.

use std::collections::{HashMap, HashSet};

use crate::dist::ServiceTime;
use crate::proto::tls::TlsVersion;
use crate::script::plan::ScenarioPlan;
use crate::script::steps::Step;
use crate::service::{Handler, Policy};

/// One hop as the model counts it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelHop {
    pub from: String,
    pub to: String,
    /// Round trips of the path: the request's 1, and the handshakes' on a fresh connection.
    pub rtts: f64,
    pub handshake_rtts: f64,
    pub rtt_ms: f64,
    /// Set on the two hops of a fresh connection a relay passes through.
    pub passed: Option<Passed>,
    /// How many of the chain's requests crossed it ([`Chain::requests`] for a hop every
    /// request takes; fewer for one of several replicas). `rtts` and `handshake_rtts` are
    /// the means over those requests, as the measured hops are.
    pub requests: u64,
}

/// A hop of a connection a relay passes through: to the relay, or from it to its upstream,
/// and whether its TCP handshake is on the request's path (the other one's is hidden behind it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passed {
    ToRelay { tcp_on_path: bool },
    FromRelay { tcp_on_path: bool },
}

impl Passed {
    /// What a fresh hop's round trips are, with `hs` of them handshakes.
    fn words(self, hs: f64) -> String {
        let tls = |n: f64| if n > 0.0 { format!("{} TLS + ", round(n)) } else { String::new() };
        match self {
            Passed::ToRelay { tcp_on_path: true } => format!(" (1 TCP + {}1 request)", tls(hs - 1.0)),
            Passed::ToRelay { tcp_on_path: false } if hs < 1.0 => {
                " (the SYN and the answer's way back; the rest hidden behind the relay's own handshake)".into()
            }
            Passed::ToRelay { tcp_on_path: false } => {
                format!(" (TCP hidden behind the relay's own handshake; {}1 request)", tls(hs))
            }
            Passed::FromRelay { tcp_on_path: true } => {
                format!(" (1 TCP, opened on the caller's SYN + {}1 request)", tls(hs - 1.0))
            }
            Passed::FromRelay { tcp_on_path: false } => {
                format!(" (TCP hidden behind the caller's handshake; {}1 request)", tls(hs))
            }
        }
    }
}

impl ModelHop {
    pub fn ms(&self) -> f64 {
        self.rtts * self.rtt_ms
    }
}

/// A request's path through the plan's services, as the model sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub hops: Vec<ModelHop>,
    /// The request's time end to end: the hops in sequence (the slowest of parallel calls)
    /// and the services' fixed times.
    pub total_ms: f64,
    /// The services' own time (fixed service times) on the way, in sequence.
    pub services_ms: f64,
    /// The workload's latency budget, if it names one.
    pub budget_ms: Option<f64>,
    /// The requests the model walked (the workload's, up to `MAX_REQUESTS`).
    pub requests: u64,
}

impl Chain {
    /// The hops in words: `user -> origin 3 RTT (TCP 1 + TLS 2 ... ) x 150 ms + ...`.
    pub fn words(&self) -> String {
        let hops: Vec<String> = self
            .hops
            .iter()
            .map(|h| {
                let how = match h.handshake_rtts {
                    n if h.passed.is_some() => h.passed.map(|p| p.words(n)).unwrap_or_default(),
                    0.0 => String::new(),
                    1.0 => " (1 TCP + 1 request)".to_string(),
                    n => format!(" (1 TCP + {} TLS + 1 request)", round(n - 1.0)),
                };
                let share = if h.requests < self.requests {
                    format!(" x {}/{} of the requests", h.requests, self.requests)
                } else {
                    String::new()
                };
                format!("{} -> {} {} RTT{how} x {} ms{share}", h.from, h.to, h.rtts, h.rtt_ms)
            })
            .collect();
        let services = if self.services_ms >= 0.0005 {
            format!(" + services {} ms", round(self.services_ms))
        } else {
            String::new()
        };
        format!("{}{services} = {} ms", hops.join(" + "), round(self.total_ms))
    }

    /// The largest hop, by its time.
    pub fn largest(&self) -> Option<&ModelHop> {
        self.hops.iter().max_by(|a, b| a.ms().total_cmp(&b.ms()))
    }

    /// The share of the requests that crossed `hop`.
    pub fn share(&self, hop: &ModelHop) -> f64 {
        hop.requests as f64 / self.requests.max(1) as f64
    }

    /// How far a measured total may be above the model's: a microsecond per one-way trip
    /// (virtual time rounds each trip's delay up to the microsecond), plus the tables' 0.005.
    pub fn tolerance_ms(&self) -> f64 {
        0.005 + 0.001 * 2.0 * self.hops.iter().map(|h| h.rtts * self.share(h)).sum::<f64>()
    }
}

/// Calls deeper than this are a loop in the lab file, not a chain.
const MAX_DEPTH: usize = 32;
/// Requests the model walks (a steady state long before this).
const MAX_REQUESTS: u64 = 1000;

/// The chain of the plan's workload step: the mean over its requests (each walked in turn, so
/// round-robin and TLS 1.2 resumption go as they do in the run), each hop's time summed within
/// a request.
pub fn chain(plan: &ScenarioPlan) -> Result<Chain, String> {
    let w = plan
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Workload(w) => Some(w),
            _ => None,
        })
        .ok_or("the scenario has no workload step")?;
    let to = plan
        .hosts
        .iter()
        .position(|h| h.name == w.to || h.group == w.to)
        .ok_or_else(|| format!("no host `{}`", w.to))?;
    let mut walker = Walker { plan, sessions: HashSet::new(), next: HashMap::new() };
    let n = w.requests.clamp(1, MAX_REQUESTS);
    let mut sums: Vec<ModelHop> = Vec::new();
    let (mut total, mut services) = (0.0, 0.0);
    for _ in 0..n {
        let mut hops = Vec::new();
        let t = walker.hop(plan.client, to, w.port, w.pool == 0, w.tls, 0, &mut hops)?;
        total += t;
        services += (t - hops.iter().map(ModelHop::ms).sum::<f64>()).max(0.0);
        // A hop crossed more than once in a request (calls in sequence to one upstream) counts
        // once for it, with the sum of its round trips.
        let mut this: Vec<ModelHop> = Vec::new();
        for h in hops {
            match this.iter_mut().find(|s| s.from == h.from && s.to == h.to) {
                Some(s) => {
                    s.rtts += h.rtts;
                    s.handshake_rtts += h.handshake_rtts;
                }
                None => this.push(h),
            }
        }
        for h in this {
            match sums.iter_mut().find(|s| s.from == h.from && s.to == h.to) {
                Some(s) => {
                    s.rtts += h.rtts;
                    s.handshake_rtts += h.handshake_rtts;
                    s.requests += 1;
                }
                None => sums.push(ModelHop { requests: 1, ..h }),
            }
        }
    }
    // Each hop's round trips are its mean over the requests that crossed it: one of two
    // replicas is one round trip for the half of the requests it answered, not half a round
    // trip for all of them (which understated its share of the budget).
    let hops = sums
        .into_iter()
        .map(|h| {
            let mean = |v: f64| round(v / h.requests as f64);
            ModelHop { rtts: mean(h.rtts), handshake_rtts: mean(h.handshake_rtts), ..h }
        })
        .collect();
    let budget_ms = w.budget.map(|b| b.as_secs_f64() * 1000.0);
    Ok(Chain { hops, total_ms: total / n as f64, services_ms: services / n as f64, budget_ms, requests: n })
}

/// The state the model keeps across requests, as the run does.
struct Walker<'p> {
    plan: &'p ScenarioPlan,
    /// (caller, server) pairs with a TLS session to resume.
    sessions: HashSet<(usize, usize)>,
    /// Each gateway's (host, port) round-robin position per upstream group.
    next: HashMap<(usize, u16), Vec<usize>>,
}

impl Walker<'_> {
    /// Adds the hop `from` -> `to`:`port` and what the service there calls; returns the time
    /// from the caller sending to the caller having the answer.
    #[allow(clippy::too_many_arguments)]
    fn hop(
        &mut self,
        from: usize,
        to: usize,
        port: u16,
        fresh: bool,
        tls: Option<TlsVersion>,
        depth: usize,
        hops: &mut Vec<ModelHop>,
    ) -> Result<f64, String> {
        let plan = self.plan;
        if depth > MAX_DEPTH {
            return Err(format!("calls nest deeper than {MAX_DEPTH}: a loop of gateways"));
        }
        let b = plan.hosts[to].name.clone();
        let service = plan.hosts[to]
            .services
            .iter()
            .find(|s| s.port == port)
            .ok_or_else(|| format!("{b} serves nothing on port {port}"))?;
        if let Some(relay) = service.relay() {
            return self.relay_hop(from, (to, port), relay, (fresh, tls), depth, hops);
        }
        // A TLS 1.2 session the caller set up before resumes in 1 RTT (RFC 5246 §7.3, the
        // abbreviated handshake); TLS 1.3 takes 1 RTT either way (RFC 8446 §2.2).
        let resumed = !self.sessions.insert((from, to));
        let handshake_rtts = match (fresh, tls) {
            (false, _) => 0.0,
            (true, None) => 1.0,
            (true, Some(TlsVersion::Tls12)) if !resumed => 3.0,
            (true, Some(_)) => 2.0,
        };
        let rtt_ms = self.rtt_ms(from, to);
        let rtts = 1.0 + handshake_rtts;
        let a = plan.hosts[from].name.clone();
        hops.push(ModelHop { from: a, to: b.clone(), rtts, handshake_rtts, rtt_ms, passed: None, requests: 1 });
        Ok(rtts * rtt_ms + self.inside(to, service, depth, hops)?)
    }

    fn rtt_ms(&self, a: usize, b: usize) -> f64 {
        (self.plan.link(a, b).delay + self.plan.link(b, a).delay).as_secs_f64() * 1000.0
    }

    /// The time `service` on host `to` spends inside: its fixed service time, or its calls
    /// (whose hops it adds).
    fn inside(
        &mut self,
        to: usize,
        service: &crate::service::ServiceSpec,
        depth: usize,
        hops: &mut Vec<ModelHop>,
    ) -> Result<f64, String> {
        let (b, port) = (&self.plan.hosts[to].name, service.port);
        Ok(match &service.handler {
            Handler::Bytes => 0.0,
            Handler::Service { time: ServiceTime::Fixed(d), .. } => d.as_secs_f64() * 1000.0,
            Handler::Service { time, .. } => {
                return Err(format!(
                    "{b}'s service time is `{}`, drawn from a distribution: the model counts round trips, and needs fixed service times",
                    time.describe()
                ))
            }
            Handler::Dns(_) => return Err(format!("{b}'s port {port} is DNS, not HTTP")),
            Handler::Relay(_) => return Err(format!("{b}'s port {port} relays to another relay: the model follows one")),
            Handler::Gateway(g) => {
                let groups = g.call_groups();
                let mut calls = Vec::new();
                for k in 0..g.calls as usize {
                    let Some(group) = groups.get(k % groups.len().max(1)).filter(|g| !g.is_empty()) else { break };
                    let next = self.next.entry((to, port)).or_insert_with(|| vec![0; groups.len()]);
                    let i = k % groups.len();
                    let replica = &g.replicas[group.start + next[i] % group.len()];
                    next[i] += 1;
                    calls.push(self.hop(to, replica.host, replica.addr.port(), g.pool == 0, g.tls, depth + 1, hops)?);
                }
                match g.policy {
                    Policy::Parallel { wait_for } => {
                        calls.sort_by(f64::total_cmp);
                        let k = wait_for.map_or(calls.len(), |w| w as usize).clamp(1, calls.len().max(1));
                        calls.get(k - 1).copied().unwrap_or(0.0)
                    }
                    _ => calls.iter().sum(),
                }
            }
        })
    }

    /// The hops through the relay on `relay_at` (host, port): the caller's connection to it
    /// (`fresh` or warm, with `tls`) and the relay's own to the next upstream replica; the
    /// TLS session is the caller's with that replica. Returns the caller's wait.
    fn relay_hop(
        &mut self,
        from: usize,
        relay_at: (usize, u16),
        relay: &crate::service::RelaySpec,
        (fresh, tls): (bool, Option<TlsVersion>),
        depth: usize,
        hops: &mut Vec<ModelHop>,
    ) -> Result<f64, String> {
        let (to, plan) = (relay_at.0, self.plan);
        let next = self.next.entry(relay_at).or_insert_with(|| vec![0]);
        let r = relay.replicas.get(next[0] % relay.replicas.len().max(1)).ok_or("a relay without an upstream")?;
        next[0] += 1;
        let (up, up_port) = (r.host, r.addr.port());
        let end =
            plan.hosts[up].services.iter().find(|s| s.port == up_port).ok_or("the relay's upstream serves nothing")?;
        let resumed = !self.sessions.insert((from, up));
        let k: f64 = match (fresh, tls) {
            (false, _) | (true, None) => 0.0,
            (true, Some(TlsVersion::Tls12)) if !resumed => 2.0,
            (true, Some(_)) => 1.0,
        };
        let (e, o) = (self.rtt_ms(from, to), self.rtt_ms(to, up));
        // (rtts, handshake rtts) of the caller's hop and of the relay's: the upstream
        // connection is on the path when the caller's first bytes wait for it (o > e).
        let on_path = o > e;
        let ((c_rtts, c_hs), (r_rtts, r_hs)) = match (fresh, on_path) {
            (false, _) => ((1.0, 0.0), (1.0, 0.0)),
            (true, true) => ((k + 1.0, if k > 0.0 { k } else { 0.5 }), (k + 2.0, k + 1.0)),
            (true, false) => ((k + 2.0, k + 1.0), (k + 1.0, k)),
        };
        let name = |h: usize| plan.hosts[h].name.clone();
        let (to_relay, from_relay) =
            (Passed::ToRelay { tcp_on_path: !on_path }, Passed::FromRelay { tcp_on_path: on_path });
        let hop = |from: usize, to: usize, (rtts, handshake_rtts): (f64, f64), rtt_ms: f64, passed: Passed| ModelHop {
            from: name(from),
            to: name(to),
            rtts,
            handshake_rtts,
            rtt_ms,
            // A warm connection's hops are one round trip each, as any pooled hop.
            passed: fresh.then_some(passed),
            requests: 1,
        };
        hops.push(hop(from, to, (c_rtts, c_hs), e, to_relay));
        hops.push(hop(to, up, (r_rtts, r_hs), o, from_relay));
        Ok(c_rtts * e + r_rtts * o + self.inside(up, end, depth + 1, hops)?)
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
