//! Deterministic reductions: fixed order, f64 accumulators.
use rayon::prelude::*;

/// out[r] += sum of row r of a row-major [rows, row_len] matrix, summed left to right in f64.
pub fn add_row_sums(m: &[f32], row_len: usize, out: &mut [f32]) {
    assert_eq!(m.len(), row_len * out.len());
    out.par_iter_mut().enumerate().for_each(|(r, o)| {
        let s: f64 = m[r * row_len..(r + 1) * row_len].iter().map(|&v| v as f64).sum();
        *o += s as f32;
    });
}

/// Sum of all elements, left to right in f64.
pub fn sum(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum()
}
