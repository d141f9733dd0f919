//! The services on a small network, without the runner: a client, a gateway and replicas.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::workload::{Arrival, Workload, WorkloadSpec};
use super::*;
use crate::dist::ServiceTime;
use crate::host::Host;
use crate::link::LinkConfig;
use crate::proto::cwnd::TcpConfig;
use crate::sim::app::Application;

mod h3;

struct World {
    services: Services,
    workload: Workload,
}

impl Application for World {
    fn poll(&mut self, now: Instant, net: &mut Network) {
        self.services.poll(now, net).unwrap();
        if self.workload.started().is_none() && self.workload.warmed() && self.services.warmed() {
            self.workload.start(now);
        }
        self.workload.poll(now, net).unwrap();
    }
    fn next_timer(&self, now: Instant) -> Option<Instant> {
        [self.services.next_timer(), self.workload.next_timer()].into_iter().flatten().filter(|&t| t > now).min()
    }
    fn finished(&self) -> bool {
        self.workload.finished()
    }
}

/// The address of host `i` of [`network`]: 10.0.0.(i + 1).
pub(crate) fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, i as u8 + 1)
}

/// Hosts h0 to h{n-1} at [`addr`], every path `rtt` (half of it each way), seeded with `seed`;
/// the capture is h0's. The services' tests (here, the relay's and the server's) build on it.
pub(crate) fn network(n: usize, rtt: Duration, seed: u64) -> Network {
    let tcp = TcpConfig::default();
    let hosts = (0..n).map(|i| Host::new(&format!("h{i}"), addr(i), tcp.mtu(), seed, Instant::ZERO)).collect();
    Network::new(
        hosts,
        |f, t| {
            let config = LinkConfig { delay: rtt / 2, ..Default::default() };
            (config, Vec::new(), crate::rng::stream(seed, &format!("link {f} {t}")))
        },
        0,
    )
}

/// Client 0, gateway 1, `replicas` backends; every path `rtt`.
fn world(replicas: usize, policy: Policy, calls: u32, time: &str, requests: u64, seed: u64) -> (Network, World) {
    world_with(
        replicas,
        policy,
        calls,
        time,
        requests,
        seed,
        Arrival::Open { per_second: 50.0 },
        None,
        HttpVersion::Http1,
    )
}

/// [`world`] with the workload's arrivals and the backends' concurrency limit.
#[allow(clippy::too_many_arguments)]
fn world_with(
    replicas: usize,
    policy: Policy,
    calls: u32,
    time: &str,
    requests: u64,
    seed: u64,
    arrival: Arrival,
    concurrency: Option<u32>,
    http: HttpVersion,
) -> (Network, World) {
    let n = 2 + replicas;
    let tcp = TcpConfig::default();
    let mut net = network(n, Duration::from_micros(500), seed);
    let replicas: Vec<Replica> = (2..n)
        .map(|h| Replica { host: h, addr: SocketAddrV4::new(addr(h), 80), name: format!("h{h}"), http, through: None })
        .collect();
    let time = ServiceTime::parse(time).unwrap();
    let mut services = Services::default();
    let tls = tls::ServiceTls::default();
    for r in &replicas {
        let spec = ServiceSpec {
            port: 80,
            handler: Handler::Service { time: time.clone(), response: 100 },
            concurrency,
            tls: None,
            http,
        };
        let rng = crate::rng::stream(seed, &format!("svc {}", r.host));
        services.list.push(HttpService::new(&mut net, r.host, &spec, tcp, &tls, rng).unwrap());
    }
    let gateway = GatewaySpec {
        replicas,
        groups: Vec::new(),
        calls,
        policy,
        pool: 4,
        tls: None,
        per_try_timeout: None,
        deadline: None,
        retries: 0,
        retry_ratio: 0.2,
        response: 200,
    };
    let spec = ServiceSpec { port: 80, handler: Handler::Gateway(gateway), concurrency: None, tls: None, http };
    services.list.push(HttpService::new(&mut net, 1, &spec, tcp, &tls, crate::rng::stream(seed, "gw")).unwrap());
    let to = Replica { host: 1, addr: SocketAddrV4::new(addr(1), 80), name: "gateway".into(), http, through: None };
    let spec = WorkloadSpec { to, requests, arrival, pool: 4 };
    let workload = Workload::new(0, spec, tcp, None, crate::rng::stream(seed, "workload"));
    (net, World { services, workload })
}

