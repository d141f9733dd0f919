//! A client program: `requests` requests to one service, in an open or a closed loop.
//!
//! In an **open loop** requests arrive as a Poisson process at `rate`, whatever the answers
//! do, and each is timed from when it was due, not from when a connection was free: a closed
//! loop (a fixed number in flight) sends less when the service is slow and so hides the very
//! tail it should measure (coordinated omission, Gil Tene). Each request is `GET /r/N` over a
//! warm pool (or, with a pool of 0, a fresh connection each, TLS too when asked for); its
//! latency, status, times and connection are kept as a [`RequestRecord`].

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use super::upstream::{CallEvent, ConnTimes, Upstream};
use super::Replica;
use crate::proto::cwnd::TcpConfig;
use crate::proto::http_client::TlsSetup;
use crate::sim::network::Network;
use crate::time::Instant;

/// When requests are sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arrival {
    /// A Poisson process: this many requests per second on average.
    Open { per_second: f64 },
    /// This many requests in flight at all times.
    Closed { concurrency: u32 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadSpec {
    pub to: Replica,
    pub requests: u64,
    pub arrival: Arrival,
    /// Warm connections to the service (0: a fresh connection per request, closed after).
    pub pool: u32,
}

/// One request as the client saw it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestRecord {
    /// When it was due (open loop) or sent (closed loop).
    pub due: Instant,
    pub done: Option<Instant>,
    /// 0: the connection failed under it.
    pub status: u16,
    /// The connection that carried the answer.
    pub conn: Option<ConnTimes>,
}

impl RequestRecord {
    pub fn ok(&self) -> bool {
        self.done.is_some() && self.status == 200
    }

    pub fn latency_us(&self) -> Option<u64> {
        self.done.map(|d| (d - self.due).as_micros() as u64)
    }
}

pub struct Workload {
    spec: WorkloadSpec,
    upstream: Upstream,
    rng: ChaCha8Rng,
    next_port: u16,
    started: Option<Instant>,
    next_due: Instant,
    in_flight: u64,
    events: Vec<CallEvent>,
    pub records: Vec<RequestRecord>,
}

impl Workload {
    /// The program on `host`, over TLS when `tls` says how.
    pub fn new(
        host: usize,
        spec: WorkloadSpec,
        tcp: TcpConfig,
        tls: Option<TlsSetup>,
        mut rng: ChaCha8Rng,
    ) -> Workload {
        // The QUIC connections' seed (HTTP/3), drawn without moving `rng` (the arrivals').
        let quic_seed = crate::rng::derive(rng.clone().next_u64(), "quic:workload");
        let upstream = Upstream::new(host, &spec.to, tcp, tls, spec.pool).with_quic_seed(quic_seed);
        let next_port = 49152 + (rng.next_u32() % 8192) as u16;
        Workload {
            spec,
            upstream,
            rng,
            next_port,
            started: None,
            next_due: Instant::ZERO,
            in_flight: 0,
            events: Vec::new(),
            records: Vec::new(),
        }
    }

    /// What it was asked to do.
    pub fn spec(&self) -> &WorkloadSpec {
        &self.spec
    }

    /// The client's pool is open.
    pub fn warmed(&self) -> bool {
        self.upstream.warmed()
    }

    /// When the first request went (`None` before [`start`](Self::start)).
    pub fn started(&self) -> Option<Instant> {
        self.started
    }

    /// Starts sending at `now`.
    pub fn start(&mut self, now: Instant) {
        self.started = Some(now);
        self.next_due = now;
    }

    pub fn finished(&self) -> bool {
        self.records.len() as u64 == self.spec.requests && self.in_flight == 0
    }

    pub fn next_timer(&self) -> Option<Instant> {
        let more = self.started.is_some() && (self.records.len() as u64) < self.spec.requests;
        let due = (more && matches!(self.spec.arrival, Arrival::Open { .. })).then_some(self.next_due);
        [due, self.upstream.next_timer()].into_iter().flatten().min()
    }

    /// Connections opened by the client, and their handshake time (µs).
    pub fn connections(&self) -> (u64, u64) {
        (self.upstream.opened, self.upstream.handshake_us)
    }

    /// Sends what is due, reads what arrived.
    pub fn poll(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        for _ in 0..64 {
            let sent = self.send_due(now, net);
            let mut events = std::mem::take(&mut self.events);
            self.upstream.poll(now, net, &mut self.next_port, &mut events)?;
            let quiet = events.is_empty();
            for e in events.drain(..) {
                let Some(r) = self.records.get_mut(e.tag() as usize) else { continue };
                match e {
                    CallEvent::Done { status, at, conn, .. } => {
                        r.done = Some(at);
                        r.status = status;
                        r.conn = Some(conn);
                    }
                    CallEvent::Failed { at, .. } => {
                        r.done = Some(at);
                        r.status = 0;
                    }
                }
                self.in_flight -= 1;
            }
            self.events = events;
            if quiet && !sent {
                break;
            }
        }
        Ok(())
    }

    /// Queues the requests that are due; true if any.
    fn send_due(&mut self, now: Instant, net: &Network) -> bool {
        if self.started.is_none() {
            return false;
        }
        let mut sent = false;
        while (self.records.len() as u64) < self.spec.requests {
            let due = match self.spec.arrival {
                Arrival::Open { .. } if self.next_due <= now => self.next_due,
                Arrival::Closed { concurrency } if self.in_flight < u64::from(concurrency) => now,
                _ => break,
            };
            let id = self.records.len() as u64;
            self.records.push(RequestRecord { due, done: None, status: 0, conn: None });
            let n = self.spec.requests;
            self.upstream.send(id, format!("/r/{id}"), net, || format!("request {id} (of {n})"));
            self.in_flight += 1;
            sent = true;
            if let Arrival::Open { per_second } = self.spec.arrival {
                // Exponential gaps (inverse transform of a uniform in (0, 1]).
                let u = ((self.rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
                let gap_us = (-u.ln() / per_second * 1e6).round().max(1.0) as u64;
                self.next_due = self.next_due + std::time::Duration::from_micros(gap_us);
            }
        }
        sent
    }
}
