//! One direction of an emulated path, sans-IO.
//!
//! A [`Link`] models what happens to packets sent from one host to another, with tc-netem's
//! semantics (netem(8)) where netem has a word for it. It never sleeps or reads a clock: the
//! caller passes `now` to [`Link::send`], asks [`Link::next_delivery`] when to come back, and
//! collects packets with [`Link::pop_due`]. A packet's journey through [`Link::send`]:
//!
//! 0. **Flow rules** ([`flow`]): a packet that matches one of [`LinkConfig::flows`] (after
//!    step 2, which counts every packet of the direction) takes that rule's own link, steps
//!    1 and 3 to 6 there.
//! 1. **MTU**: longer than [`LinkConfig::mtu`] → dropped.
//! 2. **Scripted rules**: the n-th packet of a kind ("the 3rd data segment") → dropped.
//! 3. **Queue limit**: with a rate, `limit` packets already waiting to be serialized →
//!    dropped (drop-tail).
//! 4. **Loss model**: Bernoulli or Gilbert-Elliott ([`LossModel`]).
//! 5. **Schedule**: serialization starts at `max(now, end of previous transmission)` and
//!    takes `ceil(len * 8 / rate)` µs, ending at `tx_end` (with a rate trace, `tx_end` is the
//!    delivery opportunity that carries the packet's last byte: [`trace`]); the packet arrives
//!    at `tx_end + delay + jitter` (the delay from the delay trace at `tx_end`, if there is
//!    one), or later where order or the rate require it (below). With
//!    probability `duplicate` a second copy follows right behind it. Without a rate it
//!    arrives at the same time, after it; with one it takes its own turn on the wire,
//!    serialized right after the original if fewer than `limit` packets are then waiting
//!    (else there is no copy), and arriving in the first free stretch after the original.
//!
//! 6. **Corruption**: with probability `corrupt` the packet (the first copy) is delivered
//!    marked corrupted ([`Link::pop_due_with_fate`]); the caller flips a bit, and the receiver
//!    drops it on its checksum.
//!
//! Jitter is uniform in `[-jitter, +jitter]`, or shaped by [`Distribution`] (netem's normal,
//! pareto and paretonormal tables), and the total delay is never negative. With
//! `jitter_correlation` c, each jitter value is `c * last + (1 - c) * fresh`, netem's old
//! correlation scheme: approximate (it also narrows the spread as c grows). Without
//! `reorder`, delivery is order-preserving: a packet is never delivered before the one sent
//! before it (its time is raised to that one's), as netem does when jitter is combined with
//! `rate`. With `reorder` probability r, a packet skips the delay (its earliest arrival is
//! `tx_end`) and may overtake, and jitter may reorder too.
//!
//! A rate also holds where packets arrive, whatever jitter, correlation or reorder do: an
//! arrival at `at` occupies the far end of the wire for the packet's serialization time,
//! `(at - ser, at]`, and arrivals never overlap, so consecutive deliveries are at least the
//! later packet's serialization time apart. A packet whose arrival would overlap one
//! already scheduled takes the first free stretch after its earliest time that is long
//! enough (scheduled packets never move); reordered and jittered packets can fill gaps.
//! This is the effect of netem computing each packet's time to send from the last one's,
//! so jitter cannot squeeze packets closer than the rate, but the wait is not added to
//! every packet: a packet still arrives by `tx_end + delay + jitter`, because every packet
//! sent before it finished transmitting at least its serialization time earlier and
//! arrived by then. The `limit` counts only packets waiting for the transmitter, as
//! without jitter. Without a rate, arrivals take no time and nothing waits.
//!
//! All randomness comes from the link's own RNG, drawn in a fixed order per packet that
//! passes steps 1–3: loss (one draw for Bernoulli, two for Gilbert-Elliott or the first
//! correlated one), duplicate (if `duplicate > 0`), reorder (if `reorder > 0`), jitter (if
//! `jitter > 0`), corruption (if `corrupt > 0`: one draw, and one more for the bit when it
//! hits). A flow rule's link has a stream of its own (the same seed, the next ChaCha stream
//! numbers), so adding a rule changes nothing on the path's own link. Same seed, same config
//! and same sends give the same outcome.
//!
//! **Changes over a run**: [`Link::reconfigure`] applies new settings from a given time on;
//! packets already queued or in flight keep their times. See its docs.