/// Jumps from event to event (the virtual-time driver's loop, which lives above this layer).
fn run(net: &mut Network, w: &mut World) {
    let limit = Instant::ZERO + Duration::from_secs(3600);
    let mut now = Instant::ZERO;
    loop {
        crate::sim::app::settle(net, w, now);
        if w.finished() {
            return;
        }
        let next = crate::sim::app::next_wakeup(net, w, now).expect("something left to happen");
        now = next.max(Instant::from_micros(now.micros() + 1));
        assert!(now < limit, "the workload finishes within an hour");
    }
}

#[test]
fn sequential_calls_add_up() {
    let (mut net, mut w) = world(2, Policy::Sequential, 4, "fixed 10ms", 50, 1);
    run(&mut net, &mut w);
    let recs = &w.workload.records;
    assert_eq!(recs.len(), 50);
    assert!(recs.iter().all(|r| r.ok()), "{:?}", recs.iter().find(|r| !r.ok()));
    for r in recs {
        // Four 10 ms calls and five round trips of 0.5 ms (client leg + four calls), a little
        // more when a request queued behind another for a connection.
        let ms = r.latency_us().unwrap() as f64 / 1000.0;
        assert!((42.5..44.0).contains(&ms), "latency {ms} ms");
    }
    let g = w.services.list.last().unwrap().gateway().unwrap();
    assert_eq!(g.log.calls, 200);
    assert_eq!(g.log.requests.len(), 50);
}

#[test]
fn parallel_calls_take_the_max() {
    let (mut net, mut w) = world(2, Policy::Parallel { wait_for: None }, 4, "fixed 10ms", 20, 1);
    run(&mut net, &mut w);
    for r in &w.workload.records {
        let ms = r.latency_us().unwrap() as f64 / 1000.0;
        assert!((11.0..12.5).contains(&ms), "latency {ms} ms");
    }
}

#[test]
fn hedges_after_a_delay_and_cancel_the_loser() {
    let (mut net, mut w) =
        world(2, Policy::Hedged { after: HedgeAfter::Delay(Duration::ZERO) }, 1, "uniform 5ms 15ms", 200, 3);
    run(&mut net, &mut w);
    let g = w.services.list.last().unwrap().gateway().unwrap();
    assert_eq!(g.log.hedges, 200, "every call hedged at once");
    assert!(g.log.cancelled >= 190, "losers cancelled: {}", g.log.cancelled);
    // min of two uniform(5, 15): mean 8.33 ms, against 10 for one.
    let mean = g.log.call_us.iter().sum::<u64>() as f64 / g.log.call_us.len() as f64 / 1000.0;
    assert!((7.8..9.3).contains(&mean), "mean call {mean} ms");
    assert!(w.workload.records.iter().all(|r| r.ok()));
}

#[test]
fn request_ids_name_the_client_request_and_the_call() {
    assert_eq!(RequestId::parse("/r/12"), Some(RequestId { req: 12, call: None }));
    assert_eq!(RequestId::parse("/c/12/3/1"), Some(RequestId { req: 12, call: Some((3, 1)) }));
    for bad in ["/", "/r/", "/r/x", "/c/1/2", "/c/1/2/3/4", "/c/c7/0/0", "/bytes/10", ""] {
        assert_eq!(RequestId::parse(bad), None, "{bad:?}");
    }
}

