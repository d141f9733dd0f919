//! The scripted client: runs a scenario's steps in order and measures each phase.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::socket::tcp::State;

use crate::proto::dns::{Lookup, StubResolver};
use crate::proto::http1;
use crate::proto::http_client::{take_port, ConnEvent, HttpConn, TlsSetup};
use crate::proto::tls::LabTls;
use crate::script::plan::ScenarioPlan;
use crate::script::steps::Step;
use crate::sim::network::Network;
use crate::time::Instant;

/// A phase as it was measured, in absolute virtual time.
#[derive(Clone, Debug)]
pub struct PhaseRecord {
    pub id: &'static str,
    pub label: String,
    pub start: Instant,
    pub end: Option<Instant>,
}

pub struct Client {
    host: usize,
    steps: Vec<(Step, bool)>,
    current: usize,
    started: bool,
    /// The timeline phase the current step measures.
    step_phase: Option<usize>,
    stub: Option<StubResolver>,
    /// The connection of the `connect` step (its packets take the phase bound to its port).
    conn: Option<HttpConn>,
    /// The host name the connection was made to (the requests' `Host`).
    conn_host: String,
    /// Timeline phases of the request in flight: `http_request`, then `http_response`.
    request_phase: Option<usize>,
    response_phase: Option<usize>,
    resolved: BTreeMap<String, Ipv4Addr>,
    next_port: u16,
    idle_until: Option<Instant>,
    /// The connection pool of a `bursts` step (kept after it ends, for its statistics).
    pub pool: Option<super::pool::Pool>,
    /// The page of a `page` step (kept after it ends, for its per-object results).
    pub page: Option<super::page::Page>,
    page_timer: Option<Instant>,
    /// The requests of a `workload` step (kept after it ends, for their records).
    pub workload: Option<crate::service::workload::Workload>,
    /// The programs of a `clients` step (kept after it ends, for their records).
    pub fleet: Option<crate::service::fleet::Fleet>,
    /// Every service's pools are warm: a workload may start.
    pub services_warm: bool,
    /// The TLS worlds of the hosts' HTTPS services (a workload over TLS takes its setup here).
    pub service_tls: std::sync::Arc<crate::service::tls::ServiceTls>,
    seed: u64,
    /// The scenario's time 0: when its first (non-warm-up) step started.
    pub t0: Option<Instant>,
    /// When each step (the warm-up's, then the scenario's) started, once it has.
    pub step_started: Vec<Option<Instant>>,
    pub phases: Vec<PhaseRecord>,
    pub metrics: BTreeMap<String, f64>,
    pub error: Option<String>,
    pub end: Option<Instant>,
    /// The namespace `exec` steps run in (a kernel client, real time only).
    pub exec_ns: Option<String>,
    exec: Option<super::exec::Running>,
}

impl Client {
    pub fn new(plan: &ScenarioPlan, stub: Option<StubResolver>, first_port: u16, seed: u64) -> Self {
        let steps = plan.warmup.iter().map(|s| (s.clone(), true)).chain(plan.steps.iter().map(|s| (s.clone(), false)));
        Client {
            host: plan.client,
            steps: steps.collect(),
            current: 0,
            started: false,
            step_phase: None,
            stub,
            conn: None,
            conn_host: String::new(),
            request_phase: None,
            response_phase: None,
            resolved: BTreeMap::new(),
            next_port: first_port,
            idle_until: None,
            pool: None,
            page: None,
            page_timer: None,
            workload: None,
            fleet: None,
            services_warm: true,
            service_tls: Default::default(),
            seed,
            t0: None,
            step_started: vec![None; plan.warmup.len() + plan.steps.len()],
            phases: Vec::new(),
            metrics: BTreeMap::new(),
            error: None,
            end: None,
            exec_ns: None,
            exec: None,
        }
    }

    pub fn finished(&self) -> bool {
        self.end.is_some() || self.error.is_some()
    }

    /// The step running now, for error messages.
    pub fn current_step(&self) -> Option<(usize, &Step)> {
        self.steps.get(self.current).map(|(s, _)| (self.current + 1, s))
    }

