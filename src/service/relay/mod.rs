//! A relay: a TCP-level (layer 4) proxy, as a load balancer that passes TLS through, or an
//! SNI proxy in L4 mode, is.
//!
//! For each connection it accepts, it opens one fresh TCP connection to the next replica of
//! its upstream (round-robin) at once, on the caller's SYN, without waiting for a first byte,
//! and copies bytes both ways, unchanged. It never reads inside them: a caller's TLS session
//! runs end to end with the upstream, whose certificate the caller verifies
//! ([`super::Passthrough`]). All the relay can see of TLS are the record headers and the
//! ClientHello's server name (`records`), which its comments in the captures say.
//!
//! - Bytes that arrive before the upstream connection is open wait in the relay, at most
//!   [`BUFFER`] per direction; past that it stops reading, and TCP's window holds the sender
//!   back (RFC 9293 §3.8.6).
//! - A FIN from one side is passed on as a FIN to the other once every byte before it has
//!   been handed on: a half-close (RFC 9293 §3.6), after which the other side may still send.
//! - A reset from either side resets the other (RFC 9293 §3.10.7.4); an upstream connection
//!   that fails before it opens (refused, reset, timed out) resets the caller's.
//!
//! It is sans-IO like every service: it takes `now`, reads and writes sockets through the
//! [`Network`], and has no timer of its own. Its log ([`RelayLog`]) keeps each connection's
//! times and the turns of its conversation.

mod log;
mod records;

pub use log::{Ending, RelayConn, RelayLog, Turn, MAX_TURNS};

use std::net::{Ipv4Addr, SocketAddrV4};

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{IpAddress, IpEndpoint};

use super::{RelaySpec, Replica};
use crate::proto::cwnd::TcpConfig;
use crate::proto::http_client::take_port;
use crate::proto::stream::{tcp_socket, Stream};
use crate::sim::network::{Expect, Network};
use crate::time::Instant;
use records::Records;

/// Bytes a relay holds per direction of a connection, not yet handed to TCP (waiting for the
/// upstream connection to open, or for the congestion window).
pub const BUFFER: usize = 256 * 1024;

/// One end of a relayed connection, as the relay holds it.
struct Side {
    stream: Stream,
    /// Who is at the other end of this socket.
    peer: SocketAddrV4,
    /// The relay's own port on it.
    port: u16,
    /// Bytes written to it (to be sent to `peer`), in all.
    written: u64,
    /// The peer's FIN arrived.
    fin_in: bool,
    /// The relay sent its FIN (passing on the other side's).
    fin_out: bool,
    /// What the relay can see of the bytes that come *from* this side.
    records: Records,
    /// Bytes written to this side not yet said in a capture comment: when the first of them
    /// arrived, what they were, and whether this side's connection was open then.
    unsaid: Option<(Instant, String, bool)>,
}

impl Side {
    fn new(stream: Stream, peer: SocketAddrV4, port: u16) -> Side {
        Side {
            stream,
            peer,
            port,
            written: 0,
            fin_in: false,
            fin_out: false,
            records: Records::default(),
            unsaid: None,
        }
    }

    fn state(&self, sockets: &SocketSet<'static>) -> State {
        sockets.get::<tcp::Socket>(self.stream.handle).state()
    }

    /// Both FINs went: a Closed socket then is a normal end, not a reset.
    fn closed_normally(&self) -> bool {
        self.fin_in && self.fin_out
    }
}

/// One connection through the relay: the caller's, and the relay's own to the upstream.
struct Conn {
    /// Its record in [`RelayLog::conns`].
    log: usize,
    caller: Side,
    upstream: Side,
    connected: bool,
    /// Where the current turn's bytes start in the upstream side's outgoing stream, and where
    /// its answer (so far) ends in the caller side's.
    turn_up_start: u64,
    turn_down_end: u64,
    /// The current turn's answer has bytes not yet handed to TCP.
    answer_pending: bool,
    /// Nothing more to do but wait for both sockets to close.
    ended: bool,
}

/// A relay on one host and port.
pub struct Relay {
    pub host: usize,
    port: u16,
    tcp: TcpConfig,
    listener: SocketHandle,
    replicas: Vec<Replica>,
    next_replica: usize,
    next_port: u16,
    conns: Vec<Conn>,
    pub log: RelayLog,
}

