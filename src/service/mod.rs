//! Services: what hosts serve, and the programs that call them.
//!
//! A host is an address, the services it runs and, optionally, a client program. A service
//! is HTTP/1.1, HTTP/2 or HTTP/3 on a port, plain or over TLS ([`tls::ServiceTls`]), with a handler
//! ([`Handler`]): `bytes` (`GET /bytes/N`, and WebSockets; the server role's two services are
//! `bytes` too, run as the lab's server, [`LabServer`]),
//! `service` (answers after a service time drawn from a distribution, [`crate::dist`]) or
//! `gateway` (calls upstream replicas with a call policy, then answers); or it is a
//! [`relay::Relay`], which reads no HTTP at all: it copies each connection's bytes to an upstream
//! replica and back, so its callers' TLS runs end to end ([`Passthrough`]). A client program
//! ([`workload::Workload`]) sends a number of requests, in an open or closed loop, and
//! measures each at the client.
//!
//! Everything here is sans-IO: it takes `now`, reads and writes smoltcp sockets through the
//! [`Network`], and reports its own timers. Every service and program keeps a structured log
//! ([`ServiceLog`], [`GatewayLog`], [`relay::RelayLog`], [`workload::RequestRecord`]); the
//! analyses read those, never packet comments.

pub mod fleet;
pub mod gateway;
pub mod h3;
pub mod h3_pool;
pub mod relay;
pub mod server;
pub mod tie;
pub mod tls;
pub mod upstream;
pub mod workload;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::Range;
use std::time::Duration;

use crate::dist::ServiceTime;
use crate::proto::tls::TlsVersion;
use crate::sim::network::Network;
use crate::time::Instant;
pub use server::HttpService;
pub use upstream::ConnTimes;

/// A host an upstream call can go to, and the name requests give it.
#[derive(Clone, Debug, PartialEq)]
pub struct Replica {
    pub host: usize,
    pub addr: SocketAddrV4,
    pub name: String,
    /// The HTTP version its service on that port speaks (callers speak the same); behind a
    /// relay, the version of the service the relay passes through to.
    pub http: HttpVersion,
    /// Set when that port is a relay that passes TLS through: what answers behind it.
    pub through: Option<Passthrough>,
}

impl Replica {
    /// The name a caller's requests (their `Host`) and its TLS (the server name, RFC 6066 §3)
    /// ask for: the replica's own, or, behind a relay, that of what answers there.
    pub fn authority(&self) -> &str {
        self.through.as_ref().map_or(&self.name, |t| &t.name)
    }
}

/// What answers behind a relay ([`relay`]): a caller's TLS session and its requests go end to
/// end to these hosts' service, so the caller verifies *their* certificate, issued for `name`,
/// and never the relay's (a relay has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passthrough {
    /// The hosts whose service answers: the relay's upstream replicas (through a chain of
    /// relays, the last relay's).
    pub hosts: Vec<usize>,
    /// The name they answer to: their `[[host]]` name, which replicas share.
    pub name: String,
}

/// The HTTP version a service speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/1.1 (RFC 9112): one request at a time on a connection.
    #[default]
    Http1,
    /// HTTP/2 (RFC 9113): many requests at once on a connection, each a stream.
    Http2,
    /// HTTP/3 (RFC 9114) over QUIC (RFC 9000) on UDP: many requests at once on a connection,
    /// each a stream, and a lost packet stalls only the streams it carried. QUIC carries TLS
    /// 1.3 only (RFC 9001 §4), so an HTTP/3 service always has `tls = "1.3"`.
    Http3,
}

impl HttpVersion {
    /// As the lab file writes it: `1.1`, `2` or `3`.
    pub fn name(self) -> &'static str {
        match self {
            HttpVersion::Http1 => "1.1",
            HttpVersion::Http2 => "2",
            HttpVersion::Http3 => "3",
        }
    }
}

