//! Behaviour of [`Link`] with the newer faults: traces, corruption, jitter distributions and
//! flow rules.

use std::sync::Arc;

use super::*;
use crate::rng::stream;

const MS: u64 = 1000;

fn t(micros: u64) -> Instant {
    Instant::from_micros(micros)
}

fn link(config: LinkConfig, seed: u64) -> Link<u64> {
    Link::new(config, Vec::new(), stream(seed, "faults-test"))
}

fn at(outcome: SendOutcome) -> u64 {
    match outcome {
        SendOutcome::Queued { deliver_at, .. } => deliver_at.micros(),
        SendOutcome::Dropped(reason) => panic!("dropped: {reason}"),
    }
}

fn drain(link: &mut Link<u64>) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    while let Some(when) = link.next_delivery() {
        out.push((when.micros(), link.pop_due(when).unwrap()));
    }
    out
}

fn traced(trace: &str, delay_ms: u64) -> LinkConfig {
    LinkConfig {
        rate_trace: Some(Arc::new(RateTrace::parse("test", trace).unwrap())),
        delay: Duration::from_millis(delay_ms),
        ..LinkConfig::default()
    }
}

#[test]
fn a_rate_trace_delivers_at_its_opportunities_plus_the_delay() {
    // Opportunities at 2, 2, 5, 9 ms, repeating every 9 ms: 11, 11, 14, 18, 20, ...
    let mut l = link(traced("2\n2\n5\n9\n", 10), 1);
    for i in 0..8 {
        l.send(t(0), PacketKind::Data, 1500, i);
    }
    let times: Vec<u64> = drain(&mut l).into_iter().map(|(at, _)| at / MS).collect();
    assert_eq!(times, [12, 12, 15, 19, 21, 21, 24, 28]);
    // Small packets share an opportunity: ten 150-byte packets fill one.
    let mut l = link(traced("1\n", 0), 1);
    let times: Vec<u64> = (0..11).map(|i| at(l.send(t(0), PacketKind::Ack, 150, i))).collect();
    assert_eq!(times, [[MS; 10].as_slice(), &[2 * MS]].concat());
}

#[test]
fn a_rate_trace_has_a_limit_and_keeps_order_under_jitter() {
    let mut config = traced("1\n", 20);
    config.limit = 3;
    config.jitter = Duration::from_millis(5);
    let mut l = link(config, 7);
    let outcomes: Vec<SendOutcome> = (0..5).map(|i| l.send(t(0), PacketKind::Data, 1500, i)).collect();
    assert_eq!(outcomes[3], SendOutcome::Dropped(DropReason::QueueFull));
    let order: Vec<u64> = drain(&mut l).into_iter().map(|(_, i)| i).collect();
    assert_eq!(order, [0, 1, 2], "the queue holds 3; jitter without reorder keeps order");
}

#[test]
fn a_delay_trace_sets_the_delay_by_when_a_packet_leaves() {
    let trace = DelayTrace::parse("d", "0 10\n100 50\n200 5\n").unwrap();
    let config = LinkConfig { delay_trace: Some(Arc::new(trace)), ..LinkConfig::default() };
    let mut l = link(config, 1);
    assert_eq!(at(l.send(t(0), PacketKind::Data, 100, 0)), 10 * MS);
    assert_eq!(at(l.send(t(150 * MS), PacketKind::Data, 100, 1)), 200 * MS);
    // The delay drops to 5 ms at 200 ms: a packet sent then would arrive at 205, before the
    // one sent earlier; without reorder it waits for it.
    assert_eq!(at(l.send(t(190 * MS), PacketKind::Data, 100, 2)), 240 * MS);
    assert_eq!(at(l.send(t(200 * MS), PacketKind::Data, 100, 3)), 240 * MS);
    assert_eq!(at(l.send(t(300 * MS), PacketKind::Data, 100, 4)), 305 * MS);
}

#[test]
fn corrupt_marks_a_share_of_deliveries_and_only_the_first_copy() {
    let config = LinkConfig { corrupt: 0.1, duplicate: 0.5, delay: Duration::from_millis(1), ..Default::default() };
    let mut l = link(config, 3);
    let mut marked = 0;
    for i in 0..20_000 {
        if let SendOutcome::Queued { corrupted: true, .. } = l.send(t(i), PacketKind::Data, 100, i) {
            marked += 1;
        }
    }
    let (mut corrupted, mut copies_corrupted, mut seen) = (0, 0, std::collections::HashSet::new());
    while let Some(when) = l.next_delivery() {
        let (item, fate) = l.pop_due_with_fate(when).unwrap();
        let first = seen.insert(item);
        if fate.is_some() {
            corrupted += 1;
            copies_corrupted += u32::from(!first);
        }
    }
    assert_eq!(corrupted, marked);
    assert_eq!(l.stats().corrupted, marked as u64);
    assert_eq!(copies_corrupted, 0, "a duplicate is the intact copy");
    // 10% of 20000: sd 42.
    assert!((1850..2150).contains(&corrupted), "{corrupted} corrupted");
}

