//! An HTTP service on one host and port (the lab's server: two ports), answering through its
//! [`Handler`].
//!
//! It speaks HTTP/1.1, one request at a time per connection (RFC 9112 §9.3), or HTTP/2
//! ([`HttpVersion::Http2`]): every request a stream of its own (RFC 9113 §5), so a caller's
//! one connection carries all its calls at once, and one answer does not wait for another.
//! Over TLS, HTTP/2 is chosen by ALPN (`h2`, RFC 9113 §3.2); in plain text the caller starts
//! it with prior knowledge (§3.3). An HTTP/3 service ([`HttpVersion::Http3`], RFC 9114) runs
//! QUIC on UDP instead ([`super::h3`]): every request a stream, as with HTTP/2, and nothing
//! listens on TCP.
//!
//! Requests are admitted up to the service's concurrency limit and wait in a FIFO queue
//! beyond it, so load (and the extra load of hedges and retries) shows up as queueing in the
//! tail. A `service` handler holds each request for a service time drawn from its
//! distribution; a `gateway` handler makes its upstream calls (see [`super::gateway`]) and
//! answers when its call policy says so; `bytes` answers `GET /bytes/N` at once. A request
//! whose connection is reset before it is answered, or (HTTP/2) whose stream is (RST_STREAM,
//! RFC 9113 §8.7: the caller cancelled it), is dropped, queued or not, and frees its place.
//!
//! A tied copy of a call ([`super::tie`]) names its twin: when this service starts it, it sends
//! the twin's service a cancellation over UDP (on the same port number), and when a
//! cancellation arrives for a copy still in its queue, it drops the copy and resets its
//! connection, or its stream (the gateway waits for the twin).
//!
//! A service with `tls` speaks HTTPS: each accepted connection runs a rustls
//! `ServerConnection` from the host's own TLS world, and a request is read once the handshake
//! has delivered it (RFC 8446 §2: with TLS 1.3 it comes with the client's Finished, one round
//! trip after the ClientHello; 0-RTT data before it, §2.3). A connection whose TLS fails is
//! reset. Closing sends close_notify before the FIN (RFC 8446 §6.1); data that arrives after
//! the service closed a connection gets a reset (`close`).
//!
//! The `bytes` handler also upgrades `GET /ws` to a WebSocket (`ws`, RFC 6455). The lab's
//! server (`role = "server"`, [`super::LabServer`]) is a `bytes` service listening on two ports
//! at once, with an idle timeout and tagged byte ranges (`lab`).

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use rustls::ServerConfig;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::socket::udp;

use super::gateway::Gateway;
use super::h3::H3Listener;
use super::tls::ServiceTls;
use super::{Handler, HttpVersion, ServiceLog, ServiceSpec};
use crate::dist::ServiceTime;
use crate::proto::cwnd::TcpConfig;
use crate::proto::h2::H2Server;
use crate::proto::http1;
use crate::proto::stream::{tcp_socket, Stream};
use crate::proto::ws::WsEndpoint;
use crate::sim::network::Network;
use crate::time::Instant;

mod answer;
mod close;
mod intake;
mod lab;
mod quic;
#[cfg(test)]
mod tests;
mod ties;
mod ws;

/// How long a cancellation is remembered for a tied copy that has not arrived yet.
pub const TIE_MEMORY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the service is doing with a request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Job {
    /// Waiting for a place under the concurrency limit, since `arrived`.
    Queued { arrived: Instant },
    /// Being served, since `started`, until `until`.
    Serving { arrived: Instant, started: Instant, until: Instant },
    /// The gateway's calls for it are running, since `started`.
    Calling { arrived: Instant, started: Instant },
}

impl Job {
    /// Holds a place under the concurrency limit.
    fn admitted(self) -> bool {
        !matches!(self, Job::Queued { .. })
    }
}

struct Conn {
    id: u64,
    /// The caller's address, and its port.
    peer: Ipv4Addr,
    peer_port: u16,
    /// The port it came in on (one of the service's listeners).
    port: u16,
    stream: Stream,
    /// HTTP/2 on this connection (an HTTP/2 service's every connection, or one whose TLS
    /// picked `h2` by ALPN).
    h2: Option<H2Server>,
    /// A WebSocket, once the caller upgraded the connection (`bytes` handler only).
    ws: Option<WsEndpoint>,
    /// HTTP/1.1: a request is in the service (the next is read after its answer).
    busy: bool,
    closing: bool,
    /// Reset for data that came after the service closed it: removed once closed, without
    /// waiting for the reset to go out (the caller's next segment finds no socket, and the
    /// host's stack answers it with a reset).
    dropped: bool,
    /// When a request last arrived (or the connection was accepted), for the idle timeout.
    last_active: Instant,
}

