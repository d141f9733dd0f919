//! One HTTP client connection: TCP, optional TLS, then HTTP/1.1, HTTP/2 or a WebSocket.
//!
//! Every client program of the lab (the scripted step client, the page loader of the
//! head-of-line lab, the keepalive lab's pool) holds its connections as [`HttpConn`]s. An
//! `HttpConn` owns the smoltcp socket's [`Stream`] and what runs over it, and remembers when
//! things happened on it (opened, TCP established, ready for requests, first and last
//! response byte, last activity); the caller decides what to send and when, and keeps its own
//! bookkeeping (timeline phases, objects of a page, queued requests of a pool).
//!
//! The connection moves through [`Lifecycle`]: `Connecting` until the TCP handshake ends, then
//! `Handshaking` while TLS runs (when it was asked for, at connect time with
//! [`HttpConn::with_tls`] or later with [`HttpConn::start_tls`]), then `Open`.
//! [`HttpConn::advance`] makes those moves and reports them as a [`ConnEvent`].
//!
//! HTTP/1.1 runs one request at a time and reuses the connection for the next one (persistent
//! connections, RFC 9112 §9.3; the lab's server always sends `Content-Length`, §6.3, so the
//! end of each response is known without closing). HTTP/2 and WebSockets are in `mux`.

mod mux;

use std::io::Write;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::IpAddress;

use crate::host::Host;
use crate::proto::cwnd::TcpConfig;
use crate::proto::h2::H2Client;
use crate::proto::http1::ResponseReader;
use crate::proto::stream::{tcp_socket, Stream};
use crate::proto::tls::{LabTls, TlsVersion};
use crate::proto::ws::WsEndpoint;
use crate::time::Instant;

/// Where a connection is in its setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// SYN sent, waiting for the TCP handshake to end.
    Connecting,
    /// TLS handshake running.
    Handshaking,
    /// Ready for requests (TLS done, or no TLS).
    Open,
}

/// A move of [`Lifecycle`], as [`HttpConn::advance`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnEvent {
    /// The TCP handshake ended and TLS started (with [`HttpConn::with_tls`]).
    Connected,
    /// The connection is ready for requests: TLS finished, or TCP is up and there is no TLS
    /// to start.
    Ready,
    /// The connection failed before it was ready: refused or reset during the TCP handshake
    /// (the TCP state it ended in), or closed or broken during the TLS handshake.
    Failed(State),
}

/// How a client starts TLS: the config (its session cache is what resumes a session), the
/// server name, and optionally the one ALPN protocol to offer instead of the config's list.
#[derive(Clone, Debug)]
pub struct TlsSetup {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    alpn: Option<Vec<u8>>,
}

impl TlsSetup {
    /// The lab's client config for `version` and its server name.
    pub fn new(tls: &LabTls, version: TlsVersion) -> Self {
        TlsSetup { config: tls.client(version), name: tls.server_name(), alpn: None }
    }

    /// The lab's client config for `version`, with a session cache of its own: a caller that
    /// must not resume sessions another caller of the same server set up (another host).
    pub fn with_own_sessions(tls: &LabTls, version: TlsVersion) -> Self {
        let mut config = (*tls.client(version)).clone();
        config.resumption = rustls::client::Resumption::in_memory_sessions(OWN_SESSIONS);
        TlsSetup { config: Arc::new(config), name: tls.server_name(), alpn: None }
    }

