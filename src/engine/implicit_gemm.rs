//! A convolution's forward GEMM for inference, with the column matrix read by the GEMM's
//! micro-kernel where im2col wrote it: one copy of the data instead of two.
//!
//! Why: through engine::gemm, the input is copied twice before the kernel sees it: by im2col
//! into the column matrix, then by the `gemm` crate into its panels. The crate's AVX-512 kernel
//! reads its left panels as 64 contiguous floats per step of the reduction, with any stride
//! between steps; once the crate has turned a row-major product around, those 64 floats are 64
//! consecutive columns of one row of the column matrix, which is how im2col lays them out. So
//! each GEMM tile makes its own block of columns (whole images, 0.25-1 MB, still in cache) and
//! the kernel reads it in place. Measured on conv2 alone: 10.3 -> 8.4 ms at 1 thread, 4.8 ->
//! 4.1 ms at 2 (docs/performance.md).
//!
//! Same bytes as im2col + engine::gemm, by construction and by test: the same tiles
//! (`par_tiles`), the same micro-kernels (`gemm_f32`'s AVX-512 table, which the crate itself
//! uses on such CPUs), the same reduction blocks (engine::gemm's rule, `block_len`), and the same
//! first-block-overwrites, later-blocks-add update. Every element is one FMA chain over the
//! reduction in order, whichever loop visits it first. A tile that cuts images apart (Inception's
//! large maps at its batch of 2) makes its columns a cache-sized piece at a time. Anything else
//! (no AVX-512, degenerate sizes the crate sends down other paths) returns None and the caller
//! takes the ordinary path.
use super::gemm::{block_len, rows_then, tile_shape, MatRef, RowsThen, SendPtr, MR, NR};
use super::im2col::{im2col_cols, im2col_images, Patches};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Whether this CPU has AVX-512F (the kernels of this path and of engine::pixel_conv).
pub(crate) fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// W · im2col(x) as a new row-major [W.rows, g.cols()] buffer (W row-major [C_out, C_in*kh*kw]),
/// or None where this path does not apply.
pub fn conv_forward_gemm(w: MatRef, g: &Patches, x: &[f32]) -> Option<Vec<f32>> {
    conv_forward_gemm_then(w, g, x, None)
}

/// `conv_forward_gemm`, then `then` on each row piece of every tile while it is in cache (see
/// engine::gemm::RowsThen).
pub(crate) fn conv_forward_gemm_then(w: MatRef, g: &Patches, x: &[f32], then: Option<RowsThen>) -> Option<Vec<f32>> {
    written(w.rows * g.cols(), |c| conv_forward_gemm_uninit(w, g, x, c, then))
}

/// A new buffer of `len` floats that `fill` writes all of, or None when `fill` declines (returns
/// false, having written nothing): the `_then` forms of the uninit passes.
pub(crate) fn written(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>]) -> bool) -> Option<Vec<f32>> {
    let mut c: Vec<f32> = Vec::with_capacity(len);
    fill(&mut c.spare_capacity_mut()[..len]).then(|| {
        // SAFETY: `fill` wrote all of it (its contract).
        unsafe { c.set_len(len) };
        c
    })
}