impl Relay {
    /// The relay `spec` on `host`, listening on `port`; its own ports come from `rng`.
    pub fn new(net: &mut Network, host: usize, port: u16, spec: &RelaySpec, tcp: TcpConfig, rng: ChaCha8Rng) -> Relay {
        let mut rng = rng;
        let listener = listen(&mut net.hosts[host].sockets, port, &tcp);
        Relay {
            host,
            port,
            tcp,
            listener,
            replicas: spec.replicas.clone(),
            next_replica: 0,
            next_port: 49152 + (rng.next_u32() % 8192) as u16,
            conns: Vec::new(),
            log: RelayLog::default(),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The upstream replicas it relays to, in round-robin order.
    pub fn replicas(&self) -> &[Replica] {
        &self.replicas
    }

    /// It has no timer: everything it does follows a packet.
    pub fn next_timer(&self) -> Option<Instant> {
        None
    }

    /// Accepts what arrived, moves bytes and FINs along both ways, passes resets on, and
    /// forgets connections whose sockets have both closed.
    pub fn poll(&mut self, now: Instant, net: &mut Network) {
        self.accept(now, net);
        for i in 0..self.conns.len() {
            self.step(i, now, net);
        }
        let sockets = &mut net.hosts[self.host].sockets;
        self.conns.retain(|c| {
            let gone = |s: &Side| {
                let socket = sockets.get::<tcp::Socket>(s.stream.handle);
                socket.state() == State::Closed && socket.remote_endpoint().is_none()
            };
            let done = c.ended && gone(&c.caller) && gone(&c.upstream);
            if done {
                sockets.remove(c.caller.stream.handle);
                sockets.remove(c.upstream.stream.handle);
            }
            !done
        });
    }

    /// The listener took a SYN: it becomes the caller's socket, a new one listens, and the
    /// relay sends its own SYN to the next upstream replica at once.
    fn accept(&mut self, now: Instant, net: &mut Network) {
        let host = &mut net.hosts[self.host];
        let socket = host.sockets.get::<tcp::Socket>(self.listener);
        if socket.state() == State::Listen {
            return;
        }
        let caller = v4(socket.remote_endpoint());
        let caller_side = Side::new(Stream::new(self.listener, &self.tcp), caller, self.port);
        self.listener = listen(&mut host.sockets, self.port, &self.tcp);
        let replica = self.next_replica.checked_rem(self.replicas.len()).unwrap_or(0);
        self.next_replica = self.next_replica.wrapping_add(1);
        let to = self.replicas.get(replica).map_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), |r| r.addr);
        let local = take_port(&mut self.next_port);
        let mut socket = tcp_socket(&self.tcp);
        // A refused connect (no replica, no route) leaves the socket closed: the caller is
        // reset at the next step, as for any upstream that cannot be reached.
        let _ = socket.connect(host.iface.context(), (IpAddress::Ipv4(*to.ip()), to.port()), local);
        let upstream = host.sockets.add(socket);
        if net.captured_between(self.host, *to.ip()) {
            let why = format!(
                "SYN: the relay opens its own connection to {} for {}'s, as it accepts it, before any byte",
                who(net, to),
                who(net, caller)
            );
            net.explain_next(self.host, local, to, Expect::Syn, || why);
        }
        self.log.conns.push(RelayConn {
            caller,
            local_port: local,
            replica,
            upstream: to,
            accepted: now,
            upstream_connected: None,
            bytes_up: 0,
            bytes_down: 0,
            turns: Vec::new(),
            turns_merged: false,
            ended: None,
        });
        self.conns.push(Conn {
            log: self.log.conns.len() - 1,
            caller: caller_side,
            upstream: Side::new(Stream::new(upstream, &self.tcp), to, local),
            connected: false,
            turn_up_start: 0,
            turn_down_end: 0,
            answer_pending: false,
            ended: false,
        });
    }

