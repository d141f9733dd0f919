//! A caller's HTTP/3 connections to one upstream (RFC 9114 over QUIC, RFC 9000): what
//! [`super::upstream::Upstream`] runs when the service it calls speaks HTTP/3.
//!
//! Each connection is one [`QuicClient`] (the project's one QUIC client) on a UDP socket of
//! its own on the caller's host, and every call is a request stream on it (RFC 9114 §4.1), many
//! at once, like HTTP/2's streams: a call goes to the ready connection with the fewest calls
//! open, so the pool never grows with the load. The pool opens `warm` connections at once and
//! keeps that many (a lost one is replaced); a warm connection has finished its handshake
//! before the first call. With `warm = 0` every call gets a fresh connection of its own, closed
//! (CONNECTION_CLOSE, RFC 9000 §10.2) once its response is in.
//!
//! QUIC carries TLS 1.3 in its own packets (RFC 9001 §4): a fresh connection is ready after one
//! round trip (TCP + TLS 1.3 need two), and its first request goes then. Each connection's
//! [`ConnTimes`] records when it was opened and when it was ready; QUIC has no separate
//! transport handshake, so `connected` is `ready`.
//!
//! A cancelled call is STOP_SENDING and RESET_STREAM with H3_REQUEST_CANCELLED (RFC 9114
//! §4.1.1); the connection goes on. A connection that fails fails every call on it (or, before
//! it was ready, the oldest call waiting, as the TCP pool does).

use std::collections::VecDeque;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;

use smoltcp::iface::SocketHandle;

use super::h3::{receive, send, udp_socket, CALLER_SOCKET, INITIAL_WINDOW};
use super::upstream::{CallEvent, ConnTimes, MAX_CONNECTIONS};
use super::Replica;
use crate::proto::http_client::{take_port, TlsSetup};
use crate::proto::quic::{QuicClient, QuicEvent};
use crate::sim::network::{Expect, Network};
use crate::time::Instant;

/// A call on a connection: its stream, its tag, and the status once the head came.
struct StreamCall {
    stream: u64,
    tag: u64,
    status: Option<u16>,
}

struct QuicConn {
    client: QuicClient,
    udp: SocketHandle,
    port: u16,
    opened: Instant,
    ready: Option<Instant>,
    calls: Vec<StreamCall>,
    /// With `warm = 0`: it has carried its one call.
    used: bool,
    /// Closed (or failed): draining until quinn forgets it.
    closing: bool,
}

impl QuicConn {
    fn times(&self) -> ConnTimes {
        ConnTimes { port: self.port, opened: self.opened, connected: self.ready, ready: self.ready }
    }

    fn usable(&self, fresh: bool) -> bool {
        self.ready.is_some() && !self.closing && !(fresh && self.used)
    }
}

/// HTTP/3 connections from host `caller` to one upstream address.
pub struct H3Pool {
    caller: usize,
    to: SocketAddrV4,
    authority: String,
    tls: Option<TlsSetup>,
    warm: u32,
    /// Draws every QUIC random choice of its connections (each its own, by number).
    pub seed: u64,
    conns: Vec<QuicConn>,
    queue: VecDeque<(u64, String, Option<String>)>,
    /// The QUIC timers after the last poll.
    timer: Option<Instant>,
    /// Connections opened, handshakes included.
    pub opened: u64,
    /// Microseconds from the first Initial to ready, summed over the connections opened.
    pub handshake_us: u64,
}

impl H3Pool {
    /// A pool from `caller` to `to`, over TLS 1.3 as `tls` says (required: there is no QUIC
    /// without it), keeping `warm` connections; `seed` draws every QUIC random choice.
    pub fn new(caller: usize, to: &Replica, tls: Option<TlsSetup>, warm: u32, seed: u64) -> H3Pool {
        H3Pool {
            caller,
            to: to.addr,
            authority: to.authority().to_string(),
            tls,
            warm,
            seed,
            conns: Vec::new(),
            queue: VecDeque::new(),
            timer: None,
            opened: 0,
            handshake_us: 0,
        }
    }

    /// Every warm connection is ready and carries no call.
    pub fn warmed(&self) -> bool {
        let idle = |c: &&QuicConn| c.ready.is_some() && !c.closing && c.calls.is_empty();
        self.conns.iter().filter(idle).count() >= self.warm as usize
    }

    /// Queues `GET path` under `tag`; `what` goes into the captures' comment of its request.
    pub fn send(&mut self, tag: u64, path: String, what: Option<String>) {
        self.queue.push_back((tag, path, what));
    }

    /// Withdraws call `tag`: dropped from the queue, or its stream cancelled.
    pub fn cancel(&mut self, tag: u64, net: &mut Network, why: impl FnOnce() -> String) {
        self.queue.retain(|(t, _, _)| *t != tag);
        for c in &mut self.conns {
            if let Some(at) = c.calls.iter().position(|s| s.tag == tag) {
                let call = c.calls.remove(at);
                net.explain_next(self.caller, c.port, self.to, Expect::Datagram, || {
                    format!("STOP_SENDING and RESET_STREAM on stream {}: {}", call.stream, why())
                });
                c.client.cancel(call.stream);
                return;
            }
        }
    }

    /// Calls in flight or queued.
    pub fn outstanding(&self) -> usize {
        self.queue.len() + self.conns.iter().map(|c| c.calls.len()).sum::<usize>()
    }

    /// The next QUIC timer (loss detection, ACK delay, pacing, idle, draining).
    pub fn next_timer(&self) -> Option<Instant> {
        self.timer
    }

