//! Forward-only convolutions without padding and with a short reduction (Inception's stem:
//! Conv2d_1a, 3 -> 32 channels, 3 x 3 at stride 2, 27 taps; Conv2d_2a, 32 -> 32, 3 x 3, 288 taps)
//! computed straight from the CNHW image, sixteen output pixels of one row in the lanes of a
//! vector and sixteen output channels at a time: no column matrix, no packed panels. Through
//! engine::implicit_gemm these ran at 19% and 64% of the ceiling (one thread): with so few taps
//! per output, making the columns cost about as much as multiplying them.
//!
//! Same bytes as the GEMM path, by construction and by test: with a reduction of at most 512
//! taps every output there is one chain of fused multiply-adds over the taps in (channel, kh, kw)
//! order from +0 (engine::gemm::blocks), stored, then the epilogue on each row piece; here each
//! lane runs the same chain, is stored, and gets the same epilogue on each output row. AVX-512
//! only (as implicit_gemm); elsewhere, or for other shapes, `conv_rows_uninit` returns false and
//! the caller takes the GEMM path.
use super::gemm::{MatRef, RowsThen, SendPtr, KC_MAX};
use super::im2col::Patches;
use super::implicit_gemm::{avx512, written};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Output pixels per vector, and output channels per pass over a row.
const LANES: usize = 16;

/// Whether this path computes a convolution of geometry `g` with `m` output channels.
fn applies(g: &Patches, m: usize) -> bool {
    let k = g.rows();
    avx512()
        && g.k.ph == 0
        && g.k.pw == 0
        && matches!(g.k.sw, 1 | 2)
        && g.k.kh * g.k.kw > 1
        && (3..=KC_MAX).contains(&k)
        && m.is_multiple_of(LANES)
        && g.oh > 0
        && g.ow > 0
}

/// `conv_rows_uninit` into a new buffer, or None where this path does not apply.
pub(crate) fn conv_rows_then(w: MatRef, g: &Patches, x: &[f32], then: Option<RowsThen>) -> Option<Vec<f32>> {
    written(w.rows * g.cols(), |y| conv_rows_uninit(w, g, x, y, then))
}

/// W · im2col(x) into `y` (W.rows x g.cols(), row-major: the CNHW output), then `then` on each
/// output row of each channel: true when it wrote all of `y`, false (nothing written) where this
/// path does not apply.
pub(crate) fn conv_rows_uninit(
    w: MatRef,
    g: &Patches,
    x: &[f32],
    y: &mut [MaybeUninit<f32>],
    then: Option<RowsThen>,
) -> bool {
    let (m, k, n) = (w.rows, g.rows(), g.cols());
    assert_eq!(y.len(), m * n, "pixel conv: output shape");
    assert_eq!(x.len(), g.image_len(), "pixel conv: input shape");
    if !applies(g, m) || w.cols != k || w.cs != 1 || w.rs != k || w.data.len() < m * k {
        return false;
    }
    let blocks: Vec<Vec<f32>> = (0..m).step_by(LANES).map(|o0| pack_block(w.data, k, o0)).collect();
    let yp = SendPtr(y.as_mut_ptr().cast());
    // One task per output row of one image: 298 for Conv2d_1a at Inception's 2 images a pass.
    (0..g.n * g.oh).into_par_iter().for_each(|row| {
        // Rebound so the closure captures the whole SendPtr, not its raw (non-Send) field.
        #[allow(clippy::redundant_locals)]
        let yp = yp;
        let at = row * g.ow;
        for (b, wb) in blocks.iter().enumerate() {
            // SAFETY: the CPU has AVX-512F (`applies`); this task writes columns at..at + ow of
            // every output channel's row, nobody else does, and they lie inside `y` (checked).
            unsafe { row_block(g, x, wb, row, yp.0.add(b * LANES * n + at), n) };
        }
        if let Some(then) = then {
            for o in 0..m {
                // SAFETY: this task's own piece of channel o's row, written just above.
                then(o, unsafe { std::slice::from_raw_parts_mut(yp.0.add(o * n + at), g.ow) });
            }
        }
    });
    true
}

