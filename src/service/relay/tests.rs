//! The relay on a small network, without the runner: raw TCP on both sides (every byte copied
//! exactly, a half-close passed on, resets both ways), and workloads whose HTTP (plain, or in
//! TLS 1.3 or 1.2 end to end) runs through it to replicas behind it, small and large answers.

use std::net::SocketAddrV4;
use std::time::Duration;

use rand_core::RngCore;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};

use super::{Ending, Relay, RelayLog};
use crate::dist::ServiceTime;
use crate::proto::cwnd::TcpConfig;
use crate::proto::stream::tcp_socket;
use crate::proto::tls::{TlsClock, TlsVersion};
use crate::service::tests::addr;
use crate::service::tls::ServiceTls;
use crate::service::workload::{Arrival, Workload, WorkloadSpec};
use crate::service::{Handler, HttpService, HttpVersion, Passthrough, RelaySpec, Replica, ServiceSpec};
use crate::sim::app::Application;
use crate::sim::network::Network;
use crate::time::Instant;

const RELAY_PORT: u16 = 8443;

/// Hosts h0 (the caller) to h{n-1}, every path `rtt`, captured at the caller and the relay (h1).
fn network(n: usize, rtt: Duration, seed: u64) -> Network {
    let mut net = crate::service::tests::network(n, rtt, seed);
    net.add_tap(1);
    net
}

/// A relay on h1 to `upstreams` on `port`.
fn relay(net: &mut Network, upstreams: &[usize], port: u16, seed: u64) -> Relay {
    let replicas = upstreams
        .iter()
        .map(|&h| Replica {
            host: h,
            addr: SocketAddrV4::new(addr(h), port),
            name: format!("h{h}"),
            http: HttpVersion::Http1,
            through: None,
        })
        .collect();
    let spec = RelaySpec { replicas };
    Relay::new(net, 1, RELAY_PORT, &spec, TcpConfig::default(), crate::rng::stream(seed, "relay"))
}

/// Jumps from event to event until `app` is finished (an hour at most).
fn run(net: &mut Network, app: &mut impl Application) {
    let mut now = Instant::ZERO;
    loop {
        crate::sim::app::settle(net, app, now);
        if app.finished() {
            return;
        }
        let Some(next) = crate::sim::app::next_wakeup(net, app, now) else { return };
        now = next.max(Instant::from_micros(now.micros() + 1));
        assert!(now < Instant::ZERO + Duration::from_secs(3600), "finishes within an hour");
    }
}

fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut b = vec![0; n];
    crate::rng::stream(seed, "payload").fill_bytes(&mut b);
    b
}

/// What the raw programs do after their data went.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    /// The caller sends a FIN; the server answers only once it has seen it, then closes.
    HalfClose,
    /// The caller resets once the server has all its bytes.
    CallerAborts,
    /// The server resets once it has all the caller's bytes.
    ServerAborts,
}

/// A raw TCP caller on h0 and a server on h2, the relay between them.
struct Raw {
    relay: Relay,
    client: SocketHandle,
    server: SocketHandle,
    up: Vec<u8>,
    down: Vec<u8>,
    sent: (usize, usize),
    got: (Vec<u8>, Vec<u8>),
    then: Then,
    closed: (bool, bool),
}

impl Raw {
    fn new(net: &mut Network, up: Vec<u8>, down: Vec<u8>, then: Then) -> Raw {
        let relay = relay(net, &[2], 9000, 1);
        let mut server = tcp_socket(&TcpConfig::default());
        server.listen(9000).unwrap();
        let server = net.hosts[2].sockets.add(server);
        let mut client = tcp_socket(&TcpConfig::default());
        let host = &mut net.hosts[0];
        client.connect(host.iface.context(), (smoltcp::wire::IpAddress::Ipv4(addr(1)), RELAY_PORT), 50000).unwrap();
        let client = host.sockets.add(client);
        Raw {
            relay,
            client,
            server,
            up,
            down,
            sent: (0, 0),
            got: (Vec::new(), Vec::new()),
            then,
            closed: (false, false),
        }
    }
}

/// Sends what `socket` takes of `data[*sent..]`.
fn send(socket: &mut tcp::Socket<'static>, data: &[u8], sent: &mut usize) {
    while *sent < data.len() && socket.can_send() {
        match socket.send_slice(&data[*sent..]) {
            Ok(n) if n > 0 => *sent += n,
            _ => break,
        }
    }
}

