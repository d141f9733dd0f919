//! Where a capture keeps its packets, so that its memory stays flat however long the run.
//!
//! Packet bytes go into 1 MiB chunks and each packet's [`Entry`] into a list. The recent ones
//! stay in memory; once the chunks in memory pass a threshold ([`SPILL_AFTER`], 32 MiB), the
//! oldest full chunk is written to an unnamed temporary file (`O_TMPFILE`, or created and
//! unlinked at once: the kernel deletes it when the capture is dropped or the process ends,
//! however it ends) and read back through a read-only memory map, so that a [`super::Frame`]
//! still borrows its bytes from the capture. Entries go the same way, a block of
//! [`ENTRY_BLOCK`] at a time (encoded as 36 bytes each), once twice that many are in memory.
//! An iteration over the packets ([`Entries`]) releases each spilled chunk's and block's pages
//! when it moves past them, so reading a 1 GB capture from start to end holds about one chunk.
//!
//! Nothing here changes what a capture holds: a capture that spilled writes the same bytes as
//! one that did not. If the spill file cannot be created or written (a full disk), the capture
//! keeps everything in memory from then on and says so ([`Store::spill_warning`]).

mod chunks;
mod entries;

use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

use chunks::{Arena, Chunk, SpillFile};
pub use entries::Entries;

/// Bytes per arena chunk: packets are appended to the last chunk and a new one is started when
/// a packet does not fit, so recording never moves what was recorded before (a growing `Vec`
/// would copy the whole capture at each doubling). Also the spill file's unit: every chunk and
/// entry block starts at a multiple of it (page-aligned, as a map's offset must be).
pub const CHUNK: usize = 1 << 20;

/// Chunks in memory past this many bytes are spilled to disk (oldest first). Above the 20 MiB
/// transfer of the throughput benchmark, which so measures the capture path, not the disk.
pub const SPILL_AFTER: usize = 32 << 20;

/// Entries spilled at a time (one chunk's worth), once twice as many are in memory.
pub const ENTRY_BLOCK: usize = CHUNK / ENTRY_BYTES;

/// Bytes of one encoded entry.
const ENTRY_BYTES: usize = 36;

/// Where one packet lives in the arena, and what is known about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub at: u64,
    /// Its bytes: `chunks[chunk][start..end]` (a chunk is at most 1 MiB but for a larger
    /// packet, so offsets fit in 32 bits; chunk numbers up to 2^31, 2 PiB).
    pub chunk: u32,
    pub start: u32,
    pub end: u32,
    /// The packet's length on the wire (more than what is kept when a snap length cuts it).
    pub orig_len: u32,
    /// Index into the capture's labels.
    pub label: u32,
    /// The timeline phase it belongs to (`NO_PHASE`: none).
    pub phase: u32,
    /// The vantage host sent it and the link lost it, or it reached the vantage host corrupted.
    pub lost: bool,
    /// What its comment needs of its parse, if that was known when it was recorded (encoded
    /// [`super::sketch::Sketch`], 0: none).
    pub sketch: u32,
}

/// The bit of the encoded chunk number that says `lost`.
const LOST_BIT: u32 = 1 << 31;

impl Entry {
    fn encode(&self, out: &mut [u8]) {
        let chunk = self.chunk | if self.lost { LOST_BIT } else { 0 };
        out[0..8].copy_from_slice(&self.at.to_le_bytes());
        let fields = [chunk, self.start, self.end, self.orig_len, self.label, self.phase, self.sketch];
        for (i, v) in fields.into_iter().enumerate() {
            out[8 + 4 * i..12 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
    }

    fn decode(b: &[u8]) -> Entry {
        let u = |i: usize| u32::from_le_bytes([b[8 + 4 * i], b[9 + 4 * i], b[10 + 4 * i], b[11 + 4 * i]]);
        let mut at = [0; 8];
        at.copy_from_slice(&b[0..8]);
        Entry {
            at: u64::from_le_bytes(at),
            chunk: u(0) & !LOST_BIT,
            lost: u(0) & LOST_BIT != 0,
            start: u(1),
            end: u(2),
            orig_len: u(3),
            label: u(4),
            phase: u(5),
            sketch: u(6),
        }
    }
}

/// Why a capture could not use its spill file. Recording goes on in memory after any of
/// these but [`SpillError::Update`], which [`super::Capture::write_pcapng`] reports.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error("could not create the capture's spill file (unnamed) in {dir}: {source}")]
    Create { dir: PathBuf, source: io::Error },
    #[error("could not write the capture's spill file (unnamed, in {dir}): {source}")]
    Write { dir: PathBuf, source: io::Error },
    #[error("could not map the capture's spill file (unnamed, in {dir}): {source}")]
    Map { dir: PathBuf, source: io::Error },
    #[error("could not update a frame in the capture's spill file (unnamed, in {dir}): {source}")]
    Update { dir: PathBuf, source: io::Error },
}

/// A capture's packet bytes and entries, in memory and spilled.
#[derive(Debug)]
pub struct Store {
    chunks: Vec<Chunk>,
    /// Chunks before this one are spilled.
    spilled_chunks: usize,
    /// Spilled entry blocks, `block` entries each, then the recent entries in memory.
    blocks: Vec<Chunk>,
    /// Where each spilled block starts in the spill file.
    block_offsets: Vec<u64>,
    recent: Vec<Entry>,
    /// Spill chunks once those in memory hold more than this many bytes.
    threshold: usize,
    /// Entries per spilled block.
    block: usize,
    /// The directory of the spill file (`None`: the system's temporary directory).
    dir: Option<PathBuf>,
    spill: Option<SpillFile>,
    /// Why spilling stopped (the capture went on in memory).
    warning: Option<SpillError>,
    /// A change to a spilled entry that could not be written.
    failed: Option<SpillError>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            chunks: Vec::new(),
            spilled_chunks: 0,
            blocks: Vec::new(),
            block_offsets: Vec::new(),
            recent: Vec::new(),
            threshold: SPILL_AFTER,
            block: ENTRY_BLOCK,
            dir: None,
            spill: None,
            warning: None,
            failed: None,
        }
    }
}

