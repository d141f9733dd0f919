//! One direction of an emulated path, sans-IO.
//!
//! A [`Link`] models what happens to packets sent from one host to another, with tc-netem's
//! semantics (netem(8)) where netem has a word for it. It never sleeps or reads a clock: the
//! caller passes `now` to [`Link::send`], asks [`Link::next_delivery`] when to come back, and
//! collects packets with [`Link::pop_due`]. A packet's journey through [`Link::send`]:
//!
//! 1. **MTU**: longer than [`LinkConfig::mtu`] → dropped.
//! 2. **Scripted rules**: the n-th packet of a kind ("the 3rd data segment") → dropped.
//! 3. **Queue limit**: with a rate, `limit` packets already waiting to be serialized →
//!    dropped (drop-tail).
//! 4. **Loss model**: Bernoulli or Gilbert-Elliott ([`LossModel`]).
//! 5. **Schedule**: serialization starts at `max(now, end of previous transmission)` and
//!    takes `ceil(len * 8 / rate)` µs, ending at `tx_end`; the packet arrives at
//!    `tx_end + delay + jitter`, or later where order or the rate require it (below). With
//!    probability `duplicate` a second copy follows right behind it. Without a rate it
//!    arrives at the same time, after it; with one it takes its own turn on the wire,
//!    serialized right after the original if fewer than `limit` packets are then waiting
//!    (else there is no copy), and arriving in the first free stretch after the original.
//!
//! Jitter is uniform in `[-jitter, +jitter]` and the total delay is never negative. With
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
//! passes steps 1–3: loss (one draw for Bernoulli, two for Gilbert-Elliott), duplicate (if
//! `duplicate > 0`), reorder (if `reorder > 0`), jitter (if `jitter > 0`). Same seed, same
//! config and same sends give the same outcome.

mod config;
pub mod kind;
pub mod loss;
pub mod netem;
mod queue;
#[cfg(test)]
mod tests;

use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use crate::time::Instant;
pub use config::{DropReason, DropRule, LinkConfig, LinkStats, SendOutcome};
pub use kind::PacketKind;
pub use loss::LossModel;
use loss::{unit, Loss, LossState};
use queue::{Arrivals, DeliveryQueue, Transmitter};

/// One direction of a path. See the [module docs](self).
pub struct Link<T> {
    config: LinkConfig,
    rules: Vec<DropRule>,
    rng: ChaCha8Rng,
    loss: LossState,
    tx: Transmitter,
    arrivals: Arrivals,
    queue: DeliveryQueue<T>,
    /// Packets sent per kind (indexed by `PacketKind as usize`), for scripted rules.
    sent_by_kind: [u64; PacketKind::NAMES.len()],
    /// Latest delivery time so far (of packets that took the delay), for order preservation.
    last_delivery: Instant,
    /// Last jitter value in nanoseconds, for correlation.
    last_jitter: f64,
    stats: LinkStats,
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
        Link {
            loss: LossState::new(config.loss.clone()),
            tx: Transmitter::new(config.rate_bps, config.limit),
            arrivals: Arrivals::default(),
            config,
            rules,
            rng,
            queue: DeliveryQueue::new(),
            sent_by_kind: [0; PacketKind::NAMES.len()],
            last_delivery: Instant::ZERO,
            last_jitter: 0.0,
            stats: LinkStats::default(),
        }
    }

    pub fn config(&self) -> &LinkConfig {
        &self.config
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
        self.stats.sent += 1;
        self.stats.bytes_sent += len as u64;
        self.sent_by_kind[kind as usize] += 1;
        let result = self.schedule(now, len, item);
        if result.is_err() {
            self.stats.dropped += 1;
        }
        result
    }

    fn schedule(&mut self, now: Instant, len: usize, item: T) -> Result<SendOutcome, (DropReason, T)> {
        if let Some(mtu) = self.config.mtu.filter(|&mtu| len > mtu) {
            return Err((DropReason::Mtu { len, mtu }, item));
        }
        let sent_any = self.stats.sent;
        let count = |k: Option<PacketKind>| k.map_or(sent_any, |k| self.sent_by_kind[k as usize]);
        if let Some(rule) = self.rules.iter().find(|r| count(r.kind) == r.nth) {
            return Err((DropReason::Scripted(rule.label.clone()), item));
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
        let delay = self.delay();

        let ser = self.tx.serialization(len);
        let tx_end = self.tx.transmit(now, len);
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
                self.queue.push(deliver_at, item.clone());
                self.queue.push(at, item);
                self.stats.duplicated += 1;
                2
            }
            None => {
                self.queue.push(deliver_at, item);
                1
            }
        };
        Ok(SendOutcome::Queued { copies, deliver_at })
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

    /// Propagation delay plus (possibly correlated) jitter, never negative.
    fn delay(&mut self) -> Duration {
        let c = &self.config;
        if c.jitter.is_zero() {
            return c.delay;
        }
        let fresh = (2.0 * unit(&mut self.rng) - 1.0) * c.jitter.as_nanos() as f64;
        let corr = c.jitter_correlation.clamp(0.0, 1.0);
        self.last_jitter = corr * self.last_jitter + (1.0 - corr) * fresh;
        let total = c.delay.as_nanos() as f64 + self.last_jitter;
        Duration::from_nanos(total.max(0.0).round() as u64)
    }

    /// When the earliest packet in flight arrives.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.queue.next_at()
    }

    /// One packet due at or before `now`, in delivery-time order (ties in send order).
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        let item = self.queue.pop_due(now)?;
        self.stats.delivered += 1;
        Some(item)
    }

    /// Copies in flight (queued for transmission or propagating), duplicates included.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }
}