fn recv(socket: &mut tcp::Socket<'static>, into: &mut Vec<u8>) {
    while socket.can_recv() {
        let _ = socket.recv(|d| {
            into.extend_from_slice(d);
            (d.len(), ())
        });
    }
}

impl Application for Raw {
    fn poll(&mut self, now: Instant, net: &mut Network) {
        self.relay.poll(now, net);
        let c = net.hosts[0].sockets.get_mut::<tcp::Socket>(self.client);
        send(c, &self.up, &mut self.sent.0);
        recv(c, &mut self.got.1);
        let all_up = self.got.0.len() == self.up.len();
        match self.then {
            Then::HalfClose if self.sent.0 == self.up.len() && !self.closed.0 && c.may_send() => {
                c.close();
                self.closed.0 = true;
            }
            Then::CallerAborts if all_up && !self.closed.0 => {
                c.abort();
                self.closed.0 = true;
            }
            _ => {}
        }
        let s = net.hosts[2].sockets.get_mut::<tcp::Socket>(self.server);
        recv(s, &mut self.got.0);
        match self.then {
            // It answers only once the caller's FIN came through: the half-close.
            Then::HalfClose if s.state() == State::CloseWait => {
                send(s, &self.down, &mut self.sent.1);
                if self.sent.1 == self.down.len() && !self.closed.1 {
                    s.close();
                    self.closed.1 = true;
                }
            }
            Then::ServerAborts if self.got.0.len() == self.up.len() && !self.closed.1 => {
                s.abort();
                self.closed.1 = true;
            }
            _ => {}
        }
    }
    fn next_timer(&self, _now: Instant) -> Option<Instant> {
        None
    }
    fn finished(&self) -> bool {
        self.relay.log.conns.first().is_some_and(|c| c.ended.is_some()) && self.got.1.len() == self.down.len()
    }
}

/// Every byte each way arrives as it was sent, a large transfer and a small one: the caller's
/// FIN reaches the server while the server may still answer (a half-close, RFC 9293 §3.6), and
/// the server's FIN then closes the caller's side.
#[test]
fn copies_every_byte_both_ways_and_passes_a_half_close_on() {
    for (up, down) in [(3_000_000, 2_000_000), (5, 1)] {
        let mut net = network(3, Duration::from_millis(4), 1);
        let mut raw = Raw::new(&mut net, bytes(up, 1), bytes(down, 2), Then::HalfClose);
        run(&mut net, &mut raw);
        assert!(raw.got.0 == raw.up, "{up} bytes up: {} arrived, equal: false", raw.got.0.len());
        assert!(raw.got.1 == raw.down, "{down} bytes down: {} arrived, equal: false", raw.got.1.len());
        let c = &raw.relay.log.conns[0];
        assert_eq!((c.bytes_up, c.bytes_down), (up as u64, down as u64));
        assert!(matches!(c.ended, Some((_, Ending::Closed))), "{:?}", c.ended);
        // The caller spoke, the server answered after its FIN: one turn.
        assert_eq!(c.turns.len(), 1, "{:?}", c.turns);
        let t = c.turns[0];
        assert!(t.arrived <= t.forwarded && t.forwarded < t.answer_arrived && t.answer_arrived <= t.answered);
        let state = net.hosts[0].sockets.get::<tcp::Socket>(raw.client).state();
        assert!(matches!(state, State::TimeWait | State::Closed), "the caller saw the server's FIN: {state}");
    }
}

/// A reset from either side resets the other, and the relay says which.
#[test]
fn a_reset_from_either_side_resets_the_other() {
    for (then, ending) in [(Then::CallerAborts, Ending::CallerReset), (Then::ServerAborts, Ending::UpstreamReset)] {
        let mut net = network(3, Duration::from_millis(2), 3);
        let mut raw = Raw::new(&mut net, bytes(10_000, 3), Vec::new(), then);
        run(&mut net, &mut raw);
        assert_eq!(raw.relay.log.conns[0].ended.map(|(_, e)| e), Some(ending));
        // The other side's socket was reset (closed without a FIN of its own).
        let (host, handle) = if then == Then::CallerAborts { (2, raw.server) } else { (0, raw.client) };
        let mut now = Instant::ZERO + Duration::from_secs(1);
        for _ in 0..10 {
            crate::sim::app::settle(&mut net, &mut raw, now);
            now = now + Duration::from_millis(10);
        }
        assert_eq!(net.hosts[host].sockets.get::<tcp::Socket>(handle).state(), State::Closed);
        assert!(raw.relay.conns.is_empty(), "both sockets gone from the relay");
    }
}

