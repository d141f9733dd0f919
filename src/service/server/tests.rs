//! What the lab's server and the `bytes` handler do beyond answering `GET /bytes/N`: WebSockets
//! (RFC 6455), the idle timeout (RFC 9112 §9.5), a reset for data after close, and tagged byte
//! ranges. A raw client stream on host 0 talks to the service on host 1.

use std::time::Duration;

use smoltcp::socket::tcp;

use crate::proto::cwnd::TcpConfig;
use crate::proto::http1;
use crate::proto::stream::{tcp_socket, Stream};
use crate::proto::tls::{LabTls, TlsClock};
use crate::proto::ws::{WsEndpoint, WsEvent};
use crate::service::tests::{addr, network};
use crate::service::{HttpService, LabServer};
use crate::sim::app::{settle, Application};
use crate::sim::network::Network;
use crate::time::Instant;

/// Two hosts 1 ms apart (each way), and the lab's server on host 1.
fn lab(idle_timeout: Option<Duration>) -> (Network, HttpService) {
    let tcp = TcpConfig::default();
    let mut net = network(2, Duration::from_millis(2), 1);
    let tls = LabTls::new(1, "h1", TlsClock::at_unix_micros(0)).unwrap();
    let lab = LabServer { idle_timeout };
    let service = HttpService::lab_server(&mut net, 1, &lab, tcp, &tls.server()).unwrap();
    (net, service)
}

struct Only<'a>(&'a mut HttpService);

impl Application for Only<'_> {
    fn poll(&mut self, now: Instant, net: &mut Network) {
        self.0.poll(now, net).unwrap();
    }
    fn next_timer(&self, _: Instant) -> Option<Instant> {
        self.0.next_timer()
    }
    fn finished(&self) -> bool {
        false
    }
}

/// A plain connection from host 0's `port` to the service's port 80.
fn connect(net: &mut Network, port: u16) -> Stream {
    let tcp = TcpConfig::default();
    let mut socket = tcp_socket(&tcp);
    socket.connect(net.hosts[0].iface.context(), (smoltcp::wire::IpAddress::Ipv4(addr(1)), 80), port).unwrap();
    Stream::new(net.hosts[0].sockets.add(socket), &tcp)
}

/// Runs `ms` milliseconds from `now`, a millisecond at a time, pumping the client's stream.
fn run(net: &mut Network, service: &mut HttpService, stream: &mut Stream, now: &mut Instant, ms: u64) {
    for _ in 0..ms {
        settle(net, &mut Only(service), *now);
        stream.pump(&mut net.hosts[0].sockets);
        *now = Instant::from_micros(now.micros() + 1000);
    }
}

#[test]
fn get_ws_upgrades_and_each_text_message_is_answered_with_its_bytes() {
    let (mut net, mut service) = lab(None);
    let mut stream = connect(&mut net, 50_000);
    let mut ws = WsEndpoint::client("h1", "/ws", crate::rng::stream(1, "ws"));
    let mut now = Instant::ZERO;
    stream.write(&ws.take_output());
    run(&mut net, &mut service, &mut stream, &mut now, 20);
    ws.receive(&std::mem::take(&mut stream.inbox));
    assert!(ws.is_open(), "101 Switching Protocols (RFC 6455 §4.2.2)");
    ws.send_text("GET /bytes/1000");
    stream.write(&ws.take_output());
    run(&mut net, &mut service, &mut stream, &mut now, 20);
    ws.receive(&std::mem::take(&mut stream.inbox));
    let answers: Vec<usize> = ws
        .poll_events()
        .into_iter()
        .filter_map(|e| match e {
            WsEvent::Binary(b) => Some(b.len()),
            _ => None,
        })
        .collect();
    assert_eq!(answers, vec![1000]);
}

#[test]
fn an_idle_connection_is_closed_and_a_request_after_the_close_is_reset() {
    let (mut net, mut service) = lab(Some(Duration::from_millis(100)));
    let mut stream = connect(&mut net, 50_000);
    let mut now = Instant::ZERO;
    stream.write(&http1::request("h1", 10));
    run(&mut net, &mut service, &mut stream, &mut now, 20);
    assert!(String::from_utf8_lossy(&stream.inbox).starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(service.log.idle_closes, 0, "answered, not idle yet");
    // The timeout is due about 100 ms after the request arrived: the service closes, and its
    // FIN is on the way when the client, not knowing, sends the next request.
    while service.log.idle_closes == 0 {
        run(&mut net, &mut service, &mut stream, &mut now, 1);
        assert!(now.micros() < 200_000, "the idle timeout closed nothing");
    }
    stream.write(&http1::request("h1", 10));
    run(&mut net, &mut service, &mut stream, &mut now, 20);
    assert_eq!((service.log.idle_closes, service.log.resets), (1, 1));
    // The service dropped the connection: the client's next segment (here its FIN, as the
    // client answers the service's) finds no socket, and the host answers it with a reset.
    net.hosts[0].sockets.get_mut::<tcp::Socket>(stream.handle).close();
    run(&mut net, &mut service, &mut stream, &mut now, 20);
    let state = net.hosts[0].sockets.get::<tcp::Socket>(stream.handle).state();
    assert_eq!(state, tcp::State::Closed, "the client's connection was reset");
}

#[test]
fn the_bytes_of_each_object_of_a_page_are_tagged_with_it() {
    let (mut net, mut service) = lab(None);
    let mut stream = connect(&mut net, 50_000);
    let mut now = Instant::ZERO;
    stream.write(&http1::object_request("h1", 500, 3));
    run(&mut net, &mut service, &mut stream, &mut now, 20);
    let ranges = service.tagged_ranges();
    let head = http1::response_head(500).len() as u64;
    // The head and the body, each tagged with object 3, back to back from the first byte.
    let spans: Vec<(u16, u64, u64, u64)> = ranges.iter().map(|(p, r)| (*p, r.start, r.end, r.tag)).collect();
    assert_eq!(spans, vec![(50_000, 0, head, 3), (50_000, head, head + 500, 3)]);
}

/// Three requests in one segment (HTTP/1.1 pipelining, RFC 9112 §9.3.2): each is answered right
/// after the one before, in the same instant, not when the caller's next packet comes.
#[test]
fn pipelined_requests_are_answered_back_to_back() {
    let (mut net, mut service) = lab(None);
    let mut stream = connect(&mut net, 50_000);
    let mut now = Instant::ZERO;
    let mut three = http1::request("h1", 10);
    three.extend_from_slice(&http1::request("h1", 20));
    three.extend_from_slice(&http1::request("h1", 30));
    stream.write(&three);
    let responses = |inbox: &[u8]| String::from_utf8_lossy(inbox).matches("HTTP/1.1 200 OK\r\n").count();
    let mut first_seen = None;
    while responses(&stream.inbox) < 3 {
        run(&mut net, &mut service, &mut stream, &mut now, 1);
        if responses(&stream.inbox) >= 1 {
            first_seen.get_or_insert(now);
        }
        assert!(now.micros() < 50_000, "the pipelined request was never answered");
    }
    assert_eq!(Some(now), first_seen, "the three answers arrive in the same millisecond");
    assert_eq!(service.log.requests, 3);
}
