//! Behaviour of [`Link`]: timing, queueing, loss, scripted drops, reordering, duplication.

use super::*;
use crate::rng::stream;

const MS: u64 = 1000;

fn t(micros: u64) -> Instant {
    Instant::from_micros(micros)
}

fn link(config: LinkConfig, seed: u64) -> Link<u64> {
    Link::new(config, Vec::new(), stream(seed, "link-test"))
}

fn delay(ms: u64) -> LinkConfig {
    LinkConfig { delay: Duration::from_millis(ms), ..LinkConfig::default() }
}

/// Pops everything, returning (arrival time, item) in delivery order.
fn drain(link: &mut Link<u64>) -> Vec<(Instant, u64)> {
    let mut out = Vec::new();
    while let Some(at) = link.next_delivery() {
        out.push((at, link.pop_due(at).unwrap()));
    }
    out
}

fn queued_at(outcome: SendOutcome) -> u64 {
    match outcome {
        SendOutcome::Queued { deliver_at, .. } => deliver_at.micros(),
        SendOutcome::Dropped(reason) => panic!("dropped: {reason}"),
    }
}

#[test]
fn delay_only_delivers_exactly_after_the_delay() {
    let mut l = link(delay(50), 1);
    let out = l.send(t(1000), PacketKind::Syn, 60, 7);
    assert_eq!(out, SendOutcome::Queued { copies: 1, deliver_at: t(51_000), corrupted: false });
    assert_eq!(l.in_flight(), 1);
    assert_eq!(l.next_delivery(), Some(t(51_000)));
    assert_eq!(l.pop_due(t(50_999)), None);
    assert_eq!(l.pop_due(t(51_000)), Some(7));
    assert_eq!(l.in_flight(), 0);
    assert_eq!(l.next_delivery(), None);
}

#[test]
fn rate_serializes_back_to_back() {
    let config = LinkConfig { rate_bps: Some(8_000_000), ..delay(10) };
    let mut l = link(config, 1);
    let times: Vec<u64> = (0..3).map(|i| queued_at(l.send(t(0), PacketKind::Data, 1000, i))).collect();
    assert_eq!(times, [11 * MS, 12 * MS, 13 * MS]);
    // An idle wire starts at once again.
    assert_eq!(queued_at(l.send(t(100 * MS), PacketKind::Data, 1000, 3)), 111 * MS);
}

#[test]
fn queue_limit_drops_tail() {
    let config = LinkConfig { rate_bps: Some(8_000_000), limit: 2, ..LinkConfig::default() };
    let mut l = link(config, 1);
    for i in 0..3 {
        queued_at(l.send(t(0), PacketKind::Data, 1000, i));
    }
    let fourth = l.send(t(0), PacketKind::Data, 1000, 3);
    assert_eq!(fourth, SendOutcome::Dropped(DropReason::QueueFull));
    // At 1 ms the second packet has started, so there is room for one more.
    assert_eq!(queued_at(l.send(t(MS), PacketKind::Data, 1000, 4)), 4 * MS);
    assert_eq!(l.stats().dropped, 1);
}

#[test]
fn limit_without_rate_never_drops() {
    let mut l = link(LinkConfig { limit: 1, ..delay(10) }, 1);
    for i in 0..10 {
        queued_at(l.send(t(0), PacketKind::Data, 1000, i));
    }
}

#[test]
fn jitter_without_reorder_preserves_order() {
    let config = LinkConfig { jitter: Duration::from_millis(5), ..delay(10) };
    let mut l = link(config, 3);
    let mut delays = std::collections::BTreeSet::new();
    for i in 0..10_000 {
        let at = queued_at(l.send(t(i * 100), PacketKind::Data, 100, i));
        delays.insert(at - i * 100);
    }
    let out = drain(&mut l);
    assert!(out.iter().enumerate().all(|(i, &(_, item))| item == i as u64));
    assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(delays.len() > 100, "jitter should vary the delay");
    assert!(delays.iter().all(|&d| (5 * MS..=15 * MS).contains(&d)), "{delays:?}");
}

#[test]
fn reorder_lets_packets_overtake() {
    let config = LinkConfig { reorder: 0.5, ..delay(10) };
    let mut l = link(config, 4);
    let mut skipped = 0;
    for i in 0..1000 {
        if queued_at(l.send(t(i * MS), PacketKind::Data, 100, i)) == i * MS {
            skipped += 1;
        }
    }
    assert!((400..600).contains(&skipped), "{skipped} of 1000 skipped the delay");
    let order: Vec<u64> = drain(&mut l).into_iter().map(|(_, item)| item).collect();
    let overtaken = order.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(overtaken > 100, "only {overtaken} inversions");
}