/// Client 0 and an HTTPS service (TLS 1.3) on host 1 speaking `served`, 40 ms apart; a
/// workload that speaks `calls` sends 3 requests one at a time over a pool of `pool`.
fn https_world(served: HttpVersion, calls: HttpVersion, pool: u32) -> (Network, World, tls::ServiceTls) {
    let (seed, tcp, rtt) = (5, TcpConfig::default(), Duration::from_millis(40));
    let mut net = network(2, rtt, seed);
    let clock = crate::proto::tls::TlsClock::at_unix_micros(0);
    let tls = tls::ServiceTls::new(seed, [(1, "h1")], &clock).unwrap();
    let spec = ServiceSpec {
        port: 443,
        handler: Handler::Service { time: ServiceTime::parse("fixed 0ms").unwrap(), response: 1000 },
        concurrency: None,
        tls: Some(crate::proto::tls::TlsVersion::Tls13),
        http: served,
    };
    let mut services = Services::default();
    services.list.push(HttpService::new(&mut net, 1, &spec, tcp, &tls, crate::rng::stream(seed, "svc")).unwrap());
    let to = Replica { host: 1, addr: SocketAddrV4::new(addr(1), 443), name: "h1".into(), http: calls, through: None };
    let spec = WorkloadSpec { to, requests: 3, arrival: Arrival::Closed { concurrency: 1 }, pool };
    let setup = tls.client(1, crate::proto::tls::TlsVersion::Tls13);
    assert!(setup.is_some() && tls.client(0, crate::proto::tls::TlsVersion::Tls13).is_none());
    let workload = Workload::new(0, spec, tcp, setup, crate::rng::stream(seed, "workload"));
    (net, World { services, workload }, tls)
}

/// One HTTPS service at 40 ms, called by a workload over TLS 1.3 on a fresh connection per
/// request: each request pays TCP, TLS and itself, 3 RTTs (RFC 8446 §2), and the service
/// records each one.
#[test]
fn a_fresh_tls_connection_per_request_costs_three_round_trips() {
    let (mut net, mut w, tls) = https_world(HttpVersion::Http1, HttpVersion::Http1, 0);
    run(&mut net, &mut w);
    for r in &w.workload.records {
        assert_eq!(r.latency_us(), Some(120_000), "{r:?}");
        let conn = r.conn.unwrap();
        assert_eq!(conn.waited_us(r.due), 80_000, "TCP 1 RTT + TLS 1.3 1 RTT");
    }
    let log = &w.services.list[0].log;
    assert_eq!(log.served.len(), 3);
    assert!(log.served.iter().enumerate().all(|(i, s)| s.id == Some(RequestId { req: i as u64, call: None })));
    assert!(tls.key_log().lines().count() >= 3 * 5, "every connection's secrets are logged");
}

#[test]
fn a_concurrency_limit_queues_requests_in_order() {
    // One replica serving one request at a time, 10 ms each; a closed loop keeps 3 in flight:
    // each request waits for the two ahead of it, so it takes 3 x 10 ms (plus round trips).
    let closed = Arrival::Closed { concurrency: 3 };
    let (mut net, mut w) =
        world_with(1, Policy::Sequential, 1, "fixed 10ms", 30, 1, closed, Some(1), HttpVersion::Http1);
    run(&mut net, &mut w);
    let lat: Vec<f64> = w.workload.records.iter().map(|r| r.latency_us().unwrap() as f64 / 1000.0).collect();
    assert!(w.workload.records.iter().all(|r| r.ok()));
    // The steady state: every request after the first few waits for two others.
    for ms in &lat[5..] {
        assert!((30.0..32.0).contains(ms), "latency {ms} ms, all: {lat:?}");
    }
    let backend = &w.services.list[0].log;
    assert_eq!(backend.answered, 30);
    let waits = &backend.queue_wait_us;
    assert!(waits.iter().skip(5).all(|&us| (19_000..21_000).contains(&us)), "{waits:?}");
}

