//! The configuration and the vocabulary of a link: what to do, and what happened.

use std::fmt;
use std::time::Duration;

use super::{LossModel, PacketKind};
use crate::time::Instant;

/// The impairments of one direction of a path. See the [module docs](self) for the model.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Uniform in `[-jitter, +jitter]`, added to `delay` (the sum is never below 0).
    pub jitter: Duration,
    /// `0.0..=1.0`: next = corr * last + (1 - corr) * fresh (approximate, as in netem).
    pub jitter_correlation: f64,
    pub loss: LossModel,
    /// Probability `0.0..=1.0` that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability `0.0..=1.0` that a packet skips the delay (netem `reorder`).
    pub reorder: f64,
    /// Serialization rate in bits per second; `None` is infinitely fast.
    pub rate_bps: Option<u64>,
    /// Drop-tail limit on packets waiting for transmission (netem `limit`, default 1000).
    /// Only matters with a rate.
    pub limit: usize,
    /// Packets longer than this many bytes are dropped.
    pub mtu: Option<usize>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            jitter_correlation: 0.0,
            loss: LossModel::None,
            duplicate: 0.0,
            reorder: 0.0,
            rate_bps: None,
            limit: 1000,
            mtu: None,
        }
    }
}

impl LinkConfig {
    /// Checks every field is in range; the error names the field and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        let mut probs = vec![
            ("jitter_correlation", self.jitter_correlation),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ];
        match self.loss {
            LossModel::None => {}
            LossModel::Bernoulli { p } => probs.push(("loss", p)),
            LossModel::GilbertElliott { p, r, h, k } => {
                probs.extend([("loss p", p), ("loss r", r), ("loss h", h), ("loss k", k)])
            }
        }
        if let Some((name, v)) = probs.into_iter().find(|(_, v)| !(0.0..=1.0).contains(v)) {
            return Err(format!("{name} is {v}, expected a probability from 0 to 1 (0% to 100%)"));
        }
        if self.rate_bps == Some(0) {
            return Err("rate is 0, expected at least 1 bit/s (or no rate)".into());
        }
        if self.limit == 0 {
            return Err("limit is 0, expected at least 1 packet".into());
        }
        if self.mtu == Some(0) {
            return Err("mtu is 0, expected at least 1 byte (or no MTU)".into());
        }
        Ok(())
    }
}

/// A scripted drop: the `nth` packet of `kind` sent into this link.
#[derive(Clone, Debug, PartialEq)]
pub struct DropRule {
    /// `None` matches any packet.
    pub kind: Option<PacketKind>,
    /// 1-based, counted among packets of that kind sent into this link (every call to
    /// [`Link::send`], retransmissions and packets dropped for other reasons included).
    pub nth: u64,
    /// Names the packet in drop reasons, e.g. "3rd data segment server->client".
    pub label: String,
}

/// Why a link dropped a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Bernoulli loss, or Gilbert-Elliott loss in the good state (`1-k`).
    Random,
    /// Gilbert-Elliott loss in the bad state.
    Burst,
    /// A [`DropRule`] matched; holds its label.
    Scripted(String),
    QueueFull,
    Mtu {
        len: usize,
        mtu: usize,
    },
    /// A scheduled event (a host down, a path cut); holds what happened, naming the event.
    Event(String),
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Random => f.write_str("random loss"),
            DropReason::Burst => f.write_str("burst loss (Gilbert-Elliott bad state)"),
            DropReason::Scripted(label) => write!(f, "scripted drop: {label}"),
            DropReason::QueueFull => f.write_str("queue full (drop-tail)"),
            DropReason::Mtu { len, mtu } => write!(f, "larger than MTU {mtu} ({len} bytes)"),
            DropReason::Event(what) => f.write_str(what),
        }
    }
}

/// What [`Link::send`] did with a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// `copies` is 1, or 2 when duplicated; `deliver_at` is the first copy's arrival.
    Queued {
        copies: u8,
        deliver_at: Instant,
    },
    Dropped(DropReason),
}

/// Counters of one link. `sent` and `bytes_sent` count every packet offered to the link;
/// `delivered` counts copies popped (duplicates included); `duplicated` counts extra copies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub bytes_sent: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_reasons_read_well() {
        assert_eq!(DropReason::Random.to_string(), "random loss");
        assert_eq!(DropReason::Burst.to_string(), "burst loss (Gilbert-Elliott bad state)");
        assert_eq!(DropReason::QueueFull.to_string(), "queue full (drop-tail)");
        assert_eq!(
            DropReason::Scripted("3rd data segment server->client".into()).to_string(),
            "scripted drop: 3rd data segment server->client"
        );
    }

    #[test]
    fn validate_names_the_field() {
        assert_eq!(LinkConfig::default().validate(), Ok(()));
        let bad = LinkConfig { duplicate: 1.5, ..LinkConfig::default() };
        assert!(bad.validate().unwrap_err().starts_with("duplicate is 1.5"));
        let bad = LinkConfig { limit: 0, ..LinkConfig::default() };
        assert!(bad.validate().unwrap_err().contains("at least 1 packet"));
    }
}
