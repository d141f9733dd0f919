//! Where a capture's bytes are: chunks being filled in memory (anonymous maps, used again
//! from a pool), and chunks and entry blocks written to the spill file and mapped back.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Mutex;

use memmap2::{Mmap, MmapMut, MmapOptions, UncheckedAdvice};

use super::{SpillError, CHUNK, SPILL_AFTER};

/// A chunk being filled: an anonymous map of [`CHUNK`] bytes, taken from [`POOL`] when one is
/// there. Fresh memory costs a page fault per 4 KiB page when first written (in a VM, microseconds
/// each: recording a 20 MiB transfer into fresh chunks spent 3/4 of its time in them), so the
/// maps of chunks that were spilled, or of captures that were dropped, are used again. A `Vec`
/// where no map can be made, and for a packet larger than a chunk.
#[derive(Debug)]
pub(super) enum Arena {
    Map { map: Option<MmapMut>, len: usize },
    Heap(Vec<u8>),
}

/// Chunks' maps no capture uses, for the next chunk: at most [`POOL_MAX`] (a spill threshold's
/// worth), so what a dropped capture leaves here stays bounded.
static POOL: Mutex<Vec<MmapMut>> = Mutex::new(Vec::new());
const POOL_MAX: usize = SPILL_AFTER / CHUNK;

impl Arena {
    pub(super) fn new(size: usize) -> Arena {
        if size == CHUNK {
            let pooled = POOL.lock().ok().and_then(|mut p| p.pop());
            if let Ok(map) = pooled.map(Ok).unwrap_or_else(|| MmapMut::map_anon(CHUNK)) {
                return Arena::Map { map: Some(map), len: 0 };
            }
        }
        Arena::Heap(Vec::with_capacity(size))
    }

    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Arena::Map { map, len } => map.as_ref().map_or(&[], |m| &m[..*len]),
            Arena::Heap(v) => v,
        }
    }

    pub(super) fn room(&self) -> usize {
        match self {
            Arena::Map { len, .. } => CHUNK - len,
            Arena::Heap(v) => v.capacity() - v.len(),
        }
    }

    /// Appends `bytes` (which fit: [`Arena::room`]); returns where they start.
    pub(super) fn append(&mut self, bytes: &[u8]) -> usize {
        match self {
            Arena::Map { map, len } => {
                let at = *len;
                if let Some(m) = map {
                    m[at..at + bytes.len()].copy_from_slice(bytes);
                    prefetch_for_write(m.get(at + bytes.len() + NEXT_ROOM..).unwrap_or_default());
                }
                *len += bytes.len();
                at
            }
            Arena::Heap(v) => {
                let at = v.len();
                v.extend_from_slice(bytes);
                at
            }
        }
    }
}

/// How far past the end of a chunk's bytes [`prefetch_for_write`] reaches: the room of the
/// packet after next (a full-sized one), so that it is asked for a packet ahead.
const NEXT_ROOM: usize = 1536;

/// Asks the CPU to bring the first [`NEXT_ROOM`] bytes of `room` (the chunk past the packet
/// after the one just recorded) into its cache before they are written. A chunk's memory is
/// out of the cache (it was last written a capture ago), a write to a line not in the cache
/// waits for the line to be read first, and recording copies a packet straight after the one
/// before. With the lines asked for a packet ahead, the wait overlaps the work in between.
/// The hint asks for lines to write (`PREFETCHW`) where the build targets that instruction;
/// x86-64's baseline has only the read prefetch it falls back to, which still makes a line no
/// other core holds this core's own, ready to write. (Streaming stores, which skip the read,
/// were slower here, as the README's benchmark section says.)
fn prefetch_for_write(room: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for offset in (0..room.len().min(NEXT_ROOM)).step_by(64) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
        // SAFETY: a prefetch only hints: it changes nothing the program sees and never faults;
        // the address is within `room`.
        unsafe { _mm_prefetch::<_MM_HINT_ET0>(room.as_ptr().wrapping_add(offset).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = room;
}

impl Drop for Arena {
    /// Gives the map back to [`POOL`] (what it holds is never read again: a chunk exposes only
    /// what was appended to it since it was taken).
    fn drop(&mut self) {
        if let Arena::Map { map, .. } = self {
            if let (Ok(mut pool), Some(map)) = (POOL.lock(), map.take()) {
                if pool.len() < POOL_MAX {
                    pool.push(map);
                }
            }
        }
    }
}

/// A run of the capture's bytes or entries.
#[derive(Debug)]
pub(super) enum Chunk {
    Memory(Arena),
    /// In the spill file, mapped read-only.
    Spilled(Mmap),
}

impl Chunk {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Memory(a) => a.bytes(),
            Chunk::Spilled(m) => m,
        }
    }

    /// Drops the pages of a spilled chunk from this process's memory (they stay in the file).
    pub(super) fn release(&self) {
        if let Chunk::Spilled(m) = self {
            // SAFETY: `m` is a read-only, shared (MAP_SHARED) map of a regular file that this
            // store never truncates. MADV_DONTNEED on such a map only drops the page table
            // entries: the next access to any byte of it (a `Frame` that still borrows it
            // included) faults the page back in from the file, with the same contents. Nothing
            // writes through this map, so no change can be lost. (The advice is "unchecked" in
            // memmap2 because on a private or anonymous map it would zero the pages instead.)
            let _ = unsafe { m.unchecked_advise(UncheckedAdvice::DontNeed) };
        }
    }
}

/// The unnamed file spilled chunks and entry blocks are written to.
#[derive(Debug)]
pub(super) struct SpillFile {
    file: File,
    /// Where it is (for error messages: it has no name).
    dir: PathBuf,
    /// The next free offset, a multiple of [`CHUNK`].
    end: u64,
}

impl SpillFile {
    pub(super) fn create(dir: PathBuf) -> Result<SpillFile, SpillError> {
        match tempfile::tempfile_in(&dir) {
            Ok(file) => Ok(SpillFile { file, dir, end: 0 }),
            Err(source) => Err(SpillError::Create { dir, source }),
        }
    }

    /// Writes `bytes` over the file's at `offset` (an entry changed after it was spilled).
    pub(super) fn rewrite(&self, bytes: &[u8], offset: u64) -> Result<(), SpillError> {
        self.file.write_all_at(bytes, offset).map_err(|source| SpillError::Update { dir: self.dir.clone(), source })
    }

    /// Writes `bytes` at the next free offset and maps them; returns the map and the offset.
    pub(super) fn append(&mut self, bytes: &[u8]) -> Result<(Mmap, u64), SpillError> {
        let at = self.end;
        self.file.write_all_at(bytes, at).map_err(|source| SpillError::Write { dir: self.dir.clone(), source })?;
        // SAFETY: the file is this store's own unnamed temporary file: nothing else can open it
        // by name, and this store only ever appends past `end` and rewrites single entries of
        // entry blocks in place with the same layout (`Store::update`), never truncating it, so
        // the mapped range stays backed and the bytes a `&[u8]` into it reads are valid `u8`s.
        let map = unsafe { MmapOptions::new().offset(at).len(bytes.len()).map(&self.file) }
            .map_err(|source| SpillError::Map { dir: self.dir.clone(), source })?;
        self.end = at + (bytes.len().div_ceil(CHUNK) * CHUNK).max(CHUNK) as u64;
        Ok((map, at))
    }
}
