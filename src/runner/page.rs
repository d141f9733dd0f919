//! Fetching a page of several objects three ways (the head-of-line-blocking lab):
//! HTTP/1.1 over up to `connections` TLS connections (one request at a time on each, RFC 9112
//! §9.3), HTTP/2 over one TLS connection with a stream per object (RFC 9113), or HTTP/3 over
//! QUIC with a stream per object (RFC 9114).
//!
//! For every object the page records when it was requested and completed. Stalls, the time
//! its bytes sat received but undeliverable behind a hole, are computed after the run: for TCP
//! from the capture ([`crate::timeline::hol::tcp_deliveries`]) and the server's record of which
//! TCP bytes carried which object; for QUIC from the stream chunks as they arrived.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

use std::net::SocketAddrV4;

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::proto::cwnd::TcpConfig;
use crate::proto::h2::H2Event;
use crate::proto::http1;
use crate::proto::http_client::{take_port, ConnEvent, HttpConn, Lifecycle, TlsSetup};
use crate::proto::quic::{QuicClient, QuicEvent};
use crate::proto::tls::{LabTls, TlsVersion};
use crate::script::steps::{PageSpec, Protocol};
use crate::sim::network::Network;
use crate::time::Instant;
use crate::timeline::hol::StreamReassembly;

/// The UDP port the lab's HTTP/3 server listens on ([`crate::service::HttpService::lab_h3`]).
pub const QUIC_PORT: u16 = crate::service::LabServer::TLS_PORT;

/// One object of the page.
#[derive(Clone, Debug, Default)]
pub struct Object {
    pub requested: Option<Instant>,
    pub completed: Option<Instant>,
    pub bytes: u64,
    /// The client port of the TCP connection that carried it (HTTP/1.1, HTTP/2).
    pub port: Option<u16>,
    /// The HTTP/2 or QUIC stream that carried it.
    pub stream: Option<u64>,
}

struct QuicPage {
    client: QuicClient,
    udp: SocketHandle,
    requested: bool,
    /// Arrival and delivery of each stream's bytes.
    pub reassembly: HashMap<u64, StreamReassembly>,
    /// Datagrams received from the server so far.
    received: u64,
    /// (stream, offset) of a chunk → the number (1-based) of the datagram that carried it.
    pub datagram_of: HashMap<(u64, u64), u64>,
}

/// Takes in the QUIC client's events; `datagram` is the number of the datagram that produced
/// them, when they came from one.
fn absorb(
    events: Vec<QuicEvent>,
    datagram: Option<u64>,
    now: Instant,
    q: &mut QuicPage,
    objects: &mut [Object],
    by_stream: &HashMap<u64, usize>,
) -> Result<(), String> {
    for event in events {
        match event {
            QuicEvent::Chunk { stream, offset, len, at } => {
                q.reassembly.entry(stream).or_default().arrive(offset, offset + len as u64, at);
                if let Some(d) = datagram {
                    q.datagram_of.insert((stream, offset), d);
                }
            }
            QuicEvent::Finished { stream, body } => {
                if let Some(&k) = by_stream.get(&stream) {
                    objects[k].bytes = body;
                    objects[k].completed.get_or_insert(now);
                }
            }
            QuicEvent::Error(e) => return Err(format!("QUIC: {e}")),
            _ => {}
        }
    }
    Ok(())
}

pub struct Page {
    spec: PageSpec,
    addr: Ipv4Addr,
    host: usize,
    tcp: TcpConfig,
    seed: u64,
    started: bool,
    pub objects: Vec<Object>,
    next_object: usize,
    /// The TCP connections (HTTP/1.1: a request's tag is its object).
    conns: Vec<HttpConn>,
    quic: Option<QuicPage>,
    /// HTTP/2 or QUIC stream id → object.
    by_stream: HashMap<u64, usize>,
}

fn udp_socket(sockets: &mut SocketSet<'static>, port: u16) -> SocketHandle {
    let buffer = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 1024], vec![0; 2 << 20]);
    let mut socket = udp::Socket::new(buffer(), buffer());
    let _ = socket.bind(port);
    sockets.add(socket)
}