mod config;
pub mod distribution;
pub mod flow;
pub mod kind;
pub mod loss;
pub mod netem;
mod queue;
mod reconfigure;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_faults;
pub mod trace;

use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use crate::time::Instant;
pub use config::{DropReason, DropRule, LinkConfig, LinkStats, SendOutcome};
pub use distribution::Distribution;
pub use flow::{FlowKey, FlowMatch, FlowRule, Protocol};
pub use kind::PacketKind;
pub use loss::LossModel;
use loss::{unit, Loss, LossState};
use queue::{Arrivals, DeliveryQueue, Transmitter};
pub use trace::{DelayTrace, RateTrace};

/// A delivered packet's fate beyond its time: whether it arrives corrupted, with random bits
/// that say where (the caller picks the bit from them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corruption {
    pub noise: u64,
}

/// A packet in flight and its fate.
#[derive(Debug)]
struct InFlight<T> {
    item: T,
    corrupted: Option<Corruption>,
}

/// One direction of a path. See the [module docs](self).
pub struct Link<T> {
    config: LinkConfig,
    rules: Vec<DropRule>,
    rng: ChaCha8Rng,
    loss: LossState,
    tx: Transmitter,
    arrivals: Arrivals,
    queue: DeliveryQueue<InFlight<T>>,
    /// Packets sent per kind (indexed by `PacketKind as usize`), for scripted rules.
    sent_by_kind: [u64; PacketKind::NAMES.len()],
    /// Latest delivery time so far (of packets that took the delay), for order preservation.
    last_delivery: Instant,
    /// Last jitter value in nanoseconds, for correlation.
    last_jitter: f64,
    /// When the delay trace's time 0 is.
    delay_trace_base: Instant,
    stats: LinkStats,
    /// The links of `config.flows`, in order.
    flows: Vec<Link<T>>,
    /// Flow links a reconfiguration removed, still delivering what they hold.
    retired: Vec<Link<T>>,
    /// The ChaCha stream number the next flow link takes.
    next_stream: u64,
}

impl<T: Clone> Link<T> {
    /// The scripted drop rules that matched no packet: fewer packets of their kind were sent
    /// than the rule counts to, so it dropped nothing. With each, how many were sent.
    pub fn unmatched_rules(&self) -> Vec<(&DropRule, u64)> {
        let sent_any = self.stats.sent;
        self.rules
            .iter()
            .map(|r| (r, r.kind.map_or(sent_any, |k| self.sent_by_kind[k as usize])))
            .filter(|(r, sent)| *sent < r.nth)
            .collect()
    }

    pub fn new(config: LinkConfig, rules: Vec<DropRule>, rng: ChaCha8Rng) -> Self {
        let tx = Transmitter::new(config.rate_bps, config.limit)
            .with_trace(config.rate_trace.clone().map(|t| trace::TraceClock::new(t, 0)));
        let mut link = Link {
            loss: LossState::new(config.loss.clone(), config.loss_correlation),
            tx,
            arrivals: Arrivals::default(),
            next_stream: rng.get_stream().wrapping_add(1),
            config,
            rules,
            rng,
            queue: DeliveryQueue::new(),
            sent_by_kind: [0; PacketKind::NAMES.len()],
            last_delivery: Instant::ZERO,
            last_jitter: 0.0,
            delay_trace_base: Instant::ZERO,
            stats: LinkStats::default(),
            flows: Vec::new(),
            retired: Vec::new(),
        };
        link.flows = link.config.flows.clone().into_iter().map(|rule| link.flow_link(rule.config)).collect();
        link
    }

    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Whether the link has flow rules (so [`Link::send_flow_or_return`] wants a [`FlowKey`]).
    pub fn has_flows(&self) -> bool {
        !self.flows.is_empty()
    }

