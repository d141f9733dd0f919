//! Reading a store's packets in order ([`Store::iter`]), releasing the pages of spilled chunks
//! and entry blocks behind.

use super::{Entry, Store};

/// [`Store::iter`].
pub struct Entries<'a> {
    store: &'a Store,
    next: usize,
    end: usize,
    /// The index of the first entry after the spilled block being read (past the last spilled
    /// block: never reached).
    boundary: usize,
    /// The chunk of the last entry given, and the one before: a chunk is released when the
    /// iteration reaches the one after its successor, so bytes borrowed from it stay resident
    /// while the next chunk is read (a writer batching a few hundred KiB of frames reads them
    /// after the iteration moved on; a page it faulted in again would stay).
    chunk: Option<u32>,
    previous: Option<u32>,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (usize, Entry, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.store;
        let i = self.next;
        // Moving past the end of a spilled entry block: release it.
        if i == self.boundary {
            s.blocks[i / s.block - 1].release();
            self.find_boundary();
        }
        if i >= self.end {
            self.release_chunk();
            return None;
        }
        let e = s.get(i)?;
        if self.chunk.is_some_and(|c| c != e.chunk) {
            if let Some(p) = self.previous {
                s.chunks[p as usize].release();
            }
            self.previous = self.chunk;
        }
        self.chunk = Some(e.chunk);
        self.next += 1;
        Some((i, e, s.bytes(&e)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }

    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        self.next = self.next.saturating_add(n).min(self.end);
        self.find_boundary();
        self.next()
    }
}

impl<'a> Entries<'a> {
    pub(super) fn new(store: &'a Store) -> Entries<'a> {
        let mut entries = Entries { store, next: 0, end: store.len(), boundary: 0, chunk: None, previous: None };
        entries.find_boundary();
        entries
    }

    /// The end of the spilled block that holds entry `next` (`usize::MAX` past the spilled
    /// ones), where [`Entries::next`] releases that block.
    fn find_boundary(&mut self) {
        let s = self.store;
        let block = self.next / s.block;
        self.boundary = if block < s.blocks.len() { (block + 1) * s.block } else { usize::MAX };
    }

    fn release_chunk(&mut self) {
        for c in [self.chunk.take(), self.previous.take()].into_iter().flatten() {
            self.store.chunks[c as usize].release();
        }
    }
}

impl ExactSizeIterator for Entries<'_> {}

impl Drop for Entries<'_> {
    /// An iteration stopped early releases what it was reading too.
    fn drop(&mut self) {
        self.release_chunk();
        let s = self.store;
        if let Some(b) = self.next.checked_sub(1).map(|i| i / s.block).filter(|&b| b < s.blocks.len()) {
            s.blocks[b].release();
        }
    }
}
