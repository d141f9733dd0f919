//! HTTP/3 services and their callers (RFC 9114 over QUIC, RFC 9000): a workload calling a
//! `service` over one warm QUIC connection or a fresh one per request, on a lossless path whose
//! latencies are exact in virtual time.

use super::*;
use crate::proto::tls::{TlsClock, TlsVersion};

const RTT_MS: u64 = 40;

/// A workload on host 0 calling an HTTP/3 `service` on host 1 (port 443, TLS 1.3), which
/// answers 1000 bytes after `time` with at most `concurrency` requests at once; `requests`
/// in a closed loop of `in_flight`, over a pool of `pool`.
fn h3_world(
    time: &str,
    concurrency: Option<u32>,
    requests: u64,
    in_flight: u32,
    pool: u32,
    seed: u64,
) -> (Network, World) {
    let tcp = TcpConfig::default();
    let rtt = Duration::from_millis(RTT_MS);
    let mut net = network(2, rtt, seed);
    let tls = tls::ServiceTls::new(seed, [(1, "h1")], &TlsClock::at_unix_micros(0)).unwrap();
    let spec = ServiceSpec {
        port: 443,
        handler: Handler::Service { time: ServiceTime::parse(time).unwrap(), response: 1000 },
        concurrency,
        tls: Some(TlsVersion::Tls13),
        http: HttpVersion::Http3,
    };
    let mut services = Services::default();
    services.list.push(HttpService::new(&mut net, 1, &spec, tcp, &tls, crate::rng::stream(seed, "svc")).unwrap());
    let http = HttpVersion::Http3;
    let to = Replica { host: 1, addr: SocketAddrV4::new(addr(1), 443), name: "h1".into(), http, through: None };
    let spec = WorkloadSpec { to, requests, arrival: Arrival::Closed { concurrency: in_flight }, pool };
    let setup = tls.client(1, TlsVersion::Tls13);
    let workload = Workload::new(0, spec, tcp, setup, crate::rng::stream(seed, "workload"));
    (net, World { services, workload })
}

/// A fresh QUIC connection per request: the handshake (QUIC and TLS 1.3 together, RFC 9001
/// §4) is one round trip, the request another, then the service time: 2 RTTs + 10 ms, where
/// TCP + TLS 1.3 cost 3 RTTs. Each connection is ready exactly one RTT after it opened.
#[test]
fn a_fresh_quic_connection_per_request_costs_two_round_trips() {
    let (mut net, mut w) = h3_world("fixed 10ms", None, 5, 1, 0, 1);
    run(&mut net, &mut w);
    for r in &w.workload.records {
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.latency_us(), Some(2 * RTT_MS * 1000 + 10_000), "{r:?}");
        let conn = r.conn.unwrap();
        assert_eq!(conn.waited_us(r.due), RTT_MS * 1000, "QUIC + TLS 1.3: 1 RTT");
        assert_eq!(conn.ready, conn.connected);
    }
    assert_eq!(w.workload.connections().0, 5, "a connection per request");
    let log = &w.services.list[0].log;
    assert_eq!((log.requests, log.answered, log.cancelled), (5, 5, 0));
    assert!(log.served.iter().enumerate().all(|(i, s)| s.id == Some(RequestId { req: i as u64, call: None })));
    assert!(log.served.iter().all(|s| s.from == addr(0)));
}

/// One warm connection, handshaken before the first request: each request costs one round
/// trip and the service time, and every request is a stream on that one connection.
#[test]
fn a_warm_quic_connection_costs_one_round_trip() {
    let (mut net, mut w) = h3_world("fixed 10ms", None, 20, 1, 1, 1);
    run(&mut net, &mut w);
    assert!(w.workload.records.iter().all(|r| r.ok()));
    for r in &w.workload.records {
        assert_eq!(r.latency_us(), Some(RTT_MS * 1000 + 10_000), "{r:?}");
        assert_eq!(r.conn.unwrap().waited_us(r.due), 0, "warm");
    }
    assert_eq!(w.workload.connections(), (1, RTT_MS * 1000), "one connection, its 1-RTT handshake");
}

