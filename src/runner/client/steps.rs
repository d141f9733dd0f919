//! What each kind of step does at the client: how it starts, and when it is done. The client
//! itself (`super`) runs the steps in order and measures their phases; here a `connect` opens
//! the connection, a `tls` step starts the handshake on it (with 0-RTT early data, RFC 8446
//! §2.3), a `request` sends on it, and the programs (`page`, `bursts`, `workload`, `clients`,
//! `exec`) are created, then watched until they finish.

use std::net::SocketAddrV4;

use smoltcp::socket::tcp::State;

use super::{Client, PhaseRecord};
use crate::proto::dns::Lookup;
use crate::proto::http1;
use crate::proto::http_client::{take_port, ConnEvent, HttpConn, TlsSetup};
use crate::proto::tls::LabTls;
use crate::script::plan::ScenarioPlan;
use crate::script::steps::Step;
use crate::sim::network::Network;
use crate::time::Instant;

impl Client {
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

    /// Starts `step` (`warm`: a step of the warm-up).
    pub(super) fn start(
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
                self.exec = Some(crate::runner::exec::Running::spawn(ns, command, plan.exec_stdio, now)?);
            }
            Step::Page(spec) => {
                let addr = self.address_of(&spec.to, plan)?;
                self.page = Some(crate::runner::page::Page::new(spec.clone(), addr, self.host, plan.tcp, self.seed));
            }
            Step::Bursts(spec) => {
                let addr = self.address_of(&spec.to, plan)?;
                self.pool =
                    Some(crate::runner::pool::Pool::new(spec.clone(), addr, self.host, plan.tcp, self.seed, now));
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

    /// Whether `step` is done at `now`; an error fails the scenario.
    pub(super) fn done(&mut self, step: &Step, now: Instant, net: &mut Network) -> Result<bool, String> {
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