    /// "step 2 of the warm-up (TCP handshake ...)" or "step 2 (…)", for error messages.
    pub fn current_step_name(&self) -> String {
        let warm = self.steps.iter().take_while(|(_, w)| *w).count();
        match self.steps.get(self.current) {
            Some((s, true)) => format!("step {} of the warm-up ({})", self.current + 1, s.describe()),
            Some((s, false)) => format!("step {} ({})", self.current + 1 - warm, s.describe()),
            None => "the end of the script".to_string(),
        }
    }

    pub fn next_timer(&self) -> Option<Instant> {
        let dns = self.stub.as_ref().and_then(|s| s.next_timer());
        let pool = self.pool.as_ref().filter(|p| !p.finished()).and_then(|p| p.next_timer());
        let page = self.page_timer;
        let exec = self.exec.as_ref().map(|e| e.next_check);
        let workload = self.workload.as_ref().filter(|w| !w.finished()).and_then(|w| w.next_timer());
        let fleet = self.fleet.as_ref().filter(|f| !f.finished()).and_then(|f| f.next_timer());
        [self.idle_until, dns, pool, page, exec, workload, fleet].into_iter().flatten().min()
    }

    /// Runs the script as far as it can go at `now`.
    pub fn poll(
        &mut self,
        now: Instant,
        net: &mut Network,
        plan: &ScenarioPlan,
        tls: &LabTls,
        quic_tls: Option<&LabTls>,
    ) {
        for _ in 0..1000 {
            self.pump(now, net);
            let on_page = matches!(self.steps.get(self.current), Some((Step::Page(_), _)));
            if let Some(page) = self.page.as_mut().filter(|_| on_page) {
                if let Err(e) = page.poll(now, net, tls, quic_tls, &mut self.next_port) {
                    self.error = Some(e);
                }
                net.flush(self.host, now);
                self.page_timer = page.next_timer();
            }
            if let Some(pool) =
                self.pool.as_mut().filter(|_| matches!(self.steps.get(self.current), Some((Step::Bursts(_), _))))
            {
                if let Err(e) = pool.poll(now, net, tls, &mut self.next_port) {
                    self.error = Some(e);
                }
            }
            if let Some((Step::Workload(spec), _)) = self.steps.get(self.current) {
                let label = Step::Workload(spec.clone()).describe();
                if let Some(w) = self.workload.as_mut() {
                    // The phase, and the scenario's time 0, start with the first request,
                    // once every pool on the way is warm.
                    if w.started().is_none() && w.warmed() && self.services_warm {
                        w.start(now);
                        self.step_phase = self.open_phase(now, net, "workload", &label);
                    }
                    let result = self.workload.as_mut().map(|w| w.poll(now, net));
                    if let Some(Err(e)) = result {
                        self.error = Some(e);
                    }
                }
            }
            if let Some(f) = self.fleet.as_mut().filter(|f| !f.finished()) {
                if let Err(e) = f.poll(now, net) {
                    self.error = Some(e);
                }
            }
            if self.finished() {
                return;
            }
            let progressed = match self.advance(now, net, plan, tls) {
                Ok(p) => p,
                Err(e) => {
                    let (n, step) = self.current_step().map(|(n, s)| (n, s.describe())).unwrap_or_default();
                    self.error = Some(format!("step {n} ({step}): {e}"));
                    return;
                }
            };
            self.pump(now, net);
            net.flush(self.host, now);
            if !progressed {
                return;
            }
        }
    }

    /// Moves bytes on the connection and notes when the response starts and ends.
    fn pump(&mut self, now: Instant, net: &mut Network) {
        let Some(conn) = &mut self.conn else { return };
        conn.pump(&mut net.hosts[self.host].sockets);
        if let Some(e) = conn.take_error() {
            self.error = Some(e);
            return;
        }
        let Some(read) = conn.read_response(now) else { return };
        if let Some(e) = read.error {
            self.error = Some(e);
        }
        if read.first_byte {
            let request_phase = self.request_phase.take();
            let port = conn.port();
            self.close_phase(request_phase, now);
            // The server's data that came before the client read it is the response's, not the
            // request's. (A NewSessionTicket among it is TLS's own: naming the records when the
            // capture ends moves it back, see `Capture::name_tls`.)
            let early = net.take_peer_data(port);
            self.response_phase = self.open_phase(now, net, "http_response", "HTTP response");
            net.relabel_to_current(&early);
        }
    }