/// The service's concurrency limit applies to HTTP/3 streams as to HTTP/1.1 requests: one at
/// a time, 50 ms each, with 3 in flight on one connection, the others wait in the queue. (A
/// place an answer frees is taken at the service's next poll, not at once: the same for every
/// HTTP version, see `HttpService::poll`; so the waits are longer than 150 - 50 - 40 ms.)
#[test]
fn the_concurrency_limit_queues_http3_streams() {
    let (mut net, mut w) = h3_world("fixed 50ms", Some(1), 30, 3, 1, 1);
    run(&mut net, &mut w);
    assert!(w.workload.records.iter().all(|r| r.ok()));
    let log = &w.services.list[0].log;
    assert_eq!(log.answered, 30);
    let starts: Vec<Instant> = log.served.iter().map(|s| s.started).collect();
    assert!(starts.windows(2).all(|p| p[1] - p[0] >= Duration::from_millis(50)), "one at a time: {starts:?}");
    let waits = &log.queue_wait_us;
    assert!(waits.iter().skip(1).all(|&us| us >= 60_000), "each waits for those ahead: {waits:?}");
    for r in &w.workload.records[1..] {
        assert!(r.latency_us().unwrap() >= 150_000, "{r:?}");
    }
}

/// Same seed, same everything: every request's times, and the service's log.
#[test]
fn http3_runs_are_deterministic() {
    let once = |seed| {
        let (mut net, mut w) = h3_world("lognormal p50=5ms p99=20ms", Some(2), 40, 4, 2, seed);
        run(&mut net, &mut w);
        let log = &w.services.list[0].log;
        (w.workload.records.clone(), log.served.clone(), log.queue_wait_us.clone())
    };
    let a = once(7);
    assert_eq!(a, once(7));
    assert!(a.0.iter().all(|r| r.ok()));
    assert_ne!(a.0, once(8).0, "another seed, other service times");
}

/// A caller that sends two calls on one warm connection, then cancels the second at 30 ms.
struct Canceller {
    services: Services,
    up: upstream::Upstream,
    next_port: u16,
    started: Option<Instant>,
    cancelled: bool,
    events: Vec<upstream::CallEvent>,
}

impl Canceller {
    fn cancel_at(&self) -> Option<Instant> {
        self.started.filter(|_| !self.cancelled).map(|s| s + Duration::from_millis(30))
    }
}

impl Application for Canceller {
    fn poll(&mut self, now: Instant, net: &mut Network) {
        self.services.poll(now, net).unwrap();
        if self.started.is_none() && self.up.warmed() {
            self.started = Some(now);
            self.up.send(0, "/r/0".into(), net, || "call 0".into());
            self.up.send(1, "/r/1".into(), net, || "call 1".into());
        }
        if self.cancel_at().is_some_and(|t| t <= now) {
            self.up.cancel(1, net, || "the caller gave up".into());
            self.cancelled = true;
        }
        self.up.poll(now, net, &mut self.next_port, &mut self.events).unwrap();
    }
    fn next_timer(&self, now: Instant) -> Option<Instant> {
        [self.services.next_timer(), self.up.next_timer(), self.cancel_at()]
            .into_iter()
            .flatten()
            .filter(|&t| t > now)
            .min()
    }
    fn finished(&self) -> bool {
        !self.events.is_empty() && self.services.list[0].log.cancelled == 1
    }
}

/// A call the caller cancels (STOP_SENDING and RESET_STREAM, RFC 9114 §4.1.1) while it waits in
/// the service's queue is withdrawn there, as an HTTP/2 RST_STREAM withdraws it; the other call
/// on the same connection is answered.
#[test]
fn a_cancelled_stream_withdraws_its_request() {
    let (mut net, w) = h3_world("fixed 100ms", Some(1), 1, 1, 1, 3);
    let World { services, workload } = w;
    let setup =
        tls::ServiceTls::new(3, [(1, "h1")], &TlsClock::at_unix_micros(0)).unwrap().client(1, TlsVersion::Tls13);
    let up = upstream::Upstream::new(0, &workload.spec().to, TcpConfig::default(), setup, 1).with_quic_seed(9);
    let mut app = Canceller { services, up, next_port: 50000, started: None, cancelled: false, events: Vec::new() };
    let limit = Instant::ZERO + Duration::from_secs(10);
    let mut now = Instant::ZERO;
    while !app.finished() {
        crate::sim::app::settle(&mut net, &mut app, now);
        if app.finished() {
            break;
        }
        let next = crate::sim::app::next_wakeup(&mut net, &app, now).expect("something left to happen");
        now = next.max(Instant::from_micros(now.micros() + 1));
        assert!(now < limit);
    }
    let log = &app.services.list[0].log;
    assert_eq!((log.requests, log.cancelled, log.answered), (2, 1, 1));
    assert!(matches!(app.events[..], [upstream::CallEvent::Done { tag: 0, status: 200, .. }]), "{:?}", app.events);
    assert_eq!(app.up.outstanding(), 0);
}

