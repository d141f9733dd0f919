//! An HTTP/3 service's listener (RFC 9114 over QUIC, RFC 9000): the project's one QUIC server
//! ([`QuicServer::for_app`]) on a smoltcp UDP socket bound to the service's port.
//!
//! Every datagram the socket holds is handed in at `now`, due timers are run, and every
//! datagram quinn has to send is written out. Each complete request is handed to the
//! [`super::HttpService`], which runs it through the same queue, concurrency limit, service
//! time and gateway calls as an HTTP/1.1 or HTTP/2 request, and answers through
//! [`H3Listener::respond`]. The certificate is the host's own ([`ServiceTls::quic_server`]),
//! TLS 1.3 with ALPN `h3` only (RFC 9001 §4, RFC 9114 §3.1); its secrets go to the host's key
//! log, so the scenario's captures decrypt the QUIC packets. The page steps' HTTP/3 server
//! ([`super::HttpService::lab_h3`]) is given its TLS instead ([`H3Listener::with_config`]):
//! the scenario's QUIC world, which the page's client trusts and logs to.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use rustls::ServerConfig;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use super::tls::ServiceTls;
use crate::proto::quic::{H3Request, QuicServer, Withdrawn};
use crate::proto::tls::TlsClock;
use crate::sim::network::Network;
use crate::time::Instant;

/// The initial congestion window of the services' QUIC connections, both ends: RFC 9002
/// §7.2's recommendation, min(10 × max_datagram_size, max(14,720, 2 × max_datagram_size)) for
/// 1472-byte datagrams (a TCP caller's IW10 counterpart).
pub const INITIAL_WINDOW: u64 = 14_720;

/// Datagrams and bytes a service's QUIC socket buffers in each direction (all its callers').
pub const SERVICE_SOCKET: (usize, usize) = (1024, 2 << 20);
/// The same for one of a caller's connections.
pub const CALLER_SOCKET: (usize, usize) = (512, 1 << 20);

/// A UDP socket for QUIC bound to `port` on `host`, buffering (datagrams, bytes) each way (a
/// fresh port on the host: binding cannot fail; if it did, nothing would be received).
pub fn udp_socket(net: &mut Network, host: usize, port: u16, (packets, bytes): (usize, usize)) -> SocketHandle {
    let buffer = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; packets], vec![0; bytes]);
    let mut socket = udp::Socket::new(buffer(), buffer());
    let _ = socket.bind(port);
    net.hosts[host].sockets.add(socket)
}

/// Moves every datagram `udp` holds into `handle` (received at `now`).
pub fn receive(net: &mut Network, host: usize, udp: SocketHandle, mut handle: impl FnMut(SocketAddr, &[u8])) {
    let socket = net.hosts[host].sockets.get_mut::<udp::Socket>(udp);
    while let Ok((data, meta)) = socket.recv() {
        let IpAddress::Ipv4(ip) = meta.endpoint.addr;
        handle(SocketAddr::from((ip, meta.endpoint.port)), data);
    }
}

/// Writes `datagrams` to `udp`; an error when the send buffer is full.
pub fn send(
    net: &mut Network,
    host: usize,
    udp: SocketHandle,
    mut next: impl FnMut() -> Option<(SocketAddr, Vec<u8>)>,
) -> Result<(), String> {
    let socket = net.hosts[host].sockets.get_mut::<udp::Socket>(udp);
    while let Some((to, bytes)) = next() {
        let SocketAddr::V4(to) = to else { continue };
        let endpoint = IpEndpoint::new(IpAddress::Ipv4(*to.ip()), to.port());
        if socket.send_slice(&bytes, endpoint).is_err() {
            return Err("a QUIC socket's UDP send buffer is full".into());
        }
    }
    Ok(())
}

/// The QUIC side of an HTTP/3 service.
pub struct H3Listener {
    host: usize,
    udp: SocketHandle,
    server: QuicServer,
    /// The QUIC timer after the last poll (quinn-proto needs `&mut` to tell it).
    timer: Option<Instant>,
}

impl H3Listener {
    /// Listens on UDP `port` of `host`, with the host's certificate from `tls`; `seed` draws
    /// every random choice of the QUIC layer.
    pub fn new(net: &mut Network, host: usize, port: u16, tls: &ServiceTls, seed: u64) -> Result<Self, String> {
        let (config, clock) =
            tls.quic_server(host).ok_or_else(|| format!("no TLS world for the HTTP/3 service on port {port}"))?;
        Self::with_config(net, host, port, (&config, &clock), seed, INITIAL_WINDOW)
    }

    /// [`H3Listener::new`] with its TLS given (`config`: TLS 1.3, ALPN `h3`; the clock it reads)
    /// and QUIC's initial window in bytes: the lab's server runs QUIC in the scenario's own QUIC
    /// TLS world, with the window the page step asks for.
    pub fn with_config(
        net: &mut Network,
        host: usize,
        port: u16,
        (config, clock): (&Arc<ServerConfig>, &TlsClock),
        seed: u64,
        initial_window: u64,
    ) -> Result<Self, String> {
        let local = SocketAddr::from((net.hosts[host].addr, port));
        let server = QuicServer::for_app(config, clock, seed, initial_window, local)?;
        let udp = udp_socket(net, host, port, SERVICE_SOCKET);
        Ok(H3Listener { host, udp, server, timer: None })
    }

    /// Takes datagrams in and runs the timers due at `now`: the requests completed and those
    /// withdrawn since the last call.
    pub fn receive(&mut self, now: Instant, net: &mut Network) -> (Vec<H3Request>, Vec<Withdrawn>) {
        let server = &mut self.server;
        receive(net, self.host, self.udp, |from, data| server.handle_datagram(now, from, data));
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(now);
        }
        self.server.poll();
        (self.server.take_requests(), self.server.take_withdrawn())
    }

    /// Answers the request on (`conn`, `stream`).
    pub fn respond(&mut self, conn: usize, stream: u64, status: u16, len: u64) {
        self.server.respond(conn, stream, status, len);
    }

    /// Withdraws the request on (`conn`, `stream`) unanswered (RESET_STREAM).
    pub fn cancel(&mut self, conn: usize, stream: u64) {
        self.server.cancel(conn, stream);
    }

    /// Requests handed on and not answered yet.
    pub fn waiting(&self) -> usize {
        self.server.waiting()
    }

    /// Sends what quinn has to send at `now`; notes the next timer.
    pub fn send(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        let server = &mut self.server;
        send(net, self.host, self.udp, || server.poll_transmit(now))?;
        self.timer = self.server.poll_timeout();
        Ok(())
    }

    /// The QUIC timer (loss detection, ACK delay, pacing, idle).
    pub fn next_timer(&self) -> Option<Instant> {
        self.timer
    }

    /// The errors its callers caused so far (refused connections, malformed requests).
    pub fn errors(&self) -> &[String] {
        self.server.errors()
    }
}

/// The IPv4 address of a QUIC peer (`0.0.0.0` for an IPv6 one, which the lab never has).
pub fn peer_ip(peer: SocketAddr) -> Ipv4Addr {
    match peer {
        SocketAddr::V4(a) => *a.ip(),
        SocketAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

/// The peer as the captures name it.
pub fn peer_v4(peer: SocketAddr) -> SocketAddrV4 {
    SocketAddrV4::new(peer_ip(peer), peer.port())
}