#[test]
fn parallel_can_answer_after_the_first_k() {
    // Four calls, uniform 5..45 ms; the answer after the first 2: the 2nd smallest of 4.
    let policy = Policy::Parallel { wait_for: Some(2) };
    let (mut net, mut w) = world(2, policy, 4, "uniform 5ms 45ms", 200, 2);
    run(&mut net, &mut w);
    let g = w.services.list.last().unwrap().gateway().unwrap();
    assert_eq!(g.log.calls, 800);
    assert_eq!(g.log.cancelled, 400, "the two slower calls of each request are cancelled");
    // E[2nd of 4 uniform on (5, 45)] = 5 + 40 x 2/5 = 21 ms.
    let mean = w.workload.records.iter().map(|r| r.latency_us().unwrap() as f64).sum::<f64>() / 200.0 / 1000.0;
    assert!((20.0..24.0).contains(&mean), "mean {mean} ms");
}

/// Tied requests (Dean & Barroso): both copies queue at two replicas that serve one request at
/// a time; the one that starts first has the other dropped from its queue. Under load, the tied
/// call waits for the shorter queue: the tail falls well below the untied one at the same load,
/// and far less work is done twice than copies were sent.
#[test]
fn tied_copies_cancel_each_other_and_cut_the_queueing_tail() {
    let load = Arrival::Open { per_second: 200.0 };
    let p99 = |w: &World| {
        let mut lat: Vec<u64> = w.workload.records.iter().filter_map(|r| r.latency_us()).collect();
        lat.sort_unstable();
        lat[lat.len() * 99 / 100 - 1] as f64 / 1000.0
    };
    let (mut net, mut plain) =
        world_with(2, Policy::Sequential, 1, "exponential mean=7ms", 600, 4, load, Some(1), HttpVersion::Http1);
    run(&mut net, &mut plain);
    // The second copy after one round trip (Dean & Barroso: twice the one-way delay), so a copy
    // that starts at once has told its twin's service before the twin arrives.
    let tied = Policy::Tied { delay: Duration::from_micros(500) };
    let (mut net, mut w) = world_with(2, tied, 1, "exponential mean=7ms", 600, 4, load, Some(1), HttpVersion::Http1);
    run(&mut net, &mut w);
    assert!(w.workload.records.iter().all(|r| r.ok()), "every tied request answered");
    let g = w.services.list.last().unwrap().gateway().unwrap();
    assert_eq!(g.log.ties, 600, "every call tied");
    let backends = &w.services.list[..2];
    let dropped: u64 = backends.iter().map(|s| s.log.tie_dropped).sum();
    let both = tied_both_ran(backends.iter().map(|s| &s.log));
    let served: u64 = backends.iter().map(|s| s.log.answered).sum();
    // Each call's second copy was dropped from a queue, or both copies ran (or the gateway cut
    // the loser off first: a few).
    assert!(dropped + both <= 600 && dropped + both >= 570, "{dropped} dropped, {both} ran twice");
    assert!(served >= 600 && both < 60, "served {served}, {both} calls ran twice");
    let (plain_p99, tied_p99) = (p99(&plain), p99(&w));
    eprintln!("p99 tied {tied_p99} ms, untied {plain_p99} ms; dropped {dropped}, both ran {both}, served {served}");
    assert!(tied_p99 < 0.7 * plain_p99, "p99 tied {tied_p99} ms, untied {plain_p99} ms");
}

/// Connections the gateway (the last service) opened to its upstreams, handshakes included.
fn gateway_connections(w: &World) -> u64 {
    w.services.list.last().unwrap().gateway().unwrap().upstreams().iter().map(|u| u.opened).sum()
}

