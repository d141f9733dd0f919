//! A caller's connections to one upstream address: a warm pool of HTTP/1.1 or HTTP/2
//! connections.
//!
//! HTTP/1.1 carries one request at a time on a connection (RFC 9112 §9.3), so a call takes an
//! idle connection, or waits while the pool opens another. The pool opens `warm` connections
//! at once and keeps that many alive (a connection lost to a cancel is replaced at once, as a
//! pool with a minimum idle size does), and grows without limit when more calls are in flight
//! than it holds. With `warm = 0` every call opens a fresh connection and closes it after
//! the response: the cold path whose handshakes pooling saves.
//!
//! HTTP/2 (an upstream whose service speaks it) multiplexes: every call is a stream (RFC 9113
//! §5) on one of the `warm` connections, the one with the fewest streams open, so the pool
//! never grows with the load (gRPC's and Envoy's default). With `warm = 0` each call still
//! gets a fresh connection of its own.
//!
//! Cancelling a call in flight aborts its HTTP/1.1 connection (a TCP reset, RFC 9293
//! §3.10.7.2 ABORT): HTTP/1.1 has no other way to withdraw a request, and it is what HTTP/1.1
//! clients (Go's `net/http`, curl) do. An HTTP/2 call is cancelled with RST_STREAM (RFC 9113
//! §8.7), and the connection goes on. Either way the server sees it and drops the work.

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use super::h3_pool::H3Pool;
use super::{HttpVersion, Replica};
use crate::proto::cwnd::TcpConfig;
use crate::proto::h2::H2Event;
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
    /// The caller's own port: what names the connection at the other end (a relay's log).
    pub port: u16,
    pub opened: Instant,
    pub connected: Option<Instant>,
    pub ready: Option<Instant>,
}

impl ConnTimes {
    fn of(conn: &HttpConn) -> ConnTimes {
        ConnTimes { port: conn.port(), opened: conn.opened(), connected: conn.connected_at(), ready: conn.ready_at() }
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
    /// Open, no call on it (HTTP/1.1).
    Idle,
    /// Carrying call `tag` (HTTP/1.1).
    Busy(u64),
    /// Open, carrying the calls in `Conn::streams` (HTTP/2).
    Mux,
    Closing,
    Dead,
}

/// An HTTP/2 call on a connection: its stream, its tag, and the status once the head came.
struct StreamCall {
    stream: u32,
    tag: u64,
    status: Option<u16>,
}

struct Conn {
    conn: HttpConn,
    state: State,
    streams: Vec<StreamCall>,
    /// HTTP/2 with `warm = 0`: it has carried its one call.
    used: bool,
}

/// Connections from host `caller` to one upstream address.
pub struct Upstream {
    caller: usize,
    to: SocketAddrV4,
    host_name: String,
    http: HttpVersion,
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
    /// The pool of an HTTP/3 upstream, which runs every call ([`H3Pool`]).
    h3: Option<H3Pool>,
}

impl Upstream {
    /// A pool from `caller` to replica `to` (named in requests by its host name, or behind a
    /// relay by the name of what answers there; in the HTTP version that service speaks),
    /// keeping `warm` connections.
    /// An HTTP/3 upstream's pool is QUIC's ([`H3Pool`]); give it a seed with
    /// [`with_quic_seed`](Self::with_quic_seed).
    pub fn new(caller: usize, to: &Replica, tcp: TcpConfig, tls: Option<TlsSetup>, warm: u32) -> Upstream {
        let h3 = (to.http == HttpVersion::Http3).then(|| H3Pool::new(caller, to, tls.clone(), warm, 0));
        let tls = match to.http {
            // Ask for h2 by ALPN (RFC 9113 §3.2).
            HttpVersion::Http2 => tls.map(|t| t.with_alpn(b"h2")),
            HttpVersion::Http1 | HttpVersion::Http3 => tls,
        };
        Upstream {
            caller,
            to: to.addr,
            host_name: to.authority().to_string(),
            http: to.http,
            tcp,
            tls,
            warm,
            conns: Vec::new(),
            queue: VecDeque::new(),
            opened: 0,
            handshake_us: 0,
            h3,
        }
    }

