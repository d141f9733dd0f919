//! The scripted client: runs a scenario's steps in order and measures each phase. What each
//! kind of step does, how it starts and when it is done, is in `client/steps.rs`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::proto::dns::StubResolver;
use crate::proto::http_client::HttpConn;
use crate::proto::tls::LabTls;
use crate::script::plan::ScenarioPlan;
use crate::script::steps::Step;
use crate::sim::network::Network;
use crate::time::Instant;

mod steps;

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
}