/// One service on a host.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    pub port: u16,
    pub handler: Handler,
    /// Requests served at once; more wait in a FIFO queue. `None`: no limit.
    pub concurrency: Option<u32>,
    /// Serves HTTPS with this TLS version only (RFC 8446 for 1.3, RFC 5246 for 1.2), with the
    /// host's own lab certificate; `None`: plain HTTP.
    pub tls: Option<TlsVersion>,
    /// HTTP/1.1 or HTTP/2 (over TLS chosen by ALPN, in plain text by prior knowledge) on TCP,
    /// or HTTP/3 over QUIC on UDP (ALPN `h3`, RFC 9114 §3.1).
    pub http: HttpVersion,
}

/// What `role = "server"` stands for: its host's `bytes` services on [`LabServer::PLAIN_PORT`]
/// (HTTP) and [`LabServer::TLS_PORT`] (HTTPS), served as the lab's one server. The runner
/// builds them as one [`HttpService`] listening on both ports ([`HttpService::lab_server`]),
/// which on top of what any `bytes` service does:
///
/// - takes its TLS from the scenario's own TLS world, the one the scripted client trusts and
///   logs to (TLS 1.2 and 1.3, session tickets, HTTP/2 offered by ALPN only where a page step
///   speaks it), not from a host world of its own ([`tls::ServiceTls`]);
/// - closes connections idle for [`LabServer::idle_timeout`] (an HTTP keep-alive timeout,
///   RFC 9112 §9.5; the parameter `server_idle_timeout`);
/// - records which object (`?object=K`) or HTTP/2 stream each TCP byte range it wrote carried,
///   for the head-of-line analysis ([`HttpService::tagged_ranges`]), writing every HTTP/2 frame
///   on its own for that;
/// - leaves the capture's comments to the client (it explains none of its answers).
///
/// Its services are added once the lab's own services and the scenario's steps are checked, so
/// only the scenario's own steps call them (not a workload, gateway or relay).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LabServer {
    /// Close a connection idle this long (no request arrived; `None`: never).
    pub idle_timeout: Option<Duration>,
}

impl LabServer {
    /// Plain HTTP.
    pub const PLAIN_PORT: u16 = 80;
    /// HTTP over TLS.
    pub const TLS_PORT: u16 = 443;
    /// The ports of its services, in the order it listens on them (and accepts from them).
    pub const PORTS: [u16; 2] = [Self::PLAIN_PORT, Self::TLS_PORT];

    /// Its services: `bytes` on each of [`LabServer::PORTS`], TLS on [`LabServer::TLS_PORT`] (the
    /// version is the client's choice: the scenario's TLS world speaks 1.2 and 1.3).
    pub fn services(&self) -> Vec<ServiceSpec> {
        Self::PORTS
            .iter()
            .map(|&port| ServiceSpec {
                port,
                handler: Handler::Bytes,
                concurrency: None,
                tls: (port == Self::TLS_PORT).then_some(TlsVersion::Tls13),
                http: HttpVersion::Http1,
            })
            .collect()
    }
}

/// What a service does with a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Handler {
    /// `GET /bytes/N`: N bytes, at once; over HTTP/1.1, `GET /ws` upgrades to a WebSocket
    /// (RFC 6455 §4) whose text messages `GET /bytes/N` are answered with N bytes.
    Bytes,
    /// Answers `response` bytes after a service time drawn from `time`.
    Service { time: ServiceTime, response: u64 },
    /// Calls upstream replicas, then answers.
    Gateway(GatewaySpec),
    /// DNS over UDP on port 53 (not HTTP): a caching resolver that forwards to the lab's
    /// authority, or the authority for the lab's names (`[dns]`).
    Dns(DnsHandler),
    /// Not HTTP either: a TCP relay that copies each connection to an upstream replica and
    /// back, TLS passed through ([`relay`]).
    Relay(RelaySpec),
}

/// Where a relay passes its connections to.
#[derive(Clone, Debug, PartialEq)]
pub struct RelaySpec {
    /// The upstream's replicas (address and port), round-robin: each accepted connection gets
    /// a fresh connection to the next one.
    pub replicas: Vec<Replica>,
}

