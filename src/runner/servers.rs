//! What the world's hosts serve, as one list: HTTP services ([`crate::service::HttpService`],
//! the lab's server on the server host and its HTTP/3 for the page steps among them), relays,
//! DNS on the resolver and the authority. They answer whatever arrives; only
//! the client follows a script. Each has the same two entry points, `poll` and `next_timer`,
//! so the world (`runner::build`) holds them as a list of parts.

use crate::proto::dns::DnsServer;
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