/// HTTPS services on h2 and h3 (both answering to `backend`, as a `[[host]]`'s replicas do),
/// the relay on h1 passing TLS through to them, and a caller on h0.
struct Https {
    relay: Relay,
    services: Vec<HttpService>,
    workload: Workload,
}

impl Application for Https {
    fn poll(&mut self, now: Instant, net: &mut Network) {
        for s in &mut self.services {
            s.poll(now, net).unwrap();
        }
        self.relay.poll(now, net);
        if self.workload.started().is_none() && self.workload.warmed() {
            self.workload.start(now);
        }
        self.workload.poll(now, net).unwrap();
    }
    fn next_timer(&self, now: Instant) -> Option<Instant> {
        let services = self.services.iter().filter_map(HttpService::next_timer);
        services.chain(self.workload.next_timer()).filter(|&t| t > now).min()
    }
    fn finished(&self) -> bool {
        self.workload.finished()
    }
}

/// The HTTPS world: TLS `version` (`None`: plain HTTP), answers of `response` bytes, `requests`
/// one at a time over a pool of `pool` (0: a fresh connection each); the caller asks for `ask`
/// (the hosts it trusts and the name), by default both replicas as `backend`.
fn https(
    version: Option<TlsVersion>,
    response: u64,
    requests: u64,
    pool: u32,
    ask: Option<Passthrough>,
) -> (Network, Https) {
    let seed = 7;
    let mut net = network(4, Duration::from_millis(6), seed);
    let clock = TlsClock::at_unix_micros(0);
    let tls = ServiceTls::with_names(seed, [(2, vec!["h2", "backend"]), (3, vec!["h3", "backend"])], &clock).unwrap();
    let mut services = Vec::new();
    for h in [2, 3] {
        let spec = ServiceSpec {
            port: 443,
            handler: Handler::Service { time: ServiceTime::parse("fixed 1ms").unwrap(), response },
            concurrency: None,
            tls: version,
            http: HttpVersion::Http1,
        };
        let rng = crate::rng::stream(seed, &format!("svc {h}"));
        services.push(HttpService::new(&mut net, h, &spec, TcpConfig::default(), &tls, rng).unwrap());
    }
    let relay = relay(&mut net, &[2, 3], 443, seed);
    let through = ask.unwrap_or(Passthrough { hosts: vec![2, 3], name: "backend".into() });
    let name = through.name.clone();
    let to = Replica {
        host: 1,
        addr: SocketAddrV4::new(addr(1), RELAY_PORT),
        name: "h1".into(),
        http: HttpVersion::Http1,
        through: Some(through),
    };
    assert_eq!(to.authority(), name, "the caller asks for what answers behind the relay");
    let setup = version.map(|v| tls.client_for(&to, v).expect("TLS behind the relay"));
    let spec = WorkloadSpec { to, requests, arrival: Arrival::Closed { concurrency: 1 }, pool };
    let workload = Workload::new(0, spec, TcpConfig::default(), setup, crate::rng::stream(seed, "workload"));
    (net, Https { relay, services, workload })
}