/// `conv_forward_gemm_then` into memory the caller owns (W.rows x g.cols(), row-major): true
/// when it wrote all of `c`, false (nothing written) where this path does not apply.
pub(crate) fn conv_forward_gemm_uninit(
    w: MatRef,
    g: &Patches,
    x: &[f32],
    c: &mut [MaybeUninit<f32>],
    then: Option<RowsThen>,
) -> bool {
    let (m, k, n) = (w.rows, g.rows(), g.cols());
    assert_eq!(c.len(), m * n, "conv_forward_gemm: output shape");
    assert_eq!(w.cols, k, "conv_forward_gemm: weight columns are not the kernel rows");
    assert_eq!(x.len(), g.image_len(), "conv_forward_gemm: input shape");
    assert!(w.cs == 1 && w.rs == k && w.data.len() >= m * k, "conv_forward_gemm: weights must be row-major");
    let (mt, nt) = tile_shape(m, n, k);
    // The crate takes other paths for k <= 2 and for one-wide sides (a last tile one column wide).
    if !avx512() || m < 2 || n < 2 || k <= 2 || n % nt == 1 {
        return false;
    }
    let whole_images = nt >= n || nt.is_multiple_of(g.per());
    let cp = SendPtr(c.as_mut_ptr().cast());
    let col_blocks = n.div_ceil(nt);
    (0..col_blocks).into_par_iter().for_each(|b| {
        let (j0, nj) = (b * nt, nt.min(n - b * nt));
        // A tile of whole images makes its panels at once; one that cuts images (Inception's
        // stem: 43,218 columns in 16 tiles) makes them a piece at a time, each piece small
        // enough to stay in cache while every row tile reads it. Every element is still one
        // chain over the reduction blocks in order, so the pieces change no byte.
        let piece = if whole_images { nj } else { piece_width(k, nj) };
        for q0 in (0..nj).step_by(piece) {
            let width = piece.min(nj - q0);
            let panels = if whole_images { Panels::new(g, x, j0, nj) } else { Panels::range(g, x, j0 + q0, width) };
            // The tiles of this column block share its panels.
            (0..m.div_ceil(mt)).into_par_iter().for_each(|r| {
                // Rebound so the closure captures the whole SendPtr, not its raw (non-Send) field.
                #[allow(clippy::redundant_locals)]
                let cp = cp;
                let (i0, mi) = (r * mt, mt.min(m - r * mt));
                let kc = block_len(mi, nj, k);
                // SAFETY: the tile's rectangle of C is inside the m x n capacity and no other
                // tile's; the kernels read only inside the panels and the weights (m x k).
                unsafe { tile_product(w.data, k, kc, &panels, cp.0.add(i0 * n + j0 + q0), n, i0, mi) };
                if let Some(then) = then {
                    // SAFETY: this tile's piece of its rows, just computed over the whole
                    // reduction, is this task's alone.
                    unsafe { rows_then(then, cp.0.add(j0 + q0), n, i0..i0 + mi, width) };
                }
            });
        }
    });
    // The tiles cover C, and the first reduction block of each element overwrote it.
    true
}

/// Columns per piece of a tile of `nj` columns that cuts images: the whole tile where its panel
/// is at most 1 MB (the 17 x 17 and 8 x 8 maps: a piece of a few columns would make each row of
/// the panel in bits), else about 512 KB of panel (half this CPU's L2), whole micro-kernel runs
/// of 64, at least one.
fn piece_width(k: usize, nj: usize) -> usize {
    if k * nj <= 256 * 1024 {
        nj
    } else {
        (((128 * 1024) / k / MR).max(1) * MR).min(nj)
    }
}

/// The columns j0..j0 + nj of the column matrix (whole images), as the kernel reads them: runs of
/// up to 64 columns, each run's rows `stride` apart. Where an image has at most 64 positions and
/// they divide 64, each run is made on its own ([k][64], the layout of the crate's packed panels:
/// one contiguous block per run); otherwise (conv1's 256 positions per image) the block is one
/// [k][nj] matrix and a run is 64 of its columns.
struct Panels {
    /// The panels start at data[at], on a 64-byte boundary.
    data: Vec<f32>,
    at: usize,
    /// Columns per panel block and distance between a panel's rows.
    stride: usize,
    nj: usize,
}

/// A buffer for `len` floats starting on a 64-byte boundary, and where they start: the kernels
/// read the panels 16 floats at a time, rows a multiple of 16 apart, so that every load then
/// stays inside one cache line (glibc aligns to 16 bytes; which of four offsets a panel got
/// moved a layer's time by up to 10%). The floats before the start are zeroed.
fn aligned(len: usize) -> (Vec<f32>, usize) {
    let mut data: Vec<f32> = Vec::with_capacity(len + 15);
    let at = data.as_ptr().align_offset(64).min(15);
    data.spare_capacity_mut()[..at].fill(MaybeUninit::new(0.0));
    (data, at)
}