/// HTTP/2 multiplexes: 40 calls at once per request go as streams on the gateway's 4 warm
/// connections per replica, where HTTP/1.1 needs a connection per call in flight. The
/// latency is the same (the calls run side by side either way: RFC 9113 §5).
#[test]
fn http2_calls_share_the_pools_connections() {
    let parallel = Policy::Parallel { wait_for: None };
    let open = Arrival::Open { per_second: 20.0 };
    let mut latencies = Vec::new();
    let mut opened = Vec::new();
    for http in [HttpVersion::Http1, HttpVersion::Http2] {
        let (mut net, mut w) = world_with(2, parallel, 40, "fixed 10ms", 30, 1, open, None, http);
        run(&mut net, &mut w);
        assert!(w.workload.records.iter().all(|r| r.ok()), "{http:?}: every request answered");
        let lat: Vec<f64> = w.workload.records.iter().map(|r| r.latency_us().unwrap() as f64 / 1000.0).collect();
        // Client leg, one call leg and 10 ms of service: 11 ms, a little more for HTTP/1.1's
        // connections opened under the first requests.
        assert!(lat[5..].iter().all(|ms| (11.0..12.0).contains(ms)), "{http:?}: {lat:?}");
        latencies.push(lat);
        opened.push(gateway_connections(&w));
        let served: u64 = w.services.list[..2].iter().map(|s| s.log.answered).sum();
        assert_eq!(served, 30 * 40, "{http:?}");
    }
    assert_eq!(opened[1], 8, "HTTP/2: the 4 warm connections per replica, no more");
    assert!(opened[0] >= 40, "HTTP/1.1: a connection per call in flight, {} opened", opened[0]);
}

/// A hedge's loser is withdrawn with RST_STREAM on HTTP/2: the backend drops its work and
/// the connection lives on, where HTTP/1.1 resets the connection and the pool opens another.
#[test]
fn http2_cancels_a_hedges_loser_with_a_stream_reset() {
    let hedged = Policy::Hedged { after: HedgeAfter::Delay(Duration::ZERO) };
    let open = Arrival::Open { per_second: 50.0 };
    for http in [HttpVersion::Http1, HttpVersion::Http2] {
        let (mut net, mut w) = world_with(2, hedged, 1, "uniform 5ms 15ms", 200, 3, open, None, http);
        run(&mut net, &mut w);
        assert!(w.workload.records.iter().all(|r| r.ok()), "{http:?}");
        let g = w.services.list.last().unwrap().gateway().unwrap();
        assert_eq!(g.log.hedges, 200, "{http:?}: every call hedged at once");
        // Every loser is either dropped by its backend or answered before the cancel came.
        let withdrawn: u64 = w.services.list[..2].iter().map(|s| s.log.cancelled).sum();
        let answered: u64 = w.services.list[..2].iter().map(|s| s.log.answered).sum();
        assert_eq!(withdrawn + (answered - 200), 200, "{http:?}: {withdrawn} dropped, {answered} answered");
        assert!(withdrawn >= 170, "{http:?}: the backends dropped {withdrawn} losers");
        let opened = gateway_connections(&w);
        match http {
            HttpVersion::Http2 => assert_eq!(opened, 8, "the streams were reset, not the connections"),
            HttpVersion::Http1 => assert!(opened >= 190, "every loser's connection reset and replaced: {opened}"),
            HttpVersion::Http3 => unreachable!("this test runs HTTP/1.1 and HTTP/2"),
        }
    }
}

