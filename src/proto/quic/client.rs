//! The HTTP/3 client end of one QUIC connection (RFC 9000 client role, RFC 9114 §4): see the
//! module docs of [`super`] for what it reports.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use quinn_proto::crypto::rustls::QuicClientConfig;
use quinn_proto::{
    ClientConfig, ConnectionId, Dir, Event, NoneTokenStore, ReadError, ReadableError, Side, StreamEvent, StreamId,
    VarInt,
};
use rand_core::RngCore;

use super::{endpoint_config, h3, transport_config, Conn, Core, QuicEvent, CID_LEN};
use crate::proto::tls::{LabTls, TlsVersion};
use crate::rng::stream;
use crate::time::Instant;
use crate::wire::reorder::Reorder;

/// H3_NO_ERROR (RFC 9114 §8.1): a connection closed because it is not needed.
const H3_NO_ERROR: u32 = 0x100;

/// A response stream as the client sees it.
#[derive(Debug, Default)]
struct ResponseStream {
    /// Contiguous frontier: every byte below it has arrived.
    next: u64,
    /// Arrived chunks beyond the frontier, by offset (the wire layer's one out-of-order
    /// buffer).
    pending: Reorder<Bytes>,
    parser: h3::ResponseParser,
    finished: bool,
}

impl ResponseStream {
    /// Adds an unordered chunk; returns the bytes that became contiguous.
    fn insert(&mut self, offset: u64, data: Bytes) -> Vec<u8> {
        let end = offset + data.len() as u64;
        if end > self.next {
            let skip = self.next.saturating_sub(offset);
            self.pending.hold(offset + skip, end - offset - skip, data.slice(skip as usize..));
        }
        let mut out = Vec::new();
        while let Some((off, len, b)) = self.pending.ready(self.next) {
            let e = off + len;
            if e > self.next {
                out.extend_from_slice(&b[(self.next - off) as usize..]);
                self.next = e;
            }
        }
        out
    }
}

/// The HTTP/3 client end of a QUIC connection (RFC 9000 client role, RFC 9114 §4).
pub struct QuicClient {
    core: Core,
    handle: usize,
    /// Requests not yet handed to quinn (stream id they will get, request bytes).
    queued: VecDeque<(u64, Vec<u8>)>,
    /// Id the next request stream gets: client-initiated bidirectional streams are
    /// 0, 4, 8, ... (RFC 9000 §2.1).
    next_bidi: u64,
    connected: bool,
    streams: BTreeMap<u64, ResponseStream>,
    events: Vec<QuicEvent>,
}

impl QuicClient {
    /// Starts a connection to `server` (the client's Initial is ready at `now`). The TLS
    /// config is `tls.client(TlsVersion::Tls13)`: give `tls` the ALPN `h3` first
    /// (`LabTls::with_alpn(&[b"h3"])`). `initial_window`: NewReno's initial window in
    /// bytes. `seed`: every random choice of the QUIC layer.
    pub fn new(
        tls: &LabTls,
        seed: u64,
        initial_window: u64,
        local: SocketAddr,
        server: SocketAddr,
        now: Instant,
    ) -> Result<Self, String> {
        let server_name = match tls.server_name() {
            rustls::pki_types::ServerName::DnsName(d) => d.as_ref().to_string(),
            rustls::pki_types::ServerName::IpAddress(ip) => std::net::IpAddr::from(ip).to_string(),
            other => return Err(format!("unsupported server name {other:?}")),
        };
        Self::with_tls(tls.client(TlsVersion::Tls13), &server_name, seed, initial_window, local, server, now)
    }

