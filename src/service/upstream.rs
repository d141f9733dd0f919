//! A caller's connections to one upstream address: a warm pool of HTTP/1.1 connections.
//!
//! HTTP/1.1 carries one request at a time on a connection (RFC 9112 §9.3), so a call takes an
//! idle connection, or waits while the pool opens another. The pool opens `warm` connections
//! at once and keeps that many alive (a connection lost to a cancel is replaced at once, as a
//! pool with a minimum idle size does), and grows without limit when more calls are in flight
//! than it holds. With `warm = 0` every call opens a fresh connection and closes it after
//! the response: the cold path whose handshakes pooling saves.
//!
//! Cancelling a call in flight aborts its connection (a TCP reset, RFC 9293 §3.10.7.2
//! ABORT): HTTP/1.1 has no other way to withdraw a request, and it is what HTTP/1.1 clients
//! (Go's `net/http`, curl) do. The server sees the reset and drops the work.

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use crate::proto::cwnd::TcpConfig;
use crate::proto::http1;
use crate::proto::http_client::{take_port, ConnEvent, HttpConn, TlsSetup};
use crate::sim::network::{Expect, Network};
use crate::time::Instant;

/// The most connections one pool opens: a bound on a runaway open loop.
pub const MAX_CONNECTIONS: usize = 4096;

/// When a connection was set up, as its caller saw it: the SYN queued, the TCP handshake done
/// (SYN-ACK received: 1 RTT, RFC 9293 §3.5), ready for requests (TLS done, or at once
/// without TLS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnTimes {
    pub opened: Instant,
    pub connected: Option<Instant>,
    pub ready: Option<Instant>,
}

impl ConnTimes {
    fn of(conn: &HttpConn) -> ConnTimes {
        ConnTimes { opened: conn.opened(), connected: conn.connected_at(), ready: conn.ready_at() }
    }

    /// The part of the setup a call queued at `sent` waited for, in µs: none for a
    /// connection that was ready before it (a warm one), all of it for one opened for it.
    pub fn waited_us(&self, sent: Instant) -> u64 {
        self.ready.map_or(0, |r| r.saturating_since(self.opened.max(sent)).as_micros() as u64)
    }
}

/// What became of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEvent {
    /// The response arrived in full, on a connection set up as `conn` says.
    Done { tag: u64, status: u16, at: Instant, conn: ConnTimes },
    /// The connection failed or was closed under the call.
    Failed { tag: u64, at: Instant },
}

impl CallEvent {
    pub fn tag(&self) -> u64 {
        match self {
            CallEvent::Done { tag, .. } | CallEvent::Failed { tag, .. } => *tag,
        }
    }
}

enum State {
    Opening,
    Idle,
    Busy(u64),
    Closing,
    Dead,
}

struct Conn {
    conn: HttpConn,
    state: State,
}

/// Connections from host `caller` to one upstream address.
pub struct Upstream {
    caller: usize,
    to: SocketAddrV4,
    host_name: String,
    tcp: TcpConfig,
    tls: Option<TlsSetup>,
    warm: u32,
    conns: Vec<Conn>,
    /// Calls waiting for a connection: tag, path, and what the call is (for the captures).
    queue: VecDeque<(u64, String, Option<String>)>,
    /// Connections opened, handshakes included.
    pub opened: u64,
    /// Microseconds from SYN to ready, summed over the connections opened.
    pub handshake_us: u64,
}

impl Upstream {
    /// A pool from `caller` to `to` (named `host_name` in requests), keeping `warm` connections.
    pub fn new(
        caller: usize,
        to: SocketAddrV4,
        host_name: &str,
        tcp: TcpConfig,
        tls: Option<TlsSetup>,
        warm: u32,
    ) -> Upstream {
        Upstream {
            caller,
            to,
            host_name: host_name.to_string(),
            tcp,
            tls,
            warm,
            conns: Vec::new(),
            queue: VecDeque::new(),
            opened: 0,
            handshake_us: 0,
        }
    }

    /// The address it calls.
    pub fn addr(&self) -> SocketAddrV4 {
        self.to
    }

    /// Every warm connection is open and idle (the pool is ready before a workload starts).
    pub fn warmed(&self) -> bool {
        self.conns.iter().filter(|c| matches!(c.state, State::Idle)).count() >= self.warm as usize
    }

    /// Queues `GET path` under `tag`; it goes on the next free connection. `what` the call is
    /// goes into the request's comment in the captures (asked for only if a tap records it).
    pub fn send(&mut self, tag: u64, path: String, net: &Network, what: impl FnOnce() -> String) {
        let what = net.captured_between(self.caller, *self.to.ip()).then(what);
        self.queue.push_back((tag, path, what));
    }