/// HTTPS with HTTP/2 chosen by ALPN (RFC 9113 §3.2): every ClientHello offers exactly `h2`,
/// and a fresh connection per request still costs TCP + TLS 1.3 + the request (3 RTTs), a warm
/// one only the request. A caller that offers only `http/1.1` is refused by the HTTP/2-only
/// service (RFC 7301 §3.2: no_application_protocol), and its requests fail instead of being
/// retried on new connections for ever.
#[test]
fn http2_over_tls_is_chosen_by_alpn() {
    // The ALPN extension (type 16) with a list holding only "h2".
    const ALPN_H2: &[u8] = &[0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, b'h', b'2'];
    for (pool, want_us) in [(0, 120_000), (1, 40_000)] {
        let (mut net, mut w, _) = https_world(HttpVersion::Http2, HttpVersion::Http2, pool);
        run(&mut net, &mut w);
        let lat: Vec<_> = w.workload.records.iter().map(|r| (r.ok(), r.latency_us())).collect();
        assert_eq!(lat, vec![(true, Some(want_us)); 3], "pool {pool}");
        assert_eq!(w.services.list[0].log.served.len(), 3);
        let hellos: Vec<bool> = net
            .tap
            .capture
            .packets()
            .filter(|f| {
                let payload = crate::packet::summarize(f.bytes).map_or(&[][..], |s| s.payload(f.bytes));
                crate::wire::tls::client_hello_random(payload).is_some()
            })
            .map(|f| f.bytes.windows(ALPN_H2.len()).any(|w| w == ALPN_H2))
            .collect();
        assert_eq!(hellos, vec![true; if pool == 0 { 3 } else { 1 }], "pool {pool}: ClientHellos offering h2");
    }
    let (mut net, mut w, _) = https_world(HttpVersion::Http2, HttpVersion::Http1, 0);
    run(&mut net, &mut w);
    assert!(w.workload.records.iter().all(|r| !r.ok()), "an HTTP/1.1-only caller gets no answer");
    assert_eq!(w.workload.records.len(), 3);
    assert!(w.services.list[0].log.served.is_empty());
}

/// Bytes that are not HTTP get what a real server gives them, 400 Bad Request and a closed
/// connection, counted in the log; the service goes on serving, and nothing stops the run.
#[test]
fn a_request_that_is_not_http_is_answered_400_and_the_service_goes_on() {
    use crate::proto::stream::{tcp_socket, Stream};
    use smoltcp::socket::tcp;
    let tcp_config = TcpConfig::default();
    let mut net = network(2, Duration::ZERO, 1);
    let spec =
        ServiceSpec { port: 80, handler: Handler::Bytes, concurrency: None, tls: None, http: HttpVersion::Http1 };
    let tls = tls::ServiceTls::default();
    let mut service = HttpService::new(&mut net, 1, &spec, tcp_config, &tls, crate::rng::stream(1, "svc")).unwrap();
    let mut now = Instant::ZERO;
    let mut ask = |net: &mut Network, service: &mut HttpService, port: u16, bytes: &[u8]| -> (String, bool) {
        let mut socket = tcp_socket(&tcp_config);
        let to = (smoltcp::wire::IpAddress::Ipv4(addr(1)), 80);
        socket.connect(net.hosts[0].iface.context(), to, port).unwrap();
        let mut stream = Stream::new(net.hosts[0].sockets.add(socket), &tcp_config);
        stream.write(bytes);
        for _ in 0..200 {
            struct Only<'a>(&'a mut HttpService);
            impl Application for Only<'_> {
                fn poll(&mut self, now: Instant, net: &mut Network) {
                    self.0.poll(now, net).expect("a bad request does not stop the service");
                }
                fn next_timer(&self, _: Instant) -> Option<Instant> {
                    self.0.next_timer()
                }
                fn finished(&self) -> bool {
                    false
                }
            }
            crate::sim::app::settle(net, &mut Only(service), now);
            stream.pump(&mut net.hosts[0].sockets);
            now = Instant::from_micros(now.micros() + 1000);
        }
        let closed = !net.hosts[0].sockets.get::<tcp::Socket>(stream.handle).may_recv();
        (String::from_utf8_lossy(&stream.inbox).into_owned(), closed)
    };
    let (answer, closed) = ask(&mut net, &mut service, 50_000, b"NOT HTTP AT ALL\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    assert!(closed, "the service closed the connection after its 400");
    assert_eq!(service.log.bad_connections, 1);
    assert!(service.log.first_bad.is_some());
    let (answer, _) = ask(&mut net, &mut service, 50_001, &crate::proto::http1::request("h1", 10));
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "the next caller is served: {answer}");
    assert_eq!(service.log.bad_connections, 1);
}
