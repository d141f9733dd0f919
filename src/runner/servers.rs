//! The lab's servers: HTTP/1.1 and HTTPS on the server host, HTTP/3 over QUIC beside them, DNS
//! on the resolver and the authority. They answer whatever arrives; only the client follows a
//! script. Each has the same two entry points, `poll` and `next_timer`, so the world
//! (`runner::build`) holds them as a list of parts.

use rustls::ServerConnection;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::proto::cwnd::TcpConfig;
use crate::proto::dns::DnsServer;
use crate::proto::h2::H2Server;
use crate::proto::http1;
use crate::proto::quic::QuicServer;
use crate::proto::stream::TaggedRange;
use crate::proto::stream::{tcp_socket, Stream};
use crate::proto::tls::LabTls;
use crate::proto::ws::{WsEndpoint, WsEvent};
use crate::sim::network::Network;
use crate::time::Instant;
use std::time::Duration;

/// A server on one of the world's hosts: it answers whatever arrives. The world
/// (`runner::build`) holds its servers as a list of these, polled in order before the client.
pub trait Server {
    /// The host it runs on.
    fn host(&self) -> usize;
    /// Serves what arrived by `now`, TLS over TCP from `tls`; an error ends the scenario (the
    /// client reports it).
    fn poll(&mut self, now: Instant, net: &mut Network, tls: &LabTls) -> Result<(), String>;
    /// Its own next deadline (an idle timeout, a QUIC timer).
    fn next_timer(&self) -> Option<Instant>;
    /// Which object or HTTP/2 stream each TCP byte range it wrote carried, with the client's
    /// port of its connection (nothing, for a server that tags none).
    fn tagged_ranges(&self) -> Vec<(u16, TaggedRange)> {
        Vec::new()
    }
    /// Its connections to the hosts it calls are open (a workload waits for every pool to be
    /// warm before its first request).
    fn warmed(&self) -> bool {
        true
    }
    /// What it recorded as a gateway, if it is one.
    fn gateway(&self) -> Option<&crate::service::GatewayLog> {
        None
    }
    /// The HTTP service it is, if it is one (for what it recorded of each request).
    fn service(&self) -> Option<&crate::service::HttpService> {
        None
    }
    /// The relay it is, if it is one (for what it recorded of each connection).
    fn relay(&self) -> Option<&crate::service::relay::Relay> {
        None
    }
    /// An authority answers `name` with `addrs` from now on (a scheduled DNS change); false
    /// for a server that has no such records.
    fn set_records(&mut self, _name: &str, _addrs: &[std::net::Ipv4Addr]) -> bool {
        false
    }
    /// The DNS server it is, if it is one (for its counters).
    fn dns(&self) -> Option<&DnsServer> {
        None
    }
}

/// An HTTP service ([`crate::service`]): `bytes`, `service` or `gateway` on any host.
impl Server for crate::service::HttpService {
    fn host(&self) -> usize {
        self.host
    }
    fn poll(&mut self, now: Instant, net: &mut Network, _tls: &LabTls) -> Result<(), String> {
        crate::service::HttpService::poll(self, now, net)
    }
    fn next_timer(&self) -> Option<Instant> {
        crate::service::HttpService::next_timer(self)
    }
    fn warmed(&self) -> bool {
        crate::service::HttpService::warmed(self)
    }
    fn gateway(&self) -> Option<&crate::service::GatewayLog> {
        crate::service::HttpService::gateway(self).map(|g| &g.log)
    }
    fn service(&self) -> Option<&crate::service::HttpService> {
        Some(self)
    }
}

/// A TCP relay ([`crate::service::relay`]) on any host: it passes TLS through.
impl Server for crate::service::relay::Relay {
    fn host(&self) -> usize {
        self.host
    }
    fn poll(&mut self, now: Instant, net: &mut Network, _tls: &LabTls) -> Result<(), String> {
        crate::service::relay::Relay::poll(self, now, net);
        Ok(())
    }
    fn next_timer(&self) -> Option<Instant> {
        crate::service::relay::Relay::next_timer(self)
    }
    fn relay(&self) -> Option<&crate::service::relay::Relay> {
        Some(self)
    }
}

/// Plain HTTP.
pub const HTTP_PORT: u16 = 80;
/// HTTP over TLS.
pub const HTTPS_PORT: u16 = 443;

