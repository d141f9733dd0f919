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
use std::net::Ipv4Addr;
use std::time::Duration;

use rustls::ClientConnection;
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::IpAddress;

use crate::proto::cwnd::TcpConfig;
use crate::proto::http1::{self, ResponseReader};
use crate::proto::stream::{tcp_socket, Stream};
use crate::proto::tls::LabTls;
use crate::proto::ws::{WsEndpoint, WsEvent};
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

enum ConnState {
    Connecting,
    Handshaking,
    /// WebSocket opening handshake in progress.
    Upgrading,
    Idle,
    Busy(Request, ResponseReader),
    Closing,
    Dead,
}

struct PoolConn {
    stream: Stream,
    port: u16,
    opened: Instant,
    state: ConnState,
    ws: Option<WsEndpoint>,
    /// Last request, response or ping: the start of the current silence.
    last_activity: Instant,
    /// A binary message (a response) arrived over the WebSocket.
    ws_response: bool,
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
        let ping = self.spec.ping.and_then(|every| {
            self.conns.iter().filter(|c| matches!(c.state, ConnState::Idle)).map(|c| c.last_activity + every).min()
        });
        [burst, ping].into_iter().flatten().min()
    }

    /// The burst running now, 1-based, for packet labels.
    pub fn burst(&self) -> (u32, u32) {
        (self.bursts_sent, self.bursts)
    }

    /// Bytes of WebSocket Ping and Pong frames sent and received by the client, all connections.
    pub fn ping_frame_bytes(&self) -> u64 {
        self.stats.ping_frame_bytes
            + self.conns.iter().filter_map(|c| c.ws.as_ref()).map(|w| w.control_bytes()).sum::<u64>()
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
            c.stream.pump(sockets);
            if let Some(ws) = &mut c.ws {
                ws.receive(&std::mem::take(&mut c.stream.inbox));
                for event in ws.poll_events() {
                    c.ws_response |= matches!(event, WsEvent::Binary(_));
                }
                let out = ws.take_output();
                if !out.is_empty() {
                    c.stream.write(&out);
                    c.stream.pump(sockets);
                }
            }
            let state = sockets.get::<tcp::Socket>(c.stream.handle).state();
            let broken = c.stream.error.is_some();
            let next = match std::mem::replace(&mut c.state, ConnState::Dead) {
                ConnState::Connecting if state == State::Established => match self.spec.tls {
                    Some(v) => {
                        let conn = ClientConnection::new(tls.client(v), tls.server_name())
                            .map_err(|e| format!("TLS client setup failed: {e}"))?;
                        c.stream.tls = Some(conn.into());
                        c.stream.pump(sockets);
                        ConnState::Handshaking
                    }
                    None => {
                        self.stats.handshake_us_total += (now - c.opened).as_micros() as u64;
                        self.idle.push(IdleSpan { port: c.port, from: now, to: None });
                        ConnState::Idle
                    }
                },
                ConnState::Connecting if matches!(state, State::SynSent | State::SynReceived) => ConnState::Connecting,
                ConnState::Connecting => ConnState::Dead,
                ConnState::Handshaking if broken || state != State::Established => ConnState::Dead,
                ConnState::Handshaking if c.stream.handshaking() => ConnState::Handshaking,
                ConnState::Handshaking => {
                    self.stats.handshakes += 1;
                    self.stats.handshakes_at.push(now);
                    self.stats.handshake_us_total += (now - c.opened).as_micros() as u64;
                    if self.spec.ping.is_some() {
                        let label = format!("ws:{}", c.port);
                        let mut ws = WsEndpoint::client(&self.spec.to, "/ws", rng::stream(self.seed, &label));
                        c.stream.write(&ws.take_output());
                        c.stream.pump(sockets);
                        c.ws = Some(ws);
                        ConnState::Upgrading
                    } else {
                        self.idle.push(IdleSpan { port: c.port, from: now, to: None });
                        c.last_activity = now;
                        ConnState::Idle
                    }
                }
                ConnState::Upgrading if broken || state != State::Established => ConnState::Dead,
                ConnState::Upgrading if c.ws.as_ref().is_some_and(|w| w.is_open()) => {
                    self.idle.push(IdleSpan { port: c.port, from: now, to: None });
                    c.last_activity = now;
                    ConnState::Idle
                }
                ConnState::Upgrading => ConnState::Upgrading,
                ConnState::Busy(req, mut reader) => {
                    let data = std::mem::take(&mut c.stream.inbox);
                    let bad = c.ws.is_none() && reader.feed(&data).is_err();
                    let done = if c.ws.is_some() { std::mem::take(&mut c.ws_response) } else { reader.done() };
                    if done {
                        c.last_activity = now;
                        self.stats.latencies_us.push((now - req.issued).as_micros() as u64);
                        self.idle.push(IdleSpan { port: c.port, from: now, to: None });
                        ConnState::Idle
                    } else if bad || broken || !matches!(state, State::Established | State::FinWait1 | State::FinWait2)
                    {
                        // Reset or closed under the request: retry it on another connection.
                        if req.attempt < MAX_ATTEMPTS {
                            self.stats.retried += 1;
                            self.queue.push_front(Request { attempt: req.attempt + 1, ..req });
                        } else {
                            self.stats.failed += 1;
                        }
                        close(&mut c.stream, sockets);
                        ConnState::Closing
                    } else {
                        ConnState::Busy(req, reader)
                    }
                }
                ConnState::Idle if state != State::Established || broken => {
                    // The server closed it while it sat in the pool: drop it.
                    self.stats.closed_by_server += 1;
                    Self::end_idle(&mut self.idle, c.port, now);
                    close(&mut c.stream, sockets);
                    ConnState::Closing
                }
                ConnState::Idle => {
                    if let (Some(every), Some(ws)) = (self.spec.ping, &mut c.ws) {
                        if now >= c.last_activity + every {
                            ws.send_ping(b"keepalive");
                            c.stream.write(&ws.take_output());
                            c.stream.pump(sockets);
                            c.last_activity = now;
                            self.stats.pings += 1;
                        }
                    }
                    ConnState::Idle
                }
                // Kept through TIME-WAIT so the final ACK goes out; removed once closed.
                ConnState::Closing if state == State::Closed => ConnState::Dead,
                ConnState::Closing => ConnState::Closing,
                ConnState::Dead => ConnState::Dead,
            };
            c.state = next;
        }
        // Hand queued requests to idle connections; open connections for the rest.
        while let Some(&req) = self.queue.front() {
            let idle = self.conns.iter_mut().find(|c| matches!(c.state, ConnState::Idle));
            match idle {
                Some(c) => {
                    match &mut c.ws {
                        Some(ws) => {
                            ws.send_text(&format!("GET /bytes/{}", self.spec.size));
                            c.stream.write(&ws.take_output());
                        }
                        None => c.stream.write(&http1::request(&self.spec.to, self.spec.size)),
                    }
                    c.last_activity = now;
                    c.stream.pump(sockets);
                    Self::end_idle(&mut self.idle, c.port, now);
                    c.state = ConnState::Busy(req, ResponseReader::default());
                    self.queue.pop_front();
                }
                None => break,
            }
        }
        let opening =
            self.conns.iter().filter(|c| matches!(c.state, ConnState::Connecting | ConnState::Handshaking)).count();
        let live = self.conns.iter().filter(|c| !matches!(c.state, ConnState::Closing | ConnState::Dead)).count();
        let wanted = self.queue.len().saturating_sub(opening).min((self.spec.pool as usize).saturating_sub(live));
        for _ in 0..wanted {
            let host = &mut net.hosts[self.host];
            let mut socket = tcp_socket(&self.tcp);
            socket.set_keep_alive(self.spec.keepalive.map(to_smoltcp));
            let port = *next_port;
            *next_port = next_port.checked_add(1).unwrap_or(49152);
            socket
                .connect(host.iface.context(), (IpAddress::Ipv4(self.addr), self.spec.port), port)
                .map_err(|e| format!("connect failed: {e}"))?;
            let handle = host.sockets.add(socket);
            self.stats.connections_opened += 1;
            self.conns.push(PoolConn {
                stream: Stream::new(handle, &self.tcp),
                port,
                opened: now,
                state: ConnState::Connecting,
                ws: None,
                last_activity: now,
                ws_response: false,
            });
        }
        let sockets = &mut net.hosts[self.host].sockets;
        let stats = &mut self.stats;
        self.conns.retain(|c| {
            let dead = matches!(c.state, ConnState::Dead);
            if dead {
                sockets.remove(c.stream.handle);
                stats.ping_frame_bytes += c.ws.as_ref().map_or(0, |w| w.control_bytes());
            }
            !dead
        });
        Ok(())
    }
}

fn close(stream: &mut Stream, sockets: &mut smoltcp::iface::SocketSet<'static>) {
    if let Some(t) = &mut stream.tls {
        t.send_close_notify();
    }
    stream.pump(sockets);
    sockets.get_mut::<tcp::Socket>(stream.handle).close();
}

fn to_smoltcp(d: Duration) -> smoltcp::time::Duration {
    smoltcp::time::Duration::from_micros(d.as_micros().min(u128::from(u64::MAX)) as u64)
}
