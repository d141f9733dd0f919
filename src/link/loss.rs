//! Random loss: independent (Bernoulli) or bursty (Gilbert-Elliott), as tc-netem models them.

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

/// A [`LossModel`] with its state (whether Gilbert-Elliott is in the bad state).
#[derive(Clone, Debug)]
pub(crate) struct LossState {
    model: LossModel,
    bad: bool,
}

impl LossState {
    pub(crate) fn new(model: LossModel) -> Self {
        LossState { model, bad: false }
    }

    /// Decides the fate of one packet. Like the kernel's `loss_gilb_ell`, the packet is lost
    /// or kept according to the current state, and then the chain takes one step. Draws: none
    /// for `None`, one for Bernoulli, two for Gilbert-Elliott (loss, then transition).
    pub(crate) fn next(&mut self, rng: &mut ChaCha8Rng) -> Loss {
        match self.model {
            LossModel::None => Loss::Kept,
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

    #[test]
    fn gilbert_elliott_makes_bursts_of_mean_one_over_r() {
        let mut state = LossState::new(LossModel::gemodel(0.01, Some(0.25), None, None));
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
