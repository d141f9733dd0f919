//! What a relay records of each connection it passes through: when it accepted it, when its
//! own connection to the upstream opened, the bytes each way, how it ended, and the turns of
//! the conversation. The analyses read these (the latency budget's hops through a relay),
//! never the captures' comments.
//!
//! A **turn** is the caller's bytes, then the upstream's answer: it starts with the first
//! bytes the caller sends after the upstream last spoke, and its answer is every byte the
//! upstream sends until the caller speaks again. The relay cannot see requests (they may be
//! inside TLS), so turns are what it has instead: a TLS 1.3 handshake is one turn (the
//! ClientHello, answered by the server's flight up to its Finished), and each HTTP/1.1
//! request on the connection one more. Protocols whose two directions overlap (HTTP/2's
//! streams) make turns that are not requests.

use std::net::SocketAddrV4;

use crate::time::Instant;

/// The most turns a connection's log keeps: later bytes are counted in the last turn (and the
/// log says so), so a long conversation cannot grow the log without bound.
pub const MAX_TURNS: usize = 4096;

/// One turn of a relayed conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Turn {
    /// When the caller's first bytes of the turn reached the relay (`None`: the upstream
    /// spoke first).
    pub arrived: Option<Instant>,
    /// When the relay handed the first of them to its upstream connection: later than
    /// `arrived` when they had to wait for that connection to open.
    pub forwarded: Option<Instant>,
    pub bytes_up: u64,
    /// When the first byte of the upstream's answer reached the relay.
    pub answer_arrived: Option<Instant>,
    /// When the relay had handed the last byte of the answer so far to the caller's connection.
    pub answered: Option<Instant>,
    pub bytes_down: u64,
}

impl Turn {
    /// The caller's bytes waited in the relay for the upstream connection to open.
    pub fn held(&self) -> bool {
        matches!((self.arrived, self.forwarded), (Some(a), Some(f)) if f > a)
    }
}

/// How a relayed connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Each side's FIN was passed on to the other (RFC 9293 §3.6).
    Closed,
    /// The caller reset its connection; the relay reset the upstream one.
    CallerReset,
    /// The upstream reset its connection (or it broke); the relay reset the caller's.
    UpstreamReset,
    /// The upstream connection never opened (refused, reset or timed out); the relay reset
    /// the caller's.
    ConnectFailed,
}

/// One connection through the relay.
#[derive(Clone, Debug, PartialEq)]
pub struct RelayConn {
    /// The caller's address and port.
    pub caller: SocketAddrV4,
    /// The relay's own port on its upstream connection.
    pub local_port: u16,
    /// Which of the relay's upstream replicas, and where it is.
    pub replica: usize,
    pub upstream: SocketAddrV4,
    /// When the caller's SYN arrived (and the relay sent its own to the upstream).
    pub accepted: Instant,
    /// When the upstream connection opened (its SYN-ACK arrived).
    pub upstream_connected: Option<Instant>,
    /// Bytes passed on from the caller to the upstream, and back.
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub turns: Vec<Turn>,
    /// More than [`MAX_TURNS`] turns: the last one holds the rest.
    pub turns_merged: bool,
    pub ended: Option<(Instant, Ending)>,
}

impl RelayConn {
    /// How long the upstream connection took to open, on the path between the caller and its
    /// answer: from the accept, when the first turn's bytes had to wait for it (the caller's
    /// own handshake and first bytes were hidden behind it), else nothing.
    pub fn connect_wait(&self) -> Option<(Instant, Instant)> {
        let first = self.turns.first().filter(|t| t.held())?;
        Some((self.accepted, first.forwarded?))
    }

    /// When turn `i` began to cost its caller: when its bytes arrived, or, for the first turn
    /// when it waited for the upstream connection, at the accept (the connection opened for it).
    pub fn turn_start(&self, i: usize) -> Option<Instant> {
        let t = self.turns.get(i)?;
        if i == 0 && t.held() {
            return Some(self.accepted);
        }
        t.arrived
    }
}

/// What a relay saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RelayLog {
    pub conns: Vec<RelayConn>,
}
