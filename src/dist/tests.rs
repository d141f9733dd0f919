use super::normal::erfc;
use super::*;
use crate::rng::stream;

fn d(text: &str) -> ServiceTime {
    ServiceTime::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

const KINDS_TO_SAMPLE: &[&str] = &[
    "fixed 10ms",
    "uniform 5ms 15ms",
    "exponential mean=10ms",
    "lognormal p50=10ms p99=50ms",
    "pareto p50=10ms p99=50ms",
    "bimodal p=5% slow=(uniform 200ms 400ms) fast=(lognormal p50=10ms p99=50ms)",
    "bimodal p=1% slow=1s fast=(exponential p99=20ms)",
];

#[test]
fn the_math_matches_reference_values() {
    // erfc from Abramowitz & Stegun table 7.1 / mpmath; Φ⁻¹ from R's qnorm.
    for (x, want) in [
        (0.5, 0.479_500_122_186_953_5),
        (1.0, 0.157_299_207_050_285_1),
        (2.0, 0.004_677_734_981_047_266),
        (3.0, 2.209_049_699_858_544e-5),
        (5.0, 1.537_459_794_428_035e-12),
    ] {
        assert!((erfc(x) / want - 1.0).abs() < 1e-14, "erfc({x}) = {} not {want}", erfc(x));
        assert!((erfc(-x) - (2.0 - want)).abs() < 1e-15, "erfc(-{x}) = {}", erfc(-x));
    }
    for (p, want) in [
        (0.99, Z99),
        (0.975, 1.959_963_984_540_054),
        (0.5, 0.0),
        (1e-10, -6.361_340_902_404_056),
        (0.3, -0.524_400_512_708_041),
    ] {
        assert!((inverse_normal_cdf(p) - want).abs() < 1e-13, "Φ⁻¹({p}) = {} not {want}", inverse_normal_cdf(p));
    }
}

#[test]
fn forms_parse_to_their_parameters() {
    assert_eq!(d("10ms"), ServiceTime::Fixed(Duration::from_millis(10)));
    assert_eq!(d("fixed 10ms"), d("(fixed 10ms)"));
    assert_eq!(d("uniform 5ms 15ms"), d("uniform  lo=5ms hi=15ms "));
    assert_eq!(
        d("uniform 5ms 15ms"),
        ServiceTime::Uniform { lo: Duration::from_millis(5), hi: Duration::from_millis(15) }
    );
    assert_eq!(d("exponential mean=10ms"), ServiceTime::Exponential { mean: 0.01 });
    assert_eq!(d("lognormal mu=-4 sigma=0.5"), ServiceTime::LogNormal { mu: -4.0, sigma: 0.5 });
    assert_eq!(d("pareto scale=5ms shape=1.5"), ServiceTime::Pareto { scale: 0.005, shape: 1.5 });
    let ServiceTime::Bimodal { p_slow, slow, fast } = d("bimodal p=0.01 slow=1s fast=(uniform 5ms 15ms)") else {
        panic!()
    };
    assert_eq!((p_slow, *slow, *fast), (0.01, d("1s"), d("uniform 5ms 15ms")));
    assert_eq!(d("bimodal p=1% slow=1s fast=10ms"), d("bimodal fast=(fixed 10ms) p=0.01 slow=(1s)"));
}

#[test]
fn given_percentiles_are_the_quantiles() {
    let us = |a: Duration, b: Duration| a.abs_diff(b) <= Duration::from_micros(1);
    for kind in ["lognormal", "pareto"] {
        let dist = d(&format!("{kind} p50=10ms p99=50ms"));
        assert!(us(dist.quantile(0.5), Duration::from_millis(10)), "{kind}: p50 {:?}", dist.quantile(0.5));
        assert!(us(dist.quantile(0.99), Duration::from_millis(50)), "{kind}: p99 {:?}", dist.quantile(0.99));
    }
    assert!(us(d("exponential p50=10ms").quantile(0.5), Duration::from_millis(10)));
    assert!(us(d("exponential p99=10ms").quantile(0.99), Duration::from_millis(10)));
    assert!(us(d("pareto scale=5ms shape=1.5").quantile(0.0), Duration::from_millis(5)));
    assert_eq!(d("exponential mean=1s").quantile(1.0), Duration::MAX);
}

#[test]
fn describe_reads_back_as_the_same_distribution() {
    for text in [
        "fixed 10ms",
        "uniform 5ms 15ms",
        "exponential mean=10ms",
        "exponential p50=10ms",
        "lognormal p50=10ms p99=50ms",
        "lognormal mu=-4 sigma=0.5",
        "pareto p50=10ms p99=50ms",
        "pareto scale=5ms shape=1.5",
        "bimodal p=1% slow=1s fast=(lognormal p50=10ms p99=50ms)",
        "bimodal p=0.125 slow=(pareto scale=5ms shape=1.5) fast=10ms",
    ] {
        let dist = d(text);
        let back = d(&dist.describe());
        for q in [0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999] {
            let (a, b) = (dist.quantile(q), back.quantile(q));
            assert!(a.abs_diff(b) <= a / 1_000_000_000 + Duration::from_nanos(2), "{text} → {back}: q{q} {a:?} {b:?}");
        }
    }
    // Given in the shorter form, described in it.
    for text in [
        "fixed 10ms",
        "uniform 5ms 15ms",
        "exponential p50=10ms",
        "lognormal p50=10ms p99=50ms",
        "pareto scale=5ms shape=1.5",
        "bimodal p=1% slow=1s fast=(lognormal p50=10ms p99=50ms)",
        "bimodal p=12.5% slow=(pareto p50=10ms p99=50ms) fast=10ms",
    ] {
        assert_eq!(d(text).to_string(), text);
    }
}

#[test]
fn bad_text_is_refused_naming_the_problem() {
    for (text, says) in [
        ("", "service time: no words"),
        ("gamma 10ms", "unknown distribution `gamma`"),
        ("10", "unknown distribution `10`"),
        ("fixed", "fixed: give one duration"),
        ("fixed -5ms", "fixed: the duration: `-5ms` is not a duration"),
        ("uniform 15ms 5ms", "uniform: hi (5ms) must be above lo (15ms)"),
        ("uniform 5ms", "uniform: give two durations"),
        ("uniform lo=5ms hi=15ms lo=6ms", "`lo=` is given twice"),
        ("exponential mean=0s", "exponential: mean must be above 0"),
        ("exponential p50=10ms p99=50ms", "the exponential has one parameter"),
        ("exponential", "the exponential has one parameter"),
        ("exponential 10ms", "unexpected `10ms` (parameters are key=value)"),
        ("lognormal p50=10ms p99=5ms", "lognormal: p99 (5ms) must be above p50 (10ms)"),
        ("lognormal p50=10ms p99=10ms", "p99 (10ms) must be above p50 (10ms)"),
        ("lognormal p50=10ms", "lognormal: give p50= and p99=, or mu= and sigma="),
        ("lognormal p50=10ms p99=50ms mu=1", "give p50= and p99=, or mu= and sigma="),
        ("lognormal mu=NaN sigma=1", "mu (`NaN`) must be a finite number"),
        ("lognormal mu=1 sigma=0", "sigma (0) must be above 0"),
        ("lognormal p50=10ms p99=50ms p90=20ms", "unknown parameter `p90=`"),
        ("pareto p50=0s p99=50ms", "pareto: p50 must be above 0"),
        ("pareto scale=5ms shape=-1", "shape (-1) must be above 0"),
        ("pareto scale=5ms shape=inf", "shape (`inf`) must be a finite number"),
        ("bimodal p=1% slow=1s", "bimodal: give p=, slow= and fast="),
        ("bimodal p=5 slow=1s fast=10ms", "p (`5`) must be a fraction from 0 to 1, or a percentage"),
        ("bimodal p=101% slow=1s fast=10ms", "`101%` is not a percentage"),
        ("bimodal p=1% slow=1s fast=(lognormal p50=10ms p99=5ms)", "lognormal (in bimodal's fast=): p99 (5ms)"),
        ("bimodal p=1% slow=1s fast=(uniform 5ms 15ms", "unbalanced parentheses"),
    ] {
        let e = ServiceTime::parse(text).expect_err(text).to_string();
        assert!(e.contains(says), "`{text}` gave `{e}`, which does not say `{says}`");
        assert!(e.contains("; expected "), "`{e}` does not give the form");
    }
}

#[test]
fn cdf_inverts_quantile() {
    for text in &KINDS_TO_SAMPLE[1..6] {
        let dist = d(text);
        for q in [0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999] {
            let c = dist.cdf_secs(dist.quantile_secs(q));
            assert!((c - q).abs() < 1e-12, "{text}: cdf(quantile({q})) = {c}");
            assert!((dist.cdf(dist.quantile(q)) - q).abs() < 1e-6, "{text}: as durations, at {q}");
        }
    }
}

#[test]
fn samples_follow_the_theory() {
    const N: usize = 200_000;
    for text in KINDS_TO_SAMPLE {
        let dist = d(text);
        let mut rng = stream(7, "test");
        let samples: Vec<Duration> = (0..N).map(|_| dist.sample(&mut rng)).collect();
        assert!(samples.iter().all(|s| s.subsec_nanos() % 1000 == 0), "{text}: not whole microseconds");
        for q in [0.5, 0.9, 0.99] {
            // The share at or below the theoretical quantile is the cdf there (q itself,
            // unless the quantile is an atom, as a fixed time is).
            let t = dist.quantile(q);
            let c = dist.cdf(t);
            let share = samples.iter().filter(|&&s| s <= t).count() as f64 / N as f64;
            let se = (c * (1.0 - c) / N as f64).sqrt();
            assert!(
                (share - c).abs() <= 4.0 * se,
                "{text}: {share} at or below p{} ({t:?}), not {c} ± 4 × {se}",
                q * 100.0
            );
        }
        // The sample mean, within 4 standard errors (from the sample's own spread) of the theory.
        let secs: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
        let mean = secs.iter().sum::<f64>() / N as f64;
        let se = (secs.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (N * (N - 1)) as f64).sqrt();
        let want = dist.mean().unwrap().as_secs_f64();
        assert!((mean - want).abs() <= 4.0 * se + 1e-9, "{text}: sample mean {mean}, theory {want} ± 4 × {se}");
    }
}

#[test]
fn bimodal_is_slow_with_probability_p() {
    const N: usize = 200_000;
    let dist = d("bimodal p=1% slow=1s fast=(uniform 5ms 15ms)");
    let mut rng = stream(8, "test");
    let slow = (0..N).filter(|_| dist.sample(&mut rng) == Duration::from_secs(1)).count() as f64 / N as f64;
    assert!((slow - 0.01).abs() <= 4.0 * (0.01 * 0.99 / N as f64).sqrt(), "slow share {slow}");
    assert_eq!(d("bimodal p=0 slow=1s fast=10ms").sample(&mut rng), Duration::from_millis(10));
    assert_eq!(d("bimodal p=100% slow=1s fast=10ms").sample(&mut rng), Duration::from_secs(1));
}

#[test]
fn samples_are_capped_and_infinite_means_are_none() {
    let dist = d("pareto scale=1s shape=0.1");
    assert_eq!(dist.mean(), None);
    let mut rng = stream(9, "test");
    let samples: Vec<Duration> = (0..10_000).map(|_| dist.sample(&mut rng)).collect();
    assert!(samples.iter().all(|&s| s >= Duration::from_secs(1) && s <= CAP));
    assert!(samples.contains(&CAP), "P(X > 1h) = 3600^-0.1 = 44%, yet no sample was capped");
}

#[test]
fn the_same_seed_gives_the_same_samples() {
    for text in KINDS_TO_SAMPLE {
        let draw = |seed, label| {
            let mut rng = stream(seed, label);
            (0..100).map(|_| d(text).sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, "test"), draw(1, "test"), "{text}");
        if !text.starts_with("fixed") {
            assert_ne!(draw(1, "test"), draw(2, "test"), "{text}");
        }
    }
}
