//! WebSocket on a `bytes` service (RFC 6455): `GET /ws` upgrades an HTTP/1.1 connection (the
//! opening handshake, §4.2, answered by [`WsEndpoint`]); from then on each text message
//! `GET /bytes/N` is answered with a binary message of N bytes, and each Ping with a Pong
//! (§5.5.2, by the endpoint itself).

use smoltcp::iface::SocketSet;

use super::Conn;
use crate::proto::http1;
use crate::proto::ws::{WsEndpoint, WsEvent};

/// Whether the request waiting in `inbox` asks for a WebSocket (`GET /ws`, RFC 6455 §4.1).
pub(super) fn upgrade_requested(inbox: &[u8]) -> bool {
    matches!(http1::parse_request(inbox), Ok(Some(r)) if r.path == "/ws")
}

/// Feeds what `c` received to its WebSocket (made now, for the upgrade request), answers
/// every text message, and sends the result.
pub(super) fn serve(c: &mut Conn, sockets: &mut SocketSet<'static>) {
    let ws = c.ws.get_or_insert_with(WsEndpoint::server);
    ws.receive(&std::mem::take(&mut c.stream.inbox));
    for event in ws.poll_events() {
        if let WsEvent::Text(t) = event {
            let size = t.strip_prefix("GET ").map_or(0, http1::requested_size);
            ws.send_binary(&http1::body(size));
        }
    }
    let out = ws.take_output();
    if !out.is_empty() {
        c.stream.write(&out);
    }
    c.stream.pump(sockets);
}
