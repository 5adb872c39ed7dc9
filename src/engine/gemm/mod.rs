//! Deterministic parallel single-precision GEMM on top of the `gemm` crate's single-threaded
//! kernels (AVX-512 where the CPU has it). `matrixmultiply` 0.3.11 was the first choice; on these
//! machines `gemm` is 1.5-2.5x faster at every shape PAD uses (examples/gemm_backends.rs measures
//! both side by side).
//!
//! C (m x n, row-major, leading dimension `ldc`) = A (m x k) · B (k x n) [+ C if `accumulate`].
//! A and B are given by element strides, so transposed operands cost nothing.
//!
//! Determinism, across thread counts and CPUs: C is cut into tiles, each one single-threaded
//! product over the *whole* reduction k, and every element of a tile is summed by one rule
//! (`blocks`): chains of FMAs over blocks of k whose length depends only on the tile's size and
//! k. The crate computes a tile where it follows that rule on this CPU (its micro-kernels);
//! `chains` computes every other tile (one-wide, tiny, k <= 2, or a CPU without FMA) by the same
//! rule in its own code. So the bytes depend on the cut alone, which is a function of the shape:
//! `tile_shape` is the reference cut, and `run_tile_shape` takes a coarser one on few threads
//! (less repacking of the shared operand) only where it gives every tile the same blocks. rayon
//! only decides which core runs which tile.
use rayon::prelude::*;
use std::mem::MaybeUninit;

mod blocks;
mod chains;
mod matrix;

pub(crate) use blocks::{block_len, KC_MAX, MR, NR};
pub use matrix::MatRef;
pub(crate) use matrix::SendPtr;

/// Minimum multiply-adds a tile should carry before it is worth a task of its own.
const MIN_TILE_MACS: usize = 1 << 21;
/// Upper bound on tiles per GEMM: enough to balance 2..16 cores, few enough to keep packing cheap.
const MAX_TILES: usize = 16;
/// Tiles per thread when the thread count chooses the cut: two, so that rayon can still even out
/// a core that is slowed down, while each tile repacks the shared operand as rarely as possible.
const TILES_PER_THREAD: usize = 2;

/// The reference tile sizes (mt, nt) for an m x n x k product, a pure function of the shape: up
/// to 16 tiles. engine::implicit_gemm cuts its products this way.
pub(crate) fn tile_shape(m: usize, n: usize, k: usize) -> (usize, usize) {
    tile_shape_capped(m, n, k, MAX_TILES)
}

/// The tile sizes engine::gemm runs an m x n x k product with on `threads` threads: at most two
/// tiles a thread, where that cut gives every element the same blocks as the reference cut.
pub(crate) fn run_tile_shape(m: usize, n: usize, k: usize, threads: usize) -> (usize, usize) {
    let reference = tile_shape(m, n, k);
    let coarse = tile_shape_capped(m, n, k, (TILES_PER_THREAD * threads).clamp(1, MAX_TILES));
    match (cut_block_len(m, n, k, reference), cut_block_len(m, n, k, coarse)) {
        (Some(a), Some(b)) if a == b => coarse,
        _ => reference,
    }
}

/// The distinct tile sizes (mi, nj) of a cut: full tiles and the remainders along each side.
fn cut_tiles(m: usize, n: usize, (mt, nt): (usize, usize)) -> impl Iterator<Item = (usize, usize)> {
    let sides = |len: usize, t: usize| [t.min(len), len % t].into_iter().filter(|&s| s > 0);
    sides(m, mt).flat_map(move |mi| sides(n, nt).map(move |nj| (mi, nj)))
}

/// The reduction block every tile of a cut sums in, if it is the same for all of them.
fn cut_block_len(m: usize, n: usize, k: usize, cut: (usize, usize)) -> Option<usize> {
    let mut lens = cut_tiles(m, n, cut).map(|(mi, nj)| block_len(mi, nj, k));
    let first = lens.next()?;
    lens.all(|kc| kc == first).then_some(first)
}

