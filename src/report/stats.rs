//! The statistics behind the claims' verdicts: Welch's interval for a difference of two means
//! over seeds, with Student's t quantile computed here (a regularised incomplete beta function
//! and bisection), so no statistics crate is needed for one formula.

/// A difference of means `a - b` with its Welch 95% t-interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Difference {
    pub effect: f64,
    /// The interval, where both sides have at least two values (else no spread to estimate).
    pub interval: Option<(f64, f64)>,
}

/// mean(a) - mean(b), and Welch's 95% interval: SE = sqrt(s_a²/n_a + s_b²/n_b) with the
/// Welch–Satterthwaite degrees of freedom. Both sides must be non-empty.
pub fn welch_difference(a: &[f64], b: &[f64]) -> Difference {
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let effect = ma - mb;
    if a.len() < 2 || b.len() < 2 {
        return Difference { effect, interval: None };
    }
    let (qa, qb) = (va / a.len() as f64, vb / b.len() as f64);
    let se = (qa + qb).sqrt();
    if se == 0.0 {
        // Identical seeds on both sides: the spread is zero and so is the interval's width.
        return Difference { effect, interval: Some((effect, effect)) };
    }
    let df = (qa + qb).powi(2) / (qa * qa / (a.len() as f64 - 1.0) + qb * qb / (b.len() as f64 - 1.0));
    let half = student_t_quantile(0.975, df) * se;
    Difference { effect, interval: Some((effect - half, effect + half)) }
}

/// Mean and sample variance (n - 1; 0 for a single value).
fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (m, 0.0);
    }
    (m, v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0))
}

/// The p-quantile (0.5 <= p < 1) of Student's t with `df` > 0 degrees of freedom (fractional
/// allowed), to about 1e-10.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    assert!((0.5..1.0).contains(&p) && df > 0.0, "t quantile of p = {p}, df = {df}");
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while student_t_cdf(hi, df) < p {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// P(T <= t) for t >= 0: 1 - I_x(df/2, 1/2) / 2 with x = df / (df + t²).
fn student_t_cdf(t: f64, df: f64) -> f64 {
    1.0 - 0.5 * incomplete_beta(df / (df + t * t), 0.5 * df, 0.5)
}

/// The regularised incomplete beta function I_x(a, b), by its continued fraction (modified
/// Lentz), using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly.
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = libm::lgamma(a + b) - libm::lgamma(a) - libm::lgamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(1.0 - x, b, a) / b
    }
}

fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        // The even and the odd step of the fraction.
        for aa in [m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))] {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_printed_tables() {
        // t_{0.975} for df = 1, 2, 3, 10, 30 (any statistics table), and the normal limit.
        for (df, t) in [(1.0, 12.7062047), (2.0, 4.3026527), (3.0, 3.1824463), (10.0, 2.2281389), (30.0, 2.0422725)] {
            assert!((student_t_quantile(0.975, df) - t).abs() < 1e-6, "df {df}");
        }
        assert!((student_t_quantile(0.975, 1e7) - 1.959964).abs() < 1e-5);
        // Fractional df lies between its neighbours; the median is 0.
        let t = student_t_quantile(0.975, 2.5);
        assert!(t < 4.3026527 && t > 3.1824463, "{t}");
        assert!(student_t_quantile(0.5, 4.0).abs() < 1e-9);
    }

    #[test]
    fn welch_interval_matches_a_hand_computation() {
        // a = {1, 3}: mean 2, var 2; b = {0, 0, 3}: mean 1, var 3. SE² = 1 + 1 = 2,
        // df = 4 / (1/1 + 1/2) = 8/3.
        let d = welch_difference(&[1.0, 3.0], &[0.0, 0.0, 3.0]);
        assert_eq!(d.effect, 1.0);
        let half = student_t_quantile(0.975, 8.0 / 3.0) * 2f64.sqrt();
        let (lo, hi) = d.interval.unwrap();
        assert!((lo - (1.0 - half)).abs() < 1e-12 && (hi - (1.0 + half)).abs() < 1e-12);
        assert!(half > 4.0 && half < 5.0, "{half}");
    }

    #[test]
    fn one_seed_gives_no_interval_and_equal_seeds_a_point() {
        assert_eq!(welch_difference(&[2.0], &[1.0, 1.5]), Difference { effect: 0.75, interval: None });
        assert_eq!(welch_difference(&[2.0, 2.0], &[1.0, 1.0]).interval, Some((1.0, 1.0)));
    }
}
