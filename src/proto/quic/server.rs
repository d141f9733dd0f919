//! The HTTP/3 server end (RFC 9000 server role, RFC 9114 §4): it hands each request to the
//! application, which answers it later ([`QuicServer::for_app`], the services' server: a
//! request waits for its place in the queue, its service time or a gateway's calls, while the
//! connection's other streams go on).
//!
//! A request is complete when its stream ends (the client sends HEADERS then FIN, RFC 9114
//! §4.1). The application learns of requests its caller withdrew ([`Withdrawn`]): a stream the
//! client stopped or reset (RFC 9114 §4.1.1: a cancelled request is STOP_SENDING and
//! RESET_STREAM with H3_REQUEST_CANCELLED), or a connection that closed under them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use quinn_proto::crypto::rustls::QuicServerConfig;
use quinn_proto::{Dir, Event, ServerConfig, StreamEvent, StreamId, VarInt};

use super::{
    aes128_suite, endpoint_config, h3, seed32, transport_config, Core, LabHmacKey, LabTimeSource, LabTokenKey,
};
use crate::proto::http1;
use crate::proto::tls::TlsClock;
use crate::time::Instant;

/// H3_MESSAGE_ERROR (RFC 9114 §8.1): a malformed request.
const H3_MESSAGE_ERROR: u32 = 0x10e;
/// H3_REQUEST_CANCELLED (RFC 9114 §8.1): a request withdrawn.
pub const H3_REQUEST_CANCELLED: u32 = 0x10c;

/// A complete request the application has to answer ([`QuicServer::for_app`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H3Request {
    /// The connection it came on (the server's handle for it).
    pub conn: usize,
    /// Its request stream: a client-initiated bidirectional stream (RFC 9000 §2.1).
    pub stream: u64,
    /// The caller's address.
    pub peer: SocketAddr,
    pub path: String,
}

/// Requests the caller withdrew before they were answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withdrawn {
    /// The client stopped (STOP_SENDING) or reset the request stream (RFC 9114 §4.1.1).
    Stream { conn: usize, stream: u64 },
    /// The connection closed or was lost: every request on it.
    Conn(usize),
}

/// The HTTP/3 server end (RFC 9000 server role, RFC 9114 §4).
pub struct QuicServer {
    core: Core,
    /// Request bytes per (connection, stream), until FIN.
    requests: BTreeMap<(usize, StreamId), Vec<u8>>,
    errors: Vec<String>,
    /// The requests handed to the application and not answered yet.
    app: BTreeSet<(usize, StreamId)>,
    arrived: Vec<H3Request>,
    withdrawn: Vec<Withdrawn>,
}

impl QuicServer {
    /// A server listening on `local` that hands every complete request to the application
    /// ([`take_requests`](Self::take_requests)), which answers it with
    /// [`respond`](Self::respond). `tls`: a TLS 1.3 server config with ALPN `h3` (RFC 9114
    /// §3.1) and the lab's seeded provider (`LabTls::server`); `clock`: the clock token times
    /// are read from. `max_early_data_size` is switched to `u32::MAX` (rustls' QUIC rule: 0 or
    /// 2^32-1; `LabTls` uses 16 KiB for TCP).
    pub fn for_app(
        tls: &Arc<rustls::ServerConfig>,
        clock: &TlsClock,
        seed: u64,
        initial_window: u64,
        local: SocketAddr,
    ) -> Result<Self, String> {
        let mut rustls_config = (**tls).clone();
        rustls_config.max_early_data_size = u32::MAX;
        let provider = rustls_config.crypto_provider().clone();
        let crypto = QuicServerConfig::try_from(Arc::new(rustls_config)).map_err(|e| e.to_string())?;
        let suite = aes128_suite(&provider)?;
        let token_key = LabTokenKey {
            mac: LabHmacKey { hkdf: suite.hkdf_provider, key: seed32(seed, "quic.server.token_key") },
            quic: suite.quic_suite().ok_or("the AES-128-GCM suite has no QUIC support")?,
        };
        let mut config = ServerConfig::new(Arc::new(crypto), Arc::new(token_key));
        config
            .transport_config(Arc::new(transport_config(initial_window)?))
            .migration(false)
            .time_source(Arc::new(LabTimeSource(clock.clone())));
        config.validation_token.sent(0);
        let core = Core::new(endpoint_config(&provider, seed, "server")?, Some(Arc::new(config)), local);
        Ok(Self {
            core,
            requests: BTreeMap::new(),
            errors: Vec::new(),
            app: BTreeSet::new(),
            arrived: Vec::new(),
            withdrawn: Vec::new(),
        })
    }