/// Whether every tile of a cut is large enough for the crate's micro-kernels (more than 16 x 16
/// elements, no side of one): finer cuts would hand the extra tiles to engine::gemm::chains.
fn no_small_tiles(m: usize, n: usize, cut: (usize, usize)) -> bool {
    cut_tiles(m, n, cut).all(|(mi, nj)| mi > 1 && nj > 1 && mi * nj > 16 * 16)
}

/// Tile sizes with at most `max_tiles` tiles.
fn tile_shape_capped(m: usize, n: usize, k: usize, max_tiles: usize) -> (usize, usize) {
    let macs = m * n * k.max(1);
    let want = (macs / MIN_TILE_MACS).clamp(1, max_tiles);
    // Split the longer side first, in halves, keeping tiles multiples of 16 (whole micro-kernels)
    // and none of them small.
    let halve = |t: usize| t.div_ceil(2).next_multiple_of(16);
    let (mut mt, mut nt) = (m, n);
    let mut tiles = 1;
    while tiles * 2 <= want {
        let split_n = (nt >= 32).then(|| (mt, halve(nt)));
        let split_m = (mt >= 32).then(|| (halve(mt), nt));
        let order = if nt >= mt { [split_n, split_m] } else { [split_m, split_n] };
        match order.into_iter().flatten().find(|&cut| no_small_tiles(m, n, cut)) {
            Some(cut) => (mt, nt) = cut,
            None => break,
        }
        tiles = m.div_ceil(mt) * n.div_ceil(nt);
    }
    (mt, nt)
}

/// How many tiles (independent single-threaded products) an m x n x k GEMM is cut into on
/// `threads` threads: the most cores it can keep busy.
pub fn tile_count(m: usize, n: usize, k: usize, threads: usize) -> usize {
    if blocks::blocks_apart(m, n, k) {
        return k.div_ceil(block_len(m, n, k));
    }
    let (mt, nt) = run_tile_shape(m, n, k, threads);
    m.div_ceil(mt) * n.div_ceil(nt)
}