    /// [`new`](Self::new) with a TLS 1.3 client config of the caller's own (ALPN `h3`, RFC
    /// 9114 §3.1; its provider the lab's seeded one) asking for `server_name`.
    pub fn with_tls(
        tls: Arc<rustls::ClientConfig>,
        server_name: &str,
        seed: u64,
        initial_window: u64,
        local: SocketAddr,
        server: SocketAddr,
        now: Instant,
    ) -> Result<Self, String> {
        let provider = tls.crypto_provider().clone();
        let crypto = QuicClientConfig::try_from(tls).map_err(|e| e.to_string())?;
        let mut config = ClientConfig::new(Arc::new(crypto));
        config.transport_config(Arc::new(transport_config(initial_window)?));
        config.token_store(Arc::new(NoneTokenStore));
        let dcid_rng = Mutex::new(stream(seed, "quic.client.initial_dcid"));
        config.initial_dst_cid_provider(Arc::new(move || {
            // RFC 9000 §7.2: at least 8 unpredictable bytes.
            let mut b = [0u8; CID_LEN];
            dcid_rng.lock().unwrap_or_else(|e| e.into_inner()).fill_bytes(&mut b);
            ConnectionId::new(&b)
        }));
        let mut core = Core::new(endpoint_config(&provider, seed, "client")?, None, local);
        let (ch, conn) = core
            .endpoint
            .connect(core.clock.to_std(now), config, server, server_name)
            .map_err(|e| format!("QUIC connect: {e}"))?;
        core.conns.insert(ch.0, Conn::new(conn));
        Ok(Self {
            core,
            handle: ch.0,
            queued: VecDeque::new(),
            next_bidi: 0,
            connected: false,
            streams: BTreeMap::new(),
            events: Vec::new(),
        })
    }

