//! A client connection pool under bursty load (the keepalive lab).
//!
//! Every `every`, a burst of requests arrives. Each takes an idle pooled connection, or waits
//! while the pool opens a new one (TCP, then TLS, paid again), up to `pool` connections. A
//! connection the server closed while idle is noticed (its FIN) and dropped; a request sent on
//! a connection the server closed a moment earlier fails (reset or end of stream) and is
//! retried on a new connection: the stale-reuse race of every HTTP client pool.
//!
//! With `ping`, pooled connections are WebSockets (RFC 6455) instead: each request is a text
//! message `GET /bytes/N` answered by a binary message, and a connection that has been idle
//! for `ping` sends a Ping, which the server answers with a Pong: an application-level
//! keepalive that also counts as activity for the server's idle timeout.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::proto::cwnd::TcpConfig;
use crate::proto::http1;
use crate::proto::http_client::{take_port, ConnEvent, HttpConn, TlsSetup};
use crate::proto::tls::LabTls;
use crate::rng;
use crate::script::steps::BurstSpec;
use crate::sim::network::Network;
use crate::time::Instant;
use crate::timeline::keepalive::IdleSpan;

/// How often a request may be retried before it counts as failed.
const MAX_ATTEMPTS: u32 = 3;

#[derive(Clone, Copy, Debug)]
struct Request {
    issued: Instant,
    attempt: u32,
}

/// What a pooled connection is doing.
enum ConnState {
    /// TCP, then TLS, handshake in progress.
    Opening,
    /// WebSocket opening handshake in progress.
    Upgrading,
    Idle,
    Busy(Request),
    Closing,
    Dead,
}

struct PoolConn {
    conn: HttpConn,
    state: ConnState,
}

/// What the pool saw.
#[derive(Clone, Debug, Default)]
pub struct PoolStats {
    pub requests: u64,
    pub connections_opened: u64,
    pub handshakes: u64,
    /// When each handshake completed (for the connections plot).
    pub handshakes_at: Vec<Instant>,
    /// Connect to TLS done (or to established, without TLS), summed over new connections.
    pub handshake_us_total: u64,
    pub latencies_us: Vec<u64>,
    pub retried: u64,
    pub failed: u64,
    pub closed_by_server: u64,
    pub pings: u64,
    /// Bytes of WebSocket Ping and Pong frames at the client (frames only, no TLS or TCP).
    pub ping_frame_bytes: u64,
}

pub struct Pool {
    seed: u64,
    spec: BurstSpec,
    addr: Ipv4Addr,
    host: usize,
    tcp: TcpConfig,
    bursts: u32,
    bursts_sent: u32,
    next_burst: Instant,
    queue: VecDeque<Request>,
    conns: Vec<PoolConn>,
    pub stats: PoolStats,
    pub idle: Vec<IdleSpan>,
}

impl Pool {
    pub fn new(spec: BurstSpec, addr: Ipv4Addr, host: usize, tcp: TcpConfig, seed: u64, now: Instant) -> Pool {
        let bursts = spec.duration.as_micros().div_ceil(spec.every.as_micros()).max(1) as u32;
        Pool {
            seed,
            spec,
            addr,
            host,
            tcp,
            bursts,
            bursts_sent: 0,
            next_burst: now,
            queue: VecDeque::new(),
            conns: Vec::new(),
            stats: PoolStats::default(),
            idle: Vec::new(),
        }
    }

    /// All bursts sent and answered.
    pub fn finished(&self) -> bool {
        self.bursts_sent == self.bursts
            && self.queue.is_empty()
            && self.conns.iter().all(|c| matches!(c.state, ConnState::Idle | ConnState::Closing | ConnState::Dead))
    }

    pub fn next_timer(&self) -> Option<Instant> {
        let burst = (self.bursts_sent < self.bursts).then_some(self.next_burst);
        // Only WebSocket connections ping.
        let ping = self.spec.ping.and_then(|every| {
            let idle = self.conns.iter().filter(|c| matches!(c.state, ConnState::Idle) && c.conn.is_ws());
            idle.map(|c| c.conn.last_activity() + every).min()
        });
        [burst, ping].into_iter().flatten().min()
    }

    /// The burst running now, 1-based, for packet labels.
    pub fn burst(&self) -> (u32, u32) {
        (self.bursts_sent, self.bursts)
    }

    /// Bytes of WebSocket Ping and Pong frames sent and received by the client, all connections.
    pub fn ping_frame_bytes(&self) -> u64 {
        self.stats.ping_frame_bytes + self.conns.iter().map(|c| c.conn.ws_control_bytes()).sum::<u64>()
    }

    /// Closes every idle span still open (at the end of the run).
    pub fn close_spans(&mut self, now: Instant) {
        for s in &mut self.idle {
            s.to.get_or_insert(now);
        }
    }

    fn end_idle(idle: &mut [IdleSpan], port: u16, now: Instant) {
        if let Some(s) = idle.iter_mut().rev().find(|s| s.port == port && s.to.is_none()) {
            s.to = Some(now);
        }
    }