    /// Seeds the QUIC connections of an HTTP/3 upstream (every random choice they make).
    pub fn with_quic_seed(mut self, seed: u64) -> Upstream {
        if let Some(p) = &mut self.h3 {
            p.seed = seed;
        }
        self
    }

    /// The next QUIC timer of an HTTP/3 upstream (TCP's timers are smoltcp's own).
    pub fn next_timer(&self) -> Option<Instant> {
        self.h3.as_ref().and_then(H3Pool::next_timer)
    }

    /// The address it calls.
    pub fn addr(&self) -> SocketAddrV4 {
        self.to
    }

    /// Every warm connection is open and idle (the pool is ready before a workload starts).
    pub fn warmed(&self) -> bool {
        if let Some(p) = &self.h3 {
            return p.warmed();
        }
        let ready = |c: &&Conn| matches!(c.state, State::Idle) || matches!(c.state, State::Mux) && c.streams.is_empty();
        self.conns.iter().filter(ready).count() >= self.warm as usize
    }

    /// Queues `GET path` under `tag`; it goes on the next free connection. `what` the call is
    /// goes into the request's comment in the captures (asked for only if a tap records it).
    pub fn send(&mut self, tag: u64, path: String, net: &Network, what: impl FnOnce() -> String) {
        let what = net.captured_between(self.caller, *self.to.ip()).then(what);
        match &mut self.h3 {
            Some(p) => p.send(tag, path, what),
            None => self.queue.push_back((tag, path, what)),
        }
    }

    /// Withdraws call `tag`: dropped from the queue, or its connection reset (`why` goes into
    /// the reset's comment in the captures).
    pub fn cancel(&mut self, tag: u64, net: &mut Network, why: impl FnOnce() -> String) {
        if let Some(p) = &mut self.h3 {
            return p.cancel(tag, net, why);
        }
        self.queue.retain(|(t, _, _)| *t != tag);
        for c in &mut self.conns {
            if let Some(at) = c.streams.iter().position(|s| s.tag == tag) {
                let call = c.streams.remove(at);
                net.explain_next(self.caller, c.conn.port(), self.to, Expect::Data, || {
                    format!("RST_STREAM on stream {}: {}", call.stream, why())
                });
                c.conn.h2_cancel(call.stream);
                c.conn.pump(&mut net.hosts[self.caller].sockets);
                return;
            }
        }
        let Some(c) = self.conns.iter_mut().find(|c| matches!(c.state, State::Busy(t) if t == tag)) else { return };
        net.explain_next(self.caller, c.conn.port(), self.to, Expect::Reset, why);
        c.conn.abort(&mut net.hosts[self.caller].sockets);
        c.state = State::Closing;
    }