    /// Takes datagrams in, runs due timers, reports finished calls in `events`, hands queued
    /// calls to ready connections, opens connections for the rest and sends what QUIC has to
    /// send. `next_port`: the caller's counter.
    pub fn poll(
        &mut self,
        now: Instant,
        net: &mut Network,
        next_port: &mut u16,
        events: &mut Vec<CallEvent>,
    ) -> Result<(), String> {
        let fresh = self.warm == 0;
        for c in &mut self.conns {
            let client = &mut c.client;
            receive(net, self.caller, c.udp, |from, data| client.handle_datagram(now, from, data));
            if c.client.poll_timeout().is_some_and(|t| t <= now) {
                c.client.handle_timeout(now);
            }
            let mut failed = false;
            for event in c.client.poll_events() {
                match event {
                    QuicEvent::Connected => {
                        c.ready = Some(now);
                        self.handshake_us += (now - c.opened).as_micros() as u64;
                    }
                    QuicEvent::Response { stream, status } => {
                        if let Some(call) = c.calls.iter_mut().find(|s| s.stream == stream) {
                            call.status = Some(status);
                        }
                    }
                    QuicEvent::Finished { stream, .. } => {
                        if let Some(at) = c.calls.iter().position(|s| s.stream == stream) {
                            let call = c.calls.remove(at);
                            let status = call.status.unwrap_or(0);
                            events.push(CallEvent::Done { tag: call.tag, status, at: now, conn: c.times() });
                        }
                    }
                    QuicEvent::Error(_) => failed = true,
                    QuicEvent::Chunk { .. } => {}
                }
            }
            if failed && !c.closing {
                if c.ready.is_none() {
                    // Refused, or a handshake that failed: the oldest call waiting gets the
                    // error, rather than a new connection for ever.
                    if let Some((tag, _, _)) = self.queue.pop_front() {
                        events.push(CallEvent::Failed { tag, at: now });
                    }
                }
                for call in c.calls.drain(..) {
                    events.push(CallEvent::Failed { tag: call.tag, at: now });
                }
                c.client.close(now);
                c.closing = true;
            }
            if fresh && c.used && c.calls.is_empty() && !c.closing {
                c.client.close(now);
                c.closing = true;
            }
        }
        self.dispatch(net)?;
        self.open(now, net, next_port)?;
        let mut timer: Option<Instant> = None;
        for c in &mut self.conns {
            let client = &mut c.client;
            send(net, self.caller, c.udp, || client.poll_transmit(now))?;
            if let Some(t) = c.client.poll_timeout() {
                timer = Some(timer.map_or(t, |m| m.min(t)));
            }
        }
        self.timer = timer;
        let sockets = &mut net.hosts[self.caller].sockets;
        self.conns.retain(|c| {
            let gone = c.closing && c.client.is_gone();
            if gone {
                sockets.remove(c.udp);
            }
            !gone
        });
        Ok(())
    }

    /// Hands queued calls to ready connections as request streams: each to the one with the
    /// fewest calls open (the first of those), or with `warm = 0` to a fresh one.
    fn dispatch(&mut self, net: &mut Network) -> Result<(), String> {
        let fresh = self.warm == 0;
        while !self.queue.is_empty() {
            let usable = self.conns.iter_mut().filter(|c| c.usable(fresh));
            let Some(c) = usable.min_by_key(|c| c.calls.len()) else { break };
            let Some((tag, path, what)) = self.queue.pop_front() else { break };
            if let Some(what) = what {
                net.explain_next(self.caller, c.port, self.to, Expect::Datagram, || what);
            }
            let stream = c.client.get(&self.authority, &path)?;
            c.calls.push(StreamCall { stream, tag, status: None });
            c.used = true;
        }
        Ok(())
    }

    /// Opens the connections the queue and the warm pool need.
    fn open(&mut self, now: Instant, net: &mut Network, next_port: &mut u16) -> Result<(), String> {
        let fresh = self.warm == 0;
        let live = self.conns.iter().filter(|c| !c.closing).count();
        let opening = self.conns.iter().filter(|c| !c.closing && c.ready.is_none()).count();
        let for_queue = if fresh {
            self.queue.len().saturating_sub(opening)
        } else {
            // Streams share the connections: one is enough for any number of calls.
            usize::from(!self.queue.is_empty() && live == 0)
        };
        let for_warm = (self.warm as usize).saturating_sub(live);
        let wanted = for_queue.max(for_warm).min(MAX_CONNECTIONS.saturating_sub(live));
        if wanted == 0 {
            return Ok(());
        }
        let Some(tls) = &self.tls else {
            return Err(format!("HTTP/3 to {} needs TLS 1.3 (RFC 9001 §4)", self.to));
        };
        let (config, name) = tls.for_quic();
        for _ in 0..wanted {
            let port = take_port(next_port);
            let local = SocketAddr::from((net.hosts[self.caller].addr, port));
            let seed = crate::rng::derive(self.seed, &format!("quic:conn {}", self.opened));
            let client =
                QuicClient::with_tls(Arc::clone(&config), &name, seed, INITIAL_WINDOW, local, self.to.into(), now)?;
            let udp = udp_socket(net, self.caller, port, CALLER_SOCKET);
            self.opened += 1;
            self.conns.push(QuicConn {
                client,
                udp,
                port,
                opened: now,
                ready: None,
                calls: Vec::new(),
                used: false,
                closing: false,
            });
        }
        Ok(())
    }
}
