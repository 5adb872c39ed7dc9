//! pad's own product kernel for the tiles the `gemm` crate would not compute by the rule of
//! engine::gemm::blocks: every element one chain of fused multiply-adds per reduction block,
//! from +0 in index order, the first block written (or added to C), later blocks added.
//!
//! It is not meant to be fast everywhere, only never slow where PAD sends it: the heads' one-wide
//! products, reductions of one, and edge tiles of at most 16 x 16 elements. B's block is packed
//! into 16-column panels so that each row of A runs down 16 independent chains at once (one or
//! two vectors, whatever the CPU's width: the lanes are different elements, so the width does not
//! change a bit), four rows at a time.
use super::matrix::MatRef;

/// Columns per panel (independent chains per row).
const W: usize = 16;
/// Rows of A run against one panel at a time.
const R: usize = 4;

/// One tile of a product: C[i0.., j0..] (`mi x nj`, leading dimension `ldc`) = A[i0.., :]·
/// B[:, j0..], plus C if `accumulate`, in reduction blocks of `kc`.
#[derive(Clone, Copy)]
pub(crate) struct Tile<'a> {
    pub a: MatRef<'a>,
    pub b: MatRef<'a>,
    /// (i0, mi) and (j0, nj).
    pub rows: (usize, usize),
    pub cols: (usize, usize),
    pub c: *mut f32,
    pub ldc: usize,
    pub accumulate: bool,
    pub kc: usize,
}

/// Computes the tile by chains.
///
/// # Safety
/// `t.c` points to `mi` rows of `ldc` floats each holding `nj` writable floats (initialised if
/// `accumulate`), not aliased by A or B; A's rows i0..i0 + mi and B's columns j0..j0 + nj lie in
/// their views.
pub(crate) unsafe fn chain_tile(t: Tile) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA; the rest is the caller's contract.
        return unsafe { chain_tile_fma(t) };
    }
    // SAFETY: the caller's contract. mul_add is then a libm call: the same bits, slowly.
    unsafe { chain_tile_body(t) }
}

/// `chain_tile_body` compiled with AVX2 and FMA, so that `mul_add` is one instruction on 8 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chain_tile_fma(t: Tile) {
    // SAFETY: the caller's contract.
    unsafe { chain_tile_body(t) }
}

/// The loops of `chain_tile`, inlined into each of its compilations.
#[inline(always)]
unsafe fn chain_tile_body(Tile { a, b, rows: (i0, mi), cols: (j0, nj), c, ldc, accumulate, kc }: Tile) {
    let k = a.cols;
    debug_assert!(kc > 0 && i0 + mi <= a.rows && j0 + nj <= b.cols && b.rows == k);
    let mut panel = vec![0.0f32; kc.min(k) * W];
    for (block, kb) in (0..k).step_by(kc).enumerate() {
        let kl = kc.min(k - kb);
        let add = accumulate || block > 0;
        for jp in (0..nj).step_by(W) {
            let w = W.min(nj - jp);
            pack_panel(b, kb, kl, j0 + jp, w, &mut panel);
            for ip in (0..mi).step_by(R) {
                let rows = R.min(mi - ip);
                let acc = panel_chains(a, i0 + ip, rows, kb, &panel[..kl * W]);
                for (r, sums) in acc.iter().take(rows).enumerate() {
                    // SAFETY: row ip + r < mi and columns jp..jp + w <= nj of the caller's tile.
                    unsafe { store(c.add((ip + r) * ldc + jp), &sums[..w], add) };
                }
            }
        }
    }
}

/// B[kb..kb + kl, j..j + w] into `panel` as kl rows of W floats, zero past w.
#[inline(always)]
fn pack_panel(b: MatRef, kb: usize, kl: usize, j: usize, w: usize, panel: &mut [f32]) {
    for (p, row) in panel.chunks_exact_mut(W).take(kl).enumerate() {
        let base = (kb + p) * b.rs + j * b.cs;
        for (q, v) in row.iter_mut().enumerate() {
            *v = if q < w { b.data[base + q * b.cs] } else { 0.0 };
        }
    }
}

/// For rows i..i + rows of A (rows <= R; the others run on zeros and are not stored): the chains
/// over the block's kl reduction steps against the panel's W columns.
#[inline(always)]
fn panel_chains(a: MatRef, i: usize, rows: usize, kb: usize, panel: &[f32]) -> [[f32; W]; R] {
    let mut acc = [[0.0f32; W]; R];
    for (p, bp) in panel.chunks_exact(W).enumerate() {
        for (r, sums) in acc.iter_mut().enumerate() {
            let av = if r < rows { a.data[(i + r) * a.rs + (kb + p) * a.cs] } else { 0.0 };
            for (s, &bv) in sums.iter_mut().zip(bp) {
                *s = av.mul_add(bv, *s);
            }
        }
    }
    acc
}

/// The first block overwrites C (which may be uninitialised memory then); later blocks, and
/// every block when accumulating, add to it.
///
/// # Safety
/// `out` points to `sums.len()` writable floats, initialised if `add`.
#[inline(always)]
unsafe fn store(out: *mut f32, sums: &[f32], add: bool) {
    for (q, &s) in sums.iter().enumerate() {
        // SAFETY: q < sums.len(), inside the caller's row.
        unsafe {
            if add {
                *out.add(q) += s;
            } else {
                out.add(q).write(s);
            }
        }
    }
}