impl Panels {
    /// Columns j0..j0 + nj wherever they start and end, as one [k][nj] matrix.
    fn range(g: &Patches, x: &[f32], j0: usize, nj: usize) -> Self {
        let k = g.rows();
        let (mut data, at) = aligned(k * nj);
        im2col_cols(g, x, j0..j0 + nj, &mut data.spare_capacity_mut()[at..at + k * nj]);
        // SAFETY: aligned() wrote the first `at`, im2col_cols the next k * nj elements.
        unsafe { data.set_len(at + k * nj) };
        Panels { data, at, stride: nj, nj }
    }

    fn new(g: &Patches, x: &[f32], j0: usize, nj: usize) -> Self {
        let (k, per) = (g.rows(), g.per());
        let stride = if per <= MR && MR.is_multiple_of(per) { MR.min(nj) } else { nj };
        let (mut data, at) = aligned(k * nj);
        let spare = &mut data.spare_capacity_mut()[at..at + k * nj];
        for (p, out) in spare.chunks_mut(k * stride).enumerate() {
            let (c0, width) = (j0 + p * stride, out.len() / k);
            im2col_images(g, x, c0 / per..(c0 + width) / per, out);
        }
        // SAFETY: aligned() wrote the first `at`, the blocks above the next k * nj elements.
        unsafe { data.set_len(at + k * nj) };
        Panels { data, at, stride, nj }
    }

    /// Where run `p0` (a multiple of 64) starts, and its row stride.
    fn run(&self, p0: usize, k: usize) -> (*const f32, usize) {
        let block = p0 / self.stride;
        let width = self.stride.min(self.nj - block * self.stride);
        (self.data[self.at + block * self.stride * k + (p0 - block * self.stride)..].as_ptr(), width)
    }
}

