//! Build: from a scenario's plan and a seed, the world it runs in.
//!
//! The world is the network (hosts, one link per direction of each pair, taps) and what runs
//! on its hosts, composed as one [`Application`]: the TLS worlds, a list of servers, and the
//! scripted client. Nothing here runs anything or reads a clock; [`super::drive`] moves time.
//!
//! The servers are entries of a list (each a [`Server`]: `poll` and `next_timer`), polled in
//! list order before the client: a new kind of server (an HTTP service on any host, a gateway)
//! is a new entry, not a new branch of the runner. The server role is one of them: its
//! services are built as one [`crate::service::HttpService`], the lab's server, at the place in
//! the list (after DNS, before the hosts' own services) the captures were made with.

use crate::backend::realtime::netns;
use crate::capture::DEFAULT_EPOCH_UNIX_MICROS;
use crate::host::Host;
use crate::proto::dns::{Answer, DnsServer, Role as DnsRole, StubResolver};
use crate::proto::tls::{LabTls, TlsClock};
use crate::rng;
use crate::script::plan::{HostPlan, ScenarioPlan};
use crate::script::steps::{Protocol, Step};
use crate::service::tls::ServiceTls;
use crate::service::{DnsHandler, Handler, LabServer, ServiceSpec};
use crate::sim::app::Application;
use crate::sim::network::{Mutator, Network};
use crate::time::Instant;
use std::sync::Arc;

use super::client::Client;
use super::servers::{DnsService, Server};

/// Everything that runs on the hosts, as the one [`Application`] the backends drive.
pub struct Programs<'p> {
    pub plan: &'p ScenarioPlan,
    /// TLS over TCP, for the lab's server (`role = "server"`, its HTTPS on port 443) and the
    /// client (one world: its key log has both ends).
    pub tls: LabTls,
    /// TLS for QUIC (ALPN h3) and the HTTP/3 server, when the scenario fetches over HTTP/3.
    pub quic_tls: Option<LabTls>,
    /// TLS for the hosts' own HTTPS services (`[[host.service]]`), one world per host: the
    /// services, the gateways calling them and the client's workload take theirs from it.
    pub service_tls: Arc<ServiceTls>,
    /// Polled in this order, before the client.
    pub servers: Vec<Box<dyn Server>>,
    pub client: Client,
    /// The scenario's scheduled events.
    pub schedule: super::events::Schedule,
}

impl Application for Programs<'_> {
    fn poll(&mut self, now: Instant, net: &mut Network) {
        self.tls.clock().set_unix_micros(DEFAULT_EPOCH_UNIX_MICROS + now.micros());
        self.schedule.apply(now, self.client.t0, &self.client.step_started, net, &mut self.servers);
        for server in &mut self.servers {
            if let Err(e) = server.poll(now, net, &self.tls) {
                self.client.error.get_or_insert(e);
            }
        }
        self.client.services_warm = self.servers.iter().all(|s| s.warmed());
        self.client.poll(now, net, self.plan, &self.tls, self.quic_tls.as_ref());
        // An event due at the instant the client set time 0 fires now, not a round later.
        self.schedule.apply(now, self.client.t0, &self.client.step_started, net, &mut self.servers);
    }

    fn next_timer(&self, now: Instant) -> Option<Instant> {
        let servers = self.servers.iter().filter_map(|s| s.next_timer());
        let event = self.schedule.next_due(self.client.t0, &self.client.step_started);
        self.client.next_timer().into_iter().chain(servers).chain(event).filter(|&t| t > now).min()
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

/// A scenario's world, ready to run from time zero.
pub struct World<'p> {
    pub plan: &'p ScenarioPlan,
    pub net: Network,
    pub programs: Programs<'p>,
    /// QUIC's initial window in bytes, when a page step fetches over HTTP/3.
    pub quic_window: Option<u64>,
}

