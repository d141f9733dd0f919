//! Writing a capture as a pcapng file ([`super::pcapng`]'s blocks), streamed in batches.

use super::frame::CommentKey;
use super::{pcapng, Capture, Frame};

impl Capture {
    /// Serialises the capture: SHB, one IDB (LINKTYPE_RAW, µs timestamps), an NRB with the host
    /// names, then, if `key_log` is non-empty, a Decryption Secrets Block before the first packet,
    /// then one EPB per packet with its comment. Timestamps are `epoch_unix_micros + at`.
    pub fn to_pcapng(&self, key_log: Option<&str>, epoch_unix_micros: u64) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_pcapng(&mut out, key_log, epoch_unix_micros).expect("writing to a Vec does not fail");
        out
    }

    /// [`Capture::to_pcapng`], written to `out` as it is rendered, a batch of about 256 KiB
    /// at a time with one vectored write: the blocks' headers and comments are rendered into
    /// one reused buffer, and every packet's bytes go to `out` straight from the capture (no
    /// copy in this process; a `BufWriter` with a smaller buffer passes such a batch through).
    /// Writing a capture holds no second copy of it, and reads none of its packets' bytes: an
    /// ACK's 40 bytes, copied into the batch as they once were, cost a read from memory each
    /// (the capture is long out of the cache by then), a third of the render's time.
    pub fn write_pcapng(
        &self,
        out: &mut impl std::io::Write,
        key_log: Option<&str>,
        epoch_unix_micros: u64,
    ) -> std::io::Result<()> {
        if let Some(e) = self.entries.failure() {
            return Err(std::io::Error::other(e.to_string()));
        }
        /// A batch ends past this many bytes, or this many pieces (under IOV_MAX, 1024).
        const BATCH_BYTES: usize = 256 * 1024;
        const BATCH_PIECES: usize = 1000;
        let mut meta = Vec::with_capacity(BATCH_BYTES + 70_000);
        let cut = self.cut_note();
        pcapng::write_header(&mut meta, &self.interface, &self.names, cut.as_deref());
        if let Some(keys) = key_log.filter(|k| !k.is_empty()) {
            pcapng::write_dsb(&mut meta, pcapng::SECRETS_TYPE_TLS, keys.as_bytes());
        }
        // The batch: `meta[..]` with the packets borrowed from the capture spliced in, each
        // at its offset in `meta`. A batch is shorter than a chunk, and an iteration keeps the
        // chunk before the current one resident ([`store`]), so writing it faults no spilled
        // page in again.
        let mut spliced: Vec<(usize, &[u8])> = Vec::with_capacity(BATCH_PIECES);
        let mut batch = 0;
        let mut comments = Comments::default();
        let mut comment = String::with_capacity(256);
        let last = self.frames();
        for f in self.packets() {
            let ts = epoch_unix_micros.saturating_add(f.at.micros());
            let cut_here = cut.as_ref().filter(|_| f.number == last);
            let rendered = match f.comment_key().filter(|_| cut_here.is_none()) {
                Some(key) => comments.get(key, &f),
                None => {
                    comment.clear();
                    f.comment_into(&mut comment);
                    if let Some(note) = cut_here {
                        comment.push_str(" [");
                        comment.push_str(note);
                        comment.push(']');
                    }
                    &comment
                }
            };
            let at = pcapng::write_epb_around(&mut meta, ts, f.bytes.len(), f.orig_len, rendered);
            spliced.push((at, f.bytes));
            batch += f.bytes.len();
            if meta.len() + batch >= BATCH_BYTES || spliced.len() >= BATCH_PIECES {
                write_spliced(out, &meta, &spliced)?;
                meta.clear();
                spliced.clear();
                batch = 0;
            }
        }
        write_spliced(out, &meta, &spliced)
    }

    /// Where a cut capture ends, and what the whole run had: the section's comment and the
    /// end of its last frame's. `None` when every frame recorded is in the capture.
    pub fn cut_note(&self) -> Option<String> {
        self.is_cut().then(|| {
            format!(
                "capture cut after {} frames (--capture {}): {} had {} frames in the whole run",
                self.frames(),
                self.keep(),
                self.interface,
                self.recorded
            )
        })
    }
}

/// The comments rendered last, by key: a bulk transfer's frames repeat a few comments (a data
/// segment's, an ACK's), which need rendering once each.
#[derive(Default)]
struct Comments {
    slots: [Option<(CommentKey, String)>; 4],
    /// The slot the next new comment takes.
    next: usize,
}

impl Comments {
    /// The comment of `f`, whose key is `key`: the one rendered before, or rendered now.
    fn get(&mut self, key: CommentKey, f: &Frame<'_>) -> &str {
        let i = match self.slots.iter().position(|s| s.as_ref().is_some_and(|(k, _)| *k == key)) {
            Some(i) => i,
            None => {
                let i = self.next;
                self.next = (i + 1) % self.slots.len();
                let (k, text) = self.slots[i].get_or_insert_with(|| (key, String::with_capacity(128)));
                *k = key;
                text.clear();
                f.comment_into(text);
                i
            }
        };
        self.slots[i].as_ref().map_or("", |(_, text)| text)
    }
}

/// Writes `meta` with each `(offset, bytes)` of `spliced` inserted at its offset (in order).
fn write_spliced(out: &mut impl std::io::Write, meta: &[u8], spliced: &[(usize, &[u8])]) -> std::io::Result<()> {
    use std::io::IoSlice;
    let mut pieces = Vec::with_capacity(2 * spliced.len() + 1);
    let mut from = 0;
    for &(at, bytes) in spliced {
        pieces.push(IoSlice::new(&meta[from..at]));
        pieces.push(IoSlice::new(bytes));
        from = at;
    }
    pieces.push(IoSlice::new(&meta[from..]));
    pieces.retain(|p| !p.is_empty());
    let mut pieces = &mut pieces[..];
    while !pieces.is_empty() {
        match out.write_vectored(pieces) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut pieces, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