fn drop_pattern(seed: u64, n: u64) -> Vec<bool> {
    let config = LinkConfig { loss: LossModel::Bernoulli { p: 0.1 }, ..delay(1) };
    let mut l = link(config, seed);
    (0..n)
        .map(|i| match l.send(t(i), PacketKind::Data, 100, i) {
            SendOutcome::Dropped(reason) => {
                assert_eq!(reason, DropReason::Random);
                true
            }
            SendOutcome::Queued { .. } => false,
        })
        .collect()
}

#[test]
fn bernoulli_loss_rate_and_determinism() {
    let a = drop_pattern(1, 100_000);
    let rate = a.iter().filter(|&&d| d).count() as f64 / 100_000.0;
    assert!((0.095..0.105).contains(&rate), "loss rate {rate}");
    assert_eq!(a, drop_pattern(1, 100_000));
    assert_ne!(a, drop_pattern(2, 100_000));
}

#[test]
fn gilbert_elliott_drops_in_bursts() {
    let loss = LossModel::gemodel(0.02, Some(0.2), None, None);
    let mut l = link(LinkConfig { loss, ..delay(1) }, 5);
    let (mut bursts, mut lost, mut run) = (0u64, 0u64, 0u64);
    for i in 0..200_000 {
        match l.send(t(i), PacketKind::Data, 100, i) {
            SendOutcome::Dropped(DropReason::Burst) => run += 1,
            SendOutcome::Dropped(other) => panic!("{other}"),
            SendOutcome::Queued { .. } if run > 0 => {
                bursts += 1;
                lost += run;
                run = 0;
            }
            SendOutcome::Queued { .. } => {}
        }
    }
    let mean = lost as f64 / bursts as f64;
    assert!((4.5..5.5).contains(&mean), "mean burst {mean}, expected 1/r = 5");
}

