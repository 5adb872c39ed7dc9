//! The weights' layouts for the tiles, from PyTorch's and back: [out/16][in][4][4][16] for a
//! convolution's tile, [out/16][4][in][2][2][16] (by parity class) for a transposed one's.
//!
//! Every weight is packed at every call (it changes at every optimizer step). Each move is a
//! 16 x 16 transpose (sixteen output channels by sixteen taps or input positions), done in
//! vector registers where the CPU has them (transpose.rs): gathered one float at a time these passes took 3% of
//! a training iteration. The plain loops move the same values (and add them in the same order),
//! so both give the same bytes.
use super::layout::{K, LANES};
use super::transpose::{rows_to_vectors, vectors_to_rows};
use super::Isa;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Packs PyTorch-layout weights [out][in][4][4] (a Conv2d's) into [out/16][in][4][4][16].
pub fn pack_out_major(w: &[f32], outs: usize, ins: usize) -> Vec<f32> {
    pack_out_major_on(Isa::detect(), w, outs, ins)
}

pub(super) fn pack_out_major_on(isa: Isa, w: &[f32], outs: usize, ins: usize) -> Vec<f32> {
    check_weights(w, outs, ins);
    let r = ins * K * K;
    // One output block per task: 16 rows of r floats, written column by column.
    fresh(w.len(), |p| {
        p.par_chunks_mut(r * LANES).enumerate().for_each(|(ob, dst)| {
            let src = &w[ob * LANES * r..][..LANES * r];
            for j0 in (0..r).step_by(LANES) {
                let rows: [*const f32; LANES] = std::array::from_fn(|l| src[l * r + j0..].as_ptr());
                let off: [usize; LANES] = std::array::from_fn(|i| (j0 + i) * LANES);
                // SAFETY: 16 floats at each row (r is a multiple of 16), 16 x 16 slots from
                // j0 * 16 within this task's block.
                unsafe { rows_to_vectors(isa, &rows, dst.as_mut_ptr().cast(), &off) };
            }
        })
    })
}

/// Packs PyTorch-layout weights [in][out][4][4] (a ConvTranspose2d's, or a Conv2d's read as the
/// transposed convolution that is its input gradient) into [out/16][4][in][2][2][16]: for each
/// output block, the four parity classes (py, px) of the output pixels, and in each only the
/// four taps that reach them, kh = 1 - py + 2a, kw = 1 - px + 2b, in (a, b) order.
///
/// Why by parity: a transposed tile reads one class's taps, and in [in][4][4] order those are 4
/// lines of every kilobyte, which all fall in a quarter of the L1 cache's sets (the 16 lanes of
/// a tap are one 64-byte line): the tile's weights then thrashed a 12 KB slice of a 48 KB
/// cache. Contiguous per class, they stream through all of it.
pub fn pack_in_major(w: &[f32], ins: usize, outs: usize) -> Vec<f32> {
    pack_in_major_on(Isa::detect(), w, ins, outs)
}

pub(super) fn pack_in_major_on(isa: Isa, w: &[f32], ins: usize, outs: usize) -> Vec<f32> {
    check_weights(w, outs, ins);
    let class = ins * 4 * LANES;
    // Where tap t = kh * 4 + kw goes within the block: kh = 1 - py + 2a gives a = kh / 2 and
    // py = 1 - kh % 2, and the same for kw.
    let off: [usize; K * K] = std::array::from_fn(|t| {
        let (kh, kw) = (t / K, t % K);
        let (class_no, ab) = ((1 - kh % 2) * 2 + 1 - kw % 2, (kh / 2) * 2 + kw / 2);
        class_no * class + ab * LANES
    });
    fresh(w.len(), |p| {
        p.par_chunks_mut(4 * class).enumerate().for_each(|(ob, dst)| {
            for i in 0..ins {
                // Input channel i's 16 x 16: 16 output channels of this block by 16 taps.
                let src = &w[(i * outs + ob * LANES) * K * K..][..LANES * K * K];
                let rows: [*const f32; LANES] = std::array::from_fn(|l| src[l * K * K..].as_ptr());
                let at: [usize; LANES] = std::array::from_fn(|t| off[t] + i * 4 * LANES);
                // SAFETY: 16 taps at each row; the slots are within this task's block.
                unsafe { rows_to_vectors(isa, &rows, dst.as_mut_ptr().cast(), &at) };
            }
        })
    })
}

/// dst (PyTorch's [out][in][4][4]) += p ([out/16][in][4][4][16]), element by element: the
/// inverse layout of `pack_out_major`, added as autograd adds a new gradient to `.grad`.
pub fn add_unpacked_out_major(p: &[f32], outs: usize, ins: usize, dst: &mut [f32]) {
    add_unpacked_out_major_on(Isa::detect(), p, outs, ins, dst)
}

pub(super) fn add_unpacked_out_major_on(isa: Isa, p: &[f32], outs: usize, ins: usize, dst: &mut [f32]) {
    check_weights(p, outs, ins);
    assert_eq!(dst.len(), p.len(), "direct weights: gradient length");
    let r = ins * K * K;
    dst.par_chunks_mut(r * LANES).enumerate().for_each(|(ob, d)| {
        let src = &p[ob * r * LANES..][..r * LANES];
        for j0 in (0..r).step_by(LANES) {
            let off: [usize; LANES] = std::array::from_fn(|i| (j0 + i) * LANES);
            let rows: [*mut f32; LANES] = std::array::from_fn(|l| d[l * r + j0..].as_mut_ptr());
            // SAFETY: 16 x 16 floats of src from j0 * 16; 16 floats at each row of this block.
            unsafe { vectors_to_rows::<true>(isa, src.as_ptr(), &off, &rows) };
        }
    });
}

/// A vector of `len` floats that `fill` writes, every one of them (no memset first).
fn fresh(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: the callers' `fill` writes every element (each is a bijection onto the output).
    unsafe { v.set_len(len) };
    v
}

fn check_weights(w: &[f32], outs: usize, ins: usize) {
    assert_eq!(w.len(), outs * ins * K * K, "direct weights: length");
    assert!(outs.is_multiple_of(LANES), "direct weights: {outs} output channels is not a multiple of {LANES}");
}