/// The entry lists of stores dropped, for the next store's entries: for the same reason as
/// [`POOL`] (a 20 MiB transfer's 24,000 entries grow a list of about 1 MiB, a page fault every
/// 100 entries in fresh memory: 4% of the throughput benchmark's capture run). At most
/// [`ENTRY_POOL_MAX`] lists, each of at most four times [`ENTRY_BLOCK`] entries (a store spills
/// past twice as many, and its list's capacity doubles), so what stays here is bounded (about
/// 9 MiB).
static ENTRY_POOL: Mutex<Vec<Vec<Entry>>> = Mutex::new(Vec::new());
const ENTRY_POOL_MAX: usize = 2;

impl Drop for Store {
    /// Gives its entry list, emptied, to `ENTRY_POOL`.
    fn drop(&mut self) {
        let mut recent = std::mem::take(&mut self.recent);
        recent.clear();
        if (1..=4 * ENTRY_BLOCK).contains(&recent.capacity()) {
            if let Ok(mut pool) = ENTRY_POOL.lock() {
                if pool.len() < ENTRY_POOL_MAX {
                    pool.push(recent);
                }
            }
        }
    }
}

impl Store {
    /// Spills chunks past `bytes` in memory, and entries `block` at a time (at least 1).
    pub fn spill_after(&mut self, bytes: usize, block: usize) {
        self.threshold = bytes;
        self.block = block.max(1);
    }

    /// Puts the spill file in `dir`.
    pub fn spill_in(&mut self, dir: PathBuf) {
        self.dir = Some(dir);
    }

    /// Spilling failed and the capture went on in memory: why.
    pub fn spill_warning(&self) -> Option<&SpillError> {
        self.warning.as_ref()
    }

    /// A change to a spilled frame was lost: the capture is wrong and must not be written.
    pub fn failure(&self) -> Option<&SpillError> {
        self.failed.as_ref()
    }