/// Which DNS server a [`Handler::Dns`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsHandler {
    Resolver,
    Authority,
}

impl ServiceSpec {
    /// An HTTP service (every handler but DNS and relays).
    pub fn is_http(&self) -> bool {
        !matches!(self.handler, Handler::Dns(_) | Handler::Relay(_))
    }

    /// Where it relays to, if it is a relay.
    pub fn relay(&self) -> Option<&RelaySpec> {
        match &self.handler {
            Handler::Relay(r) => Some(r),
            _ => None,
        }
    }

    /// The DNS server this service is, if it is one.
    pub fn dns(&self) -> Option<DnsHandler> {
        match self.handler {
            Handler::Dns(d) => Some(d),
            _ => None,
        }
    }
}

/// How a gateway calls its upstreams.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewaySpec {
    pub replicas: Vec<Replica>,
    /// The replicas of each upstream the gateway names, in the order it names them: call `k`
    /// of a request goes to group `k mod groups`, round-robin within it, and a hedge or retry
    /// goes to the next replica of the same group. Empty: one group of every replica.
    pub groups: Vec<Range<usize>>,
    /// Calls per request.
    pub calls: u32,
    pub policy: Policy,
    /// Warm connections per replica (0: a fresh connection per call).
    pub pool: u32,
    /// TLS to the upstreams (`None`: plain HTTP).
    pub tls: Option<TlsVersion>,
    pub per_try_timeout: Option<Duration>,
    /// The whole request's deadline, every try included.
    pub deadline: Option<Duration>,
    /// Retries allowed per call.
    pub retries: u32,
    /// Retry budget: tokens each call deposits (Finagle's `percentCanRetry`).
    pub retry_ratio: f64,
    /// Body bytes of the gateway's answer.
    pub response: u64,
}

/// The order of a gateway's calls.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy {
    Sequential,
    /// All at once; answer after `wait_for` of them (all when `None`).
    Parallel {
        wait_for: Option<u32>,
    },
    /// Sequential, each call hedged to another replica after `after`.
    Hedged {
        after: HedgeAfter,
    },
    /// Sequential, each call sent to two replicas, the second copy `delay` after the first,
    /// each naming the other: the replica that starts it first cancels the other's queued
    /// copy ([`tie`]).
    Tied {
        delay: Duration,
    },
}

/// When a hedge goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HedgeAfter {
    Delay(Duration),
    /// After this percentile of the recent calls' latencies (e.g. 95.0).
    Percentile(f64),
}

impl GatewaySpec {
    /// The groups of replicas calls go to (see [`GatewaySpec::groups`]), never empty when
    /// there are replicas.
    pub fn call_groups(&self) -> Vec<Range<usize>> {
        if self.groups.is_empty() {
            std::iter::once(0..self.replicas.len()).collect()
        } else {
            self.groups.clone()
        }
    }
}

/// Which request of a workload a request path belongs to: `/r/N` is the client's request N;
/// `/c/N/k/a` is try `a` of call `k` a gateway made while serving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestId {
    pub req: u64,
    /// (call, try), for a gateway's call.
    pub call: Option<(u32, u32)>,
}

impl RequestId {
    /// Reads `/r/N` or `/c/N/k/a`; `None` for any other path.
    pub fn parse(path: &str) -> Option<RequestId> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        if let Some(n) = path.strip_prefix("/r/") {
            return Some(RequestId { req: n.parse().ok()?, call: None });
        }
        let mut parts = path.strip_prefix("/c/")?.split('/');
        let req = parts.next()?.parse().ok()?;
        let k = parts.next()?.parse().ok()?;
        let a = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(RequestId { req, call: Some((k, a)) })
    }
}

/// One request a service answered, as it saw it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Served {
    /// The caller's address.
    pub from: Ipv4Addr,
    /// The request, when its path names one ([`RequestId`]).
    pub id: Option<RequestId>,
    /// When the request had arrived whole.
    pub arrived: Instant,
    /// When its work began (after its wait in the queue).
    pub started: Instant,
    /// When the answer was written.
    pub answered: Instant,
}

