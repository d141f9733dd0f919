//! TCP's sequence space (RFC 9293 §3.4): the one place wirelab compares sequence numbers,
//! turns them into stream offsets across wraparound, and records which bytes were seen. The
//! flow tracker (`super::flow`) is built on these.

/// `a` comes after `b` in sequence space (RFC 9293 §3.4: comparison modulo 2^32).
pub fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// `a` comes before `b` in sequence space.
pub fn seq_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// One direction's byte stream as 64-bit offsets from its first byte, so a transfer past 4 GiB
/// keeps counting: each sequence number is placed nearest the offset seen last.
#[derive(Clone, Copy, Debug)]
pub struct StreamOffsets {
    base: u32,
    last: u64,
}

impl StreamOffsets {
    /// Offsets count from sequence number `base` (the ISN + 1 for a stream whose SYN was seen).
    pub fn new(base: u32) -> Self {
        StreamOffsets { base, last: 0 }
    }

    /// The stream offset of sequence number `seq`; `None` before the stream's start.
    pub fn offset(&mut self, seq: u32) -> Option<u64> {
        let delta = i64::from(seq.wrapping_sub(self.base.wrapping_add(self.last as u32)) as i32);
        let off = u64::try_from(self.last as i64 + delta).ok()?;
        self.last = off;
        Some(off)
    }
}

/// The byte ranges of a stream seen so far: disjoint, non-touching half-open ranges, sorted.
#[derive(Clone, Debug, Default)]
pub struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    /// Adds `start..end`; whether any of it was new.
    pub fn insert(&mut self, start: u64, end: u64) -> bool {
        if start >= end {
            return false;
        }
        let i = self.0.partition_point(|r| r.1 < start);
        let j = i + self.0[i..].iter().take_while(|r| r.0 <= end).count();
        if j == i + 1 && self.0[i].0 <= start && end <= self.0[i].1 {
            return false;
        }
        let merged = self.0[i..j].iter().fold((start, end), |(s, e), r| (s.min(r.0), e.max(r.1)));
        self.0.splice(i..j, [merged]);
        true
    }

    /// The ranges, in order.
    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.0
    }

    /// Whether every byte of `start..end` is in the ranges (an empty range is).
    pub fn covers(&self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        let i = self.0.partition_point(|r| r.1 <= start);
        self.0.get(i).is_some_and(|r| r.0 <= start && end <= r.1)
    }

    /// Forgets every byte below `edge`.
    pub fn forget_below(&mut self, edge: u64) {
        let i = self.0.partition_point(|r| r.1 <= edge);
        self.0.drain(..i);
        if let Some(first) = self.0.first_mut() {
            first.0 = first.0.max(edge);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_wrap() {
        assert!(seq_after(5, u32::MAX - 5) && seq_before(u32::MAX - 5, 5));
        assert!(!seq_after(7, 7) && !seq_before(7, 7));
    }

    #[test]
    fn offsets_keep_counting_past_4_gib() {
        let mut s = StreamOffsets::new(u32::MAX - 10);
        assert_eq!(s.offset(u32::MAX - 10), Some(0));
        assert_eq!(s.offset(u32::MAX - 12), None, "before the start");
        let mut at = 0u64;
        for _ in 0..5 {
            at += 1 << 30;
            assert_eq!(s.offset((u32::MAX - 10).wrapping_add(at as u32)), Some(at));
        }
        assert_eq!(s.offset((u32::MAX - 10).wrapping_add(at as u32).wrapping_sub(100)), Some(at - 100));
    }

    #[test]
    fn ranges_merge_and_say_what_was_new() {
        let mut r = Ranges::default();
        assert!(r.insert(10, 20));
        assert!(!r.insert(12, 18));
        assert!(r.insert(30, 40));
        assert!(r.insert(15, 35));
        assert_eq!(r.as_slice(), &[(10, 40)]);
        assert!(!r.insert(5, 5));
        assert!(r.insert(40, 41));
        assert_eq!(r.as_slice(), &[(10, 41)]);
        assert!(r.insert(0, 50));
        assert_eq!(r.as_slice(), &[(0, 50)]);
        assert!(r.covers(0, 50) && r.covers(7, 7) && !r.covers(40, 51));
        assert!(r.insert(60, 70) && !r.covers(45, 65));
        r.forget_below(65);
        assert_eq!(r.as_slice(), &[(65, 70)]);
        let mut s = StreamOffsets::new(u32::MAX - 1);
        assert_eq!(s.offset(u32::MAX - 1), Some(0));
        assert_eq!(s.offset(3), Some(5));
        assert_eq!(s.offset(u32::MAX), Some(1));
    }
}
