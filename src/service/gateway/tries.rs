//! A call's tries: why each was sent, and why one is cancelled, in the words the captures use.

use crate::time::Instant;

/// One copy of a call sent to one upstream replica.
pub(super) struct Try {
    pub(super) upstream: usize,
    pub(super) tag: u64,
    pub(super) sent: Instant,
    pub(super) timeout: Option<Instant>,
    pub(super) open: bool,
    pub(super) kind: TryKind,
}

/// Why a try was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TryKind {
    First,
    Hedge,
    Retry,
    /// A tied call's second copy.
    Tie,
}

/// Why a try is cancelled (its connection reset), for the captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cancel {
    /// Another try of the same call answered first: a hedge race's loser.
    Lost,
    /// Its per-try timeout passed.
    Timeout,
    /// The request was answered (or failed) without it: a deadline, a parallel call's others.
    Finished(u16),
}

/// What a try is, in words, numbered as its path `/c/<request>/<call>/<try>` is (from 0):
/// `request 5, call 1 (of 4), try 1 (a hedge)`. (`req`: the client's request id, else the
/// gateway's connection `conn`.)
pub(super) fn try_name(calls: u32, req: Option<u64>, conn: u64, k: usize, attempt: usize, kind: TryKind) -> String {
    let req = req.map_or_else(|| format!("on connection {conn}"), |r| r.to_string());
    let mut name = format!("request {req}, call {k} (of {calls})");
    match kind {
        TryKind::First => {}
        TryKind::Hedge => name.push_str(&format!(", try {attempt} (a hedge)")),
        TryKind::Retry => name.push_str(&format!(", try {attempt} (a retry)")),
        TryKind::Tie => name.push_str(&format!(", try {attempt} (the tied copy)")),
    }
    name
}

impl Cancel {
    pub(super) fn why(self) -> String {
        match self {
            Cancel::Lost => "another try of this call answered first (the race's loser is cancelled)".into(),
            Cancel::Timeout => "its per-try timeout passed".into(),
            Cancel::Finished(status) => format!("the request was answered {status} without it"),
        }
    }
}
