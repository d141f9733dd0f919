//! The runner: builds a scenario's network, drives it on the virtual clock, and collects
//! the timeline, the capture and the TLS key log.

pub mod checks;
pub mod client;
pub mod exec;
pub mod loss_table;
pub mod page;
pub mod pictures;
pub mod pool;
pub mod servers;
pub mod size_sweep;
pub mod theory;

use std::collections::BTreeMap;

use crate::backend::virtual_clock::{self, Stall};
use crate::capture::{Capture, Note, DEFAULT_EPOCH_UNIX_MICROS};
use crate::host::Host;
use crate::link::LinkConfig;
use crate::packet::{self, Transport};
use crate::proto::dns::{Answer, DnsServer, Role as DnsRole, StubResolver};
use crate::proto::tls::{LabTls, TlsClock};
use crate::rng;
use crate::script::plan::{Role, ScenarioPlan};
use crate::script::steps::{Protocol, Step};
use crate::sim::app::Application;
use crate::sim::network::Network;
use crate::time::Instant;
use crate::timeline::{self, Phase};
use client::Client;
use servers::{DnsServers, HttpServer, QuicService};

/// What one scenario produced.
pub struct ScenarioOutput {
    pub timeline: timeline::Scenario,
    /// The capture at the scenario's client, written out with [`ScenarioOutput::pcapng`] or
    /// [`Capture::write_pcapng`] (a sweep writes none, and so renders none).
    pub capture: Capture,
    /// Captures at the other vantage points asked for (`--tap`): (host name, capture).
    pub other_captures: Vec<(String, Capture)>,
    pub key_log: String,
    /// The scenario's ladder diagram, when the plan asked for pictures.
    pub ladder: Option<crate::picture::ladder::Ladder>,
    /// The time-sequence graph of its response, when it has slow-start rounds and the plan
    /// asked for pictures.
    pub time_seq: Option<crate::picture::plot::TimeSeq>,
    /// A page's deliveries per object over time, with its stalls, when the plan asked for
    /// pictures.
    pub streams: Option<crate::picture::plots::streams::Streams>,
    /// A pool's connections and handshakes over time, when the plan asked for pictures.
    pub connections: Option<crate::picture::plots::connections::Connections>,
}

impl ScenarioOutput {
    /// The client's capture as a pcapng file, the key log embedded.
    pub fn pcapng(&self) -> Vec<u8> {
        self.capture.to_pcapng(Some(&self.key_log), DEFAULT_EPOCH_UNIX_MICROS)
    }
}

/// The server's DNS name for TLS: the first name in [dns] that points at it, else its host name.
fn server_name(plan: &ScenarioPlan) -> String {
    plan.dns
        .as_ref()
        .and_then(|d| d.names.iter().find(|(_, &h)| h == plan.server).map(|(n, _)| n.clone()))
        .unwrap_or_else(|| plan.hosts[plan.server].name.clone())
}

struct Lab<'p> {
    plan: &'p ScenarioPlan,
    tls: LabTls,
    /// TLS for QUIC (ALPN h3) and the HTTP/3 server, when the scenario fetches over HTTP/3.
    quic_tls: Option<LabTls>,
    quic: Option<QuicService>,
    http: HttpServer,
    dns: DnsServers,
    client: Client,
}

impl Application for Lab<'_> {
    fn poll(&mut self, now: Instant, net: &mut Network) {
        self.tls.clock().set_unix_micros(DEFAULT_EPOCH_UNIX_MICROS + now.micros());
        self.dns.poll(now, net);
        if let Err(e) = self.http.poll(now, net, &self.tls) {
            self.client.error.get_or_insert(e);
        }
        if let Some(Err(e)) = self.quic.as_mut().map(|q| q.poll(now, net)) {
            self.client.error.get_or_insert(e);
        }
        self.client.poll(now, net, self.plan, &self.tls, self.quic_tls.as_ref());
    }

    fn next_timer(&self, now: Instant) -> Option<Instant> {
        let quic = self.quic.as_ref().and_then(|q| q.next_timer());
        [self.client.next_timer(), self.http.next_timer(), quic].into_iter().flatten().filter(|&t| t > now).min()
    }

    fn finished(&self) -> bool {
        self.client.finished()
    }

    fn status(&self) -> String {
        match &self.client.pool {
            Some(p) => {
                let (burst, of) = p.burst();
                format!("{}: burst {burst} of {of}, {} connections opened", self.plan.name, p.stats.connections_opened)
            }
            None => self.plan.name.clone(),
        }
    }
}

