//! The two queues of a link: the transmit queue in front of a rate-limited wire (drop-tail,
//! like netem's `rate` with `limit`) and the delivery queue of packets in flight.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use crate::sim::time::Instant;

/// Serialization at a fixed rate, with a drop-tail limit on packets waiting to start.
///
/// Only start times are kept: a packet waits while its transmission starts after `now`.
/// Send times must not go backwards (earlier `now`s are treated as the latest one seen).
#[derive(Clone, Debug)]
pub(crate) struct Transmitter {
    rate_bps: Option<u64>,
    limit: usize,
    /// When the wire is free: the end of the last transmission.
    free_at: Instant,
    /// Start times of transmissions that had not started at the last send, in order.
    waiting: VecDeque<Instant>,
}

impl Transmitter {
    pub(crate) fn new(rate_bps: Option<u64>, limit: usize) -> Self {
        Transmitter { rate_bps, limit, free_at: Instant::ZERO, waiting: VecDeque::new() }
    }

    /// Packets whose serialization has not started by `now`.
    pub(crate) fn backlog(&mut self, now: Instant) -> usize {
        while self.waiting.front().is_some_and(|&start| start <= now) {
            self.waiting.pop_front();
        }
        self.waiting.len()
    }

    /// Whether a packet sent at `now` finds the queue full. Always false without a rate.
    pub(crate) fn is_full(&mut self, now: Instant) -> bool {
        self.rate_bps.is_some() && self.backlog(now) >= self.limit
    }

    /// Queues a packet of `len` bytes and returns when its last bit leaves (`now` without a
    /// rate). Serialization takes `ceil(len * 8 / rate)` microseconds.
    pub(crate) fn transmit(&mut self, now: Instant, len: usize) -> Instant {
        let Some(rate) = self.rate_bps else {
            return now;
        };
        let start = self.free_at.max(now);
        if start > now {
            self.waiting.push_back(start);
        }
        let bits = len as u128 * 8 * 1_000_000;
        let micros = bits.div_ceil(u128::from(rate.max(1)));
        self.free_at = Instant::from_micros(start.micros().saturating_add(micros as u64));
        self.free_at
    }
}

/// One packet in flight, ordered by delivery time and then by sequence number.
#[derive(Debug)]
struct Entry<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Packets in flight, popped in delivery-time order, ties in the order they were pushed.
/// Push and pop are O(log n).
#[derive(Debug)]
pub(crate) struct DeliveryQueue<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    next_seq: u64,
}

impl<T> DeliveryQueue<T> {
    pub(crate) fn new() -> Self {
        DeliveryQueue { heap: BinaryHeap::new(), next_seq: 0 }
    }

    pub(crate) fn push(&mut self, at: Instant, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry { at, seq, item }));
    }

    pub(crate) fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// The earliest packet if it is due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.next_at()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| e.item)
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_order_is_time_then_push_order() {
        let mut q = DeliveryQueue::new();
        let t = Instant::from_micros;
        q.push(t(20), "c");
        q.push(t(10), "a");
        q.push(t(10), "b");
        assert_eq!(q.next_at(), Some(t(10)));
        assert_eq!(q.pop_due(t(5)), None);
        assert_eq!(q.pop_due(t(30)), Some("a"));
        assert_eq!(q.pop_due(t(30)), Some("b"));
        assert_eq!(q.pop_due(t(30)), Some("c"));
        assert_eq!(q.pop_due(t(30)), None);
    }

    #[test]
    fn serialization_rounds_up_and_queues() {
        let mut tx = Transmitter::new(Some(3_000_000), 10);
        let t0 = Instant::ZERO;
        // 1 byte at 3 Mbit/s is 2.67 us, rounded up to 3.
        assert_eq!(tx.transmit(t0, 1).micros(), 3);
        assert_eq!(tx.transmit(t0, 1).micros(), 6);
        assert_eq!(tx.backlog(t0), 1);
        assert_eq!(tx.backlog(Instant::from_micros(3)), 0);
    }
}
