//! What a fleet is asked to do, and what became of each of its requests.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::proto::dns::ClientCache;
use crate::time::Instant;

/// Linux's connect timeout without one set: SYN retries after 1, 2, 4, 8, 16, 32 s, then 64 s
/// more before giving up (`tcp_syn_retries` = 6).
pub const KERNEL_CONNECT_TIMEOUT: Duration = Duration::from_secs(127);
/// How long after the connect timeout the last requests have to finish.
pub const DRAIN_EXTRA: Duration = Duration::from_secs(5);

/// What the fleet is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetSpec {
    /// The DNS name every request goes to.
    pub name: String,
    pub port: u16,
    pub clients: u32,
    pub interval: Duration,
    pub duration: Duration,
    pub cache: ClientCache,
    /// `None`: the kernel's ([`KERNEL_CONNECT_TIMEOUT`]).
    pub connect_timeout: Option<Duration>,
    pub fallback: bool,
    pub pool: bool,
}

impl FleetSpec {
    /// The connect timeout in force.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(KERNEL_CONNECT_TIMEOUT)
    }
}

/// How a request ended, if not with a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No connection within the connect timeout, at every address tried.
    ConnectTimeout,
    /// Refused (a reset to the SYN), at every address tried.
    Refused,
    /// The connection broke (a reset, or closed) before the response ended.
    Broken,
    /// The name did not resolve.
    NotFound,
    /// Still waiting when the run ended.
    Unanswered,
}

impl Failure {
    pub fn name(self) -> &'static str {
        match self {
            Failure::ConnectTimeout => "connect timeout",
            Failure::Refused => "refused",
            Failure::Broken => "connection broken",
            Failure::NotFound => "name not found",
            Failure::Unanswered => "unanswered at the end of the run",
        }
    }
}

/// One request as its program saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetRecord {
    pub client: u32,
    pub due: Instant,
    pub done: Option<Instant>,
    /// The response's status (0 without one).
    pub status: u16,
    pub failure: Option<Failure>,
    /// The addresses it tried to reach, in order (a pooled request: its connection's).
    pub addrs: Vec<Ipv4Addr>,
    /// It asked the resolver (its program's cache did not have the name).
    pub queried: bool,
}

impl FleetRecord {
    pub fn ok(&self) -> bool {
        self.failure.is_none() && self.status == 200
    }

    pub fn latency_us(&self) -> Option<u64> {
        self.done.map(|d| d.saturating_since(self.due).as_micros() as u64)
    }
}