/// Runs one scenario with `seed`.
pub fn run_scenario(plan: &ScenarioPlan, seed: u64) -> anyhow::Result<ScenarioOutput> {
    run_scenario_with_progress(plan, seed, &mut |_, _| {})
}

/// What moves time for a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Jump from event to event: deterministic, instant.
    Virtual,
    /// The wall clock, with kernel hosts (if the scenario has any) in network namespaces.
    Realtime,
}

impl Clock {
    pub fn name(self) -> &'static str {
        match self {
            Clock::Virtual => "virtual",
            Clock::Realtime => "realtime",
        }
    }
}

/// [`run_scenario`], reporting progress (virtual time, status) now and then.
pub fn run_scenario_with_progress(
    plan: &ScenarioPlan,
    seed: u64,
    progress: virtual_clock::Progress<'_>,
) -> anyhow::Result<ScenarioOutput> {
    run_scenario_on(plan, seed, Clock::Virtual, progress)
}

/// Runs one scenario with `seed` on `clock`.
pub fn run_scenario_on(
    plan: &ScenarioPlan,
    seed: u64,
    clock: Clock,
    progress: virtual_clock::Progress<'_>,
) -> anyhow::Result<ScenarioOutput> {
    run_scenario_inner(plan, seed, clock, progress, None)
}

/// [`run_scenario`] on the virtual clock with packets changed in flight by `mutator` (the
/// whole-network fuzz target: the hosts, the protocol drivers and every analysis must survive
/// whatever it does).
#[doc(hidden)]
pub fn run_scenario_mutated(
    plan: &ScenarioPlan,
    seed: u64,
    mutator: crate::sim::network::Mutator,
) -> anyhow::Result<ScenarioOutput> {
    run_scenario_inner(plan, seed, Clock::Virtual, &mut |_, _| {}, Some(mutator))
}