    /// Starts timeline phase `id` and labels the packets that follow with it, on the current
    /// connection (a `connect` step binds its new connection itself); in the warm-up, only
    /// labels them. Returns the phase's index.
    fn open_phase(&mut self, now: Instant, net: &mut Network, id: &'static str, label: &str) -> Option<usize> {
        let index = if self.steps.get(self.current).is_some_and(|(_, warm)| *warm) {
            net.label = format!("warm-up: {label}");
            net.phase = None;
            None
        } else {
            self.t0.get_or_insert(now);
            self.phases.push(PhaseRecord { id, label: label.to_string(), start: now, end: None });
            net.phase = Some(self.phases.len() - 1);
            net.label = label.to_string();
            net.phase
        };
        let on_the_connection = matches!(id, "tls_handshake" | "http_request" | "http_response" | "idle" | "close");
        if let (Some(c), true) = (&self.conn, on_the_connection) {
            net.bind(c.port());
        }
        index
    }

    fn close_phase(&mut self, index: Option<usize>, now: Instant) {
        if let Some(p) = index.and_then(|i| self.phases.get_mut(i)) {
            p.end.get_or_insert(now);
        }
    }

    /// Starts the current step, or finishes it if its condition holds. Returns whether anything changed.
    fn advance(&mut self, now: Instant, net: &mut Network, plan: &ScenarioPlan, tls: &LabTls) -> Result<bool, String> {
        let Some((step, warm)) = self.steps.get(self.current).cloned() else {
            self.end = Some(now);
            return Ok(true);
        };
        if !self.started {
            self.started = true;
            if let Some(s) = self.step_started.get_mut(self.current) {
                s.get_or_insert(now);
            }
            // A workload's phase opens with its first request (see `poll`).
            let early_request = matches!(step, Step::Workload(_))
                || matches!(step, Step::Request { .. }) && self.conn.as_ref().is_some_and(HttpConn::in_flight);
            self.step_phase =
                if early_request { None } else { self.open_phase(now, net, step.phase_id(), &step.describe()) };
            self.start(&step, warm, now, net, plan, tls)?;
            return Ok(true);
        }
        if !self.done(&step, now, net)? {
            return Ok(false);
        }
        let phase = self.step_phase.take();
        self.close_phase(phase, now);
        self.current += 1;
        self.started = false;
        Ok(true)
    }

    /// The address of `to`: resolved by an earlier dns step, or a host's own name.
    fn address_of(&self, to: &str, plan: &ScenarioPlan) -> Result<std::net::Ipv4Addr, String> {
        match self.resolved.get(&to.to_ascii_lowercase()) {
            Some(a) => Ok(*a),
            None => match plan.hosts.iter().find(|h| h.name == *to) {
                Some(h) => Ok(h.addr),
                None => Err(format!("`{to}` has not been resolved (add a dns step before it)")),
            },
        }
    }

