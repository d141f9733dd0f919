//! The configuration and the vocabulary of a link: what to do, and what happened.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{DelayTrace, Distribution, FlowRule, LossModel, PacketKind, RateTrace};
use crate::time::Instant;

/// The impairments of one direction of a path. See the [module docs](crate::link) for the model.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Uniform in `[-jitter, +jitter]`, added to `delay` (the sum is never below 0), or
    /// shaped by `distribution` (`jitter` is then its scale: sigma for `normal`).
    pub jitter: Duration,
    /// `0.0..=1.0`: next = corr * last + (1 - corr) * fresh (approximate, as in netem).
    pub jitter_correlation: f64,
    /// The shape of jitter (netem `distribution`); see [`Distribution`].
    pub distribution: Distribution,
    pub loss: LossModel,
    /// `0.0..=1.0`, with Bernoulli loss: netem's correlated loss, `loss 1% 25%`, computed as
    /// the kernel's `get_crandom` does (see [`super::loss`]: it does not make bursts).
    pub loss_correlation: f64,
    /// Probability `0.0..=1.0` that a packet is delivered with one bit flipped (netem
    /// `corrupt`): the receiver drops it on its checksum.
    pub corrupt: f64,
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
    /// A mahimahi rate trace instead of a fixed `rate_bps` ([`super::trace`]).
    pub rate_trace: Option<Arc<RateTrace>>,
    /// A delay trace: the delay changes over time ([`super::trace`]); `delay` holds its
    /// first value.
    pub delay_trace: Option<Arc<DelayTrace>>,
    /// Per-flow rules: a packet that matches one goes through that rule's own link (its own
    /// queue, rate and random stream), the first that matches; others through this one. A
    /// rule's own `flows` are ignored.
    pub flows: Vec<FlowRule>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            jitter_correlation: 0.0,
            distribution: Distribution::Uniform,
            loss: LossModel::None,
            loss_correlation: 0.0,
            corrupt: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            rate_bps: None,
            limit: 1000,
            mtu: None,
            rate_trace: None,
            delay_trace: None,
            flows: Vec::new(),
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
            ("loss correlation", self.loss_correlation),
            ("corrupt", self.corrupt),
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
        if self.rate_bps.is_some() && self.rate_trace.is_some() {
            return Err("rate and rate trace are both set, expected one of them".into());
        }
        if self.loss_correlation > 0.0 && !matches!(self.loss, LossModel::Bernoulli { .. } | LossModel::None) {
            return Err("loss correlation is set with loss gemodel, expected it only with `loss random`".into());
        }
        for (i, flow) in self.flows.iter().enumerate() {
            flow.config.validate().map_err(|e| format!("flow {} (`{}`): {e}", i + 1, flow.matcher))?;
        }
        Ok(())
    }

    /// Whether packets are serialized at a limited rate (fixed or traced), here or on a flow.
    pub fn shaped(&self) -> bool {
        self.rate_bps.is_some() || self.rate_trace.is_some() || self.flows.iter().any(|f| f.config.shaped())
    }

    /// Whether packets may be lost at random (or corrupted), here or on a flow.
    pub fn lossy(&self) -> bool {
        !matches!(self.loss, LossModel::None) || self.corrupt > 0.0 || self.flows.iter().any(|f| f.config.lossy())
    }

    /// Whether delays vary (jitter or a delay trace), here or on a flow.
    pub fn jittery(&self) -> bool {
        !self.jitter.is_zero() || self.delay_trace.is_some() || self.flows.iter().any(|f| f.config.jittery())
    }
}

/// A scripted drop: the `nth` packet of `kind` sent into this link.
#[derive(Clone, Debug, PartialEq)]
pub struct DropRule {
    /// `None` matches any packet.
    pub kind: Option<PacketKind>,
    /// 1-based, counted among packets of that kind sent into this link (every call to
    /// [`Link::send`](super::Link::send), retransmissions and packets dropped for other
    /// reasons included).
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
    /// Delivered with a flipped bit (netem `corrupt`), and dropped by the receiver on its
    /// checksum. Never returned by [`Link::send`](super::Link::send): the packet is delivered.
    Corrupted,
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
            DropReason::Corrupted => {
                f.write_str("corrupted on the path (netem corrupt): the receiver drops it on its checksum")
            }
            DropReason::Event(what) => f.write_str(what),
        }
    }
}

/// What [`Link::send`](super::Link::send) did with a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// `copies` is 1, or 2 when duplicated; `deliver_at` is the first copy's arrival;
    /// `corrupted`: the first copy arrives with a flipped bit (see
    /// [`Link::pop_due_with_fate`](super::Link::pop_due_with_fate)).
    Queued {
        copies: u8,
        deliver_at: Instant,
        corrupted: bool,
    },
    Dropped(DropReason),
}

/// Counters of one link. `sent` and `bytes_sent` count every packet offered to the link;
/// `delivered` counts copies popped (duplicates included); `duplicated` counts extra copies;
/// `corrupted` counts packets delivered with a flipped bit (also in `delivered`). A link with
/// flow rules counts its flows' packets too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub bytes_sent: u64,
    pub corrupted: u64,
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