    /// A setup of its own (as [`with_own_sessions`](Self::with_own_sessions)) that asks for
    /// `name` and trusts `tls`'s certificate and those in `also`: a caller that reaches one of
    /// several servers answering to one name, not knowing which (the replicas behind a relay
    /// that passes TLS through). It offers to resume its sessions, but never 0-RTT data: the
    /// replicas keep their session caches apart, so a ticket one issued is refused by the
    /// others (a full handshake follows, RFC 8446 §4.6.1), and an offer of early data that was
    /// refused is a handshake Wireshark 4.0 cannot decrypt past.
    pub fn for_name(
        tls: &LabTls,
        version: TlsVersion,
        name: &str,
        also: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<Self, String> {
        let mut config = tls.client_trusting(version, also).map_err(|e| format!("{e:#}"))?;
        config.resumption = rustls::client::Resumption::in_memory_sessions(OWN_SESSIONS);
        config.enable_early_data = false;
        let name = ServerName::try_from(name.to_string()).map_err(|e| format!("TLS server name {name:?}: {e}"))?;
        Ok(TlsSetup { config: Arc::new(config), name, alpn: None })
    }

    /// What a QUIC connection's TLS 1.3 (RFC 9001) takes from this setup: the config offering
    /// only ALPN `h3` (RFC 9114 §3.1), without 0-RTT (a resumed connection still waits one
    /// round trip before its first request, as a fresh one does), and the server name.
    pub fn for_quic(&self) -> (Arc<ClientConfig>, String) {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![b"h3".to_vec()];
        config.enable_early_data = false;
        (Arc::new(config), self.name.to_str().into_owned())
    }

    /// Offers only `protocol` in ALPN (RFC 7301), e.g. `h2` for HTTP/2 (RFC 9113 §3.2).
    pub fn with_alpn(mut self, protocol: &[u8]) -> Self {
        self.alpn = Some(protocol.to_vec());
        self
    }
}

/// Sessions the cache of [`TlsSetup::with_own_sessions`] holds.
const OWN_SESSIONS: usize = 256;

/// An HTTP/1.1 request in flight and its response as it arrives.
#[derive(Debug)]
struct Exchange {
    /// The caller's name for the request (the object of a page, say).
    tag: u64,
    sent: Instant,
    first_byte: Option<Instant>,
    reader: ResponseReader,
    /// Sent as TLS 1.3 early data (0-RTT, RFC 8446 §2.3, §4.2.10).
    early: bool,
}

/// A response read to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub tag: u64,
    pub sent: Instant,
    pub first_byte: Option<Instant>,
    /// When the response ended (`None` when it was taken before it ended).
    pub last_byte: Option<Instant>,
    pub body: u64,
    /// The status code, once the head arrived (RFC 9110 §15).
    pub status: Option<u16>,
}

/// What one [`HttpConn::read_response`] saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// These bytes were the response's first.
    pub first_byte: bool,
    /// The response is complete.
    pub done: bool,
    /// The bytes were not a valid response.
    pub error: Option<String>,
}

/// One client connection and what it has seen.
pub struct HttpConn {
    stream: Stream,
    port: u16,
    opened: Instant,
    lifecycle: Lifecycle,
    /// TLS to start once TCP is up.
    tls_on_connect: Option<TlsSetup>,
    connected_at: Option<Instant>,
    ready_at: Option<Instant>,
    /// The last request, response, ping or setup step: the start of the current silence.
    last_activity: Instant,
    exchange: Option<Exchange>,
    last_response: Option<Instant>,
    h2: Option<H2Client>,
    ws: Option<WsEndpoint>,
    /// A binary message (a response) arrived over the WebSocket and was not taken yet.
    ws_response: bool,
}

/// Takes the next port of a client's counter (wrapping back to 49152, the first ephemeral port).
pub fn take_port(next_port: &mut u16) -> u16 {
    let port = *next_port;
    *next_port = next_port.checked_add(1).unwrap_or(49152);
    port
}

impl HttpConn {
    /// Opens a TCP connection from `local_port` of `host` to `to` (sends the SYN at the next
    /// poll), with TCP keepalive probes every `keepalive` when given.
    pub fn connect(
        host: &mut Host,
        tcp: &TcpConfig,
        to: SocketAddrV4,
        local_port: u16,
        keepalive: Option<Duration>,
        now: Instant,
    ) -> Result<HttpConn, String> {
        let mut socket = tcp_socket(tcp);
        socket.set_keep_alive(
            keepalive.map(|d| smoltcp::time::Duration::from_micros(d.as_micros().min(u128::from(u64::MAX)) as u64)),
        );
        socket
            .connect(host.iface.context(), (IpAddress::Ipv4(*to.ip()), to.port()), local_port)
            .map_err(|e| format!("connect failed: {e}"))?;
        let handle = host.sockets.add(socket);
        Ok(HttpConn {
            stream: Stream::new(handle, tcp),
            port: local_port,
            opened: now,
            lifecycle: Lifecycle::Connecting,
            tls_on_connect: None,
            connected_at: None,
            ready_at: None,
            last_activity: now,
            exchange: None,
            last_response: None,
            h2: None,
            ws: None,
            ws_response: false,
        })
    }

    /// Starts TLS as soon as the TCP handshake ends (in [`advance`](Self::advance)).
    pub fn with_tls(mut self, setup: Option<TlsSetup>) -> Self {
        self.tls_on_connect = setup;
        self
    }

