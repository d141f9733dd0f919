//! The queues of a link: the transmit queue in front of a rate-limited wire (drop-tail,
//! like netem's `rate` with `limit`), the far end of that wire where arrivals cannot overlap,
//! and the delivery queue of packets in flight.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::ops::Bound::{Excluded, Unbounded};

use super::trace::TraceClock;
use crate::time::Instant;

/// Serialization at a fixed rate or along a rate trace, with a drop-tail limit on packets
/// waiting to start.
///
/// Only start times are kept: a packet waits while its transmission starts after `now`. With a
/// trace, a packet waits until it has left (its last byte's opportunity). Send times must not
/// go backwards (earlier `now`s are treated as the latest one seen).
#[derive(Clone, Debug)]
pub(crate) struct Transmitter {
    rate_bps: Option<u64>,
    trace: Option<TraceClock>,
    limit: usize,
    /// When the wire is free: the end of the last transmission.
    free_at: Instant,
    /// Start times of transmissions that had not started at the last send, in order.
    waiting: VecDeque<Instant>,
}

impl Transmitter {
    pub(crate) fn new(rate_bps: Option<u64>, limit: usize) -> Self {
        Transmitter { rate_bps, trace: None, limit, free_at: Instant::ZERO, waiting: VecDeque::new() }
    }

    /// A transmitter whose opportunities follow `trace` from `base` on.
    pub(crate) fn with_trace(mut self, trace: Option<TraceClock>) -> Self {
        self.trace = trace;
        self
    }

    /// New settings from `now` on. What is queued keeps its times; later packets queue behind
    /// it and go at the new rate (or along the new trace). A trace equal to the one running
    /// keeps its clock; another starts at `now`.
    pub(crate) fn reconfigure(
        &mut self,
        now: Instant,
        rate_bps: Option<u64>,
        trace: Option<&std::sync::Arc<super::RateTrace>>,
        limit: usize,
    ) {
        self.rate_bps = rate_bps;
        self.limit = limit;
        let same = |c: &TraceClock| trace.is_some_and(|t| **t == **c.trace());
        if !self.trace.as_ref().is_some_and(same) {
            self.trace = trace.map(|t| TraceClock::new(t.clone(), now.micros()));
        }
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
        (self.rate_bps.is_some() || self.trace.is_some()) && self.backlog(now) >= self.limit
    }

    /// Serialization time of `len` bytes in microseconds: `ceil(len * 8 / rate)`, 0 without a
    /// rate and with a trace (whose opportunities space packets themselves).
    pub(crate) fn serialization(&self, len: usize) -> u64 {
        let (Some(rate), None) = (self.rate_bps, &self.trace) else {
            return 0;
        };
        let bits = len as u128 * 8 * 1_000_000;
        u64::try_from(bits.div_ceil(u128::from(rate.max(1)))).unwrap_or(u64::MAX)
    }

    /// Queues a packet of `len` bytes and returns when its last bit leaves (`now` without a
    /// rate), [`Transmitter::serialization`] after the wire is free.
    pub(crate) fn transmit(&mut self, now: Instant, len: usize) -> Instant {
        if let Some(trace) = &mut self.trace {
            let end = Instant::from_micros(trace.transmit(now.micros(), self.free_at.micros(), len as u64));
            if end > now {
                self.waiting.push_back(end);
            }
            self.free_at = end;
            return end;
        }
        if self.rate_bps.is_none() {
            // Infinitely fast, but behind what an earlier rate left queued.
            return self.free_at.max(now);
        }
        let start = self.free_at.max(now);
        if start > now {
            self.waiting.push_back(start);
        }
        let micros = self.serialization(len);
        self.free_at = Instant::from_micros(start.micros().saturating_add(micros));
        self.free_at
    }
}

/// The far end of a rate-limited wire: a packet arriving at `at` occupies `(at - ser, at]`,
/// its serialization time, and no two packets' arrivals overlap, so deliveries are never
/// closer than the rate allows, whatever delay each packet had on the way.
#[derive(Clone, Debug, Default)]
pub(crate) struct Arrivals {
    /// Busy stretches `(start, end]` in microseconds, keyed by `end`: disjoint, not touching
    /// (touching ones are merged), none ending at or before the last `now`.
    busy: BTreeMap<u64, u64>,
}

impl Arrivals {
    /// Reserves the earliest arrival `at >= earliest` whose `(at - ser, at]` overlaps no other
    /// arrival, and returns `at`. With `ser == 0` (no rate) that is `earliest`, and nothing is
    /// kept. A packet sent at `now` cannot arrive before `now + ser` (its own serialization),
    /// so `earliest` must be at least that, and stretches over by `now` are forgotten.
    pub(crate) fn reserve(&mut self, now: Instant, earliest: Instant, ser: u64) -> Instant {
        debug_assert!(ser == 0 || earliest.micros() >= now.micros().saturating_add(ser));
        while let Some(entry) = self.busy.first_entry() {
            if *entry.key() > now.micros() {
                break;
            }
            entry.remove();
        }
        if ser == 0 {
            return earliest;
        }
        let mut at = earliest.micros();
        // Stretches in order of end; the first one that ends after `at - ser` and starts
        // before `at` overlaps, and the arrival moves to just after it. Stretches are sorted by
        // start too, so the first one that starts at or after `at` ends the search. (The
        // `u64::MAX` test only stops the loop where time saturates, 584,000 years in.)
        while let Some((&end, &start)) = self.busy.range((Excluded(at.saturating_sub(ser)), Unbounded)).next() {
            if start >= at || end == u64::MAX {
                break;
            }
            at = end.saturating_add(ser);
        }
        let (mut start, mut end) = (at.saturating_sub(ser), at);
        if let Some(before) = self.busy.remove(&start) {
            start = before;
        }
        if let Some((&next_end, &next_start)) = self.busy.range((Excluded(end), Unbounded)).next() {
            if next_start == end {
                self.busy.remove(&next_end);
                end = next_end;
            }
        }
        self.busy.insert(end, start);
        Instant::from_micros(at)
    }

