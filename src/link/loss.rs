//! Random loss: independent (Bernoulli) or bursty (Gilbert-Elliott), as tc-netem models them.
//!
//! **Correlated loss**, `loss 1% 25%`, is netem's, computed as the kernel computes it
//! (`get_crandom` in `net/sched/sch_netem.c`), in its 32-bit integer arithmetic: each packet
//! draws `value`, and with `rho = correlation * (2^32 - 1)` the number compared with the loss
//! threshold (`percent * (2^32 - 1)`) is
//! `answer = (value * (2^32 - (rho + 1)) + last * (rho + 1)) >> 32`, then `last = answer`;
//! the packet is lost when `threshold >= answer`. `last` starts as a random draw (the kernel's
//! `init_crandom`), taken here at the first packet. This is a moving average of uniform
//! numbers: its values bunch towards the middle, so a small loss threshold is crossed far less
//! often than asked. Measured (tests below): `loss 10% 25%` loses about 1.7% of packets, with
//! P(loss | previous lost) about 10%; `loss 5% 25%` about 0.2%; `loss 1% 25%` practically
//! none (about one packet in a million). The losses cluster, but the rate collapses. netem's own documentation steers users to `loss gemodel`
//! or `loss state` for bursts; so does wirelab. Without correlation the draw is the same as
//! `loss 1%` always was (a 53-bit uniform compared with the probability).

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

/// How a link loses packets at random. Scripted drops are separate ([`super::DropRule`]).
#[derive(Clone, Debug, PartialEq)]
pub enum LossModel {
    /// No random loss.
    None,
    /// Each packet is lost independently with probability `p` (netem `loss random P%`).
    Bernoulli { p: f64 },
    /// A two-state Markov chain, netem's `loss gemodel p [r [1-h [1-k]]]` (see netem(8) and
    /// Salsano et al., "Definition of a general and intuitive loss model for packet networks").
    ///
    /// All four fields are probabilities in `0.0..=1.0`, and `h` and `k` keep the meaning they
    /// have in the Gilbert-Elliott model, which is the *complement* of what netem's words say:
    ///
    /// - `p`: P(good → bad), per packet;
    /// - `r`: P(bad → good), per packet (netem default `1 - p`); a burst lasts `1/r` packets
    ///   on average;
    /// - `h`: P(delivered | bad); netem's third word is the loss probability `1-h`, default
    ///   100%, so the default `h` is 0 (every packet in the bad state is lost);
    /// - `k`: P(delivered | good); netem's fourth word is `1-k`, default 0%, so `k` = 1.
    ///
    /// Use [`LossModel::gemodel`] to build one from netem's words.
    GilbertElliott { p: f64, r: f64, h: f64, k: f64 },
}

impl LossModel {
    /// Builds a Gilbert-Elliott model from netem's argument order and defaults: `p`,
    /// `r` (default `1 - p`), loss in bad state `1-h` (default 1), loss in good state `1-k`
    /// (default 0), all as fractions.
    pub fn gemodel(p: f64, r: Option<f64>, loss_bad: Option<f64>, loss_good: Option<f64>) -> Self {
        LossModel::GilbertElliott {
            p,
            r: r.unwrap_or(1.0 - p),
            h: 1.0 - loss_bad.unwrap_or(1.0),
            k: 1.0 - loss_good.unwrap_or(0.0),
        }
    }
}

/// The outcome of the loss model for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loss {
    Kept,
    /// Independent loss (Bernoulli, or Gilbert-Elliott's good state).
    Random,
    /// Lost in Gilbert-Elliott's bad state.
    Burst,
}

/// A [`LossModel`] with its state (whether Gilbert-Elliott is in the bad state, the last
/// correlated number).
#[derive(Clone, Debug)]
pub(crate) struct LossState {
    model: LossModel,
    bad: bool,
    /// netem's `rho`: the correlation scaled to `0..=u32::MAX`; 0 is none.
    rho: u32,
    /// netem's `last`, once drawn.
    last: Option<u32>,
}

/// A fraction `0.0..=1.0` as netem's 32-bit scale (iproute2's `get_percent`:
/// `rint(fraction * UINT32_MAX)`).
fn scaled(fraction: f64) -> u32 {
    (fraction.clamp(0.0, 1.0) * f64::from(u32::MAX)).round_ties_even() as u32
}

/// 32 random bits (the high half of one 64-bit draw).
fn draw_u32(rng: &mut ChaCha8Rng) -> u32 {
    (rng.next_u64() >> 32) as u32
}

impl LossState {
    pub(crate) fn new(model: LossModel, correlation: f64) -> Self {
        LossState { model, bad: false, rho: scaled(correlation), last: None }
    }

    /// Whether this state runs `model` with `correlation` (so a reconfiguration keeps it).
    pub(crate) fn runs(&self, model: &LossModel, correlation: f64) -> bool {
        self.model == *model && self.rho == scaled(correlation)
    }

    /// The kernel's `get_crandom`: one draw, or two at the first packet (`last`'s start).
    fn correlated(&mut self, rng: &mut ChaCha8Rng) -> u32 {
        let last = match self.last {
            Some(last) => last,
            None => draw_u32(rng),
        };
        let value = u64::from(draw_u32(rng));
        let rho = u64::from(self.rho) + 1;
        let answer = ((value * ((1u64 << 32) - rho) + u64::from(last) * rho) >> 32) as u32;
        self.last = Some(answer);
        answer
    }