struct ServerConn {
    stream: Stream,
    /// The server has closed its side (the client did, or the idle timeout fired).
    closing: bool,
    /// When a request last arrived or a response was last written.
    last_active: Instant,
    /// Set once the client upgraded the connection to a WebSocket.
    ws: Option<WsEndpoint>,
    /// Set when TLS negotiated HTTP/2 (ALPN `h2`).
    h2: Option<H2Server>,
    /// The client's port, to match the capture.
    port: u16,
}

/// HTTP/1.1 on port 80 and HTTPS on port 443 of one host, any number of connections.
pub struct HttpServer {
    host: usize,
    tcp: TcpConfig,
    /// (port, the socket listening on it now).
    listeners: Vec<(u16, SocketHandle)>,
    conns: Vec<ServerConn>,
    /// Close connections idle for longer than this (an HTTP keep-alive timeout).
    idle_timeout: Option<Duration>,
    /// Connections the idle timeout closed, and those reset because a request came after.
    pub idle_closes: u64,
    pub resets: u64,
    /// Tagged byte ranges of closed connections, with the client's port.
    tagged: Vec<(u16, TaggedRange)>,
}

fn listener(sockets: &mut SocketSet<'static>, port: u16, tcp: &TcpConfig) -> SocketHandle {
    let mut socket = tcp_socket(tcp);
    // A fresh socket in a set we own: listening cannot fail.
    let _ = socket.listen(port);
    sockets.add(socket)
}

impl HttpServer {
    pub fn new(net: &mut Network, host: usize, tcp: TcpConfig, idle_timeout: Option<Duration>) -> Self {
        let sockets = &mut net.hosts[host].sockets;
        let listeners = [HTTP_PORT, HTTPS_PORT].iter().map(|&p| (p, listener(sockets, p, &tcp))).collect();
        HttpServer {
            host,
            tcp,
            listeners,
            conns: Vec::new(),
            idle_timeout,
            idle_closes: 0,
            resets: 0,
            tagged: Vec::new(),
        }
    }

    /// Every tagged byte range the server wrote (which object or HTTP/2 stream each TCP byte
    /// range carried), with the client's port of its connection.
    pub fn tagged_ranges(&self) -> Vec<(u16, TaggedRange)> {
        let live = self.conns.iter().flat_map(|c| c.stream.tagged.iter().map(|r| (c.port, *r)));
        self.tagged.iter().copied().chain(live).collect()
    }

    /// When the idle timeout next closes a connection.
    pub fn next_timer(&self) -> Option<Instant> {
        let timeout = self.idle_timeout?;
        self.conns.iter().filter(|c| !c.closing).map(|c| c.last_active + timeout).min()
    }