    /// Feeds one UDP payload from `from`, received at `now`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if let Some(e) = self.core.handle_datagram(now, from, data, false) {
            self.events.push(QuicEvent::Error(e));
        }
        self.process(now);
    }

    /// Next datagram to send: (destination, UDP payload).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        self.core.poll_transmit(now)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called (rounded up to
    /// the microsecond); includes quinn's pacing timer.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    /// Runs the timers due at `now` (loss detection, PTO, ACK delay, pacing, idle).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
        self.process(now);
    }

    /// The handshake is complete (RFC 9001 §4.1.1).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Opens a bidirectional stream and sends a GET (RFC 9114 §4.1): one HEADERS frame
    /// (§7.2.2) holding a static-table-only QPACK field section (RFC 9204 §4.5) with
    /// `:method GET`, `:scheme https`, `:authority`, `:path`, then FIN. Callable before the
    /// handshake completes: the request is queued until quinn can open the stream.
    /// Returns the QUIC stream id (0, 4, 8, ...).
    pub fn get(&mut self, authority: &str, path: &str) -> Result<u64, String> {
        if !self.core.conns.contains_key(&self.handle) {
            return Err("QUIC: the connection is closed".into());
        }
        let id = self.next_bidi;
        self.next_bidi += 4;
        self.queued.push_back((id, h3::request(authority, path)));
        self.streams.insert(id, ResponseStream::default());
        self.flush_requests();
        Ok(id)
    }

    /// Cancels the request on `stream` (RFC 9114 §4.1.1): STOP_SENDING for its response and
    /// RESET_STREAM (if its request is still unacknowledged), both with
    /// H3_REQUEST_CANCELLED; what still arrives of it is ignored.
    pub fn cancel(&mut self, stream: u64) {
        self.queued.retain(|(id, _)| *id != stream);
        if self.streams.remove(&stream).is_none() {
            return;
        }
        let Some(c) = self.core.conns.get_mut(&self.handle) else { return };
        let id = StreamId::new(Side::Client, Dir::Bi, stream >> 2);
        let code = VarInt::from_u32(super::server::H3_REQUEST_CANCELLED);
        let _ = c.conn.recv_stream(id).stop(code);
        let _ = c.conn.send_stream(id).reset(code);
        c.outgoing.remove(&id);
        self.core.pump();
    }

    /// Closes the connection at `now`: CONNECTION_CLOSE with H3_NO_ERROR (RFC 9114 §5.2, §8.1),
    /// then quinn drains it (RFC 9000 §10.2) and forgets it ([`is_gone`](Self::is_gone)).
    pub fn close(&mut self, now: Instant) {
        self.queued.clear();
        if let Some(c) = self.core.conns.get_mut(&self.handle) {
            c.conn.close(self.core.clock.to_std(now), VarInt::from_u32(H3_NO_ERROR), Bytes::new());
        }
        self.core.pump();
    }

    /// The connection is closed and drained: nothing more will come or go.
    pub fn is_gone(&self) -> bool {
        !self.core.conns.contains_key(&self.handle)
    }

    /// Events since the last call.
    pub fn poll_events(&mut self) -> Vec<QuicEvent> {
        std::mem::take(&mut self.events)
    }

    fn flush_requests(&mut self) {
        let Some(c) = self.core.conns.get_mut(&self.handle) else { return };
        while let Some((want, _)) = self.queued.front() {
            let want = *want;
            let Some(id) = c.conn.streams().open(Dir::Bi) else { break };
            let (_, request) = self.queued.pop_front().expect("front exists");
            if u64::from(id) != want {
                self.events.push(QuicEvent::Error(format!("QUIC: stream {id} opened, expected {want}")));
            }
            c.send(id, request, true);
        }
    }

    /// Handles connection events and reads every readable response stream at `now`.
    fn process(&mut self, now: Instant) {
        let Some(c) = self.core.conns.get_mut(&self.handle) else { return };
        let mut readable = Vec::new();
        while let Some(ev) = c.conn.poll() {
            match ev {
                Event::Connected => {
                    self.connected = true;
                    self.events.push(QuicEvent::Connected);
                    c.open_control();
                }
                Event::ConnectionLost { reason } => {
                    self.events.push(QuicEvent::Error(format!("QUIC: connection lost: {reason}")));
                }
                Event::Stream(StreamEvent::Readable { id }) => {
                    if id.dir() == Dir::Uni {
                        c.drain_uni(id);
                    } else {
                        readable.push(id);
                    }
                }
                Event::Stream(StreamEvent::Opened { dir: Dir::Uni }) => {
                    for id in c.accept_all(Dir::Uni) {
                        c.drain_uni(id);
                    }
                }
                Event::Stream(StreamEvent::Stopped { id, error_code }) => {
                    self.events.push(QuicEvent::Error(format!("QUIC: stream {id} stopped ({error_code})")));
                }
                _ => {}
            }
        }
        for id in readable {
            self.read_stream(id, now);
        }
        self.flush_requests();
        if let Some(c) = self.core.conns.get_mut(&self.handle) {
            c.flush();
        }
        self.core.pump();
    }

    /// Reads `id` unordered, reports chunks stamped `now`, reassembles and parses.
    fn read_stream(&mut self, id: StreamId, now: Instant) {
        let Some(c) = self.core.conns.get_mut(&self.handle) else { return };
        let sid = u64::from(id);
        let mut chunks_read = Vec::new();
        let mut fin = false;
        let mut error = None;
        match c.conn.recv_stream(id).read(false) {
            Ok(mut chunks) => {
                loop {
                    match chunks.next(usize::MAX) {
                        Ok(Some(chunk)) => chunks_read.push((chunk.offset, chunk.bytes)),
                        Ok(None) => {
                            fin = true;
                            break;
                        }
                        Err(ReadError::Blocked) => break,
                        Err(e) => {
                            error = Some(format!("QUIC: stream {sid}: {e}"));
                            break;
                        }
                    }
                }
                let _ = chunks.finalize();
            }
            Err(ReadableError::ClosedStream) => {}
            Err(e) => error = Some(format!("QUIC: stream {sid}: {e}")),
        }
        let Some(st) = self.streams.get_mut(&sid) else { return };
        for (offset, bytes) in chunks_read {
            self.events.push(QuicEvent::Chunk { stream: sid, offset, len: bytes.len(), at: now });
            let contiguous = st.insert(offset, bytes);
            match st.parser.feed(&contiguous) {
                Ok(Some(status)) => self.events.push(QuicEvent::Response { stream: sid, status }),
                Ok(None) => {}
                Err(e) => self.events.push(QuicEvent::Error(format!("stream {sid}: {e}"))),
            }
        }
        if let Some(e) = error {
            self.events.push(QuicEvent::Error(e));
        }
        if fin && !st.finished {
            st.finished = true;
            if st.parser.status.is_none() || !st.pending.is_empty() {
                self.events.push(QuicEvent::Error(format!("stream {sid}: ended without a complete response")));
            }
            self.events.push(QuicEvent::Finished { stream: sid, body: st.parser.body });
        }
    }
}