#[test]
fn corruption_draws_come_last_so_other_fates_are_unchanged() {
    let base = netem::parse("delay 20ms 5ms loss 5% duplicate 2% reorder 3%").unwrap();
    let with = LinkConfig { corrupt: 0.2, ..base.clone() };
    let (mut a, mut b) = (link(base, 9), link(with, 9));
    // Only the first packet's fate is comparable: corruption draws shift later packets.
    let fa = a.send(t(0), PacketKind::Data, 100, 0);
    let fb = b.send(t(0), PacketKind::Data, 100, 0);
    match (fa, fb) {
        (SendOutcome::Queued { deliver_at: x, .. }, SendOutcome::Queued { deliver_at: y, .. }) => assert_eq!(x, y),
        (x, y) => assert_eq!(x, y),
    }
}

#[test]
fn normal_jitter_through_the_link_has_sigma_jitter() {
    let config = netem::parse("delay 100ms 10ms distribution normal").unwrap();
    let mut l = link(config, 5);
    let n = 50_000;
    // Sent far apart, so order preservation never raises a time.
    let delays: Vec<f64> =
        (0..n).map(|i| (at(l.send(t(i * 1000 * MS), PacketKind::Data, 100, i)) - i * 1000 * MS) as f64 / 1e3).collect();
    let mean = delays.iter().sum::<f64>() / n as f64;
    let sd = (delays.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    assert!((mean - 100.0).abs() < 0.2, "mean {mean} ms");
    assert!((sd - 10.0).abs() < 0.2, "sd {sd} ms");
}

fn udp(port: u16) -> FlowKey {
    FlowKey {
        protocol: Protocol::Udp,
        src: [10, 0, 0, 1].into(),
        dst: [10, 0, 0, 2].into(),
        ports: Some((40000, port)),
    }
}

#[test]
fn a_flow_rule_takes_only_its_flow_with_its_own_queue_and_stream() {
    let path = netem::parse("delay 10ms rate 8mbit").unwrap();
    let rule = FlowRule {
        matcher: FlowMatch::parse("udp port 443", |_| None).unwrap(),
        config: netem::apply(path.clone(), "loss 50%").unwrap(),
    };
    let config = LinkConfig { flows: vec![rule], ..path.clone() };
    let mut l = link(config, 2);
    let mut plain = link(path, 2);
    let (mut lost_443, mut lost_53) = (0, 0);
    for i in 0..1000 {
        // 1000 bytes at 8 Mbit/s is 1 ms; one packet of each flow per 2 ms, each on its own wire.
        let now = t(i * 2 * MS);
        let r443 = l.send_flow_or_return(now, PacketKind::Udp, Some(&udp(443)), 1000, 2 * i);
        let r53 = l.send_flow_or_return(now, PacketKind::Udp, Some(&udp(53)), 1000, 2 * i + 1);
        lost_443 += u32::from(r443.is_err());
        lost_53 += u32::from(r53.is_err());
        if let Ok(SendOutcome::Queued { deliver_at, .. }) = r53 {
            // The path's own link is untouched by the flow: the same times as without the rule.
            assert_eq!(deliver_at, t(at(plain.send(now, PacketKind::Udp, 1000, i))));
            assert_eq!(deliver_at, now + Duration::from_millis(11));
        }
    }
    assert_eq!(lost_53, 0);
    assert!((430..570).contains(&lost_443), "{lost_443} of 1000 lost on udp 443");
    assert_eq!(l.stats().sent, 2000);
    assert_eq!(l.stats().dropped, u64::from(lost_443));
    assert_eq!(drain(&mut l).len(), 2000 - lost_443 as usize);
}

#[test]
fn scripted_drops_count_every_packet_of_the_direction_flows_included() {
    let rule = FlowRule { matcher: FlowMatch::parse("udp", |_| None).unwrap(), config: LinkConfig::default() };
    let config = LinkConfig { flows: vec![rule], ..LinkConfig::default() };
    let drop = DropRule { kind: None, nth: 2, label: "2nd any".into() };
    let mut l: Link<u64> = Link::new(config, vec![drop], stream(1, "s"));
    assert!(l.send_flow_or_return(t(0), PacketKind::Udp, Some(&udp(53)), 100, 0).is_ok());
    let second = l.send_flow_or_return(t(0), PacketKind::Udp, Some(&udp(53)), 100, 1);
    assert_eq!(second.err().map(|(r, _)| r), Some(DropReason::Scripted("2nd any".into())));
    assert!(l.unmatched_rules().is_empty());
}