    /// Accepts new connections, answers complete requests, closes what the client closed and
    /// what stayed idle past the timeout.
    pub fn poll(&mut self, now: Instant, net: &mut Network, tls: &LabTls) -> Result<(), String> {
        let sockets = &mut net.hosts[self.host].sockets;
        for (port, handle) in self.listeners.iter_mut() {
            if sockets.get::<tcp::Socket>(*handle).state() == State::Listen {
                continue;
            }
            // The listener took a SYN: it becomes the connection; listen again on a new socket.
            let mut stream = Stream::new(*handle, &self.tcp);
            if *port == HTTPS_PORT {
                let conn = ServerConnection::new(tls.server()).map_err(|e| format!("TLS server setup failed: {e}"))?;
                stream.tls = Some(conn.into());
            }
            let client_port = sockets.get::<tcp::Socket>(*handle).remote_endpoint().map_or(0, |e| e.port);
            self.conns.push(ServerConn {
                stream,
                closing: false,
                last_active: now,
                ws: None,
                h2: None,
                port: client_port,
            });
            *handle = listener(sockets, *port, &self.tcp);
        }
        for conn in &mut self.conns {
            conn.stream.pump(sockets);
            if conn.closing && !conn.stream.inbox.is_empty() {
                // Data for a connection the server already closed: like Linux after close(),
                // answer with a reset (RFC 1122 §4.2.2.13). This is the stale-reuse race.
                conn.stream.inbox.clear();
                sockets.get_mut::<tcp::Socket>(conn.stream.handle).abort();
                self.resets += 1;
                continue;
            }
            if !conn.stream.inbox.is_empty() {
                conn.last_active = now;
            }
            if conn.h2.is_none() && !conn.stream.handshaking() {
                let alpn = conn.stream.tls.as_ref().and_then(|t| t.alpn_protocol().map(<[u8]>::to_vec));
                if alpn.as_deref() == Some(b"h2") {
                    conn.h2 = Some(H2Server::new());
                }
            }
            if conn.ws.is_none() && conn.h2.is_none() && upgrade_requested(&conn.stream.inbox) {
                conn.ws = Some(WsEndpoint::server());
            }
            match (&mut conn.ws, &mut conn.h2) {
                (Some(ws), _) => serve_websocket(ws, &mut conn.stream),
                (None, Some(h2)) => serve_h2(h2, &mut conn.stream)?,
                (None, None) => answer(&mut conn.stream)?,
            }
            conn.stream.pump(sockets);
            let state = sockets.get::<tcp::Socket>(conn.stream.handle).state();
            let idle = self.idle_timeout.is_some_and(|t| now >= conn.last_active + t);
            // Close our side when the client closed its side (everything answered), or when
            // the connection stayed idle past the keep-alive timeout.
            let client_closed = state == State::CloseWait && conn.stream.unsent() == 0;
            let timed_out = idle && state == State::Established && conn.stream.unsent() == 0;
            if !conn.closing && (client_closed || timed_out) {
                if let Some(tls) = &mut conn.stream.tls {
                    tls.send_close_notify();
                }
                conn.stream.pump(sockets);
                sockets.get_mut::<tcp::Socket>(conn.stream.handle).close();
                conn.closing = true;
                self.idle_closes += u64::from(timed_out && !client_closed);
            }
        }
        let tagged = &mut self.tagged;
        self.conns.retain(|c| {
            // Sockets stay in the set through TIME-WAIT, so the last ACK of the close still goes
            // out and a late segment is absorbed instead of answered with a reset.
            let done = sockets.get::<tcp::Socket>(c.stream.handle).state() == State::Closed;
            if done {
                sockets.remove(c.stream.handle);
                tagged.extend(c.stream.tagged.iter().map(|r| (c.port, *r)));
            }
            !done
        });
        Ok(())
    }
}

impl Server for HttpServer {
    fn host(&self) -> usize {
        self.host
    }
    fn poll(&mut self, now: Instant, net: &mut Network, tls: &LabTls) -> Result<(), String> {
        HttpServer::poll(self, now, net, tls)
    }
    fn next_timer(&self) -> Option<Instant> {
        HttpServer::next_timer(self)
    }
    fn tagged_ranges(&self) -> Vec<(u16, TaggedRange)> {
        HttpServer::tagged_ranges(self)
    }
}

/// Whether the request waiting in `inbox` asks for a WebSocket (`GET /ws`, RFC 6455 §4.1).
fn upgrade_requested(inbox: &[u8]) -> bool {
    matches!(http1::parse_request(inbox), Ok(Some(r)) if r.path == "/ws")
}

/// Feeds received bytes to the WebSocket, answers each text message `GET /bytes/N` with a
/// binary message of N bytes (Pings are answered by the endpoint itself), and sends the result.
fn serve_websocket(ws: &mut WsEndpoint, stream: &mut Stream) {
    ws.receive(&std::mem::take(&mut stream.inbox));
    for event in ws.poll_events() {
        if let WsEvent::Text(t) = event {
            let size = t.strip_prefix("GET ").map_or(0, http1::requested_size);
            ws.send_binary(&http1::body(size));
        }
    }
    let out = ws.take_output();
    if !out.is_empty() {
        stream.write(&out);
    }
}

/// Answers every complete request in the stream's inbox. The head goes in its own write (so,
/// with TLS, its own record) before the body, as servers that flush headers first do: the
/// client can read the status line as soon as the first segment arrives.
fn answer(stream: &mut Stream) -> Result<(), String> {
    while let Some(req) =
        http1::parse_request(&stream.inbox).map_err(|e| format!("server got a bad HTTP request: {e}"))?
    {
        stream.inbox.drain(..req.head_len);
        let size = http1::requested_size(&req.path);
        match http1::requested_object(&req.path) {
            // An object of a page: remember which TCP bytes carry it (head-of-line lab).
            Some(object) => {
                stream.write_tagged(&http1::response_head(size), object);
                stream.write_body_tagged(size, object);
            }
            None => {
                stream.write(&http1::response_head(size));
                stream.write_body(size);
            }
        }
    }
    Ok(())
}

