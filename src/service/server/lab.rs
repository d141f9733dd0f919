//! The lab's server (`role = "server"`, [`LabServer`]): one [`HttpService`] with the `bytes`
//! handler listening on ports 80 and 443, in the scenario's own TLS world, with an idle timeout,
//! and the byte ranges it wrote tagged with the object or HTTP/2 stream they carried; and, for
//! the page steps that fetch over HTTP/3, a `bytes` service on UDP 443 in the scenario's QUIC
//! TLS world ([`HttpService::lab_h3`]).

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use super::{Conn, HttpService, Listener, Runtime};
use crate::proto::cwnd::TcpConfig;
use crate::proto::h2::H2Server;
use crate::proto::stream::{tcp_socket, TaggedRange};
use crate::proto::tls::{LabTls, TlsVersion};
use crate::service::h3::H3Listener;
use crate::service::{Handler, HttpVersion, LabServer, ServiceSpec};
use crate::sim::network::Network;
use crate::time::Instant;

/// What the lab's server keeps beyond a service's own state.
pub(super) struct Lab {
    pub(super) idle_timeout: Option<Duration>,
    /// The tagged byte ranges of its closed connections, with the client's port.
    pub(super) tagged: Vec<(u16, TaggedRange)>,
}

impl HttpService {
    /// The lab's server on `host`: `bytes` on each of [`LabServer::PORTS`] (listened on, and
    /// accepted from, in that order), TLS on [`LabServer::TLS_PORT`] with `tls`, the scenario's
    /// own server config (the client's TLS world: its certificate, tickets and ALPN).
    pub fn lab_server(
        net: &mut Network,
        host: usize,
        lab: &LabServer,
        tcp: TcpConfig,
        tls: &Arc<ServerConfig>,
    ) -> Result<Self, String> {
        let specs = lab.services();
        let first = specs.first().ok_or("the lab's server has no services")?;
        let listeners = specs
            .iter()
            .map(|spec| {
                let mut socket = tcp_socket(&tcp);
                // A fresh socket in a set we own: listening cannot fail.
                let _ = socket.listen(spec.port);
                let handle = net.hosts[host].sockets.add(socket);
                Listener { port: spec.port, tls: spec.tls.map(|_| tls.clone()), handle }
            })
            .collect();
        // Nothing calls it with tied copies: its UDP socket for them stays unbound (UDP 443
        // is HTTP/3's, where a page step fetches over it).
        let mut service = Self::with_listeners(net, host, first, tcp, Runtime::Bytes, listeners, false);
        service.lab = Some(Lab { idle_timeout: lab.idle_timeout, tagged: Vec::new() });
        Ok(service)
    }

    /// The HTTP/3 server (RFC 9114) of the page steps that fetch over it: `bytes` on UDP
    /// [`LabServer::TLS_PORT`] of `host`, its QUIC in `tls`, the scenario's QUIC TLS world (ALPN
    /// `h3`, the one the page's client trusts), seeded with `seed` and starting with
    /// `initial_window` bytes (the page's `quic_initial_window`). Each request is answered
    /// once every datagram of the instant has been read, as any HTTP/3 service's is.
    pub fn lab_h3(
        net: &mut Network,
        host: usize,
        tls: &LabTls,
        seed: u64,
        initial_window: u64,
        tcp: TcpConfig,
    ) -> Result<Self, String> {
        let port = LabServer::TLS_PORT;
        let h3 = H3Listener::with_config(net, host, port, (&tls.server(), tls.clock()), seed, initial_window)?;
        let spec = ServiceSpec {
            port,
            handler: Handler::Bytes,
            concurrency: None,
            tls: Some(TlsVersion::Tls13),
            http: HttpVersion::Http3,
        };
        let mut service = Self::with_listeners(net, host, &spec, tcp, Runtime::Bytes, Vec::new(), false);
        service.h3 = Some(h3);
        service.lab = Some(Lab { idle_timeout: None, tagged: Vec::new() });
        Ok(service)
    }

    /// Which object or HTTP/2 stream each TCP byte range it wrote carried, with the client's
    /// port of its connection (the lab's server only: other services tag nothing).
    pub fn tagged_ranges(&self) -> Vec<(u16, TaggedRange)> {
        let Some(lab) = &self.lab else { return Vec::new() };
        let live = self.conns.iter().flat_map(|c| c.stream.tagged.iter().map(|r| (c.peer_port, *r)));
        lab.tagged.iter().copied().chain(live).collect()
    }

    /// When the idle timeout next closes a connection.
    pub(super) fn idle_deadline(&self) -> Option<Instant> {
        let timeout = self.lab.as_ref()?.idle_timeout?;
        self.conns.iter().filter(|c| !c.closing).map(|c| c.last_active + timeout).min()
    }

    /// Whether `c` has been idle past the timeout at `now`.
    pub(super) fn idle(&self, c: &Conn, now: Instant) -> bool {
        self.lab.as_ref().and_then(|l| l.idle_timeout).is_some_and(|t| now >= c.last_active + t)
    }
}

impl Conn {
    /// A TLS connection whose handshake picked `h2` by ALPN speaks HTTP/2 from now on (RFC
    /// 9113 §3.2), and its server preface (SETTINGS, §3.4) is written at once. True when it
    /// started now.
    pub(super) fn alpn_h2(&mut self, tag: bool) -> bool {
        if self.h2.is_some() || self.ws.is_some() || self.stream.handshaking() {
            return false;
        }
        let Some(tls) = &self.stream.tls else { return false };
        if tls.alpn_protocol() != Some(b"h2") {
            return false;
        }
        self.h2 = Some(H2Server::for_app());
        self.write_h2(tag);
        true
    }

    /// Writes what HTTP/2 has to send; with `tag`, frame by frame, each DATA frame tagged with
    /// its stream so that the lab knows which TCP bytes carried which stream (over TLS, each
    /// frame is then a record of its own).
    pub(super) fn write_h2(&mut self, tag: bool) {
        let Some(h2) = &mut self.h2 else { return };
        if !tag {
            self.stream.write(&h2.take_bytes());
            return;
        }
        for chunk in h2.take_output() {
            match chunk.stream {
                Some(id) => self.stream.write_tagged(&chunk.bytes, u64::from(id)),
                None => self.stream.write(&chunk.bytes),
            }
        }
    }
}