fn run_scenario_inner(
    plan: &ScenarioPlan,
    seed: u64,
    clock: Clock,
    progress: virtual_clock::Progress<'_>,
    mutator: Option<crate::sim::network::Mutator>,
) -> anyhow::Result<ScenarioOutput> {
    if clock == Clock::Virtual && !plan.kernel.is_empty() {
        anyhow::bail!("scenario `{}` has kernel hosts: it runs only with --backend realtime", plan.name);
    }
    let hosts: Vec<Host> =
        plan.hosts.iter().map(|h| Host::new(&h.name, h.addr, plan.tcp.mtu(), seed, Instant::ZERO)).collect();
    let n = hosts.len();
    let mut net = Network::new(
        hosts,
        |from, to| {
            let (config, rules) = plan.links[from * n + to].clone();
            let label = format!("link:{}->{}", plan.hosts[from].name, plan.hosts[to].name);
            (config, rules, rng::stream(seed, &label))
        },
        plan.client,
    );
    for &host in &plan.taps {
        net.add_tap(host);
    }
    net.describe_records = plan.pictures;
    net.mutator = mutator;

    let tls_clock = TlsClock::at_unix_micros(DEFAULT_EPOCH_UNIX_MICROS);
    let tls = LabTls::new(seed, &server_name(plan), tls_clock.clone())?.with_server_alpn(&[b"h2", b"http/1.1"]);
    // HTTP/3 gets its own TLS world (ALPN h3) and a QUIC server on UDP 443.
    let h3_window = plan.warmup.iter().chain(&plan.steps).find_map(|s| match s {
        Step::Page(p) if p.protocol == Protocol::H3 => Some(p.quic_initial_window),
        _ => None,
    });
    let quic_tls = match h3_window {
        Some(_) => Some(LabTls::new(rng::derive(seed, "quic"), &server_name(plan), tls_clock)?.with_alpn(&[b"h3"])),
        None => None,
    };
    let http = HttpServer::new(&mut net, plan.server, plan.tcp, plan.server_idle_timeout);
    let mut dns = DnsServers(Vec::new());
    let mut stub = None;
    if let Some(d) = &plan.dns {
        let ttl = d.ttl;
        let zone = d.names.iter().map(|(name, &h)| (name.clone(), Answer { addr: plan.hosts[h].addr, ttl })).collect();
        let resolver = plan.hosts.iter().position(|h| h.role == Role::Resolver);
        let authority = plan.hosts.iter().position(|h| h.role == Role::Authority);
        if let (Some(r), Some(a)) = (resolver, authority) {
            let upstream = plan.hosts[a].addr;
            let rrng = rng::stream(seed, "dns:resolver");
            dns.0.push((r, DnsServer::new(&mut net.hosts[r].sockets, DnsRole::Resolver { upstream }, rrng)));
            let arng = rng::stream(seed, "dns:authority");
            dns.0.push((a, DnsServer::new(&mut net.hosts[a].sockets, DnsRole::Authority { zone }, arng)));
            let srng = rng::stream(seed, "dns:stub");
            stub = Some(StubResolver::new(&mut net.hosts[plan.client].sockets, plan.hosts[r].addr, srng));
        }
    }
    let first_port = 49152 + (rng::derive(seed, "client:ports") % 8192) as u16;
    let mut client = Client::new(plan, stub, first_port, seed);
    let kernel_client = plan.kernel.contains(&plan.client);
    if kernel_client {
        // Its packets are the kernel's: name their protocol events from the packets.
        client.exec_ns = Some(crate::backend::realtime::netns::name(&plan.client.to_string()));
        net.tap.annotator = Some(Default::default());
    }
    let quic = match (&quic_tls, h3_window) {
        (Some(t), Some(w)) => Some(
            QuicService::new(&mut net, plan.server, t, rng::derive(seed, "quic:server"), w, Instant::ZERO)
                .map_err(|e| anyhow::anyhow!(e))?,
        ),
        _ => None,
    };
    let mut lab = Lab { plan, tls, quic_tls, quic, http, dns, client };

    let limit = Instant::ZERO + plan.time_limit;
    let outcome = match clock {
        Clock::Virtual => virtual_clock::run_with_progress(&mut net, &mut lab, Instant::ZERO, limit, progress),
        Clock::Realtime => {
            use crate::backend::realtime;
            let mut kernel = realtime::hosts::KernelHosts::start(plan, &mut net)
                .map_err(|e| anyhow::anyhow!("setting up the kernel hosts of scenario `{}`: {e}", plan.name))?;
            let mut ports = kernel.ports();
            let end = realtime::run(&mut net, &mut lab, &mut ports, progress, |now| now < limit)?;
            if lab.finished() {
                Ok(end)
            } else if realtime::stopped() {
                Err(Stall::Interrupted(end))
            } else {
                Err(Stall::TimeLimit(end))
            }
        }
    };
    let mut error = lab.client.error.clone();
    if let Err(stall) = outcome {
        let step = lab.client.current_step_name();
        error = Some(match stall {
            Stall::TimeLimit(at) => format!(
                "did not finish within time_limit = {:?} of virtual time: {step} was still running (last activity at {at})",
                plan.time_limit
            ),
            Stall::Idle(at) => format!("stopped at {at}: nothing left to happen while {step} was running"),
            Stall::Interrupted(at) => format!("interrupted (Ctrl-C or SIGTERM) at {at} while {step} was running"),
        });
    }

    let mut key_log = lab.tls.key_log();
    if let Some(q) = &lab.quic_tls {
        key_log.push_str(&q.key_log());
    }
    net.finish_captures(&key_log);
    let rounds = slow_start_rounds(plan, &lab.client.phases, &mut net);
    if let Some(page) = &lab.client.page {
        comment_holes(page, plan, &mut net, &lab.http);
    }
    let rtt_ms = plan.rtt().as_secs_f64() * 1000.0;
    let t0 = lab.client.t0.unwrap_or(Instant::ZERO);
    let rel = |t: Instant| timeline::ms(t.micros().saturating_sub(t0.micros()));
    let phase_frames = net.tap.capture.phase_frames();
    let mut phases: Vec<Phase> = lab
        .client
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let end_ms = p.end.map(rel);
            let frames = phase_frames.get(i).copied().flatten();
            Phase {
                id: p.id.to_string(),
                label: p.label.clone(),
                start_ms: rel(p.start),
                end_ms,
                rtts: end_ms.and_then(|end| timeline::rtts(end - rel(p.start), rtt_ms)),
                first_frame: frames.map(|f| f.0),
                last_frame: frames.map(|f| f.1),
            }
        })
        .collect();
    if kernel_client {
        // No script marks a real program's phases: read them off its packets.
        let first = net.tap.capture.packets().next().map_or(t0, |f| f.at);
        let shift = timeline::ms(first.micros()) - timeline::ms(t0.micros());
        let client_addr = plan.hosts[plan.client].addr;
        let mut derived = timeline::from_capture::phases(&net.tap.capture, client_addr, rtt_ms);
        for p in &mut derived {
            p.start_ms += shift;
            p.end_ms = p.end_ms.map(|e| e + shift);
        }
        derived.append(&mut phases);
        phases = derived;
    }
    let mut metrics: BTreeMap<String, f64> = lab.client.metrics.clone();
    if !rounds.list.is_empty() {
        metrics.insert("rounds".into(), rounds.list.len() as f64);
        metrics.insert("round1_segments".into(), f64::from(rounds.list[0].segments));
        metrics.insert("round1_bytes".into(), rounds.list[0].bytes as f64);
        let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
        let retx = timeline::rounds::retransmitted_segments(&net.tap.capture, server, client);
        metrics.insert("retransmissions".into(), f64::from(retx));
    }
    if plan.rounds {
        for (i, r) in rounds.list.iter().enumerate() {
            let next = rounds.list.get(i + 1);
            let end_ms = next.map_or(rounds.end_ms, |n| n.start_ms);
            let last_frame = next.map_or(rounds.last_frame, |n| n.first_frame - 1);
            let (start, end) = (r.start_ms - timeline::ms(t0.micros()), end_ms - timeline::ms(t0.micros()));
            phases.push(Phase {
                id: format!("slow_start_round_{}", r.round),
                label: format!("slow start round {}: {} segments, {} bytes", r.round, r.segments, r.bytes),
                start_ms: start,
                end_ms: Some(end),
                rtts: timeline::rtts(end - start, rtt_ms),
                first_frame: Some(r.first_frame),
                last_frame: Some(last_frame),
            });
        }
    }
    let rounds_rel: Vec<timeline::rounds::Round> = rounds
        .list
        .into_iter()
        .map(|mut r| {
            r.start_ms -= timeline::ms(t0.micros());
            r
        })
        .collect();
    if let Some(end) = lab.client.end {
        let total = rel(end);
        metrics.insert("total_ms".into(), total);
        if let Some(r) = timeline::rtts(total, rtt_ms) {
            metrics.insert("total_rtts".into(), r);
        }
    }
    if let Some(pool) = &lab.client.pool {
        pool_metrics(pool, plan, &net, &mut metrics);
    }
    let streams = match &lab.client.page {
        Some(page) => page_streams(page, plan, &net, &lab.http, t0),
        None => Vec::new(),
    };
    if !streams.is_empty() {
        let stalled = streams.iter().filter(|s| s.stall_ms > 0.0).count();
        metrics.insert("streams_stalled".into(), stalled as f64);
        metrics.insert("max_stall_ms".into(), streams.iter().map(|s| s.stall_ms).fold(0.0, f64::max));
        if let Some(ms) = phases.iter().find(|p| p.id == "page_load").and_then(|p| p.duration_ms()) {
            metrics.insert("page_load_ms".into(), ms);
        }
    }
    metrics.insert("frames".into(), net.tap.capture.frames() as f64);
    metrics.insert("dropped".into(), net.dropped() as f64);

    let mut scenario = timeline::Scenario {
        name: plan.name.clone(),
        title: plan.title.clone(),
        params: plan.param_sources.clone(),
        capture: format!("{}-{}.pcapng", plan.lab, plan.name),
        congestion: match h3_window {
            Some(w) => format!("QUIC: quinn's NewReno, initial window {w} bytes, paced, 1472-byte UDP payloads"),
            None if plan.kernel.contains(&plan.client) => {
                format!("client TCP: the Linux kernel's own ({}); server: {}", kernel_default_cc(), plan.tcp.describe())
            }
            None if plan.kernel.contains(&plan.server) => kernel_tcp(plan),
            None => plan.tcp.describe(),
        },
        link: netem_words(plan.link(plan.client, plan.server)),
        phases,
        metrics,
        rounds: rounds_rel,
        streams,
        note: plan.note.clone(),
        expectations: Vec::new(),
        error,
        warnings: net.unmatched_drops(),
    };
    scenario.expectations = plan.checks.iter().map(|c| checks::evaluate(c, &scenario, plan, clock, rtt_ms)).collect();
    let ladder = plan.pictures.then(|| pictures::ladder(plan, &net, &scenario.phases, t0, rtt_ms));
    let time_seq =
        (plan.pictures && !scenario.rounds.is_empty()).then(|| pictures::time_sequence(plan, &net, t0)).flatten();
    let streams =
        lab.client.page.as_ref().filter(|_| plan.pictures).map(|p| pictures::streams(p, plan, &net, &lab.http, t0));
    let end = lab.client.end.or_else(|| net.tap.capture.packets().last().map(|f| f.at)).unwrap_or(t0);
    let connections =
        lab.client.pool.as_ref().filter(|_| plan.pictures).map(|p| pictures::connections(plan, &net, p, t0, end));
    let other_captures =
        net.other_taps.iter_mut().map(|t| (plan.hosts[t.host].name.clone(), std::mem::take(&mut t.capture))).collect();
    let capture = std::mem::take(&mut net.tap.capture);
    Ok(ScenarioOutput { timeline: scenario, capture, other_captures, key_log, ladder, time_seq, streams, connections })
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