    /// Issues due bursts, moves every connection along, hands queued requests to idle
    /// connections and opens new ones as needed. `next_port` is the client's port counter.
    pub fn poll(&mut self, now: Instant, net: &mut Network, tls: &LabTls, next_port: &mut u16) -> Result<(), String> {
        while self.bursts_sent < self.bursts && now >= self.next_burst {
            for _ in 0..self.spec.requests {
                self.queue.push_back(Request { issued: now, attempt: 1 });
            }
            self.stats.requests += u64::from(self.spec.requests);
            self.bursts_sent += 1;
            self.next_burst = self.next_burst + self.spec.every;
            net.label = format!("burst {} of {}", self.bursts_sent, self.bursts);
        }
        let sockets = &mut net.hosts[self.host].sockets;
        for c in &mut self.conns {
            let conn = &mut c.conn;
            conn.pump(sockets);
            conn.poll_ws(now, sockets);
            c.state = match std::mem::replace(&mut c.state, ConnState::Dead) {
                ConnState::Opening => match conn.advance(now, sockets)? {
                    None | Some(ConnEvent::Connected) => ConnState::Opening,
                    Some(ConnEvent::Failed(_)) => ConnState::Dead,
                    Some(ConnEvent::Ready) => {
                        self.stats.handshake_us_total += (now - conn.opened()).as_micros() as u64;
                        if self.spec.tls.is_some() {
                            self.stats.handshakes += 1;
                            self.stats.handshakes_at.push(now);
                        }
                        if self.spec.tls.is_some() && self.spec.ping.is_some() {
                            let rng = rng::stream(self.seed, &format!("ws:{}", conn.port()));
                            conn.upgrade_ws(&self.spec.to, "/ws", rng, sockets);
                            ConnState::Upgrading
                        } else {
                            self.idle.push(IdleSpan { port: conn.port(), from: now, to: None });
                            ConnState::Idle
                        }
                    }
                },
                ConnState::Upgrading if conn.peer_closed(sockets) => ConnState::Dead,
                ConnState::Upgrading if conn.ws_open() => {
                    self.idle.push(IdleSpan { port: conn.port(), from: now, to: None });
                    ConnState::Idle
                }
                ConnState::Upgrading => ConnState::Upgrading,
                ConnState::Busy(req) => {
                    let read = if conn.is_ws() { None } else { conn.read_response(now) };
                    let bad = read.is_some_and(|r| r.error.is_some());
                    let done = if conn.is_ws() { conn.take_ws_response(now) } else { conn.response_done() };
                    if done {
                        conn.take_response();
                        self.stats.latencies_us.push((now - req.issued).as_micros() as u64);
                        self.idle.push(IdleSpan { port: conn.port(), from: now, to: None });
                        ConnState::Idle
                    } else if bad || conn.peer_closed(sockets) {
                        // Reset or closed under the request: retry it on another connection.
                        if req.attempt < MAX_ATTEMPTS {
                            self.stats.retried += 1;
                            self.queue.push_front(Request { attempt: req.attempt + 1, ..req });
                        } else {
                            self.stats.failed += 1;
                        }
                        conn.close(sockets);
                        ConnState::Closing
                    } else {
                        ConnState::Busy(req)
                    }
                }
                ConnState::Idle if conn.peer_closed(sockets) => {
                    // The server closed it while it sat in the pool: drop it.
                    self.stats.closed_by_server += 1;
                    Self::end_idle(&mut self.idle, conn.port(), now);
                    conn.close(sockets);
                    ConnState::Closing
                }
                ConnState::Idle => {
                    if let Some(every) = self.spec.ping.filter(|_| conn.is_ws()) {
                        if now >= conn.last_activity() + every {
                            conn.ws_ping(b"keepalive", now, sockets);
                            self.stats.pings += 1;
                        }
                    }
                    ConnState::Idle
                }
                // Kept through TIME-WAIT so the final ACK goes out; removed once closed.
                ConnState::Closing if conn.tcp_state(sockets) == smoltcp::socket::tcp::State::Closed => ConnState::Dead,
                ConnState::Closing => ConnState::Closing,
                ConnState::Dead => ConnState::Dead,
            };
        }
        // Hand queued requests to idle connections; open connections for the rest.
        while let Some(&req) = self.queue.front() {
            let Some(c) = self.conns.iter_mut().find(|c| matches!(c.state, ConnState::Idle)) else { break };
            if c.conn.is_ws() {
                c.conn.ws_send_text(&format!("GET /bytes/{}", self.spec.size), now);
            } else {
                c.conn.send_request(&http1::request(&self.spec.to, self.spec.size), 0, now);
            }
            c.conn.pump(sockets);
            Self::end_idle(&mut self.idle, c.conn.port(), now);
            c.state = ConnState::Busy(req);
            self.queue.pop_front();
        }
        let opening = self.conns.iter().filter(|c| matches!(c.state, ConnState::Opening)).count();
        let live = self.conns.iter().filter(|c| !matches!(c.state, ConnState::Closing | ConnState::Dead)).count();
        let wanted = self.queue.len().saturating_sub(opening).min((self.spec.pool as usize).saturating_sub(live));
        for _ in 0..wanted {
            let to = SocketAddrV4::new(self.addr, self.spec.port);
            let port = take_port(next_port);
            let conn = HttpConn::connect(&mut net.hosts[self.host], &self.tcp, to, port, self.spec.keepalive, now)?;
            let conn = conn.with_tls(self.spec.tls.map(|v| TlsSetup::new(tls, v)));
            self.stats.connections_opened += 1;
            self.conns.push(PoolConn { conn, state: ConnState::Opening });
        }
        let sockets = &mut net.hosts[self.host].sockets;
        let stats = &mut self.stats;
        self.conns.retain(|c| {
            let dead = matches!(c.state, ConnState::Dead);
            if dead {
                c.conn.remove(sockets);
                stats.ping_frame_bytes += c.conn.ws_control_bytes();
            }
            !dead
        });
        Ok(())
    }
}