/// Feeds HTTP/2 frames to the server side, and writes its output frame by frame, each DATA
/// frame tagged with its stream so the lab knows which TCP bytes carried which stream.
fn serve_h2(h2: &mut H2Server, stream: &mut Stream) -> Result<(), String> {
    h2.receive(&std::mem::take(&mut stream.inbox));
    h2.poll();
    if let Some(e) = h2.error() {
        return Err(format!("HTTP/2 server: {e}"));
    }
    for chunk in h2.take_output() {
        match chunk.stream {
            Some(id) => stream.write_tagged(&chunk.bytes, u64::from(id)),
            None => stream.write(&chunk.bytes),
        }
    }
    Ok(())
}

/// A DNS server (a resolver or an authority) on its host.
pub struct DnsService {
    host: usize,
    server: DnsServer,
}

impl DnsService {
    pub fn new(host: usize, server: DnsServer) -> Self {
        DnsService { host, server }
    }
}

impl Server for DnsService {
    fn host(&self) -> usize {
        self.host
    }
    /// Answers the queries that arrived.
    fn poll(&mut self, now: Instant, net: &mut Network, _tls: &LabTls) -> Result<(), String> {
        self.server.poll(now, &mut net.hosts[self.host].sockets);
        Ok(())
    }
    /// A resolver serving stale answers (RFC 8767) answers when its timer runs out; otherwise
    /// it only answers what arrives (it forwards a miss once; the clients are the ones that
    /// retry).
    fn next_timer(&self) -> Option<Instant> {
        self.server.next_timer()
    }
    fn set_records(&mut self, name: &str, addrs: &[std::net::Ipv4Addr]) -> bool {
        self.server.set_records(name, addrs)
    }
    fn dns(&self) -> Option<&DnsServer> {
        Some(&self.server)
    }
}

/// HTTP/3 over QUIC on UDP port 443 of the server host.
pub struct QuicService {
    host: usize,
    udp: SocketHandle,
    server: QuicServer,
    /// The QUIC timer after the last poll (quinn-proto needs `&mut` to tell it).
    timer: Option<Instant>,
}

impl QuicService {
    pub fn new(
        net: &mut Network,
        host: usize,
        tls: &LabTls,
        seed: u64,
        initial_window: u64,
        now: Instant,
    ) -> Result<Self, String> {
        let addr = net.hosts[host].addr;
        let local = std::net::SocketAddr::from((addr, super::page::QUIC_PORT));
        let server = QuicServer::new(tls, seed, initial_window, local, now)?;
        let buffer = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 1024], vec![0; 2 << 20]);
        let mut socket = udp::Socket::new(buffer(), buffer());
        let _ = socket.bind(super::page::QUIC_PORT);
        let udp = net.hosts[host].sockets.add(socket);
        Ok(QuicService { host, udp, server, timer: None })
    }

    pub fn next_timer(&self) -> Option<Instant> {
        self.timer
    }

    /// Takes datagrams in, runs timers, answers requests, sends what quinn has to send.
    pub fn poll(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        let sockets = &mut net.hosts[self.host].sockets;
        let socket = sockets.get_mut::<udp::Socket>(self.udp);
        while let Ok((data, meta)) = socket.recv() {
            let IpAddress::Ipv4(ip) = meta.endpoint.addr;
            self.server.handle_datagram(now, std::net::SocketAddr::from((ip, meta.endpoint.port)), data);
        }
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(now);
        }
        self.server.poll(now);
        if let Some(e) = self.server.errors().first() {
            return Err(e.clone());
        }
        while let Some((to, bytes)) = self.server.poll_transmit(now) {
            let std::net::SocketAddr::V4(to) = to else { continue };
            let endpoint = IpEndpoint::new(IpAddress::Ipv4(*to.ip()), to.port());
            if socket.send_slice(&bytes, endpoint).is_err() {
                return Err("the server's UDP send buffer is full".into());
            }
        }
        self.timer = self.server.poll_timeout();
        Ok(())
    }
}

impl Server for QuicService {
    fn host(&self) -> usize {
        self.host
    }
    /// (QUIC's TLS is its own, given when it was made.)
    fn poll(&mut self, now: Instant, net: &mut Network, _tls: &LabTls) -> Result<(), String> {
        QuicService::poll(self, now, net)
    }
    fn next_timer(&self) -> Option<Instant> {
        QuicService::next_timer(self)
    }
}