/// Per object of a page: completion time, and the longest wait of its bytes behind a hole
/// (TCP: from the capture and the server's record of which bytes carried which object or
/// HTTP/2 stream; QUIC: from the stream chunks as the client received them).
fn page_streams(
    page: &page::Page,
    plan: &ScenarioPlan,
    net: &Network,
    http: &HttpServer,
    t0: Instant,
) -> Vec<timeline::StreamStat> {
    let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
    let tcp = timeline::hol::tcp_deliveries(&net.tap.capture, client, server);
    let ranges = http.tagged_ranges();
    let ms = |d: std::time::Duration| d.as_micros() as f64 / 1000.0;
    page.objects
        .iter()
        .enumerate()
        .map(|(k, o)| {
            let (carried_by, stall) = match page.protocol() {
                Protocol::H3 => {
                    let stream = o.stream.unwrap_or(u64::MAX);
                    let wait = page.quic_reassembly().and_then(|r| r.get(&stream)).map(|r| r.max_wait(0, u64::MAX));
                    (format!("QUIC stream {stream}"), wait.unwrap_or_default())
                }
                proto => {
                    let port = o.port.unwrap_or(0);
                    let tag = if proto == Protocol::H2 { o.stream.unwrap_or(u64::MAX) } else { k as u64 };
                    let wait = ranges
                        .iter()
                        .filter(|(p, r)| *p == port && r.tag == tag)
                        .filter_map(|(_, r)| tcp.get(&port).map(|d| d.max_wait(r.start, r.end)))
                        .max()
                        .unwrap_or_default();
                    let by = match proto {
                        Protocol::H2 => format!("HTTP/2 stream {tag}"),
                        _ => format!("TCP connection from port {port}"),
                    };
                    (by, wait)
                }
            };
            timeline::StreamStat {
                id: k as u64,
                carried_by,
                bytes: o.bytes,
                complete_ms: o.completed.map(|c| timeline::ms(c.micros().saturating_sub(t0.micros()))),
                stall_ms: ms(stall),
            }
        })
        .collect()
}

