//! One connection of a fleet's program and the state it moves through: connecting (with its
//! timeout), carrying a request, ended.

use std::net::Ipv4Addr;
use std::time::Duration;

use smoltcp::iface::SocketSet;

use super::Failure;
use crate::proto::http_client::{ConnEvent, HttpConn};
use crate::time::Instant;

/// A connection and the request it carries.
pub(super) struct Conn {
    pub(super) conn: HttpConn,
    /// The answer's addresses and which one this connection goes to.
    pub(super) addrs: Vec<Ipv4Addr>,
    pub(super) at: usize,
    /// When the current attempt started (for the connect timeout).
    pub(super) since: Instant,
    pub(super) up: bool,
    /// The request on it (a fresh connection always has one; a pooled one when busy).
    pub(super) request: Option<usize>,
}

/// What [`advance`] did to a connection.
pub(super) enum Moved {
    Going,
    /// The connection just came up.
    Up,
    /// The connection attempt failed: refused, or timed out.
    AttemptFailed(Failure),
    /// Its request ended: the status, or why not (a pooled connection with no request that
    /// broke ends as [`Failure::Broken`]).
    Ended(Result<u16, Failure>),
}

/// Moves one connection along at `now`.
pub(super) fn advance(
    c: &mut Conn,
    now: Instant,
    sockets: &mut SocketSet<'static>,
    timeout: Duration,
) -> Result<Moved, String> {
    c.conn.pump(sockets);
    if !c.up {
        return Ok(match c.conn.advance(now, sockets)? {
            Some(ConnEvent::Ready) => {
                c.up = true;
                Moved::Up
            }
            Some(ConnEvent::Failed(_)) => Moved::AttemptFailed(Failure::Refused),
            _ if now >= c.since + timeout => Moved::AttemptFailed(Failure::ConnectTimeout),
            _ => Moved::Going,
        });
    }
    if c.request.is_none() {
        let broken = c.conn.peer_closed(sockets) || c.conn.broken();
        return Ok(if broken { Moved::Ended(Err(Failure::Broken)) } else { Moved::Going });
    }
    let read = c.conn.read_response(now);
    if c.conn.response_done() {
        let status = c.conn.take_response().and_then(|r| r.status).unwrap_or(0);
        return Ok(Moved::Ended(Ok(status)));
    }
    if read.and_then(|r| r.error).is_some() || c.conn.peer_closed(sockets) || c.conn.broken() {
        return Ok(Moved::Ended(Err(Failure::Broken)));
    }
    Ok(Moved::Going)
}
