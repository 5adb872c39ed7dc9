//! Whether a change is bigger than the seeds' noise.
//!
//! The rule: the runs of a condition differ from seed to seed, so a mean over seeds is uncertain by
//! its SEM (sample std / sqrt(n), as the report's tables). A change of a mean from side a to side b
//! is compared with the standard error of that difference, SE = sqrt(SEM_a² + SEM_b²) (the two
//! means' errors added as independent, Welch's form), and is *beyond noise* when |Δ| > 2 SE.
//! A side with one seed has no SEM and contributes none; with no SEM on either side there is no
//! noise scale, and the verdict says so ("n/a (1 seed)") rather than calling any change real.
//! Tables that carry a mean and its SEM (`x_mean`, `x_sem`) are judged with those SEMs.
use crate::report::tables::mean_sem;
use serde::Serialize;

/// What a change is, judged against the noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// |Δ| > 2 SE.
    BeyondNoise,
    /// |Δ| <= 2 SE.
    WithinNoise,
    /// No SEM on either side: one seed (or a mean whose SEM is NA).
    OneSeed,
    /// A table with neither seeds nor SEM columns: nothing to judge by.
    NoSeeds,
    /// A column that is itself a SEM or a count beside judged means.
    NotJudged,
    /// The value is missing (NA) on one side.
    MissingValue,
}

impl Verdict {
    /// How the readable formats print it.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::BeyondNoise => "beyond noise",
            Verdict::WithinNoise => "within noise",
            Verdict::OneSeed => "n/a (1 seed)",
            Verdict::NoSeeds => "n/a (no seeds)",
            Verdict::NotJudged => "-",
            Verdict::MissingValue => "n/a (missing)",
        }
    }

    /// The code the machine formats (CSV, JSON) use.
    pub fn code(self) -> &'static str {
        match self {
            Verdict::BeyondNoise => "beyond_noise",
            Verdict::WithinNoise => "within_noise",
            Verdict::OneSeed => "one_seed",
            Verdict::NoSeeds => "no_seeds",
            Verdict::NotJudged => "not_judged",
            Verdict::MissingValue => "missing_value",
        }
    }
}

/// A verdict with the threshold it was reached by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// 2 SE of the difference (None without a SEM).
    pub two_se: Option<f64>,
    pub verdict: Verdict,
}

/// Mean and SEM of the seeds' values that are numbers (SEM None for fewer than two), and their count.
pub fn spread(values: &[f64]) -> (Option<f64>, Option<f64>, usize) {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (None, None, 0);
    }
    let (m, s) = mean_sem(&v);
    (Some(m), s.is_finite().then_some(s), v.len())
}

/// The verdict on a change `delta` of a mean whose SEM was `sem_a` and is `sem_b`.
pub fn judge(delta: Option<f64>, sem_a: Option<f64>, sem_b: Option<f64>) -> Judgement {
    let sems: Vec<f64> = [sem_a, sem_b].into_iter().flatten().filter(|s| s.is_finite()).collect();
    let two_se = (!sems.is_empty()).then(|| 2.0 * sems.iter().map(|s| s * s).sum::<f64>().sqrt());
    let verdict = match (delta, two_se) {
        (None, _) => Verdict::MissingValue,
        (Some(_), None) => Verdict::OneSeed,
        (Some(d), Some(t)) if d.abs() > t => Verdict::BeyondNoise,
        (Some(_), Some(_)) => Verdict::WithinNoise,
    };
    Judgement { two_se, verdict }
}

/// The verdict on the change of a mean over seeds from the seeds' values `a` to `b`.
pub fn judge_seeds(a: &[f64], b: &[f64]) -> (Judgement, [Option<f64>; 2], [usize; 2]) {
    let ((ma, sa, na), (mb, sb, nb)) = (spread(a), spread(b));
    let delta = ma.zip(mb).map(|(x, y)| y - x);
    (judge(delta, sa, sb), [ma, mb], [na, nb])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shift_of_several_sems_is_beyond_noise_and_a_small_one_within() {
        // SEM of [1, 2, 3] is sqrt(1/3); SE of the difference sqrt(2/3) = 0.8165; 2 SE = 1.633.
        let (j, means, n) = judge_seeds(&[1.0, 2.0, 3.0], &[5.0, 6.0, 7.0]);
        assert_eq!((means, n), ([Some(2.0), Some(6.0)], [3, 3]));
        assert!((j.two_se.unwrap() - 2.0 * (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(j.verdict, Verdict::BeyondNoise);
        assert_eq!(judge_seeds(&[1.0, 2.0, 3.0], &[2.5, 3.5, 4.5]).0.verdict, Verdict::WithinNoise);
        // Downwards the same.
        assert_eq!(judge_seeds(&[5.0, 6.0, 7.0], &[1.0, 2.0, 3.0]).0.verdict, Verdict::BeyondNoise);
    }

    #[test]
    fn the_threshold_is_strict_and_uses_both_sides_sems() {
        // SEM 1 on each side: 2 SE = 2 sqrt(2).
        let j = judge(Some(2.0 * 2f64.sqrt()), Some(1.0), Some(1.0));
        assert_eq!(j.verdict, Verdict::WithinNoise);
        assert_eq!(judge(Some(2.0 * 2f64.sqrt() + 1e-9), Some(1.0), Some(1.0)).verdict, Verdict::BeyondNoise);
        // The larger SEM alone (2 x 1.0 = 2.0) would call 2.5 real; the difference of two uncertain
        // means is more uncertain than either.
        assert_eq!(judge(Some(2.5), Some(1.0), Some(1.0)).verdict, Verdict::WithinNoise);
    }

    #[test]
    fn one_seed_has_no_noise_scale_and_is_never_called_real() {
        let (j, _, n) = judge_seeds(&[1.0], &[50.0]);
        assert_eq!((j.verdict, j.two_se, n), (Verdict::OneSeed, None, [1, 1]));
        // One side with seeds gives the scale alone.
        let (j, _, _) = judge_seeds(&[1.0], &[2.0, 4.0]);
        assert_eq!(j.two_se, Some(2.0));
        assert_eq!(j.verdict, Verdict::WithinNoise);
    }

    #[test]
    fn missing_values_are_left_out_and_a_side_without_any_is_missing() {
        let (j, means, n) = judge_seeds(&[1.0, f64::NAN, 3.0], &[1.0, 3.0]);
        assert_eq!((means, n, j.verdict), ([Some(2.0), Some(2.0)], [2, 2], Verdict::WithinNoise));
        assert_eq!(judge_seeds(&[f64::NAN], &[1.0, 2.0]).0.verdict, Verdict::MissingValue);
    }
}