/// One call a gateway made that was answered, as the gateway saw it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CallRecord {
    /// The client's request it was made for, when the gateway's request named one.
    pub req: Option<u64>,
    /// The call's number within the request, and the try that answered.
    pub call: u32,
    pub attempt: u32,
    /// Which of [`GatewaySpec::replicas`] answered.
    pub replica: usize,
    /// When that try was queued, and when its answer had arrived whole.
    pub sent: Instant,
    pub done: Instant,
    /// The connection that carried it.
    pub conn: ConnTimes,
}

/// What a service saw.
#[derive(Clone, Debug, Default)]
pub struct ServiceLog {
    pub requests: u64,
    pub answered: u64,
    /// Requests withdrawn by their caller (a reset) before the answer.
    pub cancelled: u64,
    /// Per admitted request: time in the queue, µs.
    pub queue_wait_us: Vec<u64>,
    /// Per answered request: arrival to answer (queue included), µs.
    pub service_us: Vec<u64>,
    /// Per answered request: who asked, and when it arrived and was answered.
    pub served: Vec<Served>,
    /// Tied copies this service dropped from its queue because the twin started first.
    pub tie_dropped: u64,
    /// Tied copies this service started (request, call): a call started at two services ran
    /// twice.
    pub tied_started: Vec<(u64, u32)>,
    /// Connections closed because what arrived on them could not be parsed as HTTP (answered
    /// 400 Bad Request, or GOAWAY on HTTP/2), with the first parser error.
    pub bad_connections: u64,
    pub first_bad: Option<String>,
    /// Connections closed by the idle timeout ([`LabServer::idle_timeout`]).
    pub idle_closes: u64,
    /// Connections reset because data arrived after the service had closed them (the
    /// stale-reuse race: the caller sent a request as the service's FIN was on its way).
    pub resets: u64,
}

/// One request a gateway answered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GatewayRequest {
    /// The client's request number (from the path `/r/N`).
    pub req: Option<u64>,
    pub status: u16,
    pub started: Instant,
    pub finished: Instant,
    /// The slowest answered call, as the gateway waited for it (µs).
    pub max_call_us: u64,
    pub calls_ok: u32,
}

/// Calls whose tied copies both started (at two services): the work done twice.
pub fn tied_both_ran<'a>(logs: impl Iterator<Item = &'a ServiceLog>) -> u64 {
    let mut seen = std::collections::HashMap::new();
    for call in logs.flat_map(|l| l.tied_started.iter()) {
        *seen.entry(*call).or_insert(0u32) += 1;
    }
    seen.values().filter(|&&n| n >= 2).count() as u64
}

/// What a gateway saw.
#[derive(Clone, Debug, Default)]
pub struct GatewayLog {
    pub requests: Vec<GatewayRequest>,
    /// Every answered call's latency at the gateway, first try sent to answer (µs).
    pub call_us: Vec<u64>,
    /// Every answered call: the try that answered it, and its connection.
    pub call_log: Vec<CallRecord>,
    pub calls: u64,
    pub tries: u64,
    pub hedges: u64,
    /// Second copies of tied calls sent.
    pub ties: u64,
    pub retries: u64,
    /// Retries the budget refused.
    pub retries_refused: u64,
    pub cancelled: u64,
    pub timeouts: u64,
    pub failed_calls: u64,
    pub deadline_exceeded: u64,
}

/// Every service of a scenario.
#[derive(Default)]
pub struct Services {
    pub list: Vec<HttpService>,
}

impl Services {
    pub fn poll(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        for s in &mut self.list {
            s.poll(now, net)?;
        }
        Ok(())
    }

    pub fn next_timer(&self) -> Option<Instant> {
        self.list.iter().filter_map(HttpService::next_timer).min()
    }

    /// Every gateway's pools are warm.
    pub fn warmed(&self) -> bool {
        self.list.iter().all(HttpService::warmed)
    }
}

#[cfg(test)]
mod tests;