    fn start(
        &mut self,
        step: &Step,
        warm: bool,
        now: Instant,
        net: &mut Network,
        plan: &ScenarioPlan,
        tls: &LabTls,
    ) -> Result<(), String> {
        let host = &mut net.hosts[self.host];
        match step {
            Step::Dns { name } => {
                let stub = self.stub.as_mut().ok_or("no resolver in this lab")?;
                if let Lookup::Cached(a) = stub.start(now, name, &mut host.sockets) {
                    self.resolved.insert(name.to_ascii_lowercase(), a.addr());
                    self.metrics.insert("dns_cached".into(), 1.0);
                }
            }
            Step::Connect { to, port } => {
                let addr = self.address_of(to, plan)?;
                let local = take_port(&mut self.next_port);
                let conn = HttpConn::connect(host, &plan.tcp, SocketAddrV4::new(addr, *port), local, None, now)?;
                if let Some(old) = self.conn.replace(conn) {
                    old.remove(&mut host.sockets);
                }
                self.conn_host = to.clone();
                self.request_phase = None;
                self.response_phase = None;
                net.bind(local);
            }
            Step::Tls { version, early_data } => {
                let conn = self.conn.as_mut().ok_or("no open connection (add a connect step first)")?;
                // 0-RTT (RFC 8446 §2.3): the next step's request goes with the ClientHello.
                let early = match (early_data, self.steps.get(self.current + 1)) {
                    (false, _) => None,
                    (true, Some((Step::Request { size }, _))) => Some((*size, http1::request(&self.conn_host, *size))),
                    (true, _) => return Err("a tls step with early_data must be followed by a request step".into()),
                };
                let setup = TlsSetup::new(tls, *version);
                let sent = conn.start_tls(setup, early.as_ref().map(|(_, request)| (&request[..], 0)), now)?;
                if let (true, false, Some((size, _))) = (sent, warm, early) {
                    let label = format!("{} (as 0-RTT early data)", Step::Request { size }.describe());
                    self.phases.push(PhaseRecord { id: "http_request", label, start: now, end: None });
                    self.request_phase = Some(self.phases.len() - 1);
                }
            }
            Step::Request { size } => {
                let conn = self.conn.as_mut().ok_or("no open connection (add a connect step first)")?;
                // Early data the server rejected is sent again after the handshake (RFC 8446 §4.2.10).
                let early = conn.early_data_accepted();
                if !conn.in_flight() || early == Some(false) {
                    conn.send_request(&http1::request(&self.conn_host, *size), 0, now);
                    self.request_phase = self.step_phase;
                }
                if let Some(accepted) = early {
                    self.metrics.insert("zero_rtt_accepted".into(), f64::from(u8::from(accepted)));
                }
            }
            Step::Idle { duration } => self.idle_until = Some(now + *duration),
            Step::Exec { command } => {
                let ns = self.exec_ns.as_deref().ok_or("`exec` steps need a kernel client (real time)")?;
                self.exec = Some(super::exec::Running::spawn(ns, command, plan.exec_stdio, now)?);
            }
            Step::Page(spec) => {
                let addr = self.address_of(&spec.to, plan)?;
                self.page = Some(super::page::Page::new(spec.clone(), addr, self.host, plan.tcp, self.seed));
            }
            Step::Bursts(spec) => {
                let addr = self.address_of(&spec.to, plan)?;
                self.pool = Some(super::pool::Pool::new(spec.clone(), addr, self.host, plan.tcp, self.seed, now));
            }
            Step::Close => {
                let conn = self.conn.as_mut().ok_or("no open connection to close")?;
                conn.close(&mut host.sockets);
            }
            Step::Clients(spec) => {
                let resolver = plan.dns_host(crate::service::DnsHandler::Resolver).ok_or("no resolver in this lab")?;
                let resolver = &plan.hosts[resolver];
                let rng = crate::rng::stream(self.seed, "clients:dns");
                let lookups = crate::proto::dns::Lookups::new(&mut host.sockets, 5300, resolver.addr, rng);
                let rng = crate::rng::stream(self.seed, "clients");
                let mut fleet = crate::service::fleet::Fleet::new(self.host, spec.clone(), plan.tcp, lookups, rng);
                // The name's answer before any event (for caches that start part-way through
                // their life: see `Fleet::start`).
                let initial = plan.dns.as_ref().and_then(|d| {
                    let hosts = d.names.get(&spec.name)?;
                    Some((hosts.iter().map(|&h| plan.hosts[h].addr).collect(), d.resolver.clamp(d.ttl)))
                });
                fleet.start(now, initial);
                self.fleet = Some(fleet);
            }
            Step::Workload(spec) => {
                use crate::service::{workload, Replica};
                let to = plan
                    .hosts
                    .iter()
                    .position(|h| h.name == spec.to || h.group == spec.to)
                    .ok_or_else(|| format!("no host `{}`", spec.to))?;
                // What answers there: its service, or the one behind a relay (whose HTTP the
                // workload speaks, and whose TLS it verifies, end to end).
                let end = crate::script::relay::end_of(&plan.hosts, to, spec.port);
                let to = Replica {
                    host: to,
                    addr: SocketAddrV4::new(plan.hosts[to].addr, spec.port),
                    name: plan.hosts[to].name.clone(),
                    http: end.as_ref().map(|(s, _)| s.http).unwrap_or_default(),
                    through: end.and_then(|(_, through)| through),
                };
                let tls = match spec.tls {
                    Some(v) => Some(
                        self.service_tls
                            .client_for(&to, v)
                            .ok_or_else(|| format!("`{}` serves no TLS on port {}", to.name, spec.port))?,
                    ),
                    None => None,
                };
                let w = workload::WorkloadSpec { to, requests: spec.requests, arrival: spec.arrival, pool: spec.pool };
                let rng = crate::rng::stream(self.seed, "workload");
                self.workload = Some(workload::Workload::new(self.host, w, plan.tcp, tls, rng));
            }
        }
        Ok(())
    }