/// TLS 1.3 and 1.2 run end to end through the relay, to whichever replica it picks: the
/// caller asks for `backend` and verifies that replica's certificate. Each answer is read
/// whole (TLS would refuse a single changed byte), small or large, on fresh connections (the
/// relay opens one to the next replica for each) and on a warm one; plain HTTP too.
#[test]
fn tls_runs_end_to_end_through_the_relay() {
    for version in [Some(TlsVersion::Tls13), Some(TlsVersion::Tls12), None] {
        for (response, pool) in [(1000, 0), (3_000_000, 0), (20_000, 1)] {
            let (mut net, mut w) = https(version, response, 4, pool, None);
            run(&mut net, &mut w);
            let what = format!("{version:?}, {response} bytes, pool {pool}");
            assert!(w.workload.records.iter().all(|r| r.ok()), "{what}: {:?}", w.workload.records);
            let served: Vec<usize> = w.services.iter().map(|s| s.log.served.len()).collect();
            let conns = &w.relay.log.conns;
            if pool == 0 {
                assert_eq!(served, vec![2, 2], "{what}: round-robin, a connection each");
                assert_eq!(conns.len(), 4, "{what}");
            } else {
                assert_eq!(served.iter().sum::<usize>(), 4, "{what}");
                assert_eq!(conns.len(), 1, "{what}: one warm connection through the relay");
            }
            // The services saw the relay, never the caller, and the relay only bytes.
            assert!(w.services.iter().flat_map(|s| &s.log.served).all(|s| s.from == addr(1)), "{what}");
            let down: u64 = conns.iter().map(|c| c.bytes_down).sum();
            assert!(down > 4 * response, "{what}: {down} bytes down");
            // A TLS 1.3 handshake is one turn, TLS 1.2's two; each request one more.
            let handshake = match version {
                Some(TlsVersion::Tls13) => 1,
                Some(TlsVersion::Tls12) => 2,
                None => 0,
            };
            if pool == 0 {
                assert!(conns.iter().all(|c| c.turns.len() > handshake), "{what}: {:?}", conns[0].turns);
                let requests = conns.iter().filter_map(|c| c.turns.get(handshake)).filter(|t| t.answered.is_some());
                assert_eq!(requests.count(), 4, "{what}: the request's turn of each connection answered");
            }
        }
    }
}

/// Verification is real: a caller that trusts only h2's certificate, and asks for its name,
/// gets its answers from h2 and none from h3, whose certificate it refuses.
#[test]
fn a_caller_refuses_a_replica_whose_certificate_it_does_not_trust() {
    let only_h2 = Passthrough { hosts: vec![2], name: "h2".into() };
    let (mut net, mut w) = https(Some(TlsVersion::Tls13), 1000, 4, 0, Some(only_h2));
    run(&mut net, &mut w);
    let ok: Vec<bool> = w.workload.records.iter().map(|r| r.ok()).collect();
    assert_eq!(ok, vec![true, false, true, false], "h2, h3, h2, h3 in turn");
    assert_eq!(w.services[1].log.served.len(), 0);
}

/// An upstream that refuses the connection: the caller's is reset, and the caller's requests
/// fail (no retry for ever).
#[test]
fn a_refused_upstream_resets_the_caller() {
    let mut net = network(3, Duration::from_millis(2), 5);
    let relay = relay(&mut net, &[2], 9, 5);
    let to = Replica {
        host: 1,
        addr: SocketAddrV4::new(addr(1), RELAY_PORT),
        name: "h1".into(),
        http: HttpVersion::Http1,
        through: None,
    };
    let spec = WorkloadSpec { to, requests: 2, arrival: Arrival::Closed { concurrency: 1 }, pool: 0 };
    let workload = Workload::new(0, spec, TcpConfig::default(), None, crate::rng::stream(5, "workload"));
    let mut w = Https { relay, services: Vec::new(), workload };
    run(&mut net, &mut w);
    assert!(w.workload.records.iter().all(|r| !r.ok()), "{:?}", w.workload.records);
    assert!(w.relay.log.conns.iter().all(|c| matches!(c.ended, Some((_, Ending::ConnectFailed)))));
}

/// The same seed gives the same packets, at the caller and at the relay, and the same log.
#[test]
fn the_same_seed_gives_the_same_bytes() {
    let once = || {
        let (mut net, mut w) = https(Some(TlsVersion::Tls13), 50_000, 3, 0, None);
        run(&mut net, &mut w);
        net.finish_captures("");
        let frames = |c: &crate::capture::Capture| c.packets().map(|f| (f.bytes.to_vec(), f.comment())).collect();
        let tapped: Vec<Vec<(Vec<u8>, String)>> =
            std::iter::once(&net.tap).chain(&net.other_taps).map(|t| frames(&t.capture)).collect();
        (tapped, w.relay.log.clone())
    };
    let (a, b): ((_, RelayLog), (_, RelayLog)) = (once(), once());
    assert_eq!(a.0.len(), 2, "the caller's capture and the relay's");
    assert!(a.0[1].iter().any(|(_, c)| c.contains("relay: passes on")), "the relay's comments");
    assert!(a == b, "two runs with the same seed differ");
}
