//! Delivery times across links: what `Network::deliver_due` hands over, and when.

use std::net::Ipv4Addr;
use std::time::Duration;

use etherparse::PacketBuilder;

use super::Network;
use crate::host::{Host, DEFAULT_MTU};
use crate::link::LinkConfig;
use crate::time::Instant;

fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 1 + i as u8)
}

/// Hosts h0 and h1, the path from h0 to h1 `there` long, the path back `back`.
fn network(there: Duration, back: Duration) -> Network {
    let hosts = (0..2).map(|i| Host::new(&format!("h{i}"), addr(i), DEFAULT_MTU, 1, Instant::ZERO)).collect();
    Network::new(
        hosts,
        |from, to| {
            let delay = if from == 0 { there } else { back };
            (LinkConfig { delay, ..Default::default() }, Vec::new(), crate::rng::stream(1, &format!("{from} {to}")))
        },
        0,
    )
}

/// `from` sends one UDP datagram to `to` at `now`.
fn send(net: &mut Network, from: usize, to: usize, now: Instant) {
    let mut bytes = Vec::new();
    PacketBuilder::ipv4(addr(from).octets(), addr(to).octets(), 64)
        .udp(5000, 6000)
        .write(&mut bytes, b"hello")
        .expect("a UDP datagram");
    net.hosts[from].device.tx.push_back(bytes);
    net.collect(from, now);
}

fn ms(n: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(n)
}

#[test]
fn each_packet_is_delivered_at_its_own_arrival_whichever_link_it_is_on() {
    let mut net = network(Duration::from_millis(10), Duration::from_millis(3));
    assert_eq!(net.deliver_due(ms(0)), 0, "nothing in flight");
    send(&mut net, 0, 1, ms(0));
    // Sent later on the shorter path: due first, at 4 ms.
    send(&mut net, 1, 0, ms(1));
    assert_eq!(net.deliver_due(ms(3)), 0);
    assert_eq!(net.deliver_due(ms(4)), 1);
    assert_eq!(net.hosts[0].device.rx.len(), 1);
    // The other one is still on its way, and due at 10 ms.
    assert_eq!(net.deliver_due(ms(9)), 0);
    assert_eq!(net.deliver_due(ms(10)), 1);
    assert_eq!(net.hosts[1].device.rx.len(), 1);
    assert_eq!(net.deliver_due(ms(500)), 0, "nothing left");
    // A packet sent after a delivery emptied the links is found again.
    send(&mut net, 1, 0, ms(500));
    assert_eq!(net.deliver_due(ms(502)), 0);
    assert_eq!(net.deliver_due(ms(503)), 1);
}

#[test]
fn a_packet_on_a_path_made_shorter_is_delivered_before_those_sent_earlier() {
    let mut net = network(Duration::from_millis(50), Duration::from_millis(50));
    send(&mut net, 0, 1, ms(0));
    net.reconfigure_link(1, 0, ms(5), LinkConfig { delay: Duration::from_millis(1), ..Default::default() });
    send(&mut net, 1, 0, ms(5));
    assert_eq!(net.deliver_due(ms(5)), 0);
    assert_eq!(net.deliver_due(ms(6)), 1, "the packet on the shortened path");
    assert_eq!(net.deliver_due(ms(49)), 0);
    assert_eq!(net.deliver_due(ms(50)), 1, "the one sent first, on its own path's old delay");
}