/// A TCP port the service listens on.
struct Listener {
    port: u16,
    /// The TLS server config, for HTTPS.
    tls: Option<Arc<ServerConfig>>,
    /// The socket listening on it now.
    handle: SocketHandle,
}

/// One request in the service: on connection `conn`, HTTP/2 or HTTP/3 stream `stream` (0 for
/// HTTP/1.1). An HTTP/3 request's `conn` is its QUIC connection's handle (such a service has
/// no TCP connections).
struct Request {
    /// Names it to the gateway: the connection's id for HTTP/1.1 (one request at a time),
    /// a fresh id for each HTTP/2 or HTTP/3 stream.
    key: u64,
    conn: u64,
    stream: u64,
    /// The caller's address.
    peer: Ipv4Addr,
    path: String,
    job: Job,
}

/// What a handler needs at run time.
enum Runtime {
    Bytes,
    Service { time: ServiceTime, response: u64, rng: Box<ChaCha8Rng> },
    Gateway(Box<Gateway>),
}

/// One HTTP service: a listener, its connections, their requests and its handler.
pub struct HttpService {
    pub host: usize,
    /// Its (first) port: the one its ties' UDP socket is bound to.
    port: u16,
    http: HttpVersion,
    tcp: TcpConfig,
    /// Its TCP listeners, accepted from in this order (one, but for the lab's server).
    listeners: Vec<Listener>,
    /// UDP on the service's port, for tied copies' cancellations (an HTTP/3 service's is
    /// unbound: QUIC has the port, and no gateway calls HTTP/3 with ties).
    ties: SocketHandle,
    /// The QUIC listener of an HTTP/3 service (whose TCP listener never listens).
    h3: Option<H3Listener>,
    /// Cancellations that came before their copy (request, call, when): the copy is dropped
    /// as it arrives. Kept for [`TIE_MEMORY`].
    early_cancels: VecDeque<(u64, u32, Instant)>,
    conns: Vec<Conn>,
    requests: Vec<Request>,
    /// Connection ids and HTTP/2 request keys both come from here, so no two are equal.
    next_id: u64,
    runtime: Runtime,
    concurrency: Option<u32>,
    /// Requests being served or calling (under the limit).
    active: u32,
    /// Keys of queued requests, first come first served.
    queue: VecDeque<u64>,
    pub log: ServiceLog,
    /// Set for the lab's server (`role = "server"`, [`LabServer`]).
    lab: Option<lab::Lab>,
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
                let config =
                    tls.server(host, v).ok_or_else(|| format!("no TLS world for the service on port {}", spec.port))?;
                Some(match spec.http {
                    // QUIC's TLS is the listener's own (below).
                    HttpVersion::Http1 | HttpVersion::Http3 => config,
                    HttpVersion::Http2 => {
                        // Offer exactly h2 by ALPN (RFC 9113 §3.2, RFC 7301).
                        let mut c = (*config).clone();
                        c.alpn_protocols = vec![b"h2".to_vec()];
                        Arc::new(c)
                    }
                })
            }
            None => None,
        };
        // The QUIC layer's own seed, drawn without moving `rng` (the service times' stream).
        let quic_seed = crate::rng::derive(rng.clone().next_u64(), "quic:service");
        let runtime = match &spec.handler {
            Handler::Bytes => Runtime::Bytes,
            Handler::Service { time, response } => {
                Runtime::Service { time: time.clone(), response: *response, rng: Box::new(rng) }
            }
            Handler::Gateway(g) => Runtime::Gateway(Box::new(Gateway::new(host, g, tcp, tls, rng)?)),
            Handler::Dns(_) => return Err("a DNS service is not an HTTP service".into()),
            Handler::Relay(_) => return Err("a relay is not an HTTP service (it passes TCP through)".into()),
        };
        let h3 = match spec.http {
            HttpVersion::Http3 => Some(H3Listener::new(net, host, spec.port, tls, quic_seed)?),
            _ => None,
        };
        // HTTP/3 runs on UDP only: its TCP socket never listens, and QUIC has the UDP port.
        let mut socket = tcp_socket(&tcp);
        if h3.is_none() {
            // A fresh socket in a set we own: listening cannot fail.
            let _ = socket.listen(spec.port);
        }
        let handle = net.hosts[host].sockets.add(socket);
        let listeners = match h3 {
            None => vec![Listener { port: spec.port, tls: server_tls, handle }],
            Some(_) => Vec::new(),
        };
        let mut service = Self::with_listeners(net, host, spec, tcp, runtime, listeners, h3.is_none());
        service.h3 = h3;
        Ok(service)
    }

    /// A service for `spec` on `listeners` (sockets already listening), and its UDP socket for
    /// ties, bound to the service's port if `bind_ties`. Sockets are added to the host's set in
    /// this order (the listeners, then the UDP socket): smoltcp sends from them in that order.
    fn with_listeners(
        net: &mut Network,
        host: usize,
        spec: &ServiceSpec,
        tcp: TcpConfig,
        runtime: Runtime,
        listeners: Vec<Listener>,
        bind_ties: bool,
    ) -> Self {
        let buffer = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 64], vec![0; 8 * 1024]);
        let mut ties = udp::Socket::new(buffer(), buffer());
        if bind_ties {
            // A fresh socket set's port: binding cannot fail.
            let _ = ties.bind(spec.port);
        }
        let ties = net.hosts[host].sockets.add(ties);
        HttpService {
            host,
            port: spec.port,
            http: spec.http,
            tcp,
            listeners,
            ties,
            h3: None,
            early_cancels: VecDeque::new(),
            conns: Vec::new(),
            requests: Vec::new(),
            next_id: 0,
            runtime,
            concurrency: spec.concurrency,
            active: 0,
            queue: VecDeque::new(),
            log: ServiceLog::default(),
            lab: None,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it speaks HTTPS.
    pub fn serves_tls(&self) -> bool {
        self.listeners.iter().any(|l| l.tls.is_some())
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
        let serving = self.requests.iter().filter_map(|r| match r.job {
            Job::Serving { until, .. } => Some(until),
            _ => None,
        });
        let gateway = self.gateway().and_then(Gateway::next_timer);
        let quic = self.h3.as_ref().and_then(H3Listener::next_timer);
        serving.chain(gateway).chain(quic).chain(self.idle_deadline()).min()
    }

    /// Accepts connections, reads requests, serves what is due, answers what is done. A caller
    /// that pipelines HTTP/1.1 requests (RFC 9112 §9.3.2) has the next one read as soon as the
    /// one before is answered, in the same instant, not when its next packet comes.
    pub fn poll(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        loop {
            let read = self.log.requests;
            self.poll_once(now, net)?;
            if self.log.requests == read || !self.pipelined() {
                return Ok(());
            }
        }
    }

    /// An HTTP/1.1 connection is free for its next request and holds one whole in its inbox.
    fn pipelined(&self) -> bool {
        self.conns.iter().any(|c| {
            !c.closing
                && !c.busy
                && c.h2.is_none()
                && c.ws.is_none()
                && matches!(http1::parse_request(&c.stream.inbox), Ok(Some(_)))
        })
    }

    fn poll_once(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        self.accept(now, net)?;
        let mut withdrawn: Vec<(u64, Option<u64>)> = Vec::new();
        self.receive_h3(now, net, &mut withdrawn);
        let sockets = &mut net.hosts[self.host].sockets;
        for c in &mut self.conns {
            c.stream.pump(sockets);
            if c.stream.error.take().is_some() {
                // TLS failed (a bad record, a handshake the lab's certificate cannot
                // satisfy): the connection is reset, and its requests withdrawn below.
                sockets.get_mut::<tcp::Socket>(c.stream.handle).abort();
            }
            if c.closing && !c.stream.inbox.is_empty() {
                // Data for a connection the service already closed: like Linux after close(),
                // a reset (RFC 9293 §3.10.7.4, RFC 1122 §4.2.2.13). The stale-reuse race.
                c.stream.inbox.clear();
                sockets.get_mut::<tcp::Socket>(c.stream.handle).abort();
                c.dropped = true;
                self.log.resets += 1;
                continue;
            }
            if !c.stream.inbox.is_empty() {
                c.last_active = now;
            }
            let state = sockets.get::<tcp::Socket>(c.stream.handle).state();
            let has_requests = c.busy || c.h2.as_ref().is_some_and(|h2| h2.waiting() > 0);
            if has_requests && !matches!(state, State::Established) {
                // Reset or closed by the caller before the answer: its requests are withdrawn.
                withdrawn.push((c.id, None));
            }
        }
        for (conn, stream) in withdrawn.drain(..) {
            self.withdraw(conn, stream);
        }
        let sockets = &mut net.hosts[self.host].sockets;
        let (bytes, tag) = (matches!(self.runtime, Runtime::Bytes), self.lab.is_some());
        for c in &mut self.conns {
            if c.closing {
                continue;
            }
            if c.alpn_h2(tag) && c.stream.inbox.is_empty() {
                c.stream.pump(sockets);
            }
            if c.stream.inbox.is_empty() {
                continue;
            }
            if c.h2.is_none() && (c.ws.is_some() || (bytes && !c.busy && ws::upgrade_requested(&c.stream.inbox))) {
                ws::serve(c, sockets);
                continue;
            }
            match &mut c.h2 {
                Some(h2) => {
                    h2.receive(&std::mem::take(&mut c.stream.inbox));
                    h2.poll();
                    if let Some(e) = h2.error().map(|e| e.to_string()) {
                        // The h2 crate has queued its GOAWAY (RFC 9113 §5.4.1): send it, close.
                        let goaway = h2.take_bytes();
                        Self::refuse(&mut self.log, c, sockets, &goaway, format!("HTTP/2: {e}"));
                        continue;
                    }
                    for r in h2.take_requests() {
                        let key = self.next_id;
                        self.next_id += 1;
                        let job = Job::Queued { arrived: now };
                        let (stream, peer) = (u64::from(r.stream), c.peer);
                        self.requests.push(Request { key, conn: c.id, stream, peer, path: r.path, job });
                        self.queue.push_back(key);
                        self.log.requests += 1;
                    }
                    withdrawn.extend(h2.take_resets().into_iter().map(|s| (c.id, Some(u64::from(s)))));
                    c.write_h2(tag);
                    c.stream.pump(sockets);
                }
                None if !c.busy => {
                    let parsed = match http1::parse_request(&c.stream.inbox) {
                        Ok(parsed) => parsed,
                        Err(e) => {
                            Self::refuse(&mut self.log, c, sockets, &http1::bad_request(), e.to_string());
                            continue;
                        }
                    };
                    if let Some(req) = parsed {
                        c.stream.inbox.drain(..req.head_len);
                        let job = Job::Queued { arrived: now };
                        let (key, peer) = (c.id, c.peer);
                        self.requests.push(Request { key, conn: key, stream: 0, peer, path: req.path, job });
                        self.queue.push_back(c.id);
                        self.log.requests += 1;
                        c.busy = true;
                    }
                }
                None => {}
            }
        }
        for (conn, stream) in withdrawn {
            self.withdraw(conn, stream);
        }
        self.drop_cancelled_ties(now, net);
        self.admit(now, net)?;
        if let Runtime::Gateway(g) = &mut self.runtime {
            g.poll(now, net)?;
        }
        self.answer(now, net);
        self.reap(now, net);
        if let Some(h3) = &mut self.h3 {
            h3.send(now, net)?;
            if let Some(e) = h3.errors().get(self.log.bad_connections as usize) {
                // A caller's doing (a malformed request, a refused connection): counted, and
                // the run goes on, as for HTTP/1.1 and HTTP/2.
                self.log.first_bad.get_or_insert(e.clone());
                self.log.bad_connections = h3.errors().len() as u64;
            }
        }
        Ok(())
    }

    /// The caller withdrew the requests on connection `conn` (its stream `stream` only, if
    /// given): each is dropped and frees its place.
    fn withdraw(&mut self, conn: u64, stream: Option<u64>) {
        let gone = |r: &Request| r.conn == conn && stream.is_none_or(|s| s == r.stream);
        for r in self.requests.iter().filter(|r| gone(r)) {
            if r.job.admitted() {
                self.active = self.active.saturating_sub(1);
            }
            if let (Runtime::Gateway(g), Job::Calling { .. }) = (&mut self.runtime, r.job) {
                g.withdraw(r.key);
            }
            self.queue.retain(|&k| k != r.key);
            self.log.cancelled += 1;
        }
        self.requests.retain(|r| !gone(r));
        if stream.is_none() {
            if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) {
                c.busy = false;
            }
        }
    }
}

/// An HTTP/2 request's stream id back as HTTP/2 numbers it (it came from a `u32`, RFC 9113
/// §5.1.1); 0, which is never a request's stream, for anything else.
fn h2_stream(stream: u64) -> u32 {
    u32::try_from(stream).unwrap_or(0)
}