    /// Offers a packet of `len` bytes at `now` (which must not go backwards between calls).
    pub fn send(&mut self, now: Instant, kind: PacketKind, len: usize, item: T) -> SendOutcome {
        match self.send_or_return(now, kind, len, item) {
            Ok(outcome) => outcome,
            Err((reason, _)) => SendOutcome::Dropped(reason),
        }
    }

    /// Like [`Link::send`], but a dropped packet is handed back with the reason, so the
    /// caller can still record it without copying every packet beforehand.
    pub fn send_or_return(
        &mut self,
        now: Instant,
        kind: PacketKind,
        len: usize,
        item: T,
    ) -> Result<SendOutcome, (DropReason, T)> {
        self.send_flow_or_return(now, kind, None, len, item)
    }

    /// Like [`Link::send_or_return`], for a packet whose flow is `flow` (`None`: it matches
    /// no flow rule).
    pub fn send_flow_or_return(
        &mut self,
        now: Instant,
        kind: PacketKind,
        flow: Option<&FlowKey>,
        len: usize,
        item: T,
    ) -> Result<SendOutcome, (DropReason, T)> {
        self.stats.sent += 1;
        self.stats.bytes_sent += len as u64;
        self.sent_by_kind[kind as usize] += 1;
        let rule = flow.and_then(|key| self.config.flows.iter().position(|f| f.matcher.matches(key)));
        let result = match rule {
            None => self.schedule(now, len, item),
            Some(i) => match self.scripted() {
                Some(reason) => Err((reason, item)),
                None => self.flows[i].send_or_return(now, kind, len, item),
            },
        };
        match &result {
            Err(_) => self.stats.dropped += 1,
            Ok(SendOutcome::Queued { copies, corrupted, .. }) => {
                if rule.is_some() {
                    self.stats.duplicated += u64::from(*copies > 1);
                }
                self.stats.corrupted += u64::from(*corrupted);
            }
            Ok(SendOutcome::Dropped(_)) => {}
        }
        result
    }

    /// The scripted rule that drops this packet, if one does.
    fn scripted(&self) -> Option<DropReason> {
        let sent_any = self.stats.sent;
        let count = |k: Option<PacketKind>| k.map_or(sent_any, |k| self.sent_by_kind[k as usize]);
        self.rules.iter().find(|r| count(r.kind) == r.nth).map(|rule| DropReason::Scripted(rule.label.clone()))
    }

    fn schedule(&mut self, now: Instant, len: usize, item: T) -> Result<SendOutcome, (DropReason, T)> {
        if let Some(mtu) = self.config.mtu.filter(|&mtu| len > mtu) {
            return Err((DropReason::Mtu { len, mtu }, item));
        }
        if let Some(reason) = self.scripted() {
            return Err((reason, item));
        }
        if self.tx.is_full(now) {
            return Err((DropReason::QueueFull, item));
        }
        match self.loss.next(&mut self.rng) {
            Loss::Kept => {}
            Loss::Random => return Err((DropReason::Random, item)),
            Loss::Burst => return Err((DropReason::Burst, item)),
        }
        let c = &self.config;
        let duplicate = c.duplicate > 0.0 && unit(&mut self.rng) < c.duplicate;
        let reordered = c.reorder > 0.0 && unit(&mut self.rng) < c.reorder;
        let jitter = self.jitter();
        let corrupted = (self.config.corrupt > 0.0 && unit(&mut self.rng) < self.config.corrupt)
            .then(|| Corruption { noise: rand_core::RngCore::next_u64(&mut self.rng) });

        let ser = self.tx.serialization(len);
        let tx_end = self.tx.transmit(now, len);
        let delay = self.delay(tx_end, jitter);
        let mut earliest = if reordered { tx_end } else { tx_end + delay };
        if !reordered && self.config.reorder == 0.0 {
            earliest = earliest.max(self.last_delivery);
        }
        let deliver_at = self.arrive(now, earliest, ser, reordered);
        // The copy is a packet of its own on the wire: serialized right after the original if
        // the queue has room for it, and arriving right behind it.
        let copy_at = (duplicate && !self.tx.is_full(now)).then(|| {
            self.tx.transmit(now, len);
            self.arrive(now, deliver_at, ser, reordered)
        });
        let copies = match copy_at {
            Some(at) => {
                self.queue.push(deliver_at, InFlight { item: item.clone(), corrupted });
                self.queue.push(at, InFlight { item, corrupted: None });
                self.stats.duplicated += 1;
                2
            }
            None => {
                self.queue.push(deliver_at, InFlight { item, corrupted });
                1
            }
        };
        Ok(SendOutcome::Queued { copies, deliver_at, corrupted: corrupted.is_some() })
    }