impl Page {
    pub fn new(spec: PageSpec, addr: Ipv4Addr, host: usize, tcp: TcpConfig, seed: u64) -> Page {
        let objects = vec![Object::default(); spec.objects as usize];
        Page {
            spec,
            addr,
            host,
            tcp,
            seed,
            started: false,
            objects,
            next_object: 0,
            conns: Vec::new(),
            quic: None,
            by_stream: HashMap::new(),
        }
    }

    pub fn protocol(&self) -> Protocol {
        self.spec.protocol
    }

    pub fn finished(&self) -> bool {
        self.started && self.objects.iter().all(|o| o.completed.is_some())
    }

    pub fn next_timer(&mut self) -> Option<Instant> {
        self.quic.as_mut().and_then(|q| q.client.poll_timeout())
    }

    /// The QUIC stream reassemblies (HTTP/3), for stall measurement.
    pub fn quic_reassembly(&self) -> Option<&HashMap<u64, StreamReassembly>> {
        self.quic.as_ref().map(|q| &q.reassembly)
    }

    /// Which server datagram (1-based, in the order the client received them) carried the
    /// chunk of `stream` at `offset`.
    pub fn quic_datagram_of(&self, stream: u64, offset: u64) -> Option<u64> {
        self.quic.as_ref()?.datagram_of.get(&(stream, offset)).copied()
    }

    /// Opens a TCP connection that starts TLS 1.3 with ALPN for the page's protocol.
    fn open_tcp(&mut self, now: Instant, net: &mut Network, tls: &LabTls, next_port: &mut u16) -> Result<(), String> {
        let alpn: &[u8] = if self.spec.protocol == Protocol::H2 { b"h2" } else { b"http/1.1" };
        let to = SocketAddrV4::new(self.addr, self.spec.port);
        let conn = HttpConn::connect(&mut net.hosts[self.host], &self.tcp, to, take_port(next_port), None, now)?;
        self.conns.push(conn.with_tls(Some(TlsSetup::new(tls, TlsVersion::Tls13).with_alpn(alpn))));
        Ok(())
    }

    /// Moves the page along at `now`.
    pub fn poll(
        &mut self,
        now: Instant,
        net: &mut Network,
        tls: &LabTls,
        quic_tls: Option<&LabTls>,
        next_port: &mut u16,
    ) -> Result<(), String> {
        if !self.started {
            self.started = true;
            match self.spec.protocol {
                Protocol::H1 => {
                    for _ in 0..self.spec.connections.min(self.spec.objects) {
                        self.open_tcp(now, net, tls, next_port)?;
                    }
                }
                Protocol::H2 => self.open_tcp(now, net, tls, next_port)?,
                Protocol::H3 => {
                    let quic_tls = quic_tls.ok_or("HTTP/3 needs the lab's QUIC TLS setup")?;
                    let local_port = take_port(next_port);
                    let client_addr = net.hosts[self.host].addr;
                    let local = SocketAddr::from((client_addr, local_port));
                    let server = SocketAddr::from((self.addr, QUIC_PORT));
                    let seed = crate::rng::derive(self.seed, "quic:client");
                    let client = QuicClient::new(quic_tls, seed, self.spec.quic_initial_window, local, server, now)?;
                    let udp = udp_socket(&mut net.hosts[self.host].sockets, local_port);
                    self.quic = Some(QuicPage {
                        client,
                        udp,
                        requested: false,
                        reassembly: HashMap::new(),
                        received: 0,
                        datagram_of: HashMap::new(),
                    });
                }
            }
        }
        self.poll_tcp(now, net)?;
        self.poll_quic(now, net)
    }

