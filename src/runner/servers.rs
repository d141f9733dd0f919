//! What the world's hosts serve, as one list: HTTP services ([`crate::service::HttpService`],
//! the lab's server on the server host among them), relays, HTTP/3 over QUIC for the page steps
//! that fetch over it, DNS on the resolver and the authority. They answer whatever arrives; only
//! the client follows a script. Each has the same two entry points, `poll` and `next_timer`,
//! so the world (`runner::build`) holds them as a list of parts.

use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::proto::dns::DnsServer;
use crate::proto::quic::QuicServer;
use crate::proto::stream::TaggedRange;
use crate::proto::tls::LabTls;
use crate::sim::network::Network;
use crate::time::Instant;

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

/// An HTTP service ([`crate::service`]): `bytes`, `service` or `gateway` on any host, and the
/// lab's server (`role = "server"`, [`crate::service::LabServer`]).
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
    fn tagged_ranges(&self) -> Vec<(u16, TaggedRange)> {
        crate::service::HttpService::tagged_ranges(self)
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