/// Names, in the packet comments of a TCP page, the segments whose data waited behind a hole
/// (how long, and for which objects or HTTP/2 streams) and the segment that filled it.
fn comment_holes(page: &page::Page, plan: &ScenarioPlan, net: &mut Network, http: &HttpServer) {
    let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
    if page.protocol() == Protocol::H3 {
        comment_quic_gaps(page, net, server);
        return;
    }
    let (tcp, frames) = timeline::hol::tcp_deliveries_with_frames(&net.tap.capture, client, server);
    let ranges = http.tagged_ranges();
    let by_stream: std::collections::HashMap<u64, usize> =
        page.objects.iter().enumerate().filter_map(|(k, o)| Some((o.stream?, k))).collect();
    let name = |tag: u64| match page.protocol() {
        Protocol::H2 => format!("HTTP/2 stream {tag} (object {})", by_stream.get(&tag).map_or(-1, |k| *k as i64)),
        _ => format!("object {tag}"),
    };
    let capture = &mut net.tap.capture;
    for (&port, r) in &tcp {
        for t in r.timings.iter().filter(|t| t.delivered > t.arrived) {
            let Some(&frame) = frames.get(&(port, t.start)) else { continue };
            let mut tags: Vec<u64> = ranges
                .iter()
                .filter(|(p, g)| *p == port && g.start < t.end && g.end > t.start)
                .map(|(_, g)| g.tag)
                .collect();
            tags.dedup();
            let whose = tags.into_iter().map(name).collect::<Vec<_>>().join(", ");
            let ms = t.wait().as_micros() as f64 / 1000.0;
            capture.add_note(frame, Note::After(format!(" [held behind a hole for {ms:.1} ms: {whose}]")));
        }
        for &(start, _, released, _) in &r.fillers {
            if let Some(&frame) = frames.get(&(port, start)) {
                capture
                    .add_note(frame, Note::After(format!(" [fills the hole: releases {released} waiting segments]")));
            }
        }
    }
}

