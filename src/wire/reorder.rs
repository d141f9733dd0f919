//! Pieces of a byte stream that arrived past the point a reader has reached, held until it
//! gets there: the one out-of-order buffer for readers that need the bytes themselves (TLS
//! records through a TCP stream, RFC 9293 §3.10.7.4; a QUIC stream's frames, RFC 9000 §2.2).
//! [`super::flow::Assembler`] tracks *when* bytes became deliverable without keeping them;
//! this keeps them, keyed by stream offset.

use std::collections::BTreeMap;

/// Held pieces by stream offset: `(length, value)`, the value carrying the bytes (and whatever
/// the reader wants with them, such as the frame they came in).
#[derive(Clone, Debug)]
pub struct Reorder<V> {
    pending: BTreeMap<u64, (u64, V)>,
}

impl<V> Default for Reorder<V> {
    fn default() -> Self {
        Reorder { pending: BTreeMap::new() }
    }
}

impl<V> Reorder<V> {
    /// Pieces held.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Holds `len` bytes at `offset`; of two pieces at one offset the longer is kept (the
    /// first, when they are as long).
    pub fn hold(&mut self, offset: u64, len: u64, value: V) {
        match self.pending.get(&offset) {
            Some((kept, _)) if *kept >= len => {}
            _ => {
                self.pending.insert(offset, (len, value));
            }
        }
    }

    /// The first held piece that starts at or before `next` (the offset the reader has
    /// reached): `(offset, length, value)`. Its bytes below `next` were read already.
    pub fn ready(&mut self, next: u64) -> Option<(u64, u64, V)> {
        let entry = self.pending.first_entry()?;
        if *entry.key() > next {
            return None;
        }
        let (offset, (len, value)) = entry.remove_entry();
        Some((offset, len, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_come_back_in_order_once_reached_and_the_longer_is_kept() {
        let mut r = Reorder::default();
        r.hold(20, 10, "b");
        r.hold(10, 5, "a");
        r.hold(10, 10, "a-longer");
        r.hold(10, 3, "a-shorter");
        assert_eq!(r.len(), 2);
        assert_eq!(r.ready(5), None, "nothing reached yet");
        assert_eq!(r.ready(10), Some((10, 10, "a-longer")));
        assert_eq!(r.ready(20), Some((20, 10, "b")));
        assert!(r.is_empty() && r.ready(u64::MAX).is_none());
    }
}