    /// Busy stretches still kept, for tests.
    #[cfg(test)]
    fn stretches(&self) -> Vec<(u64, u64)> {
        self.busy.iter().map(|(&end, &start)| (start, end)).collect()
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
///
/// Most links deliver in the order they send (no jitter, no reordering: every packet's time is
/// at or after the one before it), so packets pushed in order go to a plain FIFO, O(1) each way;
/// only a packet due before the FIFO's last one goes to a heap (O(log n)). Popping takes the
/// earlier of the two fronts by (time, push order), so the order is the same as one heap's.
/// (A heap of every packet cost a sift of ~100-byte entries per packet, 4% of the throughput
/// benchmark.)
#[derive(Debug)]
pub(crate) struct DeliveryQueue<T> {
    /// Pushed in (time, push order): each one due at or after the one before it.
    fifo: VecDeque<Entry<T>>,
    /// The others.
    heap: BinaryHeap<Reverse<Entry<T>>>,
    next_seq: u64,
}

impl<T> DeliveryQueue<T> {
    pub(crate) fn new() -> Self {
        DeliveryQueue { fifo: VecDeque::new(), heap: BinaryHeap::new(), next_seq: 0 }
    }

    pub(crate) fn push(&mut self, at: Instant, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry { at, seq, item };
        if self.fifo.back().is_none_or(|last| last.at <= at) {
            self.fifo.push_back(entry);
        } else {
            self.heap.push(Reverse(entry));
        }
    }

    pub(crate) fn next_at(&self) -> Option<Instant> {
        match (self.fifo.front(), self.heap.peek()) {
            (Some(f), Some(Reverse(h))) => Some(f.at.min(h.at)),
            (f, h) => f.map(|f| f.at).or(h.map(|Reverse(h)| h.at)),
        }
    }

    /// The earliest packet if it is due at or before `now`: the FIFO's front or the heap's,
    /// whichever comes first by time, then push order.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<T> {
        let (at, from_fifo) = match (self.fifo.front(), self.heap.peek()) {
            (Some(f), Some(Reverse(h))) if h < f => (h.at, false),
            (Some(f), _) => (f.at, true),
            (None, Some(Reverse(h))) => (h.at, false),
            (None, None) => return None,
        };
        if at > now {
            return None;
        }
        if from_fifo {
            self.fifo.pop_front().map(|e| e.item)
        } else {
            self.heap.pop().map(|Reverse(e)| e.item)
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.fifo.len() + self.heap.len()
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

    /// Out-of-order pushes (jitter, reordering) go to the heap, in-order ones to the FIFO; the
    /// order popped is by time, then push order, across both.
    #[test]
    fn fifo_and_heap_pop_in_one_order() {
        let mut q = DeliveryQueue::new();
        let t = Instant::from_micros;
        let pushes = [(10, 0), (30, 1), (20, 2), (30, 3), (5, 4), (30, 5), (40, 6), (20, 7), (40, 8)];
        for (at, id) in pushes {
            q.push(t(at), id);
        }
        assert_eq!((q.fifo.len(), q.heap.len()), (6, 3));
        assert_eq!(q.len(), 9);
        assert_eq!(q.next_at(), Some(t(5)));
        let mut order = Vec::new();
        while let Some(id) = q.pop_due(t(35)) {
            order.push(id);
        }
        assert_eq!(order, [4, 0, 2, 7, 1, 3, 5]);
        assert_eq!(q.next_at(), Some(t(40)));
        q.push(t(35), 9);
        assert_eq!(q.pop_due(t(100)), Some(9));
        assert_eq!(q.pop_due(t(100)), Some(6));
        assert_eq!(q.pop_due(t(100)), Some(8));
        assert_eq!(q.pop_due(t(100)), None);
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

    #[test]
    fn arrivals_take_the_first_gap_that_fits() {
        let mut a = Arrivals::default();
        let (t0, t) = (Instant::ZERO, Instant::from_micros);
        assert_eq!(a.reserve(t0, t(100), 10), t(100));
        assert_eq!(a.reserve(t0, t(125), 10), t(125));
        // (90, 95] overlaps (90, 100]: moved right behind it, to (100, 105].
        assert_eq!(a.reserve(t0, t(95), 5), t(105));
        assert_eq!(a.stretches(), [(90, 105), (115, 125)]);
        // A 10 us gap is too short for 12 us: after the last arrival.
        assert_eq!(a.reserve(t0, t(100), 12), t(137));
        assert_eq!(a.reserve(t0, t(115), 10), t(115));
        assert_eq!(a.stretches(), [(90, 137)]);
        // Without a rate nothing is kept; stretches over by `now` are forgotten.
        assert_eq!(a.reserve(t(140), t(140), 0), t(140));
        assert_eq!(a.stretches(), []);
    }
}