    fn done(&mut self, step: &Step, now: Instant, net: &mut Network) -> Result<bool, String> {
        let host = &mut net.hosts[self.host];
        Ok(match step {
            Step::Dns { name } => {
                let Some(stub) = self.stub.as_mut() else { return Ok(true) };
                if self.resolved.contains_key(&name.to_ascii_lowercase()) {
                    return Ok(true);
                }
                match stub.poll(now, &mut host.sockets) {
                    Lookup::Resolved(a) | Lookup::Cached(a) => {
                        self.resolved.insert(name.to_ascii_lowercase(), a.addr());
                        true
                    }
                    Lookup::NotFound => return Err(format!("{name} does not resolve (NXDOMAIN)")),
                    Lookup::Pending => false,
                }
            }
            Step::Connect { .. } => {
                let conn = self.conn.as_mut().ok_or("connection vanished")?;
                match conn.advance(now, &mut host.sockets)? {
                    Some(ConnEvent::Failed(State::Closed)) => return Err("connection refused (RST)".into()),
                    Some(ConnEvent::Failed(s)) => {
                        return Err(format!("the connection closed in its handshake (TCP {s})"))
                    }
                    event => event == Some(ConnEvent::Ready),
                }
            }
            Step::Tls { .. } => {
                let conn = self.conn.as_mut().ok_or("connection vanished")?;
                match conn.advance(now, &mut host.sockets)? {
                    Some(ConnEvent::Failed(s)) => {
                        return Err(format!("the connection closed during the TLS handshake (TCP {s})"));
                    }
                    Some(ConnEvent::Ready) => {
                        if let Some(resumed) = conn.tls_resumed() {
                            self.metrics.insert("tls_resumed".into(), f64::from(u8::from(resumed)));
                        }
                        true
                    }
                    _ => false,
                }
            }
            Step::Request { .. } => {
                let conn = self.conn.as_mut().ok_or("connection vanished")?;
                let state = conn.tcp_state(&host.sockets);
                let done = conn.response_done();
                if done {
                    let body = conn.take_response().map_or(0, |r| r.body);
                    *self.metrics.entry("response_bytes".into()).or_default() += body as f64;
                    let response_phase = self.response_phase.take();
                    self.close_phase(response_phase, now);
                } else if matches!(state, State::Closed | State::TimeWait | State::CloseWait) {
                    return Err(format!("the server closed the connection before the response ended (TCP {state})"));
                }
                done
            }
            Step::Page(_) => {
                let done = self.page.as_ref().is_none_or(|p| p.finished());
                if done {
                    self.page_timer = None;
                }
                done
            }
            Step::Bursts(_) => {
                let done = self.pool.as_ref().is_none_or(|p| p.finished());
                if done {
                    if let Some(p) = &mut self.pool {
                        p.close_spans(now);
                    }
                }
                done
            }
            Step::Exec { command } => {
                let Some(running) = self.exec.as_mut() else { return Err("the command vanished".into()) };
                match running.poll(now)? {
                    None => false,
                    Some(code) => {
                        // A lab's command that fails fails the scenario; a command at the
                        // terminal (`wirelab shell`) only passes its status on.
                        let scripted = running.stdio == crate::script::plan::ExecStdio::Discard;
                        self.exec = None;
                        self.metrics.insert("exit_code".into(), f64::from(code));
                        if code != 0 && scripted {
                            return Err(format!("`{command}` exited with status {code}"));
                        }
                        true
                    }
                }
            }
            Step::Workload(_) => self.workload.as_ref().is_none_or(|w| w.finished()),
            Step::Clients(_) => self.fleet.as_ref().is_none_or(|f| f.finished()),
            Step::Idle { .. } => {
                let done = self.idle_until.is_some_and(|t| now >= t);
                if done {
                    self.idle_until = None;
                }
                done
            }
            Step::Close => {
                let conn = self.conn.as_ref().ok_or("connection vanished")?;
                let done = matches!(conn.tcp_state(&host.sockets), State::Closed | State::TimeWait);
                if done {
                    // The socket stays in the set through TIME-WAIT, so the last ACK still goes out.
                    self.conn = None;
                }
                done
            }
        })
    }
}