#[test]
fn scripted_rule_drops_exactly_the_nth_of_its_kind() {
    let rule = DropRule { kind: Some(PacketKind::Data), nth: 3, label: "3rd data segment server->client".into() };
    let mut l = Link::new(delay(10), vec![rule], stream(1, "x"));
    use PacketKind::*;
    let kinds = [Syn, Ack, Data, Data, Ack, Data, Data, Data];
    let dropped: Vec<usize> = kinds
        .iter()
        .enumerate()
        .filter(|&(i, &k)| matches!(l.send(t(0), k, 100, i as u64), SendOutcome::Dropped(_)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(dropped, [5]);
    let mut l = Link::new(delay(10), vec![DropRule { kind: None, nth: 2, label: "2nd packet".into() }], stream(1, "x"));
    queued_at(l.send(t(0), Syn, 60, 0));
    let reason = DropReason::Scripted("2nd packet".into());
    assert_eq!(l.send(t(0), SynAck, 60, 1), SendOutcome::Dropped(reason));
    queued_at(l.send(t(0), Ack, 60, 2));
}

#[test]
fn mtu_drops_large_packets() {
    let mut l = link(LinkConfig { mtu: Some(1400), ..delay(1) }, 1);
    queued_at(l.send(t(0), PacketKind::Data, 1400, 0));
    let out = l.send(t(0), PacketKind::Data, 1500, 1);
    let reason = DropReason::Mtu { len: 1500, mtu: 1400 };
    assert_eq!(reason.to_string(), "larger than MTU 1400 (1500 bytes)");
    assert_eq!(out, SendOutcome::Dropped(reason));
}

#[test]
fn duplicate_always_delivers_twice_back_to_back() {
    let mut l = link(LinkConfig { duplicate: 1.0, ..delay(10) }, 1);
    for i in 0..100 {
        let out = l.send(t(i * MS), PacketKind::Data, 100, i);
        assert_eq!(out, SendOutcome::Queued { copies: 2, deliver_at: t((i + 10) * MS), corrupted: false });
    }
    let items: Vec<u64> = drain(&mut l).into_iter().map(|(_, item)| item).collect();
    let expected: Vec<u64> = (0..100).flat_map(|i| [i, i]).collect();
    assert_eq!(items, expected);
    let stats = l.stats();
    assert_eq!((stats.sent, stats.delivered, stats.duplicated), (100, 200, 100));
    assert_eq!(stats.bytes_sent, 10_000);
}

/// Serialization time of `len` bytes at `rate` bit/s in µs, as the transmitter computes it.
fn serialization(len: usize, rate: u64) -> u64 {
    (len as u64 * 8 * 1_000_000).div_ceil(rate)
}

/// What [`rate_holds`] saw: the smallest gap between consecutive deliveries minus the later
/// packet's serialization time, the delivery rate over the run, and how the packets fared.
#[derive(Debug)]
struct RateRun {
    min_slack: i64,
    bits_per_s: f64,
    delivered: usize,
    inversions: usize,
}

/// Sends `(at µs, len)` into a link of `words`, drains it and checks that the rate held:
/// each delivery comes at least its own serialization time after the one before it, and no
/// packet arrives later than the end of its transmission plus delay plus jitter.
fn rate_holds(words: &str, seed: u64, sends: &[(u64, usize)]) -> RateRun {
    let config = netem::parse(words).unwrap();
    let rate = config.rate_bps.unwrap();
    let max_delay = config.delay + config.jitter;
    // The transmitter alone (no delay, no randomness) gives each packet's end of transmission.
    let mut wire = link(LinkConfig { rate_bps: Some(rate), limit: config.limit, ..LinkConfig::default() }, seed);
    let mut l = link(config, seed);
    let mut tx_end = Vec::new();
    for (i, &(at, len)) in sends.iter().enumerate() {
        let alone = wire.send(t(at), PacketKind::Data, len, i as u64);
        let outcome = l.send(t(at), PacketKind::Data, len, i as u64);
        // Jitter, correlation and reorder leave the drop-tail limit as it was.
        assert_eq!(matches!(alone, SendOutcome::Dropped(_)), matches!(outcome, SendOutcome::Dropped(_)), "{words}");
        tx_end.push(match alone {
            SendOutcome::Queued { deliver_at, .. } => deliver_at,
            SendOutcome::Dropped(_) => Instant::ZERO,
        });
    }
    let out = drain(&mut l);
    assert!(!out.is_empty(), "{words}: nothing delivered");
    let len = |item: u64| sends[item as usize].1;
    let mut min_slack = i64::MAX;
    for w in out.windows(2) {
        let (gap, ser) = (w[1].0.micros() - w[0].0.micros(), serialization(len(w[1].1), rate));
        min_slack = min_slack.min(gap as i64 - ser as i64);
        assert!(
            gap >= ser,
            "{words}, seed {seed}: {} bytes arrived {gap} us after the previous packet, under the {ser} us they take at {rate} bit/s",
            len(w[1].1)
        );
    }
    for &(at, item) in &out {
        let latest = tx_end[item as usize] + max_delay;
        assert!(at <= latest, "{words}, seed {seed}: packet {item} arrived at {at:?}, after {latest:?}");
    }
    let (first, last) = (out[0], out[out.len() - 1]);
    let bits: u64 = out.iter().map(|&(_, item)| len(item) as u64 * 8).sum();
    let span = last.0.micros() - first.0.micros() + serialization(len(first.1), rate);
    let bits_per_s = bits as f64 * 1e6 / span as f64;
    assert!(bits_per_s <= rate as f64, "{words}, seed {seed}: delivered {bits_per_s} bit/s");
    let inversions = out.windows(2).filter(|w| w[0].1 > w[1].1).count();
    RateRun { min_slack, bits_per_s, delivered: out.len(), inversions }
}

/// `n` packets at pseudo-random times (gaps up to `max_gap` µs, a few at the same instant)
/// and sizes (40 to 1500 bytes).
fn traffic(seed: u64, n: usize, max_gap: u64) -> Vec<(u64, usize)> {
    use rand_core::RngCore;
    let mut rng = stream(seed, "traffic");
    let mut at = 0;
    (0..n)
        .map(|_| {
            let r = rng.next_u64();
            if r % 4 != 0 {
                at += (r >> 8) % (max_gap + 1);
            }
            (at, 40 + ((r >> 32) % 1461) as usize)
        })
        .collect()
}

#[test]
fn jitter_with_a_rate_keeps_the_rate() {
    // 40 full-size packets at one instant: 2400 us each at 5 Mbit/s, jitter +-10 ms.
    let burst = [(0, 1500); 40];
    for seed in 1..=10 {
        let run = rate_holds("delay 40ms 10ms rate 5mbit limit 50", seed, &burst);
        assert_eq!((run.delivered, run.inversions), (40, 0), "seed {seed}: {run:?}");
        // Jitter squeezes some packets together: down to the rate, not below it.
        assert_eq!(run.min_slack, 0, "seed {seed}: {run:?}");
    }
}

#[test]
fn correlated_jitter_with_a_rate_keeps_the_rate() {
    let burst = [(0, 1500); 40];
    for seed in 1..=10 {
        let run = rate_holds("delay 40ms 10ms 75% rate 5mbit limit 50", seed, &burst);
        assert_eq!((run.delivered, run.inversions), (40, 0), "seed {seed}: {run:?}");
        // Offered at about 6 Mbit/s for 10 s: the queue fills and drops, the rate still holds.
        let run = rate_holds("delay 40ms 10ms 75% rate 5mbit limit 50", seed, &traffic(seed, 10_000, 2 * MS));
        assert_eq!(run.inversions, 0, "seed {seed}: {run:?}");
        assert!(run.bits_per_s > 4.5e6, "the link should be busy: {run:?}");
    }
}

#[test]
fn jitter_with_a_rate_keeps_the_rate_at_odd_settings() {
    let cases = [
        ("delay 0.2ms 0.15ms rate 1gbit", 5),
        ("delay 265ms 30ms rate 700kbit limit 20", 20 * MS),
        ("delay 3ms 20ms 50% rate 3mbit", 4 * MS), // jitter larger than the delay
        ("delay 10ms 9.999ms 99% rate 123457bit limit 7", 100 * MS),
    ];
    for (words, max_gap) in cases {
        for seed in 1..=5 {
            let run = rate_holds(words, seed, &traffic(seed, 3000, max_gap));
            assert_eq!(run.inversions, 0, "{words}, seed {seed}: {run:?}");
        }
    }
}

#[test]
fn reorder_with_a_rate_keeps_the_rate() {
    let cases = [
        ("delay 40ms 10ms reorder 25% rate 5mbit", 3 * MS),
        // 1 ms at 5 Mbit/s holds 625 bytes: only small packets on a quiet wire can overtake.
        ("delay 1ms reorder 50% rate 5mbit", 10 * MS),
        ("delay 2ms 1ms reorder 10% rate 1gbit", 3 * MS),
    ];
    for (words, max_gap) in cases {
        let inversions: usize =
            (1..=5).map(|seed| rate_holds(words, seed, &traffic(seed, 3000, max_gap)).inversions).sum();
        assert!(inversions > 0, "{words}: reorder should still let packets overtake");
    }
}

#[test]
fn duplicate_with_a_rate_takes_its_own_turn_on_the_wire() {
    // 1000 bytes at 8 Mbit/s take 1 ms, copies too; each copy also waits in the queue.
    let config = LinkConfig { duplicate: 1.0, rate_bps: Some(8_000_000), limit: 3, ..delay(10) };
    let mut l = link(config, 1);
    let sends: Vec<SendOutcome> = (0..3).map(|i| l.send(t(0), PacketKind::Data, 1000, i)).collect();
    let queued = |copies, ms| SendOutcome::Queued { copies, deliver_at: t(ms * MS), corrupted: false };
    assert_eq!(sends, [queued(2, 11), queued(2, 13), SendOutcome::Dropped(DropReason::QueueFull)]);
    // At 1 ms two transmissions are still waiting: room for a packet, not for its copy.
    assert_eq!(l.send(t(MS), PacketKind::Data, 1000, 3), queued(1, 15));
    let out: Vec<(u64, u64)> = drain(&mut l).into_iter().map(|(at, item)| (at.micros() / MS, item)).collect();
    assert_eq!(out, [(11, 0), (12, 0), (13, 1), (14, 1), (15, 3)]);
    assert_eq!((l.stats().duplicated, l.stats().delivered), (2, 5));

    // With jitter, copies are spaced like any other packet.
    let config = netem::parse("delay 40ms 10ms duplicate 30% rate 5mbit").unwrap();
    for seed in 1..=5 {
        let mut l = link(config.clone(), seed);
        let sends = traffic(seed, 3000, 3 * MS);
        for (i, &(at, len)) in sends.iter().enumerate() {
            l.send(t(at), PacketKind::Data, len, i as u64);
        }
        assert!(l.stats().duplicated > 500, "{:?}", l.stats());
        for w in drain(&mut l).windows(2) {
            let ser = serialization(sends[w[1].1 as usize].1, 5_000_000);
            assert!(w[1].0.micros() - w[0].0.micros() >= ser, "seed {seed}: {w:?}");
        }
    }
}