    /// Moves connection `i` along at `now`.
    fn step(&mut self, i: usize, now: Instant, net: &mut Network) {
        let Some(c) = self.conns.get_mut(i) else { return };
        if c.ended {
            return;
        }
        let sockets = &mut net.hosts[self.host].sockets;
        let (cs, us) = (c.caller.state(sockets), c.upstream.state(sockets));
        let log = &mut self.log.conns[c.log];
        if !c.connected && synchronized(us) {
            c.connected = true;
            log.upstream_connected = Some(now);
        }
        c.caller.fin_in |= remote_closed(cs);
        c.upstream.fin_in |= remote_closed(us);
        let ending = if !c.connected && us == State::Closed {
            Some(Ending::ConnectFailed)
        } else if cs == State::Listen || (cs == State::Closed && !c.caller.closed_normally()) {
            // Listen again: reset during its handshake (smoltcp's listener goes back to LISTEN).
            Some(Ending::CallerReset)
        } else if us == State::Closed && !c.upstream.closed_normally() {
            Some(Ending::UpstreamReset)
        } else {
            None
        };
        if let Some(how) = ending {
            end(c, log, how, now, net, self.host);
            return;
        }
        let (handed_up, handed_down) = (c.upstream.stream.handed(), c.caller.stream.handed());
        let up = carry(&mut c.caller, &mut c.upstream, sockets, (now, c.connected));
        let down = carry(&mut c.upstream, &mut c.caller, sockets, (now, synchronized(cs)));
        c.upstream.stream.send(sockets);
        c.caller.stream.send(sockets);
        note_turns(c, log, up, down, now);
        // The FINs, once every byte before them has been handed on.
        let fin_up = c.caller.fin_in
            && !c.upstream.fin_out
            && c.connected
            && c.upstream.stream.unsent() == 0
            && !sockets.get::<tcp::Socket>(c.caller.stream.handle).can_recv();
        let fin_down = c.upstream.fin_in
            && !c.caller.fin_out
            && c.caller.stream.unsent() == 0
            && !sockets.get::<tcp::Socket>(c.upstream.stream.handle).can_recv();
        if fin_up {
            sockets.get_mut::<tcp::Socket>(c.upstream.stream.handle).close();
            c.upstream.fin_out = true;
        }
        if fin_down {
            sockets.get_mut::<tcp::Socket>(c.caller.stream.handle).close();
            c.caller.fin_out = true;
        }
        if c.caller.closed_normally() && c.upstream.closed_normally() {
            log.ended = Some((now, Ending::Closed));
            c.ended = true;
        }
        if net.captured_between(self.host, *c.caller.peer.ip())
            || net.captured_between(self.host, *c.upstream.peer.ip())
        {
            let (from_caller, from_upstream) = (c.caller.peer, c.upstream.peer);
            say(net, self.host, &mut c.upstream, handed_up, fin_up, from_caller, now);
            say(net, self.host, &mut c.caller, handed_down, fin_down, from_upstream, now);
        }
    }
}

/// A fresh socket listening on `port`.
fn listen(sockets: &mut SocketSet<'static>, port: u16, tcp: &TcpConfig) -> SocketHandle {
    let mut socket = tcp_socket(tcp);
    // A fresh socket in a set we own: listening cannot fail.
    let _ = socket.listen(port);
    sockets.add(socket)
}

fn v4(endpoint: Option<IpEndpoint>) -> SocketAddrV4 {
    match endpoint {
        Some(IpEndpoint { addr: IpAddress::Ipv4(a), port }) => SocketAddrV4::new(a, port),
        None => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
    }
}

/// `host:port`, the host by its name in the lab.
fn who(net: &Network, a: SocketAddrV4) -> String {
    let name = net.hosts.iter().find(|h| h.addr == *a.ip()).map_or_else(|| a.ip().to_string(), |h| h.name.clone());
    format!("{name}:{}", a.port())
}

/// The connection is open at this end (its handshake is done), whatever has closed since.
fn synchronized(state: State) -> bool {
    !matches!(state, State::Closed | State::Listen | State::SynSent | State::SynReceived)
}

/// The peer's FIN has arrived.
fn remote_closed(state: State) -> bool {
    matches!(state, State::CloseWait | State::LastAck | State::Closing | State::TimeWait)
}

/// Reads what `from`'s socket holds, as much as `to` can still hold ([`BUFFER`]), and writes
/// it to `to` (it goes out as `to`'s window allows, once `to` is open: `open` says whether it
/// is at `now`). Returns how many bytes.
fn carry(from: &mut Side, to: &mut Side, sockets: &mut SocketSet<'static>, (now, open): (Instant, bool)) -> u64 {
    let room = BUFFER.saturating_sub(to.stream.unsent());
    let socket = sockets.get_mut::<tcp::Socket>(from.stream.handle);
    let mut bytes = Vec::new();
    while bytes.len() < room && socket.can_recv() {
        let want = room - bytes.len();
        let taken = socket.recv(|data| {
            let n = data.len().min(want);
            bytes.extend_from_slice(&data[..n]);
            (n, n)
        });
        if !matches!(taken, Ok(n) if n > 0) {
            break;
        }
    }
    if bytes.is_empty() {
        return 0;
    }
    let seen = from.records.observe(&bytes);
    to.unsaid.get_or_insert_with(|| (now, seen.words(), open));
    to.stream.write(&bytes);
    to.written += bytes.len() as u64;
    bytes.len() as u64
}