    /// The client's port: the connection's packets are labelled by it.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> SocketHandle {
        self.stream.handle
    }

    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// When the SYN was queued.
    pub fn opened(&self) -> Instant {
        self.opened
    }

    /// When the TCP handshake ended, as the client saw it.
    pub fn connected_at(&self) -> Option<Instant> {
        self.connected_at
    }

    /// When the connection became ready for requests (TLS done, or TCP up without TLS).
    pub fn ready_at(&self) -> Option<Instant> {
        self.ready_at
    }

    /// When the last response ended.
    pub fn last_response_at(&self) -> Option<Instant> {
        self.last_response
    }

    /// The start of the current silence: the last request, response, ping or setup step.
    pub fn last_activity(&self) -> Instant {
        self.last_activity
    }

    pub fn tcp_state(&self, sockets: &SocketSet<'static>) -> State {
        sockets.get::<tcp::Socket>(self.stream.handle).state()
    }

    /// Moves bytes between the socket, TLS and the connection's buffers.
    pub fn pump(&mut self, sockets: &mut SocketSet<'static>) {
        self.stream.pump(sockets);
    }

    /// A protocol error (TLS, most often) that ended the stream, once.
    pub fn take_error(&mut self) -> Option<String> {
        self.stream.error.take()
    }

    /// Whether a protocol error ended the stream (and was not taken).
    pub fn broken(&self) -> bool {
        self.stream.error.is_some()
    }

    /// The peer closed or reset the connection, or it broke: it can carry no more requests.
    /// (FIN-WAIT states are our own close, with the peer's side still open.)
    pub fn peer_closed(&self, sockets: &SocketSet<'static>) -> bool {
        self.broken() || !matches!(self.tcp_state(sockets), State::Established | State::FinWait1 | State::FinWait2)
    }

    /// Moves the connection through its setup at `now` (call after [`pump`](Self::pump)):
    /// starts TLS when TCP comes up (if [`with_tls`](Self::with_tls) asked for it), and
    /// notices the end of the TLS handshake. An error is a TLS setup failure.
    pub fn advance(&mut self, now: Instant, sockets: &mut SocketSet<'static>) -> Result<Option<ConnEvent>, String> {
        let state = self.tcp_state(sockets);
        Ok(match self.lifecycle {
            Lifecycle::Connecting => match state {
                State::Established => {
                    self.connected_at = Some(now);
                    match self.tls_on_connect.take() {
                        Some(setup) => {
                            self.start_tls(setup, None, now)?;
                            self.stream.pump(sockets);
                            Some(ConnEvent::Connected)
                        }
                        None => {
                            self.set_ready(now);
                            Some(ConnEvent::Ready)
                        }
                    }
                }
                State::SynSent | State::SynReceived => None,
                other => Some(ConnEvent::Failed(other)),
            },
            Lifecycle::Handshaking if self.broken() || state != State::Established => Some(ConnEvent::Failed(state)),
            Lifecycle::Handshaking if self.stream.handshaking() => None,
            Lifecycle::Handshaking => {
                self.set_ready(now);
                Some(ConnEvent::Ready)
            }
            Lifecycle::Open => None,
        })
    }

    fn set_ready(&mut self, now: Instant) {
        self.lifecycle = Lifecycle::Open;
        self.ready_at = Some(now);
        self.last_activity = now;
    }

    /// Starts the TLS handshake (the ClientHello goes at the next pump). With `early`, the
    /// HTTP/1.1 request `early.0` (tagged `early.1`) goes as 0-RTT early data when the session
    /// cache holds a ticket that allows it (RFC 8446 §4.2.10); returns whether it went.
    pub fn start_tls(&mut self, setup: TlsSetup, early: Option<(&[u8], u64)>, now: Instant) -> Result<bool, String> {
        let client = match setup.alpn {
            Some(alpn) => ClientConnection::new_with_alpn(setup.config, setup.name, vec![alpn]),
            None => ClientConnection::new(setup.config, setup.name),
        };
        let mut client = client.map_err(|e| format!("TLS client setup failed: {e}"))?;
        let mut sent_early = false;
        if let (Some((request, tag)), Some(mut writer)) = (early, client.early_data()) {
            writer.write_all(request).map_err(|e| format!("0-RTT write failed: {e}"))?;
            self.begin_exchange(tag, now, true);
            sent_early = true;
        }
        self.stream.tls = Some(client.into());
        self.lifecycle = Lifecycle::Handshaking;
        Ok(sent_early)
    }

    /// True while the TLS handshake has not finished at this end.
    pub fn handshaking(&self) -> bool {
        self.stream.handshaking()
    }

    /// Whether TLS resumed a session (RFC 8446 §2.2), once TLS is on.
    pub fn tls_resumed(&self) -> Option<bool> {
        match &self.stream.tls {
            Some(rustls::Connection::Client(c)) => Some(c.handshake_kind() == Some(rustls::HandshakeKind::Resumed)),
            _ => None,
        }
    }

    /// Sends the HTTP/1.1 request `request` (its caller's name: `tag`) and starts reading its
    /// response. One request at a time (RFC 9112 §9.3): the previous response has ended.
    pub fn send_request(&mut self, request: &[u8], tag: u64, now: Instant) {
        self.stream.write(request);
        self.begin_exchange(tag, now, false);
    }

    fn begin_exchange(&mut self, tag: u64, now: Instant, early: bool) {
        let reader = ResponseReader::default();
        self.exchange = Some(Exchange { tag, sent: now, first_byte: None, reader, early });
        self.last_activity = now;
    }

    /// An HTTP/1.1 request is in flight (its response has not been taken).
    pub fn in_flight(&self) -> bool {
        self.exchange.is_some()
    }

    /// When the request in flight went as 0-RTT early data: whether the server accepted it
    /// (RFC 8446 §4.2.10: a rejected request must be sent again after the handshake).
    pub fn early_data_accepted(&self) -> Option<bool> {
        let early = self.exchange.as_ref().is_some_and(|e| e.early);
        match &self.stream.tls {
            Some(rustls::Connection::Client(c)) if early => Some(c.is_early_data_accepted()),
            _ if early => Some(true),
            _ => None,
        }
    }

    /// Feeds what arrived to the response in flight. `None` when no request is in flight or
    /// nothing arrived.
    pub fn read_response(&mut self, now: Instant) -> Option<Read> {
        let exchange = self.exchange.as_mut()?;
        if self.stream.inbox.is_empty() {
            return None;
        }
        let first_byte = exchange.first_byte.is_none();
        exchange.first_byte.get_or_insert(now);
        let data = std::mem::take(&mut self.stream.inbox);
        let read = match exchange.reader.feed(&data) {
            Ok(done) => Read { first_byte, done, error: None },
            Err(e) => Read { first_byte, done: false, error: Some(e) },
        };
        if read.done {
            self.last_response = Some(now);
            self.last_activity = now;
        }
        Some(read)
    }

    /// The response in flight has ended.
    pub fn response_done(&self) -> bool {
        self.exchange.as_ref().is_some_and(|e| e.reader.done())
    }

    /// Takes the request in flight and what came of it (once it is done, normally): the
    /// connection is free for the next request.
    pub fn take_response(&mut self) -> Option<Response> {
        let e = self.exchange.take()?;
        let last_byte = if e.reader.done() { self.last_response } else { None };
        Some(Response {
            tag: e.tag,
            sent: e.sent,
            first_byte: e.first_byte,
            last_byte,
            body: e.reader.body_received,
            status: e.reader.status,
        })
    }

    /// Closes the connection: TLS close_notify (RFC 8446 §6.1) if TLS is on, then our FIN.
    /// The socket stays in the set (through TIME-WAIT) until [`remove`](Self::remove).
    pub fn close(&mut self, sockets: &mut SocketSet<'static>) {
        if let Some(t) = &mut self.stream.tls {
            t.send_close_notify();
        }
        self.stream.pump(sockets);
        sockets.get_mut::<tcp::Socket>(self.stream.handle).close();
    }

    /// Abandons the connection with a reset (RFC 9293 §3.10.7.2, ABORT): how an HTTP/1.1
    /// client withdraws a request in flight. The RST goes at the host's next poll; keep the
    /// socket until [`gone`](Self::gone).
    pub fn abort(&mut self, sockets: &mut SocketSet<'static>) {
        sockets.get_mut::<tcp::Socket>(self.stream.handle).abort();
    }

    /// Closed, and nothing left to send (an abort's RST has gone): the socket can be removed.
    pub fn gone(&self, sockets: &SocketSet<'static>) -> bool {
        let socket = sockets.get::<tcp::Socket>(self.stream.handle);
        socket.state() == State::Closed && socket.remote_endpoint().is_none()
    }

    /// Removes the socket from the host (after it closed, or to abandon it).
    pub fn remove(&self, sockets: &mut SocketSet<'static>) {
        sockets.remove(self.stream.handle);
    }
}