/// C[0..mi, 0..nj] (leading dimension ldc) = W[i0..i0 + mi, :] · the panels' columns, summed in
/// reduction blocks of `kc` (the whole tile's, which may be wider than these panels), as the
/// crate computes it: it sees the product turned around (nj x mi, its left operand our columns,
/// its right operand our weights read in place).
///
/// # Safety
/// `c` points to mi rows of ldc floats each holding nj writable floats; AVX-512F is available.
#[allow(clippy::too_many_arguments)]
unsafe fn tile_product(w: &[f32], k: usize, kc: usize, panels: &Panels, c: *mut f32, ldc: usize, i0: usize, mi: usize) {
    let ukr = &gemm_f32::microkernel::avx512f::f32::UKR;
    let nj = panels.nj;
    let mut kb = 0;
    while kb < k {
        let kl = kc.min(k - kb);
        // The first block overwrites (alpha 0, status 0); later ones add (alpha 1, status 1).
        let (alpha, status) = if kb == 0 { (0.0, 0) } else { (1.0, 1) };
        for p0 in (0..nj).step_by(MR) {
            let rows = MR.min(nj - p0);
            let (run, stride) = panels.run(p0, k);
            for j in (0..mi).step_by(NR) {
                let cols_n = NR.min(mi - j);
                // SAFETY: rows <= 64 and cols_n <= 6 select a kernel of the table; its reads stay
                // in the run's rows kb..kb + kl (stride `stride`, `rows` floats each) and in
                // weight rows i0 + j.. (stride k, columns kb..kb + kl); its writes in C's rows
                // j.. and columns p0.. of this tile.
                unsafe {
                    ukr[rows.div_ceil(16) - 1][cols_n - 1](
                        rows,
                        cols_n,
                        kl,
                        c.add(j * ldc + p0),
                        run.add(kb * stride),
                        w.as_ptr().add((i0 + j) * k + kb),
                        ldc as isize,
                        1,
                        stride as isize,
                        1,
                        k as isize,
                        alpha,
                        1.0,
                        status,
                        false,
                        false,
                        false,
                        std::ptr::null(),
                    );
                }
            }
        }
        kb += kl;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::gemm::gemm_new;
    use crate::engine::im2col::im2col_new;

    fn filled(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| ((((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1009) as f32).sqrt() - 15.0)
            .collect()
    }

    /// The encoder's geometries at its 64-image chunks, at odd chunk sizes (edge tiles, short
    /// panels, tiles that cut images), and an Inception-like 3x3 kernel: the path is taken on
    /// AVX-512 and gives the bytes of im2col + engine::gemm.
    #[test]
    fn gives_the_bytes_of_im2col_and_the_tiled_gemm() {
        // (channels, batch, image side, kernel, stride, pad, output channels, must take the path)
        let cases = [
            (3, 64, 32, 4, 2, 1, 64, true),
            (64, 64, 16, 4, 2, 1, 128, true),
            (128, 64, 8, 4, 2, 1, 256, true),
            (256, 64, 4, 4, 2, 0, 256, true),
            (128, 9, 8, 4, 2, 1, 256, true),
            (3, 2, 32, 4, 2, 1, 64, true),
            (64, 37, 16, 4, 2, 1, 128, true),
            (256, 33, 4, 4, 2, 0, 256, true),
            (32, 4, 9, 3, 1, 1, 48, true),
        ];
        for (c, n, h, k, s, p, o, must) in cases {
            let g = Patches::new(c, n, h, h, k, s, p);
            let x = filled(g.image_len(), 1);
            let w = filled(o * g.rows(), 2).iter().map(|v| v * 0.01).collect::<Vec<f32>>();
            let wm = MatRef::rm(&w, o, g.rows());
            let want = gemm_new(wm, g.col_matrix(&im2col_new(&g, &x)));
            let got = conv_forward_gemm(wm, &g, &x);
            assert!(!must || !avx512() || got.is_some(), "{c}x{h}x{h} batch {n}: path not taken");
            if let Some(got) = got {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{c}x{h}x{h} batch {n} k{k}");
            }
        }
    }
    /// Inception's kernels (1x7 with padding, 3x3 stride 2) on products small enough for one
    /// tile: the path is taken, with runs of 64 across image boundaries, and the bytes hold.
    /// Then its stem's shapes at reduced size, in tiles that cut images, pieces that end inside
    /// an output row, and padded and strided edges.
    #[test]
    fn rectangular_and_strided_kernels_give_the_same_bytes() {
        use crate::engine::im2col::RectSpec;
        let geometries = [
            Patches::rect(16, 3, 12, 12, RectSpec { kh: 1, kw: 7, sh: 1, sw: 1, ph: 0, pw: 3 }),
            Patches::rect(16, 3, 12, 12, RectSpec { kh: 7, kw: 1, sh: 1, sw: 1, ph: 3, pw: 0 }),
            Patches::new(8, 2, 15, 15, 3, 2, 0),
            Patches::new(3, 2, 99, 99, 3, 2, 0),
            Patches::new(32, 2, 61, 61, 3, 1, 0),
            Patches::new(32, 2, 59, 59, 3, 1, 1),
            Patches::new(64, 2, 29, 29, 3, 2, 1),
            Patches::rect(48, 2, 35, 35, RectSpec { kh: 5, kw: 5, sh: 1, sw: 1, ph: 2, pw: 2 }),
            Patches::rect(40, 2, 23, 23, RectSpec { kh: 1, kw: 7, sh: 1, sw: 1, ph: 0, pw: 3 }),
        ];
        for g in geometries {
            let x = filled(g.image_len(), 3);
            let w = filled(24 * g.rows(), 4).iter().map(|v| v * 0.01).collect::<Vec<f32>>();
            let wm = MatRef::rm(&w, 24, g.rows());
            let want = gemm_new(wm, g.col_matrix(&im2col_new(&g, &x)));
            let got = conv_forward_gemm(wm, &g, &x);
            assert!(!avx512() || got.is_some(), "{g:?}: path not taken");
            if let Some(got) = got {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{g:?}");
            }
        }
    }
}
