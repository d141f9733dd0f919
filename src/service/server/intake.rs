//! How requests get in: the connections each listener accepted, and the queued requests
//! admitted up to the service's concurrency limit (first in, first out).

use std::net::Ipv4Addr;

use rustls::ServerConnection;
use smoltcp::socket::tcp::{self, State};
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use super::{Conn, HttpService, Job, Runtime};
use crate::proto::h2::H2Server;
use crate::proto::stream::{tcp_socket, Stream};
use crate::service::{HttpVersion, RequestId};
use crate::sim::network::{Expect, Network};
use crate::time::Instant;

impl HttpService {
    /// Takes the connection each listener has accepted since the last poll, listener by
    /// listener in the order they were made.
    pub(super) fn accept(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        let sockets = &mut net.hosts[self.host].sockets;
        for l in &mut self.listeners {
            let socket = sockets.get::<tcp::Socket>(l.handle);
            if socket.state() == State::Listen {
                continue;
            }
            let (peer, peer_port) = match socket.remote_endpoint() {
                Some(IpEndpoint { addr: IpAddress::Ipv4(a), port }) => (a, port),
                None => (Ipv4Addr::UNSPECIFIED, 0),
            };
            // The listener took a SYN: it becomes the connection; listen again on a new socket.
            let mut stream = Stream::new(l.handle, &self.tcp);
            if let Some(config) = &l.tls {
                let conn =
                    ServerConnection::new(config.clone()).map_err(|e| format!("TLS server setup failed: {e}"))?;
                stream.tls = Some(conn.into());
            }
            let h2 = (self.http == HttpVersion::Http2).then(H2Server::for_app);
            self.conns.push(Conn {
                id: self.next_id,
                peer,
                peer_port,
                port: l.port,
                stream,
                h2,
                ws: None,
                busy: false,
                closing: false,
                dropped: false,
                last_active: now,
            });
            self.next_id += 1;
            let mut socket = tcp_socket(&self.tcp);
            let _ = socket.listen(l.port);
            l.handle = sockets.add(socket);
        }
        Ok(())
    }

    /// Starts queued requests while the concurrency limit allows (FIFO).
    pub(super) fn admit(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        while self.concurrency.is_none_or(|limit| self.active < limit) {
            let Some(key) = self.queue.pop_front() else { break };
            let Some(r) = self.requests.iter_mut().find(|r| r.key == key) else { continue };
            let Job::Queued { arrived } = r.job else { continue };
            self.log.queue_wait_us.push((now - arrived).as_micros() as u64);
            if let (Some(twin), Some(id)) = (crate::service::tie::twin(&r.path), RequestId::parse(&r.path)) {
                // This copy starts first (as far as this service knows): the twin may drop its own.
                if let Some((k, _)) = id.call {
                    self.log.tied_started.push((id.req, k));
                    let to = IpEndpoint::new(IpAddress::Ipv4(*twin.ip()), twin.port());
                    let why =
                        || format!("tied copy started here: cancels its twin's copy of call {k} of request {}", id.req);
                    net.explain_next(self.host, self.port, twin, Expect::Datagram, why);
                    let udp = net.hosts[self.host].sockets.get_mut::<udp::Socket>(self.ties);
                    let _ = udp.send_slice(&crate::service::tie::cancel_message(id.req, k), to);
                }
            }
            r.job = match &mut self.runtime {
                Runtime::Bytes => Job::Serving { arrived, started: now, until: now },
                Runtime::Service { time, rng, .. } => {
                    Job::Serving { arrived, started: now, until: now + time.sample(rng.as_mut()) }
                }
                Runtime::Gateway(g) => {
                    g.start(r.key, &r.path, now, net)?;
                    Job::Calling { arrived, started: now }
                }
            };
            self.active += 1;
        }
        Ok(())
    }
}