    /// Withdraws call `tag`: dropped from the queue, or its connection reset (`why` goes into
    /// the reset's comment in the captures).
    pub fn cancel(&mut self, tag: u64, net: &mut Network, why: impl FnOnce() -> String) {
        self.queue.retain(|(t, _, _)| *t != tag);
        let Some(c) = self.conns.iter_mut().find(|c| matches!(c.state, State::Busy(t) if t == tag)) else { return };
        net.explain_next(self.caller, c.conn.port(), self.to, Expect::Reset, why);
        c.conn.abort(&mut net.hosts[self.caller].sockets);
        c.state = State::Closing;
    }

    /// Calls in flight or queued.
    pub fn outstanding(&self) -> usize {
        self.queue.len() + self.conns.iter().filter(|c| matches!(c.state, State::Busy(_))).count()
    }

    /// Moves every connection along, reports finished calls in `events`, hands queued calls to
    /// idle connections and opens connections for the rest. `next_port`: the caller's counter.
    pub fn poll(
        &mut self,
        now: Instant,
        net: &mut Network,
        next_port: &mut u16,
        events: &mut Vec<CallEvent>,
    ) -> Result<(), String> {
        let fresh = self.warm == 0;
        let sockets = &mut net.hosts[self.caller].sockets;
        for c in &mut self.conns {
            let conn = &mut c.conn;
            conn.pump(sockets);
            c.state = match std::mem::replace(&mut c.state, State::Dead) {
                State::Opening => match conn.advance(now, sockets)? {
                    None | Some(ConnEvent::Connected) => State::Opening,
                    Some(ConnEvent::Failed(_)) => State::Dead,
                    Some(ConnEvent::Ready) => {
                        self.handshake_us += (now - conn.opened()).as_micros() as u64;
                        State::Idle
                    }
                },
                State::Busy(tag) => {
                    let read = conn.read_response(now);
                    if conn.response_done() {
                        let status = conn.take_response().and_then(|r| r.status).unwrap_or(0);
                        events.push(CallEvent::Done { tag, status, at: now, conn: ConnTimes::of(conn) });
                        if fresh {
                            conn.close(sockets);
                            State::Closing
                        } else {
                            State::Idle
                        }
                    } else if read.and_then(|r| r.error).is_some() {
                        events.push(CallEvent::Failed { tag, at: now });
                        conn.abort(sockets);
                        State::Closing
                    } else if conn.peer_closed(sockets) {
                        events.push(CallEvent::Failed { tag, at: now });
                        conn.close(sockets);
                        State::Closing
                    } else {
                        State::Busy(tag)
                    }
                }
                State::Idle if conn.peer_closed(sockets) => {
                    conn.close(sockets);
                    State::Closing
                }
                State::Idle => State::Idle,
                State::Closing if conn.gone(sockets) => State::Dead,
                State::Closing => State::Closing,
                State::Dead => State::Dead,
            };
        }
        while !self.queue.is_empty() {
            let Some(c) = self.conns.iter_mut().find(|c| matches!(c.state, State::Idle)) else { break };
            let Some((tag, path, what)) = self.queue.pop_front() else { break };
            if let Some(what) = what {
                net.explain_next(self.caller, c.conn.port(), self.to, Expect::Data, || what);
            }
            c.conn.send_request(&http1::get(&self.host_name, &path), tag, now);
            c.conn.pump(&mut net.hosts[self.caller].sockets);
            c.state = State::Busy(tag);
        }
        let opening = self.conns.iter().filter(|c| matches!(c.state, State::Opening)).count();
        let live = self.conns.iter().filter(|c| !matches!(c.state, State::Closing | State::Dead)).count();
        let for_queue = self.queue.len().saturating_sub(opening);
        let for_warm = (self.warm as usize).saturating_sub(live);
        let wanted = for_queue.max(for_warm).min(MAX_CONNECTIONS.saturating_sub(live));
        for _ in 0..wanted {
            let port = take_port(next_port);
            let conn = HttpConn::connect(&mut net.hosts[self.caller], &self.tcp, self.to, port, None, now)?
                .with_tls(self.tls.clone());
            self.opened += 1;
            self.conns.push(Conn { conn, state: State::Opening });
        }
        let sockets = &mut net.hosts[self.caller].sockets;
        self.conns.retain(|c| {
            let dead = matches!(c.state, State::Dead);
            if dead {
                c.conn.remove(sockets);
            }
            !dead
        });
        Ok(())
    }
}
