//! A recorded packet as the capture lends it out, and its comment, rendered from its label,
//! its notes and its parse.

use super::sketch::Sketch;
use super::{tls_names, Note};
use crate::time::Instant;

/// One recorded packet, borrowed from a [`Capture`](super::Capture).
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 1-based, as Wireshark numbers it.
    pub number: u64,
    pub at: Instant,
    pub bytes: &'a [u8],
    /// The label of the phase it belongs to (its connection's phase when it was recorded).
    pub label: &'a str,
    /// The timeline phase it belongs to, if any.
    pub phase: Option<usize>,
    /// The vantage host sent it and the link lost it, or it arrived corrupted (netem
    /// `corrupt`): either way it never reached its receiver's stack.
    pub lost: bool,
    /// The packet's length on the wire (`bytes` may be shorter: see [`Capture::with_snaplen`](super::Capture::with_snaplen)).
    pub orig_len: usize,
    pub(super) notes: &'a [Note],
    pub(super) describe: bool,
    /// Its parse, as far as its description needs it, where kept ([`sketch`](super::sketch)).
    pub(super) sketch: Option<Sketch>,
    /// The TLS records that start in this frame, named from the stream ([`Capture::name_tls`](super::Capture::name_tls)).
    pub tls: Option<&'a tls_names::TlsNames>,
}

/// What a frame's comment is made of, where that is all it depends on: two frames with equal
/// keys have the same comment ([`Frame::comment_key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommentKey {
    /// The label and the notes, by address: both are the capture's own, interned (a label
    /// string, a list of notes), so equal addresses and lengths are equal contents.
    label: (*const u8, usize),
    notes: (*const Note, usize),
    sketch: Option<Sketch>,
    len: usize,
}

impl Frame<'_> {
    /// The key of this frame's comment, if its comment depends on nothing but the key: no
    /// description, or one from a sketch that reads no payload, and no TLS names. (The
    /// comments of a bulk transfer's segments and ACKs repeat frame after frame.)
    pub fn comment_key(&self) -> Option<CommentKey> {
        let plain = self.sketch.is_some_and(|k| k.plain) && self.tls.is_none();
        (plain || !self.describe).then_some(CommentKey {
            label: (self.label.as_ptr(), self.label.len()),
            notes: (self.notes.as_ptr(), self.notes.len()),
            sketch: if self.describe { self.sketch } else { None },
            len: if self.describe { self.bytes.len() } else { 0 },
        })
    }

    /// What the packet is, as its comment ends: `SYN/ACK`, `245 bytes: TLS ClientHello`,
    /// with the TLS records named from the stream ([`Capture::name_tls`](super::Capture::name_tls)).
    pub fn what(&self) -> String {
        match crate::packet::summarize(self.bytes) {
            Some(s) => {
                let tls = self.tls.map(tls_names::TlsNames::describe);
                s.describe_as(self.bytes, tls.as_deref())
            }
            None => format!("{} bytes", self.orig_len),
        }
    }

    /// [`Frame::what`], appended to `c` (no allocation for a frame without TLS names).
    pub fn what_into(&self, c: &mut String) {
        if let Some(k) = self.sketch {
            let tls = self.tls.map(tls_names::TlsNames::describe);
            // A plain payload is not read: its length says all (see [`sketch`]).
            let len = self.bytes.len().saturating_sub(k.payload_offset);
            let payload = if k.plain { &[][..] } else { self.bytes.get(k.payload_offset..).unwrap_or(&[]) };
            crate::packet::describe_tcp(&k.flags, payload, len, tls.as_deref(), c);
            return;
        }
        match crate::packet::summarize(self.bytes) {
            Some(s) => {
                let tls = self.tls.map(tls_names::TlsNames::describe);
                s.describe_into(self.bytes, tls.as_deref(), c);
            }
            None => {
                let _ = std::fmt::Write::write_fmt(c, format_args!("{} bytes", self.orig_len));
            }
        }
    }

    /// The frame's comment, rendered from its label, its notes and (for the network's
    /// captures) a description of the packet: `label[, label notes]: [before: ]what[ after]`,
    /// or, after packets lost on the way here, `label: lost. [lost. ]This frame: [before: ]what`.
    pub fn comment(&self) -> String {
        let mut c = String::with_capacity(self.label.len() + 48);
        self.comment_into(&mut c);
        c
    }

    /// [`Frame::comment`], appended to `c`.
    pub fn comment_into(&self, c: &mut String) {
        let start = c.len();
        c.push_str(self.label);
        for n in self.notes {
            if let Note::Label(t) = n {
                c.push_str(t);
            }
        }
        // What is said about the frame itself, each part after `: `, or after `This frame: `
        // where notes about lost packets came first.
        let mut this_frame = "";
        for n in self.notes {
            if let Note::LostBefore(t) = n {
                let after_loss = !this_frame.is_empty();
                c.push_str(if after_loss {
                    " "
                } else if c.len() > start {
                    ": "
                } else {
                    ""
                });
                c.push_str(t);
                c.push('.');
                this_frame = " This frame: ";
            }
        }
        let mut part = |c: &mut String| {
            c.push_str(match std::mem::take(&mut this_frame) {
                "" if c.len() > start => ": ",
                sep => sep,
            });
        };
        for n in self.notes {
            if let Note::Before(t) = n {
                part(c);
                c.push_str(t);
            }
        }
        if self.describe {
            part(c);
            self.what_into(c);
        }
        for n in self.notes {
            if let Note::After(t) = n {
                c.push_str(t);
            }
        }
    }
}
