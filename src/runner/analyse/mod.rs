//! Analyse: what a finished run measured, as a timeline scenario.
//!
//! Each analysis is a separate [`Analyser`], in a file of its own, and reads the run (the plan,
//! the network's records and captures, the client's own records) into the scenario: its
//! phases, metrics, rounds and streams, notes on the capture's packets, and the pictures.
//! [`analysers`] chooses, in one place, which of them a scenario needs from what it contains:
//! its steps, whether it asked for rounds or pictures, whether its client is a kernel. A new
//! lab's analysis is a new analyser there, not a branch of the runner.
//!
//! The measurements themselves (rounds, head-of-line waits, keepalive bytes, phases read off a
//! capture) are `timeline`'s, which never runs anything; an analyser connects one of them to
//! what this run recorded.

mod budget;
mod events;
mod failover;
mod hol;
mod keepalive;
mod kernel;
pub mod pictures;
mod rounds;
mod script;
mod tail;
mod totals;

use crate::capture::{Capture, Keep};
use crate::picture;
use crate::proto::stream::TaggedRange;
use crate::script::plan::ScenarioPlan;
use crate::script::steps::Step;
use crate::sim::network::Network;
use crate::time::Instant;
use crate::timeline;

use super::build::World;
use super::client::Client;
use super::drive::Outcome;
use super::servers::Server;

/// One analysis of a finished run.
pub trait Analyser {
    /// Reads what it measures off `run` into `scenario` (and may add notes to the capture's
    /// packets, or pictures to `run`). Analysers run in the order [`analysers`] lists them, and
    /// may read what the earlier ones wrote.
    fn analyse(&self, run: &mut Run<'_>, scenario: &mut timeline::Scenario);
}

/// The analysers `plan` needs, in the order they run. The order is part of the output: the
/// script's phases come first, a kernel client's go before them and slow-start rounds after
/// them; rounds label their packets before head-of-line notes are added to the same packets;
/// the pictures come last, so the ladder shows every phase.
pub fn analysers(plan: &ScenarioPlan) -> Vec<Box<dyn Analyser>> {
    let steps = || plan.warmup.iter().chain(&plan.steps);
    let mut list: Vec<Box<dyn Analyser>> = vec![Box::new(script::ScriptPhases)];
    if !plan.events.is_empty() {
        list.push(Box::new(events::Events));
    }
    // A real program (curl) as the client: its phases are read off the capture.
    if plan.kernel.contains(&plan.client) {
        list.push(Box::new(kernel::KernelClientPhases));
    }
    // Any measured response (not the warm-up's): its rounds; the slow-start lab's phases.
    if plan.steps.iter().any(|s| s.phase_ids().contains(&"http_response")) {
        list.push(Box::new(rounds::SlowStartRounds));
    }
    // The hol lab.
    if steps().any(|s| matches!(s, Step::Page(_))) {
        list.push(Box::new(hol::PageStreams));
    }
    // The keepalive lab.
    if steps().any(|s| matches!(s, Step::Bursts(_))) {
        list.push(Box::new(keepalive::PoolMetrics));
    }
    // Workloads (the tail-latency lab): latency percentiles, and the gateway's calls.
    if steps().any(|s| matches!(s, Step::Workload(_))) {
        list.push(Box::new(tail::WorkloadMetrics));
    }
    // A fleet of clients (the dns-failover lab).
    if steps().any(|s| matches!(s, Step::Clients(_))) {
        list.push(Box::new(failover::FleetMetrics));
    }
    list.push(Box::new(totals::Totals));
    // A workload measured against a latency budget: its hops (after the totals: see there).
    if plan.steps.iter().any(|s| matches!(s, Step::Workload(w) if w.budget.is_some())) {
        list.push(Box::new(budget::LatencyBudget));
    }
    if plan.pictures {
        list.push(Box::new(pictures::Pictures));
    }
    list
}

/// Why `plan`'s analysis needs every frame of the client's capture, if it does: the analysers
/// that read the packets themselves (not only their count and their phases' frames). A
/// scenario for which this is `None` measures the same whatever `--capture` keeps.
pub fn reads_capture(plan: &ScenarioPlan) -> Option<&'static str> {
    let steps = || plan.warmup.iter().chain(&plan.steps);
    if plan.kernel.contains(&plan.client) {
        Some("its phases are read off the kernel client's capture")
    } else if plan.steps.iter().any(|s| s.phase_ids().contains(&"http_response")) {
        Some("its slow-start rounds and response phases are measured from the client's capture")
    } else if steps().any(|s| matches!(s, Step::Page(_))) {
        Some("its head-of-line waits are measured from the client's capture")
    } else if steps().any(|s| matches!(s, Step::Bursts(_))) {
        Some("its keepalive bytes and probes are measured from the client's capture")
    } else if steps().any(|s| matches!(s, Step::Tls { .. } | Step::Request { .. })) {
        Some("its TLS records and responses are named from the client's whole capture")
    } else {
        None
    }
}

/// A finished run, as the analysers see it.
pub struct Run<'p> {
    pub plan: &'p ScenarioPlan,
    /// The network after the run: its record of every packet, and the captures (finished: the
    /// TLS records named, the key log known).
    pub net: Network,
    /// The client: its phases and metrics as it measured them, its page or pool.
    pub client: Client,
    /// The servers, for what they recorded (which TCP bytes carried which object).
    pub servers: Vec<Box<dyn Server>>,
    /// The scenario's time 0: when its first (non-warm-up) step started.
    pub t0: Instant,
    /// The client–server path's round trip, in ms.
    pub rtt_ms: f64,
    /// The TLS key log of every TLS world (TCP, then QUIC, then the services' own).
    pub key_log: String,
    /// QUIC's initial window, when a page fetched over HTTP/3.
    pub quic_window: Option<u64>,
    /// Why the scenario did not run to its end, if it did not.
    pub error: Option<String>,
    /// What the pictures analyser drew.
    pub pictures: Drawn,
    /// The scheduled events that happened.
    pub events: Vec<super::events::Fired>,
}

