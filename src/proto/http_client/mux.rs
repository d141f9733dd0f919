//! What an [`HttpConn`] carries besides one HTTP/1.1 request at a time: HTTP/2 streams
//! (RFC 9113) and a WebSocket (RFC 6455), each a sans-IO endpoint whose bytes go through the
//! connection's TLS stream.

use rand_chacha::ChaCha8Rng;
use smoltcp::iface::SocketSet;

use super::HttpConn;
use crate::proto::h2::{H2Client, H2Event};
use crate::proto::ws::{WsEndpoint, WsEvent};
use crate::time::Instant;

impl HttpConn {
    /// Starts HTTP/2 on the open connection (the preface and SETTINGS, RFC 9113 §3.4, after
    /// TLS chose `h2` by ALPN, §3.2) and opens a stream with a GET for each of `paths` at once,
    /// so that their responses share the connection (§5). Returns the stream ids, in order.
    pub fn start_h2(&mut self, authority: &str, paths: &[String]) -> Result<Vec<u32>, String> {
        let mut h2 = H2Client::new();
        let ids = paths.iter().map(|path| h2.get(authority, path)).collect::<Result<Vec<_>, _>>()?;
        self.stream.write(&h2.take_output());
        self.h2 = Some(h2);
        Ok(ids)
    }

    /// Hands what arrived to HTTP/2 and queues what it answers (WINDOW_UPDATE, SETTINGS and
    /// PING acknowledgements, §6.9, §6.5.3, §6.7); returns its events. Nothing without HTTP/2.
    pub fn poll_h2(&mut self) -> Vec<H2Event> {
        let Some(h2) = &mut self.h2 else { return Vec::new() };
        h2.receive(&std::mem::take(&mut self.stream.inbox));
        let events = h2.poll_events();
        let out = h2.take_output();
        if !out.is_empty() {
            self.stream.write(&out);
        }
        events
    }

    /// Opens one more stream on the connection's HTTP/2 with `GET path` (RFC 9113 §8.3.1),
    /// queued for sending; returns its id.
    pub fn h2_get(&mut self, authority: &str, path: &str) -> Result<u32, String> {
        let h2 = self.h2.as_mut().ok_or("HTTP/2 was not started on this connection")?;
        let id = h2.get(authority, path)?;
        self.stream.write(&h2.take_output());
        Ok(id)
    }

    /// Cancels `stream` (RST_STREAM with CANCEL, RFC 9113 §8.7), queued for sending.
    pub fn h2_cancel(&mut self, stream: u32) {
        if let Some(h2) = &mut self.h2 {
            h2.cancel(stream);
            let out = h2.take_output();
            if !out.is_empty() {
                self.stream.write(&out);
            }
        }
    }

    /// Whether HTTP/2 runs on the connection.
    pub fn is_h2(&self) -> bool {
        self.h2.is_some()
    }

    /// Starts the WebSocket opening handshake (RFC 6455 §4.1: an HTTP/1.1 `GET` with
    /// `Upgrade: websocket`) for `path` at `host`; `rng` makes its key and masks.
    pub fn upgrade_ws(&mut self, host: &str, path: &str, rng: ChaCha8Rng, sockets: &mut SocketSet<'static>) {
        let mut ws = WsEndpoint::client(host, path, rng);
        self.stream.write(&ws.take_output());
        self.stream.pump(sockets);
        self.ws = Some(ws);
    }

    /// Hands what arrived to the WebSocket and sends what it answers (a Pong for a Ping,
    /// §5.5.2). Notes a binary message (a response) and the end of the opening handshake as
    /// activity. Nothing without a WebSocket.
    pub fn poll_ws(&mut self, now: Instant, sockets: &mut SocketSet<'static>) {
        let Some(ws) = &mut self.ws else { return };
        let was_open = ws.is_open();
        ws.receive(&std::mem::take(&mut self.stream.inbox));
        for event in ws.poll_events() {
            self.ws_response |= matches!(event, WsEvent::Binary(_));
        }
        if ws.is_open() && !was_open {
            self.last_activity = now;
        }
        let out = ws.take_output();
        if !out.is_empty() {
            self.stream.write(&out);
            self.stream.pump(sockets);
        }
    }

    /// Whether a WebSocket runs on the connection.
    pub fn is_ws(&self) -> bool {
        self.ws.is_some()
    }

    /// The WebSocket's opening handshake has ended (§4.1).
    pub fn ws_open(&self) -> bool {
        self.ws.as_ref().is_some_and(|w| w.is_open())
    }

    /// Sends `text` as one WebSocket message (§5.6), a request.
    pub fn ws_send_text(&mut self, text: &str, now: Instant) {
        if let Some(ws) = &mut self.ws {
            ws.send_text(text);
            self.stream.write(&ws.take_output());
            self.last_activity = now;
        }
    }

    /// Takes the news that a binary message (a response) arrived.
    pub fn take_ws_response(&mut self, now: Instant) -> bool {
        let arrived = std::mem::take(&mut self.ws_response);
        if arrived {
            self.last_activity = now;
        }
        arrived
    }

    /// Sends a Ping (§5.5.2), an application-level keepalive, and sends it now.
    pub fn ws_ping(&mut self, payload: &[u8], now: Instant, sockets: &mut SocketSet<'static>) {
        if let Some(ws) = &mut self.ws {
            ws.send_ping(payload);
            self.stream.write(&ws.take_output());
            self.stream.pump(sockets);
            self.last_activity = now;
        }
    }

    /// Bytes of Ping and Pong frames sent and received on the WebSocket (§5.5.2, §5.5.3).
    pub fn ws_control_bytes(&self) -> u64 {
        self.ws.as_ref().map_or(0, |w| w.control_bytes())
    }
}
