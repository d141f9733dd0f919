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
}

impl Chain {
    /// The hops in words: `user -> origin 3 RTT (TCP 1 + TLS 2 ... ) x 150 ms + ...`.
    pub fn words(&self) -> String {
        let hops: Vec<String> = self
            .hops
            .iter()
            .map(|h| {
                let how = match h.handshake_rtts {
                    0.0 => String::new(),
                    1.0 => " (1 TCP + 1 request)".to_string(),
                    n => format!(" (1 TCP + {} TLS + 1 request)", round(n - 1.0)),
                };
                format!("{} -> {} {} RTT{how} x {} ms", h.from, h.to, h.rtts, h.rtt_ms)
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

    /// How far a measured total may be above the model's: a microsecond per one-way trip
    /// (virtual time rounds each trip's delay up to the microsecond), plus the tables' 0.005.
    pub fn tolerance_ms(&self) -> f64 {
        0.005 + 0.001 * 2.0 * self.hops.iter().map(|h| h.rtts).sum::<f64>()
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
        for h in hops {
            match sums.iter_mut().find(|s| s.from == h.from && s.to == h.to) {
                Some(s) => {
                    s.rtts += h.rtts;
                    s.handshake_rtts += h.handshake_rtts;
                }
                None => sums.push(h),
            }
        }
    }
    let mean = |v: f64| round(v / n as f64);
    let hops = sums
        .into_iter()
        .map(|h| ModelHop { rtts: mean(h.rtts), handshake_rtts: mean(h.handshake_rtts), ..h })
        .collect();
    let budget_ms = w.budget.map(|b| b.as_secs_f64() * 1000.0);
    Ok(Chain { hops, total_ms: total / n as f64, services_ms: services / n as f64, budget_ms })
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
        // A TLS 1.2 session the caller set up before resumes in 1 RTT (RFC 5246 §7.3, the
        // abbreviated handshake); TLS 1.3 takes 1 RTT either way (RFC 8446 §2.2).
        let resumed = !self.sessions.insert((from, to));
        let handshake_rtts = match (fresh, tls) {
            (false, _) => 0.0,
            (true, None) => 1.0,
            (true, Some(TlsVersion::Tls12)) if !resumed => 3.0,
            (true, Some(_)) => 2.0,
        };
        let rtt_ms = (plan.link(from, to).delay + plan.link(to, from).delay).as_secs_f64() * 1000.0;
        let rtts = 1.0 + handshake_rtts;
        let (a, b) = (plan.hosts[from].name.clone(), plan.hosts[to].name.clone());
        hops.push(ModelHop { from: a, to: b.clone(), rtts, handshake_rtts, rtt_ms });
        let service = plan.hosts[to]
            .services
            .iter()
            .find(|s| s.port == port)
            .ok_or_else(|| format!("{b} serves nothing on port {port}"))?;
        let inside = match &service.handler {
            Handler::Bytes => 0.0,
            Handler::Service { time: ServiceTime::Fixed(d), .. } => d.as_secs_f64() * 1000.0,
            Handler::Service { time, .. } => {
                return Err(format!(
                    "{b}'s service time is `{}`, drawn from a distribution: the model counts round trips, and needs fixed service times",
                    time.describe()
                ))
            }
            Handler::Dns(_) => return Err(format!("{b}'s port {port} is DNS, not HTTP")),
            Handler::Relay(_) => return Err(format!("{b}'s port {port} is a relay: the model does not count its hops")),
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
        };
        Ok(rtts * rtt_ms + inside)
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
