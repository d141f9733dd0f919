//! The standard normal distribution's CDF and its inverse, for the lognormal kind (no crate
//! in the dependency tree has them).

/// The complementary error function, to a few parts in 1e15 (checked against libm's): for
/// x < 1.5, 1 − erf(x) with the series of Abramowitz & Stegun 7.1.6,
/// erf x = 2/√π e^(−x²) Σ 2ⁿ x^(2n+1) / (1·3···(2n+1)); beyond, 100 terms of the continued
/// fraction of A&S 7.1.14, erfc x = e^(−x²)/√π · 1/(x+ ½/(x+ 1/(x+ 3/2/(x+ …)))).
pub(super) fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    let scale = (-x * x).exp() / std::f64::consts::PI.sqrt();
    if x < 1.5 {
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * x * x / (2.0 * n + 1.0);
            sum += term;
        }
        1.0 - 2.0 * scale * sum
    } else {
        let tail = (1..=100).rev().fold(x, |t, k| x + f64::from(k) / 2.0 / t);
        scale / tail
    }
}

/// Φ, the standard normal CDF: Φ(z) = ½ erfc(−z/√2) (A&S 26.2.29).
pub(super) fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Φ⁻¹, the standard normal quantile: P. J. Acklam's rational approximation (2003, relative
/// error below 1.15e-9), refined by one step of Halley's method on [`normal_cdf`] to full
/// double precision, as Acklam suggests.
pub(super) fn inverse_normal_cdf(p: f64) -> f64 {
    #[rustfmt::skip]
    const A: [f64; 6] = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2,
                         1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
    #[rustfmt::skip]
    const B: [f64; 6] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2,
                         6.680131188771972e1, -1.328068155288572e1, 1.0];
    #[rustfmt::skip]
    const C: [f64; 6] = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838,
                         -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 5] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416, 1.0];
    const LOW: f64 = 0.02425;
    let poly = |coefficients: &[f64], x: f64| coefficients.iter().fold(0.0, |acc, c| acc * x + c);
    if p <= 0.0 || p >= 1.0 {
        return if p <= 0.0 { f64::NEG_INFINITY } else { f64::INFINITY };
    }
    let x = if (LOW..=1.0 - LOW).contains(&p) {
        let (q, r) = (p - 0.5, (p - 0.5) * (p - 0.5));
        q * poly(&A, r) / poly(&B, r)
    } else {
        // The tails, by symmetry: Φ⁻¹(p) = −Φ⁻¹(1 − p).
        let q = (-2.0 * p.min(1.0 - p).ln()).sqrt();
        poly(&C, q) / poly(&D, q) * if p < LOW { 1.0 } else { -1.0 }
    };
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}
