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
use crate::sim::network::Network;
use crate::sim::time::Instant;

/// Plain HTTP.
pub const HTTP_PORT: u16 = 80;
/// HTTP over TLS.
pub const HTTPS_PORT: u16 = 443;

struct ServerConn {
    stream: Stream,
    closing: bool,
}

/// HTTP/1.1 on port 80 and HTTPS on port 443 of one host, any number of connections.
pub struct HttpServer {
    host: usize,
    tcp: TcpConfig,
    /// (port, the socket listening on it now).
    listeners: Vec<(u16, SocketHandle)>,
    conns: Vec<ServerConn>,
}

fn listener(sockets: &mut SocketSet<'static>, port: u16, tcp: &TcpConfig) -> SocketHandle {
    let mut socket = tcp_socket(tcp);
    // A fresh socket in a set we own: listening cannot fail.
    let _ = socket.listen(port);
    sockets.add(socket)
}

impl HttpServer {
    pub fn new(net: &mut Network, host: usize, tcp: TcpConfig) -> Self {
        let sockets = &mut net.hosts[host].sockets;
        let listeners = [HTTP_PORT, HTTPS_PORT].iter().map(|&p| (p, listener(sockets, p, &tcp))).collect();
        HttpServer { host, tcp, listeners, conns: Vec::new() }
    }

    /// Accepts new connections, answers complete requests, closes what the client closed.
    pub fn poll(&mut self, net: &mut Network, tls: &LabTls) -> Result<(), String> {
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
            self.conns.push(ServerConn { stream, closing: false });
            *handle = listener(sockets, *port, &self.tcp);
        }
        for conn in &mut self.conns {
            conn.stream.pump(sockets);
            answer(&mut conn.stream)?;
            conn.stream.pump(sockets);
            let socket = sockets.get_mut::<tcp::Socket>(conn.stream.handle);
            // The client closed its side and everything is answered: close ours too.
            if !conn.closing && socket.state() == State::CloseWait && conn.stream.unsent() == 0 {
                if let Some(tls) = &mut conn.stream.tls {
                    tls.send_close_notify();
                }
                conn.stream.pump(sockets);
                sockets.get_mut::<tcp::Socket>(conn.stream.handle).close();
                conn.closing = true;
            }
        }
        self.conns.retain(|c| {
            let done = matches!(sockets.get::<tcp::Socket>(c.stream.handle).state(), State::Closed | State::TimeWait);
            if done {
                sockets.remove(c.stream.handle);
            }
            !done
        });
        Ok(())
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