/// QUIC's version of [`comment_holes`]. The packets are encrypted, but the client knows which
/// datagram (in the order it received them) carried each chunk of stream data: the datagrams
/// whose data waited behind a gap in its own stream are named, with the stream, and so is the
/// datagram that filled the gap.
fn comment_quic_gaps(page: &page::Page, net: &mut Network, server: std::net::Ipv4Addr) {
    let Some(streams) = page.quic_reassembly() else { return };
    let mut notes: BTreeMap<u64, String> = BTreeMap::new();
    for (stream, r) in streams {
        for t in r.timings.iter().filter(|t| t.delivered > t.arrived) {
            if let Some(d) = page.quic_datagram_of(*stream, t.start) {
                let ms = t.wait().as_micros() as f64 / 1000.0;
                notes.insert(
                    d,
                    format!(" [held behind a gap in QUIC stream {stream} for {ms:.1} ms; other streams not held]"),
                );
            }
        }
        for &(start, _, released, _) in &r.fillers {
            if let Some(d) = page.quic_datagram_of(*stream, start) {
                notes
                    .insert(d, format!(" [fills the gap in QUIC stream {stream}: releases {released} waiting chunks]"));
            }
        }
    }
    if notes.is_empty() {
        return;
    }
    // The n-th server datagram the client received is the n-th one from the server in its capture
    // (the capture holds only what the client received).
    let frames: Vec<u64> = net
        .tap
        .capture
        .packets()
        .filter(|f| {
            packet::summarize(f.bytes).is_some_and(|s| s.src == server && matches!(s.transport, Transport::Udp { .. }))
        })
        .map(|f| f.number)
        .collect();
    for (d, note) in notes {
        if let Some(&frame) = d.checked_sub(1).and_then(|i| frames.get(i as usize)) {
            net.tap.capture.add_note(frame, Note::After(note));
        }
    }
}