impl<'p> World<'p> {
    /// Builds the world of `plan` with `seed` (every random choice in it derives from the seed,
    /// by name). `mutator` changes packets in flight (the whole-network fuzz target).
    ///
    /// The order things are made in is part of the result: sockets are added to their hosts'
    /// sets in this order, and smoltcp sends from them in that order.
    pub fn build(plan: &'p ScenarioPlan, seed: u64, mutator: Option<Mutator>) -> anyhow::Result<Self> {
        let mut net = network(plan, seed);
        net.mutator = mutator;
        let tls_clock = TlsClock::at_unix_micros(DEFAULT_EPOCH_UNIX_MICROS);
        // The server offers HTTP/2 (ALPN h2, RFC 9113 §3.2) where the scenario's own client
        // speaks it; otherwise HTTP/1.1 only, so that a real client (a kernel host's curl)
        // speaks HTTP/1.1 as well: the phases read off a kernel client's packets cannot see
        // HTTP/2's frames inside TLS, and its SETTINGS acknowledgement would look like a new
        // request.
        let h2 =
            plan.warmup.iter().chain(&plan.steps).any(|s| matches!(s, Step::Page(p) if p.protocol == Protocol::H2));
        let alpn: &[&[u8]] = if h2 { &[b"h2", b"http/1.1"] } else { &[b"http/1.1"] };
        let tls = LabTls::new(seed, &server_name(plan), tls_clock.clone())?.with_server_alpn(alpn);
        // HTTP/3 gets its own TLS world (ALPN h3) and an HTTP/3 service on UDP 443 of the
        // server, polled last.
        let quic_window = plan.warmup.iter().chain(&plan.steps).find_map(|s| match s {
            Step::Page(p) if p.protocol == Protocol::H3 => Some(p.quic_initial_window),
            _ => None,
        });
        let quic_tls = match quic_window {
            Some(_) => {
                Some(LabTls::new(rng::derive(seed, "quic"), &server_name(plan), tls_clock.clone())?.with_alpn(&[b"h3"]))
            }
            None => None,
        };
        // The server role's services (`bytes` on 80 and 443) as the lab's one server, in the
        // client's own TLS world.
        let lab = plan.hosts.iter().enumerate().find_map(|(h, host)| host.lab_server.map(|l| (h, l)));
        let lab = match lab {
            Some((h, l)) => Some(
                crate::service::HttpService::lab_server(&mut net, h, &l, plan.tcp, &tls.server())
                    .map_err(|e| anyhow::anyhow!("{}: {e}", plan.hosts[h].name))?,
            ),
            None => None,
        };
        let (dns, stub) = dns(plan, seed, &mut net);
        let names = tls_names(plan);
        let names = names.iter().map(|(i, n)| (*i, n.iter().map(String::as_str).collect()));
        let service_tls = Arc::new(ServiceTls::with_names(seed, names, &tls_clock)?);
        let mut client = client(plan, seed, stub, &mut net);
        client.service_tls = service_tls.clone();
        let quic = match (&quic_tls, quic_window) {
            (Some(t), Some(w)) => Some(
                crate::service::HttpService::lab_h3(
                    &mut net,
                    plan.server,
                    t,
                    rng::derive(seed, "quic:server"),
                    w,
                    plan.tcp,
                )
                .map_err(|e| anyhow::anyhow!(e))?,
            ),
            _ => None,
        };
        let mut servers = dns;
        if let Some(lab) = lab {
            servers.push(Box::new(lab));
        }
        // Every host's own services ([[host.service]]), in host order.
        for (h, host) in plan.hosts.iter().enumerate() {
            let own = |s: &&ServiceSpec| !is_lab_server(host, s) && (s.is_http() || s.relay().is_some());
            for spec in host.services.iter().filter(own) {
                let rng = rng::stream(seed, &format!("service:{}:{}", host.name, spec.port));
                if let Some(relay) = spec.relay() {
                    let relay = crate::service::relay::Relay::new(&mut net, h, spec.port, relay, plan.tcp, rng);
                    servers.push(Box::new(relay));
                    continue;
                }
                let service = crate::service::HttpService::new(&mut net, h, spec, plan.tcp, &service_tls, rng)
                    .map_err(|e| anyhow::anyhow!("{} port {}: {e}", host.name, spec.port))?;
                servers.push(Box::new(service));
            }
        }
        if let Some(quic) = quic {
            servers.push(Box::new(quic));
        }
        let schedule = super::events::Schedule::new(plan.events.clone());
        let programs = Programs { plan, tls, quic_tls, service_tls, servers, client, schedule };
        Ok(World { plan, net, programs, quic_window })
    }
}

/// The hosts (smoltcp stacks, seeded), a link for each direction of each pair as the plan
/// sets it, and the taps (the client's, and those `--tap` asked for).
fn network(plan: &ScenarioPlan, seed: u64) -> Network {
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
    net.keep_captures(plan.capture, plan.snaplen);
    for &host in &plan.taps {
        net.add_tap(host);
    }
    net.describe_records = plan.pictures;
    net
}

