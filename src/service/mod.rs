//! Services: what hosts serve, and the programs that call them.
//!
//! A host is an address, the services it runs and, optionally, a client program. A service
//! is HTTP/1.1 on a port with a handler ([`Handler`]): `bytes` (today's `GET /bytes/N`),
//! `service` (answers after a service time drawn from a distribution, [`crate::dist`]) or
//! `gateway` (calls upstream replicas with a call policy, then answers). A client program
//! ([`workload::Workload`]) sends a number of requests, in an open or closed loop, and
//! measures each at the client.
//!
//! Everything here is sans-IO: it takes `now`, reads and writes smoltcp sockets through the
//! [`Network`], and reports its own timers. Every service and program keeps a structured log
//! ([`ServiceLog`], [`GatewayLog`], [`workload::RequestRecord`]); the analyses read those,
//! never packet comments.

pub mod gateway;
pub mod server;
pub mod upstream;
pub mod workload;

use std::net::SocketAddrV4;
use std::time::Duration;

use crate::dist::ServiceTime;
use crate::sim::network::Network;
use crate::time::Instant;
pub use server::HttpService;

/// A host an upstream call can go to, and the name requests give it.
#[derive(Clone, Debug, PartialEq)]
pub struct Replica {
    pub host: usize,
    pub addr: SocketAddrV4,
    pub name: String,
}

/// One service on a host.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    pub port: u16,
    pub handler: Handler,
    /// Requests served at once; more wait in a FIFO queue. `None`: no limit.
    pub concurrency: Option<u32>,
}

/// What a service does with a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Handler {
    /// `GET /bytes/N`: N bytes, at once.
    Bytes,
    /// Answers `response` bytes after a service time drawn from `time`.
    Service { time: ServiceTime, response: u64 },
    /// Calls upstream replicas, then answers.
    Gateway(GatewaySpec),
}

/// How a gateway calls its upstreams.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewaySpec {
    pub replicas: Vec<Replica>,
    /// Calls per request.
    pub calls: u32,
    pub policy: Policy,
    /// Warm connections per replica (0: a fresh connection per call).
    pub pool: u32,
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
}

/// When a hedge goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HedgeAfter {
    Delay(Duration),
    /// After this percentile of the recent calls' latencies (e.g. 95.0).
    Percentile(f64),
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

/// What a gateway saw.
#[derive(Clone, Debug, Default)]
pub struct GatewayLog {
    pub requests: Vec<GatewayRequest>,
    /// Every answered call's latency at the gateway, first try sent to answer (µs).
    pub call_us: Vec<u64>,
    pub calls: u64,
    pub tries: u64,
    pub hedges: u64,
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