/// C = A·B (accumulate = false) or C += A·B (accumulate = true). C is row-major with leading dim `ldc`.
pub fn gemm(a: MatRef, b: MatRef, c: &mut [f32], ldc: usize, accumulate: bool) {
    let (m, n) = (a.rows, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(c.len() >= (m - 1) * ldc + n, "gemm: C too small");
    if a.cols == 0 {
        if !accumulate {
            for i in 0..m {
                c[i * ldc..i * ldc + n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: c holds the m x n block at leading dimension ldc (checked above).
    unsafe { gemm_raw(a, b, c.as_mut_ptr(), ldc, accumulate, None) }
}

/// A·B in a new row-major buffer. The buffer is never zero-filled: with `accumulate = false` the
/// kernels write every element without reading it, so memory goes from allocation to result.
pub fn gemm_new(a: MatRef, b: MatRef) -> Vec<f32> {
    gemm_new_ld(a, b, b.cols)
}

/// A·B in a new buffer of m rows `ld` floats apart (ld >= n), as a column matrix with padded rows
/// (im2col::Patches::ld). The padding is zero; the product itself is written without zero-filling
/// first, as in `gemm_new`.
pub fn gemm_new_ld(a: MatRef, b: MatRef, ld: usize) -> Vec<f32> {
    gemm_new_then(a, b, ld, None)
}

/// `gemm_new_ld`, then `then` on each tile's rows (see `RowsThen`).
pub(crate) fn gemm_new_then(a: MatRef, b: MatRef, ld: usize, then: Option<RowsThen>) -> Vec<f32> {
    let len = a.rows * ld;
    let mut c: Vec<f32> = Vec::with_capacity(len);
    gemm_uninit_then(a, b, &mut c.spare_capacity_mut()[..len], ld, then);
    // SAFETY: gemm_uninit_then wrote all m*ld floats.
    unsafe { c.set_len(len) };
    c
}

/// `gemm_new_ld` into memory the caller owns (say, one branch's channels of a concatenated
/// tensor): writes all of `c` (m rows `ld` floats apart, zero padding), never reading it.
pub fn gemm_uninit(a: MatRef, b: MatRef, c: &mut [MaybeUninit<f32>], ld: usize) {
    gemm_uninit_then(a, b, c, ld, None)
}

/// What a product's consumer does to each finished row of C while a tile of it is still in
/// cache: `then(i, row)` with row i's columns of that tile (say a convolution's bias and ReLU,
/// instead of a pass of its own over the whole output).
pub(crate) type RowsThen<'a> = &'a (dyn Fn(usize, &mut [f32]) + Sync);

/// `then` on rows `rows` of C (row i at `c + i * ldc`), `width` floats of each: what a tile does
/// once its product is final.
///
/// # Safety
/// Each row's `width` floats are written and no other thread touches them meanwhile.
pub(crate) unsafe fn rows_then(then: RowsThen, c: *mut f32, ldc: usize, rows: std::ops::Range<usize>, width: usize) {
    for i in rows {
        // SAFETY: the caller's.
        then(i, unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), width) });
    }
}

/// `gemm_uninit`, then `then` on every row piece of each tile as soon as the tile is computed
/// (over the whole reduction, so on final values): the same bytes as the product followed by
/// `then` on every row.
pub(crate) fn gemm_uninit_then(a: MatRef, b: MatRef, c: &mut [MaybeUninit<f32>], ld: usize, then: Option<RowsThen>) {
    let (m, n) = (a.rows, b.cols);
    assert!(ld >= n, "gemm_uninit: leading dimension shorter than a row");
    assert_eq!(c.len(), m * ld, "gemm_uninit: C is not m rows of ld");
    if a.cols == 0 || m == 0 || n == 0 {
        c.fill(MaybeUninit::new(0.0));
        if let Some(then) = then {
            // SAFETY: just written.
            let c = unsafe { &mut *(c as *mut [MaybeUninit<f32>] as *mut [f32]) };
            c.chunks_exact_mut(ld).enumerate().for_each(|(i, row)| then(i, &mut row[..n]));
        }
        return;
    }
    zero_row_tails(c, ld, n);
    // SAFETY: c holds m*ld floats; the padding was written above and gemm_raw writes (never
    // reads) each element of the m x n block once when accumulate is false.
    unsafe { gemm_raw(a, b, c.as_mut_ptr().cast(), ld, false, then) }
}

/// Writes zeros after the first `n` floats of every `ld`-float row of `buf` (the padding of a
/// matrix with padded rows).
pub(crate) fn zero_row_tails(buf: &mut [MaybeUninit<f32>], ld: usize, n: usize) {
    if ld == n {
        return;
    }
    for row in buf.chunks_exact_mut(ld) {
        row[n..].iter_mut().for_each(|v| {
            v.write(0.0);
        });
    }
}

/// The tiled product into raw memory, each tile followed by `then` on its rows (only without
/// `accumulate`: then every tile holds final values). Caller guarantees that `c` points to at
/// least (m - 1) * ldc + n writable floats (initialised if `accumulate`), and that m, n, k > 0.
unsafe fn gemm_raw(a: MatRef, b: MatRef, c: *mut f32, ldc: usize, accumulate: bool, then: Option<RowsThen>) {
    assert!(!(accumulate && then.is_some()), "gemm: an epilogue needs the final values");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm: inner dimensions differ");
    check_extent(&a);
    check_extent(&b);
    if then.is_none() && blocks::blocks_apart(m, n, k) {
        return block_parts(a, b, c, ldc, accumulate);
    }
    let (mt, nt) = run_tile_shape(m, n, k, rayon::current_num_threads());
    let tiles_n = n.div_ceil(nt);
    let ntiles = m.div_ceil(mt) * tiles_n;
    let cp = SendPtr(c);
    let run = |t: usize| {
        // Rebound so the closure captures the whole SendPtr, not its raw (non-Send) field.
        #[allow(clippy::redundant_locals)]
        let cp = cp;
        let (i0, j0) = ((t / tiles_n) * mt, (t % tiles_n) * nt);
        let (mi, nj) = (mt.min(m - i0), nt.min(n - j0));
        // SAFETY: tiles are disjoint rectangles of C, inside the caller's bounds; A and B extents
        // were checked by `check_extent`.
        unsafe {
            tile(a, b, cp.0, ldc, accumulate, (i0, mi), (j0, nj));
            if let Some(then) = then {
                // SAFETY: this tile's rows, written just above, are this closure's alone.
                rows_then(then, cp.0.add(j0), ldc, i0..i0 + mi, nj);
            }
        }
    };
    if ntiles == 1 {
        run(0);
    } else {
        (0..ntiles).into_par_iter().for_each(run);
    }
}

/// One tile of C (rows i0..i0 + mi, columns j0..j0 + nj) over the whole reduction, by the rule:
/// the crate's kernels where they follow it, engine::gemm::chains elsewhere. gemm computes
/// dst = alpha*dst + beta*lhs*rhs and reads dst only when told to (accumulate); chain_tile
/// likewise.
///
/// # Safety
/// The tile must lie inside C (`c`, leading dimension `ldc`), initialised if `accumulate`, and
/// be written by no one else meanwhile.
unsafe fn tile(
    a: MatRef,
    b: MatRef,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    (i0, mi): (usize, usize),
    (j0, nj): (usize, usize),
) {
    let k = a.cols;
    if blocks::crate_follows(mi, nj, k) {
        gemm::gemm(
            mi,
            nj,
            k,
            c.add(i0 * ldc + j0),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr().add(i0 * a.rs),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr().add(j0 * b.cs),
            b.cs as isize,
            b.rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    } else {
        chains::chain_tile(chains::Tile {
            a,
            b,
            rows: (i0, mi),
            cols: (j0, nj),
            c: c.add(i0 * ldc + j0),
            ldc,
            accumulate,
            kc: block_len(mi, nj, k),
        });
    }
}

/// A product whose C fits one micro-kernel tile (m, n <= 64) over a reduction of several
/// blocks: the first and last layers' weight gradients, 64 x 48 over the 16,384 pixels of a
/// batch. For such tiles the rule's blocks are 512 long whatever the cut, and each is a chain
/// from +0 of its own, so each block is computed as a product of its own, all of them spread over
/// the threads, and added to C in block order, as the rule adds them: the same bytes. Cut into
/// tiles instead, each tile ran the whole reduction and packed all of B again (four 16-row
/// tiles: conv1's dW on 2 threads 1.4x its 1-thread speed).
///
/// # Safety
/// As for `gemm_raw`.
unsafe fn block_parts(a: MatRef, b: MatRef, c: *mut f32, ldc: usize, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let kc = block_len(m, n, k);
    let mut parts = vec![0.0f32; k.div_ceil(kc) * m * n];
    parts.par_chunks_mut(m * n).enumerate().for_each(|(i, part)| {
        let (k0, kb) = (i * kc, kc.min(k - i * kc));
        let a = MatRef { data: &a.data[k0 * a.cs..], cols: kb, ..a };
        let b = MatRef { data: &b.data[k0 * b.rs..], rows: kb, ..b };
        // SAFETY: `part` is this task's own m x n buffer; the views stay inside A's and B's
        // extents (columns / rows k0..k0 + kb of them).
        unsafe { tile(a, b, part.as_mut_ptr(), n, false, (0, m), (0, n)) };
    });
    for i in 0..m {
        for j in 0..n {
            let at = c.add(i * ldc + j);
            let mut v = if accumulate { *at } else { -0.0 };
            // C + block 0 when accumulating, else block 0 itself (-0.0 + x is x, every x).
            for part in parts.chunks_exact(m * n) {
                v += part[i * n + j];
            }
            *at = v;
        }
    }
}

fn check_extent(x: &MatRef) {
    if x.rows > 0 && x.cols > 0 {
        let last = (x.rows - 1) * x.rs + (x.cols - 1) * x.cs;
        assert!(last < x.data.len(), "gemm: operand view exceeds its buffer");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef, b: MatRef) -> Vec<f64> {
        let mut c = vec![0.0f64; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                let mut s = 0.0f64;
                for p in 0..a.cols {
                    s += a.data[i * a.rs + p * a.cs] as f64 * b.data[p * b.rs + j * b.cs] as f64;
                }
                c[i * b.cols + j] = s;
            }
        }
        c
    }

    fn filled(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn matches_naive_product_with_transposes_and_tiles() {
        for &(m, k, n) in &[(3, 5, 7), (300, 70, 500), (64, 4096, 64), (1024, 33, 17)] {
            let a = filled(m * k, 1);
            let b = filled(k * n, 2);
            let am = MatRef::rm(&a, k, m).t(); // A stored transposed
            let bm = MatRef::rm(&b, k, n);
            let mut c = vec![0.5f32; m * n];
            gemm(am, bm, &mut c, n, false);
            let want = naive(am, bm);
            for (x, y) in c.iter().zip(&want) {
                assert!((*x as f64 - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y} at {m}x{k}x{n}");
            }
            // accumulate adds on top
            let mut c2 = c.clone();
            gemm(am, bm, &mut c2, n, true);
            for (x, y) in c2.iter().zip(&c) {
                assert!((x - 2.0 * y).abs() <= 1e-4 * (1.0 + y.abs()));
            }
        }
    }

    /// Every PAD product and some odd ones give the same bytes on 1, 2, 3, 4 and 8 threads (cut
    /// into 2 to 16 tiles, or the reference cut where a coarser one would change the crate's
    /// path); and where the thread count does change the cut, it is taken (so this test compares
    /// different cuts, not one cut with itself).
    #[test]
    fn every_thread_count_gives_the_bytes_of_the_reference_cut() {
        // (m, k, n): the encoder's and generator's fwd / dx / dW products at batch 64, and odd ones
        let shapes = [
            (64, 48, 16384),
            (48, 64, 16384),
            (64, 16384, 48),
            (128, 1024, 4096),
            (1024, 128, 4096),
            (128, 4096, 1024),
            (256, 2048, 1024),
            (256, 4096, 64),
            (4096, 256, 64),
            (256, 64, 4096),
            (1, 4096, 64),
            (100, 700, 300),
            (20, 3000, 17),
        ];
        let mut coarser = 0;
        for (m, k, n) in shapes {
            let a = filled(m * k, 3);
            let b = filled(k * n, 4);
            let (am, bm) = (MatRef::rm(&a, m, k), MatRef::rm(&b, k, n));
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let mut c = filled(m * n, 5);
                pool.install(|| gemm(am, bm, &mut c, n, true));
                c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            };
            let want = run(8);
            for threads in [1, 2, 3, 4] {
                coarser += usize::from(run_tile_shape(m, n, k, threads) != tile_shape(m, n, k));
                let first_diff = run(threads).iter().zip(&want).position(|(a, b)| a != b);
                assert_eq!(first_diff, None, "{m}x{k}x{n} on {threads} threads: first differing element");
            }
        }
        assert!(coarser >= 10, "the thread count changed the cut only {coarser} times");
    }

    #[test]
    fn tile_shape_is_a_function_of_shape_only_and_covers() {
        let (mt, nt) = tile_shape(256, 1024, 2048);
        assert!(mt <= 256 && nt <= 1024 && (256usize.div_ceil(mt) * 1024usize.div_ceil(nt)) <= MAX_TILES);
        assert_eq!(tile_shape(2, 3, 4), (2, 3));
        // Cuts stop before a tile would be small: conv1's weight gradient keeps 32-wide tiles.
        let (mt, nt) = tile_shape(64, 48, 16384);
        assert!(no_small_tiles(64, 48, (mt, nt)) && 64usize.div_ceil(mt) * 48usize.div_ceil(nt) >= 4, "{mt}x{nt}");
    }

    /// The rule of `blocks`, element by element in plain scalar code (the reference cut's tile
    /// sizes give each element its blocks): the bytes every CPU must give.
    fn by_the_rule(a: MatRef, b: MatRef, c0: &[f32], accumulate: bool) -> Vec<u32> {
        let (m, n, k) = (a.rows, b.cols, a.cols);
        let (mt, nt) = tile_shape(m, n, k);
        let side = |x: usize, len: usize, t: usize| if (x / t + 1) * t <= len { t } else { len % t };
        let mut out = Vec::with_capacity(m * n);
        for i in 0..m {
            for j in 0..n {
                let kc = block_len(side(i, m, mt), side(j, n, nt), k);
                let mut v = accumulate.then_some(c0[i * n + j]);
                for kb in (0..k).step_by(kc.max(1)) {
                    let mut acc = 0.0f32;
                    for p in kb..(kb + kc).min(k) {
                        acc = a.data[i * a.rs + p * a.cs].mul_add(b.data[p * b.rs + j * b.cs], acc);
                    }
                    v = Some(v.map_or(acc, |x| x + acc));
                }
                out.push(v.unwrap_or(0.0).to_bits());
            }
        }
        out
    }

    /// engine::gemm gives the rule's bytes on this CPU, whichever tiles the crate computes and
    /// whichever pad's chains do: one-wide products (the d head), reductions of one and two,
    /// products of at most 16 x 16 (long and short k), edge tiles, transposed operands, and
    /// PAD-like shapes. A plain-Rust reference is the same on every CPU, so this test passing on
    /// two CPUs means they give the same bytes.
    #[test]
    fn every_product_follows_the_rule_on_this_cpu() {
        // (m, k, n, A stored transposed, B stored transposed)
        let shapes = [
            (1, 4096, 64, false, false),
            (1, 64, 4096, false, true),
            (4096, 1, 64, true, false),
            (64, 4096, 1, false, false),
            (300, 2, 70, false, false),
            (16, 20000, 16, false, true),
            (16, 700, 16, true, false),
            (5, 9, 7, false, false),
            (17, 600, 15, true, true),
            (64, 16384, 48, false, true),
            (48, 64, 16384, true, false),
            (100, 700, 300, false, false),
            (256, 1100, 80, true, false),
        ];
        for (m, k, n, at, bt) in shapes {
            let a = filled(m * k, 7);
            let b = filled(k * n, 8);
            let am = if at { MatRef::rm(&a, k, m).t() } else { MatRef::rm(&a, m, k) };
            let bm = if bt { MatRef::rm(&b, n, k).t() } else { MatRef::rm(&b, k, n) };
            let c0 = filled(m * n, 9);
            for accumulate in [false, true] {
                let want = by_the_rule(am, bm, &c0, accumulate);
                for threads in [1, 3] {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    let mut c = c0.clone();
                    pool.install(|| gemm(am, bm, &mut c, n, accumulate));
                    let got: Vec<u32> = c.iter().map(|v| v.to_bits()).collect();
                    let first = got.iter().zip(&want).position(|(x, y)| x != y);
                    assert_eq!(first, None, "{m}x{k}x{n} (accumulate {accumulate}, {threads} threads)");
                }
            }
        }
    }
}
