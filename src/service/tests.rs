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

fn addr(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, i + 1)
}

/// Client 0, gateway 1, `replicas` backends; every path `rtt`.
fn world(replicas: usize, policy: Policy, calls: u32, time: &str, requests: u64, seed: u64) -> (Network, World) {
    let n = 2 + replicas;
    let tcp = TcpConfig::default();
    let hosts = (0..n).map(|i| Host::new(&format!("h{i}"), addr(i as u8), tcp.mtu(), seed, Instant::ZERO)).collect();
    let rtt = Duration::from_micros(500);
    let mut net = Network::new(
        hosts,
        |f, t| {
            let config = LinkConfig { delay: rtt / 2, ..Default::default() };
            (config, Vec::new(), crate::rng::stream(seed, &format!("link {f} {t}")))
        },
        0,
    );
    let replicas: Vec<Replica> = (2..n)
        .map(|h| Replica { host: h, addr: SocketAddrV4::new(addr(h as u8), 80), name: format!("h{h}") })
        .collect();
    let time = ServiceTime::parse(time).unwrap();
    let mut services = Services::default();
    for r in &replicas {
        let spec = ServiceSpec {
            port: 80,
            handler: Handler::Service { time: time.clone(), response: 100 },
            concurrency: None,
        };
        services.list.push(HttpService::new(
            &mut net,
            r.host,
            &spec,
            tcp,
            crate::rng::stream(seed, &format!("svc {}", r.host)),
        ));
    }
    let gateway = GatewaySpec {
        replicas,
        calls,
        policy,
        pool: 4,
        per_try_timeout: None,
        deadline: None,
        retries: 0,
        retry_ratio: 0.2,
        response: 200,
    };
    let spec = ServiceSpec { port: 80, handler: Handler::Gateway(gateway), concurrency: None };
    services.list.push(HttpService::new(&mut net, 1, &spec, tcp, crate::rng::stream(seed, "gw")));
    let to = Replica { host: 1, addr: SocketAddrV4::new(addr(1), 80), name: "gateway".into() };
    let spec = WorkloadSpec { to, requests, arrival: Arrival::Open { per_second: 50.0 }, pool: 4 };
    let workload = Workload::new(0, spec, tcp, crate::rng::stream(seed, "workload"));
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