    fn poll_tcp(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        let sockets = &mut net.hosts[self.host].sockets;
        for c in &mut self.conns {
            c.pump(sockets);
            if let Some(e) = c.take_error() {
                return Err(e);
            }
            match c.advance(now, sockets)? {
                Some(ConnEvent::Failed(_)) if c.connected_at().is_none() => return Err("connection refused".into()),
                Some(ConnEvent::Failed(state)) => {
                    return Err(format!("the connection closed during the TLS handshake (TCP {state})"));
                }
                Some(ConnEvent::Ready) if self.spec.protocol == Protocol::H2 => {
                    // Every object at once, a stream each (RFC 9113 §5).
                    let paths: Vec<String> =
                        (0..self.objects.len()).map(|k| format!("/bytes/{}?object={k}", self.spec.size)).collect();
                    for (k, id) in c.start_h2(&self.spec.to, &paths)?.into_iter().enumerate() {
                        self.by_stream.insert(u64::from(id), k);
                        self.objects[k].requested = Some(now);
                        self.objects[k].port = Some(c.port());
                        self.objects[k].stream = Some(u64::from(id));
                    }
                }
                _ => {}
            }
            if c.lifecycle() != Lifecycle::Open {
                continue;
            }
            if c.is_h2() {
                for event in c.poll_h2() {
                    match event {
                        H2Event::Data { stream, len } => {
                            if let Some(&k) = self.by_stream.get(&u64::from(stream)) {
                                self.objects[k].bytes += len as u64;
                            }
                        }
                        H2Event::End { stream } => {
                            if let Some(&k) = self.by_stream.get(&u64::from(stream)) {
                                self.objects[k].completed.get_or_insert(now);
                            }
                        }
                        H2Event::Error(e) => return Err(format!("HTTP/2: {e}")),
                        H2Event::StreamError { stream, error } => {
                            return Err(format!("HTTP/2: stream {stream}: {error}"))
                        }
                        _ => {}
                    }
                }
            } else {
                // HTTP/1.1: one object at a time on this connection (RFC 9112 §9.3).
                if let Some(read) = c.read_response(now) {
                    if let Some(e) = read.error {
                        return Err(e);
                    }
                    if let Some(r) = read.done.then(|| c.take_response()).flatten() {
                        self.objects[r.tag as usize].bytes = r.body;
                        self.objects[r.tag as usize].completed = Some(now);
                    }
                }
                if !c.in_flight() && self.next_object < self.objects.len() {
                    let k = self.next_object;
                    self.next_object += 1;
                    c.send_request(&http1::object_request(&self.spec.to, self.spec.size, k as u64), k as u64, now);
                    self.objects[k].requested = Some(now);
                    self.objects[k].port = Some(c.port());
                }
            }
            c.pump(sockets);
        }
        Ok(())
    }

    fn poll_quic(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        let Some(q) = &mut self.quic else { return Ok(()) };
        let sockets = &mut net.hosts[self.host].sockets;
        let socket = sockets.get_mut::<udp::Socket>(q.udp);
        while let Ok((data, meta)) = socket.recv() {
            let IpAddress::Ipv4(ip) = meta.endpoint.addr;
            q.client.handle_datagram(now, SocketAddr::from((ip, meta.endpoint.port)), data);
            q.received += 1;
            let events = q.client.poll_events();
            absorb(events, Some(q.received), now, q, &mut self.objects, &self.by_stream)?;
        }
        if q.client.poll_timeout().is_some_and(|t| t <= now) {
            q.client.handle_timeout(now);
        }
        if q.client.is_connected() && !q.requested {
            q.requested = true;
            for k in 0..self.objects.len() {
                let path = format!("/bytes/{}?object={k}", self.spec.size);
                let id = q.client.get(&self.spec.to, &path)?;
                self.by_stream.insert(id, k);
                self.objects[k].requested = Some(now);
                self.objects[k].stream = Some(id);
            }
        }
        let events = q.client.poll_events();
        absorb(events, None, now, q, &mut self.objects, &self.by_stream)?;
        while let Some((to, bytes)) = q.client.poll_transmit(now) {
            let SocketAddr::V4(to) = to else { continue };
            let endpoint = IpEndpoint::new(IpAddress::Ipv4(*to.ip()), to.port());
            if sockets.get_mut::<udp::Socket>(q.udp).send_slice(&bytes, endpoint).is_err() {
                return Err("the client's UDP send buffer is full".into());
            }
        }
        Ok(())
    }
}