    /// Decides the fate of one packet. Like the kernel's `loss_gilb_ell`, the packet is lost
    /// or kept according to the current state, and then the chain takes one step. Draws: none
    /// for `None`, one for Bernoulli (two at the first packet with correlation), two for
    /// Gilbert-Elliott (loss, then transition).
    pub(crate) fn next(&mut self, rng: &mut ChaCha8Rng) -> Loss {
        match self.model {
            LossModel::None => Loss::Kept,
            LossModel::Bernoulli { p } if self.rho > 0 => {
                let threshold = scaled(p);
                if threshold > 0 && threshold >= self.correlated(rng) {
                    Loss::Random
                } else {
                    Loss::Kept
                }
            }
            LossModel::Bernoulli { p } => {
                if unit(rng) < p {
                    Loss::Random
                } else {
                    Loss::Kept
                }
            }
            LossModel::GilbertElliott { p, r, h, k } => {
                let (keep, leave) = if self.bad { (h, r) } else { (k, p) };
                let lost = unit(rng) >= keep;
                let was_bad = self.bad;
                if unit(rng) < leave {
                    self.bad = !self.bad;
                }
                match (lost, was_bad) {
                    (false, _) => Loss::Kept,
                    (true, true) => Loss::Burst,
                    (true, false) => Loss::Random,
                }
            }
        }
    }
}

/// A uniform float in `[0, 1)` with 53 bits of precision.
pub(crate) fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn gemodel_defaults_follow_netem() {
        assert_eq!(
            LossModel::gemodel(0.01, None, None, None),
            LossModel::GilbertElliott { p: 0.01, r: 0.99, h: 0.0, k: 1.0 }
        );
    }

    #[test]
    fn unit_is_in_range() {
        let mut rng = stream(1, "unit");
        for _ in 0..10_000 {
            let u = unit(&mut rng);
            assert!((0.0..1.0).contains(&u));
        }
    }

    /// Loss rate and P(lost | previous lost) of `n` packets.
    fn loss_stats(p: f64, correlation: f64, n: u64) -> (f64, f64) {
        let mut state = LossState::new(LossModel::Bernoulli { p }, correlation);
        let mut rng = stream(11, "crandom");
        let (mut lost, mut after_loss, mut lost_after_loss, mut previous) = (0u64, 0u64, 0u64, false);
        for _ in 0..n {
            let now = state.next(&mut rng) != Loss::Kept;
            lost += u64::from(now);
            if previous {
                after_loss += 1;
                lost_after_loss += u64::from(now);
            }
            previous = now;
        }
        (lost as f64 / n as f64, lost_after_loss as f64 / after_loss.max(1) as f64)
    }

    #[test]
    fn get_crandom_arithmetic_is_the_kernels() {
        let mut state = LossState::new(LossModel::Bernoulli { p: 0.5 }, 0.25);
        assert_eq!(state.rho, 1_073_741_824);
        state.last = Some(1 << 31);
        // A generator whose next draw we know: answer = (v * (2^32 - rho - 1) + last * (rho + 1)) >> 32.
        let mut rng = stream(5, "one");
        let v = u64::from(draw_u32(&mut stream(5, "one")));
        let expected = ((v * ((1u64 << 32) - 1_073_741_825) + (1u64 << 31) * 1_073_741_825) >> 32) as u32;
        assert_eq!(state.correlated(&mut rng), expected);
        assert_eq!(state.last, Some(expected));
        // Full correlation repeats `last` forever (rho + 1 = 2^32).
        let mut stuck = LossState::new(LossModel::Bernoulli { p: 0.5 }, 1.0);
        stuck.last = Some(7);
        assert_eq!((stuck.correlated(&mut rng), stuck.correlated(&mut rng)), (7, 7));
    }

    #[test]
    fn correlated_loss_is_netems_not_bursts() {
        // Without correlation: the asked rate, and no memory.
        let (rate, after) = loss_stats(0.05, 0.0, 400_000);
        assert!((rate - 0.05).abs() < 0.002, "rate {rate}");
        assert!((after - 0.05).abs() < 0.005, "P(loss | loss) {after}");
        // netem's correlation: the moving average rarely reaches the low threshold. At 10% and
        // 25% the rate falls to about 1.7%, and a loss makes the next one about 6 times likelier
        // than the rate (about 10%).
        let (rate, after) = loss_stats(0.10, 0.25, 400_000);
        assert!((0.014..0.021).contains(&rate), "rate {rate}");
        assert!(after > rate * 3.0 && after < 0.15, "P(loss | loss) {after} vs rate {rate}");
        // At 5% and 25%: about 0.2%; at 1% and 25% practically nothing.
        let (rate, _) = loss_stats(0.05, 0.25, 400_000);
        assert!((0.001..0.003).contains(&rate), "rate {rate}");
        let (rate, _) = loss_stats(0.01, 0.25, 400_000);
        assert!(rate < 0.0001, "rate {rate}");
    }

    #[test]
    fn gilbert_elliott_makes_bursts_of_mean_one_over_r() {
        let mut state = LossState::new(LossModel::gemodel(0.01, Some(0.25), None, None), 0.0);
        let mut rng = stream(7, "ge");
        let (mut bursts, mut lost, mut run) = (0u64, 0u64, 0u64);
        for _ in 0..400_000 {
            match state.next(&mut rng) {
                Loss::Burst => run += 1,
                Loss::Random => panic!("good state never loses with 1-k = 0"),
                Loss::Kept => {
                    if run > 0 {
                        bursts += 1;
                        lost += run;
                        run = 0;
                    }
                }
            }
        }
        let mean = lost as f64 / bursts as f64;
        assert!(bursts > 500, "{bursts} bursts");
        assert!((3.7..4.3).contains(&mean), "mean burst length {mean}, expected about 4");
        // Stationary loss rate p / (p + r) = 0.01 / 0.26.
        let rate = lost as f64 / 400_000.0;
        assert!((0.033..0.044).contains(&rate), "loss rate {rate}");
    }
}
