//! An HTTP/1.1 service on one host and port, answering through its [`Handler`].
//!
//! Requests are admitted up to the service's concurrency limit and wait in a FIFO queue
//! beyond it, so load (and the extra load of hedges and retries) shows up as queueing in the
//! tail. A `service` handler holds each request for a service time drawn from its
//! distribution; a `gateway` handler makes its upstream calls (see [`super::gateway`]) and
//! answers when its call policy says so; `bytes` answers `GET /bytes/N` at once. A request
//! whose connection is reset before it is answered (a caller cancelling it) is dropped,
//! queued or not, and frees its place.
//!
//! A tied copy of a call ([`super::tie`]) names its twin: when this service starts it, it sends
//! the twin's service a cancellation over UDP (on the same port number), and when a
//! cancellation arrives for a copy still in its queue, it drops the copy and resets its
//! connection (the gateway waits for the twin).
//!
//! A service with `tls` speaks HTTPS: each accepted connection runs a rustls
//! `ServerConnection` from the host's own TLS world (as the runner's HTTPS server does), and
//! a request is read once the handshake has delivered it (RFC 8446 §2: with TLS 1.3 it comes
//! with the client's Finished, one round trip after the ClientHello). A connection whose TLS
//! fails is reset. Closing sends close_notify before the FIN (RFC 8446 §6.1).

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::net::SocketAddrV4;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rustls::{ServerConfig, ServerConnection};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use super::gateway::Gateway;
use super::tls::ServiceTls;
use super::{Handler, RequestId, Served, ServiceLog, ServiceSpec};
use crate::dist::ServiceTime;
use crate::proto::cwnd::TcpConfig;
use crate::proto::http1;
use crate::proto::stream::{tcp_socket, Stream};
use crate::sim::network::{Expect, Network};
use crate::time::Instant;

/// How long a cancellation is remembered for a tied copy that has not arrived yet.
pub const TIE_MEMORY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the service is doing with a connection's request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Job {
    /// Waiting for a place under the concurrency limit, since `arrived`.
    Queued { arrived: Instant },
    /// Being served, since `started`, until `until`.
    Serving { arrived: Instant, started: Instant, until: Instant },
    /// The gateway's calls for it are running, since `started`.
    Calling { arrived: Instant, started: Instant },
}

struct Conn {
    id: u64,
    /// The caller's address.
    peer: Ipv4Addr,
    stream: Stream,
    job: Option<Job>,
    /// The request's path, for the gateway.
    path: String,
    closing: bool,
}

/// What a handler needs at run time.
enum Runtime {
    Bytes,
    Service { time: ServiceTime, response: u64, rng: Box<ChaCha8Rng> },
    Gateway(Box<Gateway>),
}

/// One HTTP service: a listener, its connections and its handler.
pub struct HttpService {
    pub host: usize,
    port: u16,
    /// The TLS server config, for an HTTPS service.
    tls: Option<Arc<ServerConfig>>,
    tcp: TcpConfig,
    listener: SocketHandle,
    /// UDP on the service's port, for tied copies' cancellations.
    ties: SocketHandle,
    /// Cancellations that came before their copy (request, call, when): the copy is dropped
    /// as it arrives. Kept for [`TIE_MEMORY`].
    early_cancels: VecDeque<(u64, u32, Instant)>,
    conns: Vec<Conn>,
    next_conn: u64,
    runtime: Runtime,
    concurrency: Option<u32>,
    /// Requests being served or calling (under the limit).
    active: u32,
    queue: VecDeque<u64>,
    pub log: ServiceLog,
}

