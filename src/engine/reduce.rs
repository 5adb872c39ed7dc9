//! Deterministic reductions: fixed order, f64 accumulators.
use rayon::prelude::*;

/// Rows summed side by side: each row's sum is one chain of dependent f64 adds (4 cycles each),
/// so a lone row runs at a quarter of an add per cycle; eight chains in flight fill the pipeline.
const ROWS_AT_ONCE: usize = 8;

/// out[r] += sum of row r of a row-major [rows, row_len] matrix, summed left to right in f64.
pub fn add_row_sums(m: &[f32], row_len: usize, out: &mut [f32]) {
    assert_eq!(m.len(), row_len * out.len());
    if row_len == 0 {
        return;
    }
    out.par_chunks_mut(ROWS_AT_ONCE).zip(m.par_chunks(ROWS_AT_ONCE * row_len)).for_each(|(o, rows)| {
        if o.len() == ROWS_AT_ONCE {
            add_eight_row_sums(rows, row_len, o);
        } else {
            for (o, row) in o.iter_mut().zip(rows.chunks_exact(row_len)) {
                *o += row.iter().map(|&v| v as f64).sum::<f64>() as f32;
            }
        }
    });
}

/// Eight rows' sums, each in its own order (left to right from -0.0, as `Iterator::sum` does),
/// the eight chains interleaved.
fn add_eight_row_sums(rows: &[f32], row_len: usize, out: &mut [f32]) {
    let r: [&[f32]; ROWS_AT_ONCE] = std::array::from_fn(|i| &rows[i * row_len..(i + 1) * row_len]);
    let mut s = [-0.0f64; ROWS_AT_ONCE];
    // Column by column across the eight rows (every row is row_len long).
    #[allow(clippy::needless_range_loop)]
    for j in 0..row_len {
        for i in 0..ROWS_AT_ONCE {
            s[i] += r[i][j] as f64;
        }
    }
    for (o, s) in out.iter_mut().zip(s) {
        *o += s as f32;
    }
}

/// Sum of all elements, left to right in f64.
pub fn sum(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row sums side by side give the bytes of each row summed alone by `Iterator::sum` (values
    /// spread over 40 binades, so any other order would round differently; a row of -0.0 shows
    /// the sum's starting value), for row counts that fill, and do not fill, the groups of eight.
    #[test]
    fn interleaved_row_sums_are_each_rows_own_sum() {
        for rows in [1, 3, 8, 13, 64] {
            let row_len = 1001;
            let mut m: Vec<f32> = (0..rows * row_len)
                .map(|i| {
                    let e = ((i * 7919) % 40) as i32 - 20;
                    let sign = if i % 3 == 0 { -1.0 } else { 1.0 };
                    sign * 2f32.powi(e) * (1.0 + (i % 97) as f32 / 97.0)
                })
                .collect();
            m[..row_len].fill(-0.0);
            let start: Vec<f32> = (0..rows).map(|r| if r == 0 { -0.0 } else { r as f32 * 0.25 }).collect();
            let mut got = start.clone();
            add_row_sums(&m, row_len, &mut got);
            for r in 0..rows {
                let s: f64 = m[r * row_len..(r + 1) * row_len].iter().map(|&v| v as f64).sum();
                assert_eq!(got[r].to_bits(), (start[r] + s as f32).to_bits(), "row {r} of {rows}");
            }
        }
    }
}