    /// Feeds one UDP payload from `from`, received at `now`, then [`poll`](Self::poll)s.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if let Some(e) = self.core.handle_datagram(now, from, data, true) {
            self.errors.push(e);
        }
        self.poll();
    }

    /// Next datagram to send: (destination, UDP payload).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        self.core.poll_transmit(now)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called (rounded up).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    /// Runs the timers due at `now`, then [`poll`](Self::poll)s.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
        self.poll();
    }

    /// Errors seen so far (refused connections, bad requests). They are its callers' doing: the
    /// server reports them and goes on.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// The requests completed since the last call, in the order they completed.
    pub fn take_requests(&mut self) -> Vec<H3Request> {
        std::mem::take(&mut self.arrived)
    }

    /// The requests withdrawn since the last call (each once).
    pub fn take_withdrawn(&mut self) -> Vec<Withdrawn> {
        std::mem::take(&mut self.withdrawn)
    }

    /// Requests handed to the application and not answered yet.
    pub fn waiting(&self) -> usize {
        self.app.len()
    }

    /// Answers the request on (`conn`, `stream`) with HEADERS (`status`, `content-length`) and
    /// one DATA frame of `len` bytes (the lab's pattern), then FIN (RFC 9114 §4.1), written as
    /// flow control allows. Nothing if it is not waiting (answered, or withdrawn).
    pub fn respond(&mut self, conn: usize, stream: u64, status: u16, len: u64) {
        let Some(id) = self.take_waiting(conn, stream) else { return };
        let Some(c) = self.core.conns.get_mut(&conn) else { return };
        let mut response = h3::response_head_status(status, len);
        response.extend_from_slice(&http1::body(len));
        c.send(id, response, true);
        self.core.pump();
    }

    /// Withdraws the request on (`conn`, `stream`) without answering it: RESET_STREAM with
    /// H3_REQUEST_CANCELLED (RFC 9114 §4.1.1), as a server does with work it will not do.
    pub fn cancel(&mut self, conn: usize, stream: u64) {
        let Some(id) = self.take_waiting(conn, stream) else { return };
        if let Some(c) = self.core.conns.get_mut(&conn) {
            let _ = c.conn.send_stream(id).reset(VarInt::from_u32(H3_REQUEST_CANCELLED));
        }
        self.core.pump();
    }

    fn take_waiting(&mut self, conn: usize, stream: u64) -> Option<StreamId> {
        let id = *self.app.iter().find(|(c, s)| *c == conn && u64::from(*s) == stream).map(|(_, s)| s)?;
        self.app.remove(&(conn, id));
        Some(id)
    }

    /// Accepts streams and reads requests; a complete one is handed to the application
    /// ([`take_requests`](Self::take_requests)); a lost connection or a stopped stream
    /// withdraws what it carried ([`take_withdrawn`](Self::take_withdrawn)). Opens the control
    /// stream with SETTINGS (RFC 9114 §6.2.1) once the connection is up. Called by
    /// `handle_datagram` / `handle_timeout`; calling it again is harmless.
    pub fn poll(&mut self) {
        for (&h, c) in self.core.conns.iter_mut() {
            let mut readable = Vec::new();
            while let Some(ev) = c.conn.poll() {
                match ev {
                    Event::Connected => c.open_control(),
                    Event::ConnectionLost { .. } => {
                        self.app.retain(|(conn, _)| *conn != h);
                        self.withdrawn.push(Withdrawn::Conn(h));
                    }
                    Event::Stream(StreamEvent::Opened { dir }) => {
                        for id in c.accept_all(dir) {
                            readable.push(id);
                        }
                    }
                    Event::Stream(StreamEvent::Readable { id }) => readable.push(id),
                    Event::Stream(StreamEvent::Stopped { id, .. }) if self.app.remove(&(h, id)) => {
                        self.withdrawn.push(Withdrawn::Stream { conn: h, stream: u64::from(id) });
                    }
                    _ => {}
                }
            }
            for id in readable {
                if id.dir() == Dir::Uni {
                    c.drain_uni(id);
                    continue;
                }
                let buf = self.requests.entry((h, id)).or_default();
                let mut fin = false;
                let mut reset = false;
                if let Ok(mut chunks) = c.conn.recv_stream(id).read(true) {
                    loop {
                        match chunks.next(usize::MAX) {
                            Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
                            Ok(None) => {
                                fin = true;
                                break;
                            }
                            Err(quinn_proto::ReadError::Reset(_)) => {
                                reset = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    let _ = chunks.finalize();
                }
                if reset {
                    // Withdrawn before it was complete: nothing was handed on.
                    self.requests.remove(&(h, id));
                    continue;
                }
                if !fin {
                    continue;
                }
                let request = self.requests.remove(&(h, id)).unwrap_or_default();
                match h3::parse_request(&request) {
                    Ok((_, path)) => {
                        self.app.insert((h, id));
                        let peer = c.conn.remote_address();
                        self.arrived.push(H3Request { conn: h, stream: u64::from(id), peer, path });
                    }
                    Err(e) => {
                        self.errors.push(format!("stream {id}: {e}"));
                        let _ = c.conn.send_stream(id).reset(VarInt::from_u32(H3_MESSAGE_ERROR));
                    }
                }
            }
            c.flush();
        }
        self.core.pump();
    }
}