    /// How many chunks and entry blocks are on disk.
    pub fn spilled(&self) -> (usize, usize) {
        (self.spilled_chunks, self.blocks.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.blocks.len() * self.block + self.recent.len()
    }

    /// Entry `i`.
    pub fn get(&self, i: usize) -> Option<Entry> {
        let spilled = self.blocks.len() * self.block;
        if i >= spilled {
            return self.recent.get(i - spilled).copied();
        }
        let (b, k) = (i / self.block, i % self.block);
        Some(Entry::decode(&self.blocks[b].bytes()[k * ENTRY_BYTES..(k + 1) * ENTRY_BYTES]))
    }

    pub fn last(&self) -> Option<Entry> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// Changes entry `i` (nothing if there is none).
    pub fn update(&mut self, i: usize, change: impl FnOnce(&mut Entry)) {
        let spilled = self.blocks.len() * self.block;
        if i >= spilled {
            if let Some(e) = self.recent.get_mut(i - spilled) {
                change(e);
            }
            return;
        }
        let Some(mut e) = self.get(i) else { return };
        change(&mut e);
        let mut buf = [0; ENTRY_BYTES];
        e.encode(&mut buf);
        let Some(spill) = &self.spill else { return };
        let (b, k) = (i / self.block, i % self.block);
        // Through the file, not the map (which is read-only): the map shows the change, as
        // both are the same page cache.
        let offset = self.block_offsets[b] + (k * ENTRY_BYTES) as u64;
        if let Err(e) = spill.rewrite(&buf, offset) {
            self.failed.get_or_insert(e);
        }
    }

    /// The bytes of a packet.
    pub fn bytes(&self, e: &Entry) -> &[u8] {
        &self.chunks[e.chunk as usize].bytes()[e.start as usize..e.end as usize]
    }

    /// Appends a packet's bytes and its entry (whose chunk and offsets this fills in).
    pub fn push(&mut self, bytes: &[u8], mut entry: Entry) {
        let room = match self.chunks.last() {
            Some(Chunk::Memory(c)) => Some(c.room()),
            _ => None,
        };
        if room.is_none_or(|room| room < bytes.len()) {
            self.chunks.push(Chunk::Memory(Arena::new(CHUNK.max(bytes.len()))));
            self.spill_chunks();
        }
        let chunk = self.chunks.len() - 1;
        let Some(Chunk::Memory(data)) = self.chunks.last_mut() else { unreachable!("the last chunk is in memory") };
        entry.chunk = chunk as u32;
        entry.start = data.append(bytes) as u32;
        entry.end = entry.start + bytes.len() as u32;
        if self.recent.capacity() == 0 {
            if let Some(pooled) = ENTRY_POOL.lock().ok().and_then(|mut p| p.pop()) {
                self.recent = pooled;
            }
        }
        self.recent.push(entry);
        if self.recent.len() >= 2 * self.block && self.threshold != usize::MAX {
            self.spill_entries();
        }
    }

    fn spill_file(&mut self) -> Option<&mut SpillFile> {
        if self.spill.is_none() {
            let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
            match SpillFile::create(dir) {
                Ok(f) => self.spill = Some(f),
                Err(e) => {
                    self.stop_spilling(e);
                    return None;
                }
            }
        }
        self.spill.as_mut()
    }

    fn stop_spilling(&mut self, why: SpillError) {
        self.threshold = usize::MAX;
        self.warning.get_or_insert(why);
    }

    /// Once the recording is over: if this capture spilled at all (it is a long one), spills
    /// what is still in memory too (every chunk, and the entries a whole block at a time), so
    /// that a finished capture kept until the run's files are written holds about one block.
    /// A capture that never spilled stays as it is. Recording may go on after it.
    pub fn spill_rest(&mut self) {
        if self.spill.is_none() || self.threshold == usize::MAX {
            return;
        }
        while self.spilled_chunks < self.chunks.len() {
            if !self.spill_next_chunk() {
                return;
            }
        }
        while self.recent.len() >= self.block && self.threshold != usize::MAX {
            self.spill_entries();
        }
        self.recent.shrink_to_fit();
    }

    /// Spills the oldest chunks in memory but the last (being filled) while those in memory
    /// hold more than the threshold.
    fn spill_chunks(&mut self) {
        while self.threshold != usize::MAX
            && self.chunks.len() - self.spilled_chunks > 1
            && (self.chunks.len() - 1 - self.spilled_chunks) * CHUNK > self.threshold
        {
            if self.spill_file().is_none() || !self.spill_next_chunk() {
                return;
            }
        }
    }

    /// Moves the oldest chunk still in memory to the spill file (which must exist); false when
    /// that failed and spilling stopped.
    fn spill_next_chunk(&mut self) -> bool {
        let i = self.spilled_chunks;
        let Some(spill) = &mut self.spill else { return false };
        let Chunk::Memory(data) = &self.chunks[i] else { unreachable!("chunks are spilled in order") };
        match spill.append(data.bytes()) {
            Ok((map, _)) => {
                self.chunks[i] = Chunk::Spilled(map);
                self.spilled_chunks += 1;
                true
            }
            Err(e) => {
                self.stop_spilling(e);
                false
            }
        }
    }

    /// Spills the oldest `block` entries in memory.
    fn spill_entries(&mut self) {
        let mut buf = vec![0; self.block * ENTRY_BYTES];
        for (e, out) in self.recent[..self.block].iter().zip(buf.chunks_exact_mut(ENTRY_BYTES)) {
            e.encode(out);
        }
        let Some(spill) = self.spill_file() else { return };
        match spill.append(&buf) {
            Ok((map, offset)) => {
                self.blocks.push(Chunk::Spilled(map));
                self.block_offsets.push(offset);
                self.recent.drain(..self.block);
            }
            Err(e) => self.stop_spilling(e),
        }
    }

    /// Every entry in order, each with its bytes, releasing spilled pages behind.
    pub fn iter(&self) -> Entries<'_> {
        Entries::new(self)
    }
}
