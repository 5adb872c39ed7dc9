//! Wider vectors for the element-wise loops, where the CPU has them.
//!
//! The release build targets baseline x86-64, so the compiler vectorises plain loops with 4-lane
//! SSE. `wide` runs a loop compiled again with AVX-512 enabled (16 lanes) on CPUs that have it.
//! The bytes do not change: each element still goes through the same IEEE operations (add, mul,
//! div, sqrt, compare), only more of them at once; Rust never fuses a mul and an add by itself.
//! Loops calling libm (tanh, exp) gain nothing: those stay scalar calls.

/// Runs `f`, compiled for AVX-512 when the CPU has it. `f` should be a short loop over slices with
/// no calls it cannot inline (a call out of `f` runs at baseline again). A closure too large to be
/// inlined into this function is compiled apart, at baseline, and gains nothing: larger loops get
/// a `#[target_feature]` function of their own (engine/pool.rs).
#[inline(always)]
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { on_avx512(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn on_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::wide;

    #[test]
    fn wide_loops_give_the_bytes_of_plain_ones() {
        // The operations of Adam and the activations, on values spanning subnormals to large.
        let x: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.731).sin() * 10f32.powi(i % 40 - 30)).collect();
        let body = |x: &[f32]| -> Vec<f32> {
            x.iter().map(|&v| if v > 0.0 { (v * v).sqrt() / 0.999 + 1e-8 } else { v * 0.2 - v / 3.0 }).collect()
        };
        assert_eq!(wide(|| body(&x)), body(&x));
    }
}