    /// Calls in flight or queued.
    pub fn outstanding(&self) -> usize {
        if let Some(p) = &self.h3 {
            return p.outstanding();
        }
        let streams: usize = self.conns.iter().map(|c| c.streams.len()).sum();
        self.queue.len() + streams + self.conns.iter().filter(|c| matches!(c.state, State::Busy(_))).count()
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
        if let Some(p) = &mut self.h3 {
            p.poll(now, net, next_port, events)?;
            (self.opened, self.handshake_us) = (p.opened, p.handshake_us);
            return Ok(());
        }
        let fresh = self.warm == 0;
        let h2 = self.http == HttpVersion::Http2;
        let sockets = &mut net.hosts[self.caller].sockets;
        for c in &mut self.conns {
            let conn = &mut c.conn;
            conn.pump(sockets);
            c.state = match std::mem::replace(&mut c.state, State::Dead) {
                State::Opening => match conn.advance(now, sockets)? {
                    None | Some(ConnEvent::Connected) => State::Opening,
                    Some(ConnEvent::Failed(_)) => {
                        // Refused, reset, or a TLS handshake the server would not finish: the
                        // oldest call waiting for a connection gets the error, as a pool's
                        // caller does, rather than a new connection for ever.
                        if let Some((tag, _, _)) = self.queue.pop_front() {
                            events.push(CallEvent::Failed { tag, at: now });
                        }
                        State::Dead
                    }
                    Some(ConnEvent::Ready) if h2 => {
                        self.handshake_us += (now - conn.opened()).as_micros() as u64;
                        // The preface and SETTINGS (RFC 9113 §3.4): by ALPN over TLS, by prior
                        // knowledge in plain text (§3.3).
                        conn.start_h2(&self.host_name, &[])?;
                        conn.pump(sockets);
                        State::Mux
                    }
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
                State::Mux => poll_streams(c, now, fresh, sockets, events),
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
        if h2 {
            self.dispatch_streams(net)?;
        } else {
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
        }
        let opening = self.conns.iter().filter(|c| matches!(c.state, State::Opening)).count();
        let live = self.conns.iter().filter(|c| !matches!(c.state, State::Closing | State::Dead)).count();
        let for_queue = if h2 && !fresh {
            // Streams share the connections: one is enough for any number of calls.
            usize::from(!self.queue.is_empty() && live == 0)
        } else {
            self.queue.len().saturating_sub(opening)
        };
        let for_warm = (self.warm as usize).saturating_sub(live);
        let wanted = for_queue.max(for_warm).min(MAX_CONNECTIONS.saturating_sub(live));
        for _ in 0..wanted {
            let port = take_port(next_port);
            let conn = HttpConn::connect(&mut net.hosts[self.caller], &self.tcp, self.to, port, None, now)?
                .with_tls(self.tls.clone());
            self.opened += 1;
            self.conns.push(Conn { conn, state: State::Opening, streams: Vec::new(), used: false });
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

impl Upstream {
    /// Hands queued calls to open HTTP/2 connections as new streams: each to the connection
    /// with the fewest streams open (the first of those), or with `warm = 0` to a fresh
    /// connection that has carried none.
    fn dispatch_streams(&mut self, net: &mut Network) -> Result<(), String> {
        let fresh = self.warm == 0;
        while !self.queue.is_empty() {
            let usable = |c: &Conn| matches!(c.state, State::Mux) && !(fresh && c.used);
            let Some(c) = self.conns.iter_mut().filter(|c| usable(c)).min_by_key(|c| c.streams.len()) else { break };
            let Some((tag, path, what)) = self.queue.pop_front() else { break };
            if let Some(what) = what {
                net.explain_next(self.caller, c.conn.port(), self.to, Expect::Data, || what);
            }
            let stream = c.conn.h2_get(&self.host_name, &path)?;
            c.conn.pump(&mut net.hosts[self.caller].sockets);
            c.streams.push(StreamCall { stream, tag, status: None });
            c.used = true;
        }
        Ok(())
    }
}

/// Moves an HTTP/2 connection's calls along: a stream's head gives its status, its end
/// finishes the call (RFC 9113 §8.1); a stream error fails that call, a connection error or
/// a close every call on it. Returns the connection's next state.
fn poll_streams(
    c: &mut Conn,
    now: Instant,
    fresh: bool,
    sockets: &mut smoltcp::iface::SocketSet<'static>,
    events: &mut Vec<CallEvent>,
) -> State {
    let conn = &mut c.conn;
    let mut broken = false;
    for event in conn.poll_h2() {
        match event {
            H2Event::Response { stream, status } => {
                if let Some(call) = c.streams.iter_mut().find(|s| s.stream == stream) {
                    call.status = Some(status);
                }
            }
            H2Event::End { stream } => {
                if let Some(at) = c.streams.iter().position(|s| s.stream == stream) {
                    let call = c.streams.remove(at);
                    let status = call.status.unwrap_or(0);
                    events.push(CallEvent::Done { tag: call.tag, status, at: now, conn: ConnTimes::of(conn) });
                }
            }
            H2Event::StreamError { stream, .. } => {
                if let Some(at) = c.streams.iter().position(|s| s.stream == stream) {
                    events.push(CallEvent::Failed { tag: c.streams.remove(at).tag, at: now });
                }
            }
            H2Event::Error(_) => broken = true,
            H2Event::Data { .. } | H2Event::Pong => {}
        }
    }
    conn.pump(sockets);
    if broken || conn.peer_closed(sockets) {
        for call in c.streams.drain(..) {
            events.push(CallEvent::Failed { tag: call.tag, at: now });
        }
        if broken {
            conn.abort(sockets);
        } else {
            conn.close(sockets);
        }
        return State::Closing;
    }
    if fresh && c.used && c.streams.is_empty() {
        conn.close(sockets);
        return State::Closing;
    }
    State::Mux
}