    /// Reserves the first arrival at or after `earliest` that leaves the rate intact, and
    /// remembers it for order preservation unless the packet was reordered.
    fn arrive(&mut self, now: Instant, earliest: Instant, ser: u64, reordered: bool) -> Instant {
        let at = self.arrivals.reserve(now, earliest, ser);
        if !reordered {
            self.last_delivery = self.last_delivery.max(at);
        }
        at
    }

    /// The next (possibly correlated) jitter value in nanoseconds, or `None` without jitter.
    fn jitter(&mut self) -> Option<f64> {
        let c = &self.config;
        if c.jitter.is_zero() {
            return None;
        }
        let fresh = c.distribution.sample(unit(&mut self.rng)) * c.jitter.as_nanos() as f64;
        let corr = c.jitter_correlation.clamp(0.0, 1.0);
        self.last_jitter = corr * self.last_jitter + (1.0 - corr) * fresh;
        Some(self.last_jitter)
    }

    /// Propagation delay for a packet whose last bit leaves at `tx_end` (from the delay trace,
    /// if there is one) plus `jitter`, never negative.
    fn delay(&self, tx_end: Instant, jitter: Option<f64>) -> Duration {
        let base = match &self.config.delay_trace {
            Some(trace) => trace.at(tx_end.micros().saturating_sub(self.delay_trace_base.micros())),
            None => self.config.delay,
        };
        match jitter {
            None => base,
            Some(j) => Duration::from_nanos((base.as_nanos() as f64 + j).max(0.0).round() as u64),
        }
    }

    /// When the earliest packet in flight arrives.
    pub fn next_delivery(&self) -> Option<Instant> {
        let children = self.flows.iter().chain(&self.retired).filter_map(Link::next_delivery);
        self.queue.next_at().into_iter().chain(children).min()
    }

    /// One packet due at or before `now`, in delivery-time order (ties in send order, the
    /// path's own link before its flows').
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        self.pop_due_with_fate(now).map(|(item, _)| item)
    }

    /// Like [`Link::pop_due`], with the packet's corruption, if it is corrupted.
    pub fn pop_due_with_fate(&mut self, now: Instant) -> Option<(T, Option<Corruption>)> {
        if self.flows.is_empty() && self.retired.is_empty() {
            // No flow links: the path's own queue alone (what the general case comes to).
            let f = self.queue.pop_due(now)?;
            self.stats.delivered += 1;
            return Some((f.item, f.corrupted));
        }
        let own = self.queue.next_at().filter(|&at| at <= now);
        let child = self
            .flows
            .iter_mut()
            .chain(&mut self.retired)
            .filter_map(|l| Some((l.next_delivery().filter(|&at| at <= now)?, l)))
            .min_by_key(|(at, _)| *at);
        let popped = match (own, child) {
            (Some(at), Some((c, _))) if at <= c => self.queue.pop_due(now).map(|f| (f.item, f.corrupted)),
            (_, Some((_, link))) => link.pop_due_with_fate(now),
            (Some(_), None) => self.queue.pop_due(now).map(|f| (f.item, f.corrupted)),
            (None, None) => None,
        };
        if popped.is_some() {
            self.stats.delivered += 1;
        }
        self.retired.retain(|l| l.in_flight() > 0);
        popped
    }

    /// Copies in flight (queued for transmission or propagating), duplicates included.
    pub fn in_flight(&self) -> usize {
        self.queue.len() + self.flows.iter().chain(&self.retired).map(Link::in_flight).sum::<usize>()
    }

    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }
}