/// The pictures of a run, when the plan asked for them.
#[derive(Default)]
pub struct Drawn {
    pub ladder: Option<picture::ladder::Ladder>,
    pub time_seq: Option<picture::plot::TimeSeq>,
    pub streams: Option<picture::plots::streams::Streams>,
    pub connections: Option<picture::plots::connections::Connections>,
}

impl<'p> Run<'p> {
    /// The world after `outcome`: its captures finished with the key log.
    pub fn new(world: World<'p>, outcome: Outcome) -> Self {
        let World { plan, mut net, programs, quic_window } = world;
        let events = programs.schedule.fired.clone();
        let error = match outcome {
            Outcome::Finished(_) => programs.client.error.clone(),
            Outcome::Stalled { why, .. } => Some(why),
        };
        let mut key_log = programs.tls.key_log();
        if let Some(q) = &programs.quic_tls {
            key_log.push_str(&q.key_log());
        }
        key_log.push_str(&programs.service_tls.key_log());
        net.finish_captures(&key_log);
        let t0 = programs.client.t0.unwrap_or(Instant::ZERO);
        let rtt_ms = plan.rtt().as_secs_f64() * 1000.0;
        Run {
            plan,
            net,
            client: programs.client,
            servers: programs.servers,
            t0,
            rtt_ms,
            key_log,
            quic_window,
            error,
            pictures: Drawn::default(),
            events,
        }
    }

    /// `t` in ms since the scenario's time 0 (0 for anything before it).
    pub fn rel(&self, t: Instant) -> f64 {
        timeline::ms(t.micros().saturating_sub(self.t0.micros()))
    }

    /// The client's capture.
    pub fn capture(&self) -> &Capture {
        &self.net.tap.capture
    }

    /// Which object or HTTP/2 stream each TCP byte range the servers on the plan's server host
    /// wrote carried, with the client's port of its connection.
    pub fn tagged_ranges(&self) -> Vec<(u16, TaggedRange)> {
        self.servers.iter().filter(|s| s.host() == self.plan.server).flat_map(|s| s.tagged_ranges()).collect()
    }
}

/// The scenario's timeline, from its plan and every analyser it needs.
pub fn analyse(run: &mut Run<'_>) -> timeline::Scenario {
    let plan = run.plan;
    let mut scenario = timeline::Scenario {
        name: plan.name.clone(),
        title: plan.title.clone(),
        params: plan.param_sources.clone(),
        capture: (plan.capture != Keep::None).then(|| format!("{}-{}.pcapng", plan.lab, plan.name)),
        congestion: congestion(plan, run.quic_window),
        link: super::netem_words(plan.link(plan.client, plan.server)),
        phases: Vec::new(),
        events: Vec::new(),
        metrics: Default::default(),
        rounds: Vec::new(),
        streams: Vec::new(),
        latency_cdf: Vec::new(),
        breakdown: Vec::new(),
        hops: Vec::new(),
        failover_seconds: Vec::new(),
        note: plan.note.clone(),
        expectations: Vec::new(),
        error: run.error.clone(),
        warnings: run.net.unmatched_drops(),
    };
    for analyser in analysers(plan) {
        analyser.analyse(run, &mut scenario);
    }
    // A service that closed connections it could not parse did what a real server does; the
    // run went on, and the output says so.
    for s in run.servers.iter().filter_map(|s| s.service()) {
        if s.log.bad_connections > 0 {
            scenario.warnings.push(format!(
                "{} port {}: closed {} connection(s) whose bytes were not HTTP (first: {})",
                plan.hosts[s.host].name,
                s.port(),
                s.log.bad_connections,
                s.log.first_bad.as_deref().unwrap_or("?")
            ));
        }
    }
    scenario
}

/// Which congestion control the senders ran, in words.
fn congestion(plan: &ScenarioPlan, quic_window: Option<u64>) -> String {
    match quic_window {
        Some(w) => format!("QUIC: quinn's NewReno, initial window {w} bytes, paced, 1472-byte UDP payloads"),
        None if plan.kernel.contains(&plan.client) => {
            format!("client TCP: the Linux kernel's own ({}); server: {}", kernel_default_cc(), plan.tcp.describe())
        }
        None if plan.kernel.contains(&plan.server) => kernel_tcp(plan),
        None => plan.tcp.describe(),
    }
}

/// This machine's default congestion control (what a kernel client's programs use).
fn kernel_default_cc() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "default congestion control".into())
}

/// The congestion line for a scenario whose server is the Linux kernel.
fn kernel_tcp(plan: &ScenarioPlan) -> String {
    let initcwnd = match plan.tcp.congestion {
        crate::proto::cwnd::Congestion::InitialWindow { segments } => format!("route initcwnd {segments}"),
        crate::proto::cwnd::Congestion::Stack => "the route's default initcwnd (10)".to_string(),
    };
    format!(
        "server TCP: the Linux kernel's own ({}, {initcwnd}); client: smoltcp, delayed ACK {}",
        plan.kernel_cc,
        if plan.tcp.delayed_ack { "10 ms (at once after 2 full segments)" } else { "off" }
    )
}