/// Output channels o0..o0 + 16 of output row `row` (image row / oh, output row row % oh), into
/// `y` (channel o0's row; channel o0 + i's is `ld` floats further on per i). `w` holds the
/// block's weights tap-major ([k][16], `pack_block`), so one tap's sixteen are one cache line.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn row_block(g: &Patches, x: &[f32], w: &[f32], row: usize, y: *mut f32, ld: usize) {
    use std::arch::x86_64::*;
    let (img, oy) = (row / g.oh, row % g.oh);
    let (kh, kw, sw) = (g.k.kh, g.k.kw, g.k.sw);
    // Lane i takes float 2i of a pair of vectors: the even columns a stride of 2 reads.
    let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for ox0 in (0..g.ow).step_by(LANES) {
        let count = LANES.min(g.ow - ox0);
        let store: __mmask16 = ((1u32 << count) - 1) as __mmask16;
        // Input floats a group reads from each kernel column's start: sw (count - 1) + 1.
        let span = sw * (count - 1) + 1;
        let (lo, hi): (__mmask16, __mmask16) = if span > 16 {
            (0xffff, ((1u32 << (span - 16)) - 1) as __mmask16)
        } else {
            (((1u32 << span) - 1) as __mmask16, 0)
        };
        let mut acc = [_mm512_setzero_ps(); LANES];
        // The taps in (channel, kh, kw) order: the column matrix's row order, the chain's.
        let mut tap = w.as_ptr();
        for c in 0..g.c {
            for a in 0..kh {
                let src_row = x.as_ptr().add(((c * g.n + img) * g.h + oy * g.k.sh + a) * g.w + ox0 * sw);
                for b in 0..kw {
                    let src = src_row.add(b);
                    let xv = if sw == 1 {
                        _mm512_maskz_loadu_ps(lo, src)
                    } else {
                        let first = _mm512_maskz_loadu_ps(lo, src);
                        // wrapping_add: near the input's end this address may lie past it, but
                        // no lane outside `hi` is read.
                        let second = _mm512_maskz_loadu_ps(hi, src.wrapping_add(LANES));
                        _mm512_permutex2var_ps(first, evens, second)
                    };
                    for (o, acc) in acc.iter_mut().enumerate() {
                        *acc = _mm512_fmadd_ps(_mm512_set1_ps(*tap.add(o)), xv, *acc);
                    }
                    tap = tap.add(LANES);
                }
            }
        }
        for (o, acc) in acc.iter().enumerate() {
            _mm512_mask_storeu_ps(y.add(o * ld + ox0), store, *acc);
        }
    }
}

/// Output channels o0..o0 + 16 of the row-major weights [m][k], tap-major: [k][16].
fn pack_block(w: &[f32], k: usize, o0: usize) -> Vec<f32> {
    (0..k).flat_map(|t| (0..LANES).map(move |o| w[(o0 + o) * k + t])).collect()
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn row_block(_: &Patches, _: &[f32], _: &[f32], _: usize, _: *mut f32, _: usize) {
    unreachable!("pixel conv: `applies` is false without AVX-512")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::gemm::gemm_new;
    use crate::engine::im2col::{im2col_new, RectSpec};
    use crate::engine::testutil::randn_like;

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// The stem's geometries and others (rows that end in a partial vector, one-pixel rows,
    /// reductions of 3 and 512, stride 2 down both axes), with NaN, infinities, zeros and
    /// subnormals among the inputs: the bytes of im2col + engine::gemm, then the same epilogue,
    /// on 1, 2 and 3 threads.
    #[test]
    fn gives_the_bytes_of_im2col_and_the_gemm() {
        if !applies(&Patches::new(3, 1, 9, 9, 3, 2, 0), LANES) {
            eprintln!("no AVX-512 on this CPU: the pixel path does not run here");
            return;
        }
        // (channels, images, height, width, kernel, stride, outputs)
        let shapes = [
            (3, 2, 41, 47, 3, 2, 32),
            (32, 2, 21, 37, 3, 1, 32),
            (3, 1, 299, 299, 3, 2, 32),
            (1, 3, 5, 18, 3, 1, 16),
            (128, 1, 6, 7, 2, 1, 16),
            (2, 2, 7, 3, 3, 2, 48),
        ];
        for (seed, &(c, n, h, wd, kernel, stride, m)) in shapes.iter().enumerate() {
            let g =
                Patches::rect(c, n, h, wd, RectSpec { kh: kernel, kw: kernel, sh: stride, sw: stride, ph: 0, pw: 0 });
            assert!(applies(&g, m), "{g:?}");
            let mut x = randn_like(g.image_len(), 40 + seed as u64);
            for (i, s) in [f32::NAN, f32::INFINITY, 0.0, -0.0, 1e-40].into_iter().enumerate() {
                let at = (i * 7919 + 13) % x.len();
                x[at] = s;
            }
            let w = randn_like(m * g.rows(), 50 + seed as u64);
            let bias = randn_like(m, 60 + seed as u64);
            let then = |i: usize, row: &mut [f32]| row.iter_mut().for_each(|v| *v = (*v + bias[i]).max(0.0));
            let wm = MatRef::rm(&w, m, g.rows());
            let mut want = gemm_new(wm, g.col_matrix(&im2col_new(&g, &x)));
            for (i, row) in want.chunks_exact_mut(g.cols()).enumerate() {
                then(i, row);
            }
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let mut got: Vec<f32> = Vec::with_capacity(want.len());
                let wrote = pool
                    .install(|| conv_rows_uninit(wm, &g, &x, &mut got.spare_capacity_mut()[..want.len()], Some(&then)));
                assert!(wrote, "{g:?}");
                // SAFETY: the pass wrote every element.
                unsafe { got.set_len(want.len()) };
                let first = bits(&got).iter().zip(bits(&want)).position(|(a, b)| *a != b);
                assert_eq!(first, None, "{g:?}, {m} outputs, {threads} threads: first differing element");
            }
        }
    }

    #[test]
    fn padded_or_long_or_odd_stride_convolutions_are_left_to_the_gemm() {
        let g = |ph: usize, sw: usize, c: usize| {
            Patches::rect(c, 1, 9, 9, RectSpec { kh: 3, kw: 3, sh: sw, sw, ph, pw: ph })
        };
        assert!(!applies(&g(1, 1, 3), 32), "padding");
        assert!(!applies(&g(0, 3, 3), 32), "stride 3");
        assert!(!applies(&g(0, 1, 64), 32), "576 taps: more than one reduction block");
        assert!(!applies(&g(0, 1, 3), 24), "24 outputs: not a multiple of 16");
    }
}