/// Client 0 calls a plain HTTP/1.1 gateway on host 1, which calls two HTTP/3 replicas (hosts 2
/// and 3, TLS 1.3, `time` each) over a warm pool of one QUIC connection per replica, `calls`
/// per request with `policy`. Every path 40 ms.
fn gateway_world(policy: Policy, calls: u32, time: &str, requests: u64, seed: u64) -> (Network, World) {
    let tcp = TcpConfig::default();
    let rtt = Duration::from_millis(RTT_MS);
    let mut net = network(4, rtt, seed);
    let tls = tls::ServiceTls::new(seed, [(2, "h2"), (3, "h3")], &TlsClock::at_unix_micros(0)).unwrap();
    let http = HttpVersion::Http3;
    let replicas: Vec<Replica> = (2..4)
        .map(|h| Replica { host: h, addr: SocketAddrV4::new(addr(h), 443), name: format!("h{h}"), http, through: None })
        .collect();
    let mut services = Services::default();
    for r in &replicas {
        let handler = Handler::Service { time: ServiceTime::parse(time).unwrap(), response: 1000 };
        let spec = ServiceSpec { port: 443, handler, concurrency: None, tls: Some(TlsVersion::Tls13), http };
        let rng = crate::rng::stream(seed, &format!("svc {}", r.host));
        services.list.push(HttpService::new(&mut net, r.host, &spec, tcp, &tls, rng).unwrap());
    }
    let gateway = GatewaySpec {
        replicas,
        groups: Vec::new(),
        calls,
        policy,
        pool: 1,
        tls: Some(TlsVersion::Tls13),
        per_try_timeout: None,
        deadline: None,
        retries: 0,
        retry_ratio: 0.2,
        response: 200,
    };
    let handler = Handler::Gateway(gateway);
    let spec = ServiceSpec { port: 80, handler, concurrency: None, tls: None, http: HttpVersion::Http1 };
    services.list.push(HttpService::new(&mut net, 1, &spec, tcp, &tls, crate::rng::stream(seed, "gw")).unwrap());
    let http = HttpVersion::Http1;
    let to = Replica { host: 1, addr: SocketAddrV4::new(addr(1), 80), name: "gateway".into(), http, through: None };
    let spec = WorkloadSpec { to, requests, arrival: Arrival::Closed { concurrency: 1 }, pool: 1 };
    let workload = Workload::new(0, spec, tcp, None, crate::rng::stream(seed, "workload"));
    (net, World { services, workload })
}

/// A gateway's calls to HTTP/3 replicas are streams on its warm QUIC connections: two
/// sequential calls of 1 RTT + 10 ms each, after the client's own round trip to the gateway.
#[test]
fn a_gateway_calls_http3_replicas_over_warm_quic_connections() {
    let (mut net, mut w) = gateway_world(Policy::Sequential, 2, "fixed 10ms", 10, 1);
    run(&mut net, &mut w);
    let ms = RTT_MS * 1000;
    for r in &w.workload.records {
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.latency_us(), Some(ms + 2 * (ms + 10_000)), "{r:?}");
    }
    let g = w.services.list.last().unwrap().gateway().unwrap();
    assert_eq!(g.connections(), (2, 2 * ms), "one warm connection per replica, a 1-RTT handshake each");
    assert!(g.log.call_log.iter().all(|c| c.conn.waited_us(c.sent) == 0), "warm");
    let answered: u64 = w.services.list[..2].iter().map(|s| s.log.answered).sum();
    assert_eq!(answered, 20);
}

/// A hedged call's loser is cancelled on its stream (STOP_SENDING, RESET_STREAM); the
/// connection goes on, and each replica either drops the loser or had answered it already.
#[test]
fn a_hedge_loser_over_http3_is_cancelled_on_its_stream() {
    let after = HedgeAfter::Delay(Duration::from_millis(1));
    let (mut net, mut w) = gateway_world(Policy::Hedged { after }, 1, "lognormal p50=5ms p99=200ms", 100, 2);
    run(&mut net, &mut w);
    assert!(w.workload.records.iter().all(|r| r.ok()));
    let g = w.services.list.last().unwrap().gateway().unwrap();
    assert_eq!(g.log.hedges, 100, "every call hedged after 1 ms");
    assert_eq!(g.connections().0, 2, "the streams were cancelled, not the connections");
    let withdrawn: u64 = w.services.list[..2].iter().map(|s| s.log.cancelled).sum();
    let answered: u64 = w.services.list[..2].iter().map(|s| s.log.answered).sum();
    assert_eq!(withdrawn + (answered - 100), 100, "{withdrawn} dropped, {answered} answered");
}