/// Records `up` bytes from the caller and `down` from the upstream in the connection's turns,
/// and when they were handed on.
fn note_turns(c: &mut Conn, log: &mut RelayConn, up: u64, down: u64, now: Instant) {
    if up > 0 {
        log.bytes_up += up;
        let fresh = log.turns.last().is_none_or(|t| t.bytes_down > 0);
        if fresh && log.turns.len() < MAX_TURNS {
            log.turns.push(Turn {
                arrived: Some(now),
                forwarded: None,
                bytes_up: up,
                answer_arrived: None,
                answered: None,
                bytes_down: 0,
            });
            c.turn_up_start = c.upstream.written - up;
        } else if let Some(t) = log.turns.last_mut() {
            log.turns_merged |= fresh;
            t.bytes_up += up;
        }
    }
    if down > 0 {
        log.bytes_down += down;
        if log.turns.is_empty() {
            // The upstream spoke first.
            let t = Turn {
                arrived: None,
                forwarded: None,
                bytes_up: 0,
                answer_arrived: None,
                answered: None,
                bytes_down: 0,
            };
            log.turns.push(t);
        }
        if let Some(t) = log.turns.last_mut() {
            t.answer_arrived.get_or_insert(now);
            t.bytes_down += down;
        }
        c.turn_down_end = c.caller.written;
        c.answer_pending = true;
    }
    let Some(t) = log.turns.last_mut() else { return };
    if t.forwarded.is_none() && t.arrived.is_some() && c.upstream.stream.handed() > c.turn_up_start {
        t.forwarded = Some(now);
    }
    if c.answer_pending && c.caller.stream.handed() >= c.turn_down_end {
        t.answered = Some(now);
        c.answer_pending = false;
    }
}

/// Ends connection `c` `how` it ended: the side still open is reset.
fn end(c: &mut Conn, log: &mut RelayConn, how: Ending, now: Instant, net: &mut Network, host: usize) {
    c.ended = true;
    log.ended = Some((now, how));
    let (to, from) = match how {
        Ending::CallerReset => (&c.upstream, &c.caller),
        _ => (&c.caller, &c.upstream),
    };
    let why = match how {
        Ending::CallerReset => format!("reset: passes on {}'s reset", who(net, from.peer)),
        Ending::UpstreamReset => format!("reset: passes on {}'s reset", who(net, from.peer)),
        _ => format!(
            "reset: the relay could not open its connection to {} (refused, reset or timed out)",
            who(net, from.peer)
        ),
    };
    net.explain_next(host, to.port, to.peer, Expect::Reset, || why);
    let sockets = &mut net.hosts[host].sockets;
    for side in [&c.caller, &c.upstream] {
        let socket = sockets.get_mut::<tcp::Socket>(side.stream.handle);
        if socket.state() != State::Closed {
            socket.abort();
        }
    }
}

/// Says in the captures what the relay hands to `to` at this poll: the bytes it passed on
/// (`handed_before`: what `to`'s stream had handed to TCP before) and its FIN, if it sent one.
fn say(net: &mut Network, host: usize, to: &mut Side, handed_before: u64, fin: bool, from: SocketAddrV4, now: Instant) {
    let handed = to.stream.handed() - handed_before;
    let data = match (&to.unsaid, handed > 0) {
        (Some((since, what, open)), true) => {
            let ms = (now - *since).as_secs_f64() * 1000.0;
            let held = match (ms > 0.0, open) {
                (false, _) => String::new(),
                (true, false) => format!(", held {ms:.3} ms until its connection to {} opened", who(net, to.peer)),
                (true, true) => format!(", held {ms:.3} ms by the congestion window"),
            };
            Some(format!("relay: passes on {handed} bytes from {} unchanged{held}: {what}", who(net, from)))
        }
        _ => None,
    };
    if data.is_some() {
        to.unsaid = None;
    }
    let fin = fin
        .then(|| format!("passes on {}'s FIN (a half-close, RFC 9293 §3.6: the other way stays open)", who(net, from)));
    match (data, fin) {
        (Some(d), Some(f)) => net.explain_next(host, to.port, to.peer, Expect::Data, || format!("{d}; then {f}")),
        (Some(d), None) => net.explain_next(host, to.port, to.peer, Expect::Data, || d),
        (None, Some(f)) => net.explain_next(host, to.port, to.peer, Expect::Fin, || format!("relay: {f}")),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests;