impl HttpService {
    /// The service `spec` on `host`; an HTTPS service's certificate (and a gateway's TLS to
    /// its upstreams) come from `tls`.
    pub fn new(
        net: &mut Network,
        host: usize,
        spec: &ServiceSpec,
        tcp: TcpConfig,
        tls: &ServiceTls,
        rng: ChaCha8Rng,
    ) -> Result<Self, String> {
        let server_tls = match spec.tls {
            Some(v) => {
                Some(tls.server(host, v).ok_or_else(|| format!("no TLS world for the service on port {}", spec.port))?)
            }
            None => None,
        };
        let runtime = match &spec.handler {
            Handler::Bytes => Runtime::Bytes,
            Handler::Service { time, response } => {
                Runtime::Service { time: time.clone(), response: *response, rng: Box::new(rng) }
            }
            Handler::Gateway(g) => Runtime::Gateway(Box::new(Gateway::new(host, g, tcp, tls, rng)?)),
            Handler::Dns(_) => return Err("a DNS service is not an HTTP service".into()),
        };
        let mut socket = tcp_socket(&tcp);
        // A fresh socket in a set we own: listening cannot fail.
        let _ = socket.listen(spec.port);
        let listener = net.hosts[host].sockets.add(socket);
        let buffer = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 64], vec![0; 8 * 1024]);
        let mut ties = udp::Socket::new(buffer(), buffer());
        // A fresh socket set's port: binding cannot fail.
        let _ = ties.bind(spec.port);
        let ties = net.hosts[host].sockets.add(ties);
        Ok(HttpService {
            host,
            port: spec.port,
            tls: server_tls,
            tcp,
            listener,
            ties,
            early_cancels: VecDeque::new(),
            conns: Vec::new(),
            next_conn: 0,
            runtime,
            concurrency: spec.concurrency,
            active: 0,
            queue: VecDeque::new(),
            log: ServiceLog::default(),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it speaks HTTPS.
    pub fn serves_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The gateway's record of its calls, for a gateway service.
    pub fn gateway(&self) -> Option<&Gateway> {
        match &self.runtime {
            Runtime::Gateway(g) => Some(g),
            _ => None,
        }
    }

    /// Its upstream pools are warm (always, for other handlers).
    pub fn warmed(&self) -> bool {
        self.gateway().is_none_or(Gateway::warmed)
    }

    pub fn next_timer(&self) -> Option<Instant> {
        let serving = self.conns.iter().filter_map(|c| match c.job {
            Some(Job::Serving { until, .. }) => Some(until),
            _ => None,
        });
        let gateway = self.gateway().and_then(Gateway::next_timer);
        serving.chain(gateway).min()
    }

    /// Accepts connections, reads requests, serves what is due, answers what is done.
    pub fn poll(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        self.accept(net)?;
        let sockets = &mut net.hosts[self.host].sockets;
        let mut arrived = Vec::new();
        for c in &mut self.conns {
            c.stream.pump(sockets);
            if c.stream.error.take().is_some() {
                // TLS failed (a bad record, a handshake the lab's certificate cannot
                // satisfy): the connection is reset, and its request withdrawn below.
                sockets.get_mut::<tcp::Socket>(c.stream.handle).abort();
            }
            let state = sockets.get::<tcp::Socket>(c.stream.handle).state();
            if c.job.is_some() && !matches!(state, State::Established) {
                // Reset or closed by the caller before the answer: the request is withdrawn.
                if matches!(c.job, Some(Job::Calling { .. } | Job::Serving { .. })) {
                    self.active = self.active.saturating_sub(1);
                }
                if let (Runtime::Gateway(g), Some(Job::Calling { .. })) = (&mut self.runtime, c.job) {
                    g.withdraw(c.id);
                }
                self.queue.retain(|&id| id != c.id);
                c.job = None;
                self.log.cancelled += 1;
            }
            if c.job.is_none() && !c.closing && !c.stream.inbox.is_empty() {
                if let Some(req) =
                    http1::parse_request(&c.stream.inbox).map_err(|e| format!("service got a bad HTTP request: {e}"))?
                {
                    c.stream.inbox.drain(..req.head_len);
                    c.path = req.path;
                    c.job = Some(Job::Queued { arrived: now });
                    self.log.requests += 1;
                    arrived.push(c.id);
                }
            }
        }
        self.queue.extend(arrived);
        self.drop_cancelled_ties(now, net);
        self.admit(now, net)?;
        if let Runtime::Gateway(g) = &mut self.runtime {
            g.poll(now, net)?;
        }
        self.answer(now, net);
        self.reap(now, net);
        Ok(())
    }

    fn accept(&mut self, net: &mut Network) -> Result<(), String> {
        let sockets = &mut net.hosts[self.host].sockets;
        let socket = sockets.get::<tcp::Socket>(self.listener);
        if socket.state() == State::Listen {
            return Ok(());
        }
        let peer = socket.remote_endpoint().map_or(Ipv4Addr::UNSPECIFIED, |e| {
            let IpAddress::Ipv4(a) = e.addr;
            a
        });
        // The listener took a SYN: it becomes the connection; listen again on a new socket.
        let mut stream = Stream::new(self.listener, &self.tcp);
        if let Some(config) = &self.tls {
            let conn = ServerConnection::new(config.clone()).map_err(|e| format!("TLS server setup failed: {e}"))?;
            stream.tls = Some(conn.into());
        }
        self.conns.push(Conn { id: self.next_conn, peer, stream, job: None, path: String::new(), closing: false });
        self.next_conn += 1;
        let mut socket = tcp_socket(&self.tcp);
        let _ = socket.listen(self.port);
        self.listener = sockets.add(socket);
        Ok(())
    }

    /// Starts queued requests while the concurrency limit allows (FIFO).
    fn admit(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        while self.concurrency.is_none_or(|limit| self.active < limit) {
            let Some(id) = self.queue.pop_front() else { break };
            let Some(c) = self.conns.iter_mut().find(|c| c.id == id) else { continue };
            let Some(Job::Queued { arrived }) = c.job else { continue };
            self.log.queue_wait_us.push((now - arrived).as_micros() as u64);
            if let (Some(twin), Some(id)) = (super::tie::twin(&c.path), RequestId::parse(&c.path)) {
                // This copy starts first (as far as this service knows): the twin may drop its own.
                if let Some((k, _)) = id.call {
                    self.log.tied_started.push((id.req, k));
                    let to = IpEndpoint::new(IpAddress::Ipv4(*twin.ip()), twin.port());
                    let why =
                        || format!("tied copy started here: cancels its twin's copy of call {k} of request {}", id.req);
                    net.explain_next(self.host, self.port, twin, Expect::Datagram, why);
                    let udp = net.hosts[self.host].sockets.get_mut::<udp::Socket>(self.ties);
                    let _ = udp.send_slice(&super::tie::cancel_message(id.req, k), to);
                }
            }
            c.job = Some(match &mut self.runtime {
                Runtime::Bytes => Job::Serving { arrived, started: now, until: now },
                Runtime::Service { time, rng, .. } => {
                    Job::Serving { arrived, started: now, until: now + time.sample(rng.as_mut()) }
                }
                Runtime::Gateway(g) => {
                    g.start(c.id, &c.path, now, net)?;
                    Job::Calling { arrived, started: now }
                }
            });
            self.active += 1;
        }
        Ok(())
    }

    /// Reads the twins' cancellations: a copy still queued is dropped and its connection reset;
    /// one already started runs on (the work is done twice: see [`super::tied_both_ran`]); one
    /// not here yet is dropped when it arrives (within [`TIE_MEMORY`]).
    fn drop_cancelled_ties(&mut self, now: Instant, net: &mut Network) {
        let udp = net.hosts[self.host].sockets.get_mut::<udp::Socket>(self.ties);
        while let Ok((bytes, _)) = udp.recv() {
            if let Some((req, k)) = super::tie::parse_cancel(bytes) {
                self.early_cancels.push_back((req, k, now));
            }
        }
        while self.early_cancels.front().is_some_and(|(_, _, at)| *at + TIE_MEMORY < now) {
            self.early_cancels.pop_front();
        }
        let mut i = 0;
        while i < self.early_cancels.len() {
            let (req, k, _) = self.early_cancels[i];
            let same_call = |c: &Conn| {
                RequestId::parse(&c.path).is_some_and(|id| id.req == req && id.call.is_some_and(|(kk, _)| kk == k))
            };
            let Some(c) = self.conns.iter_mut().find(|c| c.job.is_some() && same_call(c)) else {
                i += 1;
                continue;
            };
            self.early_cancels.remove(i);
            if !matches!(c.job, Some(Job::Queued { .. })) {
                // Started already: both copies run (the services' logs tell).
                continue;
            }
            let id = c.id;
            self.queue.retain(|&q| q != id);
            c.job = None;
            self.log.tie_dropped += 1;
            let sockets = &mut net.hosts[self.host].sockets;
            let remote = sockets.get::<tcp::Socket>(c.stream.handle).remote_endpoint();
            if let Some(IpEndpoint { addr: IpAddress::Ipv4(ip), port }) = remote {
                let why = || format!("reset: drops its queued copy of {}: the tied copy started first", c.path);
                net.explain_next(self.host, self.port, SocketAddrV4::new(ip, port), Expect::Reset, why);
            }
            net.hosts[self.host].sockets.get_mut::<tcp::Socket>(c.stream.handle).abort();
        }
    }

    /// Writes the responses that are due (saying, in the captures, which request each answers).
    fn answer(&mut self, now: Instant, net: &mut Network) {
        for c in &mut self.conns {
            let (status, len) = match (&mut self.runtime, c.job) {
                (Runtime::Bytes, Some(Job::Serving { until, .. })) if until <= now => {
                    (200, http1::requested_size(&c.path))
                }
                (Runtime::Service { response, .. }, Some(Job::Serving { until, .. })) if until <= now => {
                    (200, *response)
                }
                (Runtime::Gateway(g), Some(Job::Calling { .. })) => match g.take_answer(c.id) {
                    Some(answer) => answer,
                    None => continue,
                },
                _ => continue,
            };
            let (arrived, started) = match c.job {
                Some(Job::Serving { arrived, started, .. } | Job::Calling { arrived, started }) => (arrived, started),
                Some(Job::Queued { arrived }) => (arrived, now),
                None => (now, now),
            };
            let remote = net.hosts[self.host].sockets.get::<tcp::Socket>(c.stream.handle).remote_endpoint();
            if let Some(smoltcp::wire::IpEndpoint { addr: smoltcp::wire::IpAddress::Ipv4(ip), port }) = remote {
                if net.captured_between(self.host, ip) {
                    let ms = (now - arrived).as_secs_f64() * 1e3;
                    let why = format!("answers GET {} after {ms:.1} ms at {}", c.path, net.hosts[self.host].name);
                    net.explain_next(self.host, self.port, SocketAddrV4::new(ip, port), Expect::Data, || why);
                }
            }
            let sockets = &mut net.hosts[self.host].sockets;
            c.stream.write(&http1::response_head_status(status, len));
            c.stream.write_body(len);
            c.stream.pump(sockets);
            c.job = None;
            self.active = self.active.saturating_sub(1);
            self.log.answered += 1;
            self.log.service_us.push((now - arrived).as_micros() as u64);
            let id = RequestId::parse(&c.path);
            self.log.served.push(Served { from: c.peer, id, arrived, started, answered: now });
        }
    }

    /// Closes what the caller closed; removes closed connections.
    fn reap(&mut self, _now: Instant, net: &mut Network) {
        let sockets = &mut net.hosts[self.host].sockets;
        for c in &mut self.conns {
            let state = sockets.get::<tcp::Socket>(c.stream.handle).state();
            if !c.closing && state == State::CloseWait && c.stream.unsent() == 0 {
                if let Some(tls) = &mut c.stream.tls {
                    tls.send_close_notify();
                }
                c.stream.pump(sockets);
                sockets.get_mut::<tcp::Socket>(c.stream.handle).close();
                c.closing = true;
            }
        }
        self.conns.retain(|c| {
            let socket = sockets.get::<tcp::Socket>(c.stream.handle);
            let done = socket.state() == State::Closed && socket.remote_endpoint().is_none();
            if done {
                sockets.remove(c.stream.handle);
            }
            !done
        });
    }
}
