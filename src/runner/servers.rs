//! The lab's servers: HTTP/1.1 and HTTPS on the server host, DNS on the resolver and the
//! authority. They answer whatever arrives; only the client follows a script.

use rustls::ServerConnection;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};

use crate::proto::cwnd::TcpConfig;
use crate::proto::dns::DnsServer;
use crate::proto::http1;
use crate::proto::stream::{tcp_socket, Stream};
use crate::proto::tls::LabTls;
use crate::proto::ws::{WsEndpoint, WsEvent};
use crate::sim::network::Network;
use crate::sim::time::Instant;
use std::time::Duration;

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
        HttpServer { host, tcp, listeners, conns: Vec::new(), idle_timeout, idle_closes: 0, resets: 0 }
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
            self.conns.push(ServerConn { stream, closing: false, last_active: now, ws: None });
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
            if conn.ws.is_none() && upgrade_requested(&conn.stream.inbox) {
                conn.ws = Some(WsEndpoint::server());
            }
            match &mut conn.ws {
                Some(ws) => serve_websocket(ws, &mut conn.stream),
                None => answer(&mut conn.stream)?,
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
        self.conns.retain(|c| {
            // Sockets stay in the set through TIME-WAIT, so the last ACK of the close still goes
            // out and a late segment is absorbed instead of answered with a reset.
            let done = sockets.get::<tcp::Socket>(c.stream.handle).state() == State::Closed;
            if done {
                sockets.remove(c.stream.handle);
            }
            !done
        });
        Ok(())
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
        stream.write(&http1::response_head(size));
        stream.write(&http1::body(size));
    }
    Ok(())
}

/// The DNS servers of the lab, each on its host.
pub struct DnsServers(pub Vec<(usize, DnsServer)>);

impl DnsServers {
    pub fn poll(&mut self, now: Instant, net: &mut Network) {
        for (host, server) in &mut self.0 {
            server.poll(now, &mut net.hosts[*host].sockets);
        }
    }
}
