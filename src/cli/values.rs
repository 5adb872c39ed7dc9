//! Parsers for the numbers of the command line. Each accepts only what the computation can use and
//! otherwise fails with a message that says what is allowed, so that a bad value stops the command
//! during parsing, before any file is read or written (clap adds the flag's name to the message).

/// Learning rates and other real numbers: parsed as f32, so 1e39 is rejected as infinite.
pub fn positive_real(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("allowed: a finite number > 0 (e.g. 0.2)".into()),
    }
}

/// Penalties and other real numbers kept in f64.
pub fn positive_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("allowed: a finite number > 0 (e.g. 1)".into()),
    }
}

/// Seeds: any whole number that fits in 64 bits.
pub fn seed(s: &str) -> Result<u64, String> {
    s.parse::<u64>().map_err(|_| format!("allowed: whole numbers from 0 to {}", u64::MAX))
}

/// A whole number in `lo..=hi` (`hi == usize::MAX`: no upper bound); `why` (may be empty) says
/// where the bounds come from.
pub fn whole(
    lo: usize,
    hi: usize,
    why: &'static str,
) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.parse::<usize>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => {
            let range = if hi == usize::MAX {
                format!("whole numbers >= {lo}")
            } else {
                format!("whole numbers from {lo} to {hi}")
            };
            Err(if why.is_empty() { format!("allowed: {range}") } else { format!("allowed: {range} ({why})") })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_outside_their_range_are_rejected_with_the_range() {
        let batch = whole(2, 1024, "why");
        assert_eq!(batch("64"), Ok(64));
        for bad in ["0", "1", "1025", "-1", "1e3", "", "18446744073709551616", "nan"] {
            assert_eq!(batch(bad), Err("allowed: whole numbers from 2 to 1024 (why)".into()), "{bad}");
        }
        assert_eq!(whole(1, usize::MAX, "")("0"), Err("allowed: whole numbers >= 1".into()));
        assert_eq!(positive_real("0.2"), Ok(0.2));
        for bad in ["0", "-0.1", "nan", "NaN", "inf", "-inf", "1e39", "x"] {
            assert!(positive_real(bad).is_err(), "{bad}");
        }
        assert_eq!(seed("18446744073709551615"), Ok(u64::MAX));
        assert!(seed("-1").is_err() && seed("18446744073709551616").is_err());
    }
}