/// The keepalive lab's figures: churn, handshake time, latency, retries, keepalive bytes.
fn pool_metrics(pool: &pool::Pool, plan: &ScenarioPlan, net: &Network, m: &mut BTreeMap<String, f64>) {
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

/// Rounds of the scenario's first measured response, and where that response ended.
struct Rounds {
    list: Vec<timeline::rounds::Round>,
    end_ms: f64,
    last_frame: u64,
}

/// Measures the slow-start rounds of the first response of the scenario (not the warm-up)
/// and, when the lab asks for round phases, labels each packet with its round.
fn slow_start_rounds(plan: &ScenarioPlan, phases: &[client::PhaseRecord], net: &mut Network) -> Rounds {
    let none = Rounds { list: Vec::new(), end_ms: 0.0, last_frame: 0 };
    let Some(resp) = phases.iter().position(|p| p.id == "http_response") else { return none };
    let (from, to) = (phases[resp].start, phases[resp].end.unwrap_or(phases[resp].start));
    let (server, client) = (plan.hosts[plan.server].addr, plan.hosts[plan.client].addr);
    let iw = plan.tcp.initial_window_bytes();
    let list = timeline::rounds::measure(&net.tap.capture, server, client, from, to, plan.rtt(), iw);
    let last_frame = net.tap.capture.phase_frames().get(resp).copied().flatten().map_or(0, |f| f.1);
    if plan.rounds && !list.is_empty() {
        let label = &phases[resp].label;
        let first = list[0].first_frame;
        let rounds: Vec<(u64, u32)> = list.iter().map(|r| (r.first_frame, r.round)).collect();
        let in_response: Vec<u64> = net
            .tap
            .capture
            .packets()
            .filter(|f| f.number >= first && f.number <= last_frame && f.label == label.as_str())
            .map(|f| f.number)
            .collect();
        for frame in in_response {
            if let Some(&(_, round)) = rounds.iter().rev().find(|(first, _)| frame >= *first) {
                net.tap.capture.add_note(frame, Note::Label(format!(", slow start round {round}")));
            }
        }
    }
    Rounds { list, end_ms: timeline::ms(to.micros()), last_frame }
}

/// A link config in tc-netem's words, e.g. `delay 75ms loss 1%`.
pub fn netem_words(c: &LinkConfig) -> String {
    use crate::link::LossModel;
    let mut w = vec![format!("delay {:?}", c.delay)];
    if !c.jitter.is_zero() {
        w.push(format!("{:?}", c.jitter));
    }
    match c.loss {
        LossModel::None => {}
        LossModel::Bernoulli { p } => w.push(format!("loss {}%", p * 100.0)),
        LossModel::GilbertElliott { p, r, h, k } => {
            w.push(format!("loss gemodel {}% {}% {}% {}%", p * 100.0, r * 100.0, (1.0 - h) * 100.0, (1.0 - k) * 100.0))
        }
    }
    if c.duplicate > 0.0 {
        w.push(format!("duplicate {}%", c.duplicate * 100.0));
    }
    if c.reorder > 0.0 {
        w.push(format!("reorder {}%", c.reorder * 100.0));
    }
    if let Some(r) = c.rate_bps {
        w.push(format!("rate {r}bit limit {}", c.limit));
    }
    if let Some(m) = c.mtu {
        w.push(format!("mtu {m}"));
    }
    w.join(" ")
}