/// The hosts whose services speak TLS, each with the names its certificate carries: its host
/// name, and, when it answers behind a relay under its `[[host]]` name (a replica), that too:
/// the relay's callers ask for that name ([`crate::service::Passthrough`]).
fn tls_names(plan: &ScenarioPlan) -> Vec<(usize, Vec<String>)> {
    let behind: Vec<crate::service::Passthrough> = plan
        .hosts
        .iter()
        .enumerate()
        .flat_map(|(i, h)| h.services.iter().map(move |s| (i, s.port)))
        .filter_map(|(i, port)| crate::script::relay::end_of(&plan.hosts, i, port).and_then(|(_, t)| t))
        .collect();
    let tls_hosts = plan
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.services.iter().any(|s| s.tls.is_some() && !is_lab_server(h, s)));
    tls_hosts
        .map(|(i, h)| {
            let mut names = vec![h.name.clone()];
            for t in behind.iter().filter(|t| t.hosts.contains(&i)) {
                if !names.contains(&t.name) {
                    names.push(t.name.clone());
                }
            }
            (i, names)
        })
        .collect()
}

/// Whether `spec` is one of the services of the lab's server on `host` (built as one, in the
/// scenario's own TLS world).
fn is_lab_server(host: &HostPlan, spec: &ServiceSpec) -> bool {
    host.lab_server.is_some() && LabServer::PORTS.contains(&spec.port) && spec.handler == Handler::Bytes
}

/// The server's DNS name for TLS: the first name in [dns] that points at it, else its host name.
fn server_name(plan: &ScenarioPlan) -> String {
    plan.dns
        .as_ref()
        .and_then(|d| d.names.iter().find(|(_, hosts)| hosts.contains(&plan.server)).map(|(n, _)| n.clone()))
        .unwrap_or_else(|| plan.hosts[plan.server].name.clone())
}

/// The resolver and the authority of the plan's [dns] (the hosts that run those DNS services,
/// by role or `[[host.service]]`), and the client's stub resolver pointed at the resolver (none
/// of them when the lab has no DNS).
fn dns(plan: &ScenarioPlan, seed: u64, net: &mut Network) -> (Vec<Box<dyn Server>>, Option<StubResolver>) {
    let Some(d) = &plan.dns else { return (Vec::new(), None) };
    let ttl = d.ttl;
    let zone = d
        .names
        .iter()
        .map(|(name, hosts)| (name.clone(), Answer { addrs: hosts.iter().map(|&h| plan.hosts[h].addr).collect(), ttl }))
        .collect();
    let resolver = plan.dns_host(DnsHandler::Resolver);
    let authority = plan.dns_host(DnsHandler::Authority);
    let (Some(r), Some(a)) = (resolver, authority) else { return (Vec::new(), None) };
    let upstream = plan.hosts[a].addr;
    let rrng = rng::stream(seed, "dns:resolver");
    let resolver = DnsServer::new(&mut net.hosts[r].sockets, DnsRole::Resolver { upstream, policy: d.resolver }, rrng);
    let arng = rng::stream(seed, "dns:authority");
    let authority = DnsServer::new(&mut net.hosts[a].sockets, DnsRole::Authority { zone }, arng);
    let srng = rng::stream(seed, "dns:stub");
    let stub = StubResolver::new(&mut net.hosts[plan.client].sockets, plan.hosts[r].addr, srng);
    (vec![Box::new(DnsService::new(r, resolver)), Box::new(DnsService::new(a, authority))], Some(stub))
}

/// The scripted client. A kernel client (real time) runs its `exec` steps in its namespace,
/// and its packets are the kernel's: the client's tap names their protocol events from the
/// packets themselves.
fn client(plan: &ScenarioPlan, seed: u64, stub: Option<StubResolver>, net: &mut Network) -> Client {
    let first_port = 49152 + (rng::derive(seed, "client:ports") % 8192) as u16;
    let mut client = Client::new(plan, stub, first_port, seed);
    if plan.kernel.contains(&plan.client) {
        client.exec_ns = Some(netns::name(&plan.client.to_string()));
        net.tap.annotator = Some(Default::default());
    }
    client
}
