//! The channel-blocked image layout of the direct kernels, and the weight layout they read.
//!
//! Images: [N][C/16][H+2b][W+2b][16]. Sixteen channels of one pixel are one AVX-512 vector, so a
//! kernel multiplies a whole vector of output channels by one input value; the zero border of
//! width b lets a padded convolution read its taps without testing for edges.
//!
//! Weights: [out/16][in][4][4][16], the 16 output channels of a block innermost, so a tap of one
//! input channel is one vector of 16 output channels.
use rayon::prelude::*;

/// Channels per block: one AVX-512 vector of f32.
pub const LANES: usize = 16;
/// Kernel side of the layers the direct kernels compute (k4, stride 2, pad 1).
pub const K: usize = 4;

/// A batch of images in the blocked layout, zero outside the interior.
#[derive(Clone, Debug, PartialEq)]
pub struct Blocked {
    pub c: usize,
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub border: usize,
    pub data: Vec<f32>,
}

impl Blocked {
    pub fn blocks(&self) -> usize {
        self.c / LANES
    }
    /// Padded width: the distance between rows, in pixels.
    pub fn wp(&self) -> usize {
        self.w + 2 * self.border
    }
    /// Floats in one block's padded plane.
    pub fn plane_len(&self) -> usize {
        (self.h + 2 * self.border) * self.wp() * LANES
    }
    /// Floats in one image (all blocks).
    pub fn image_len(&self) -> usize {
        self.blocks() * self.plane_len()
    }
    /// Offset of interior pixel (y, x) within a plane.
    pub fn pixel(&self, y: usize, x: usize) -> usize {
        ((y + self.border) * self.wp() + x + self.border) * LANES
    }

    /// A blocked tensor whose interior `fill` writes, every element of it, through the pointer
    /// it is given (to the start of the data; the geometry is `self`'s): only the border is
    /// zeroed first, so no pass pays for a memset of what it overwrites.
    ///
    /// # Safety
    /// `fill` must write every interior element and read none before writing it.
    pub unsafe fn build(
        c: usize,
        n: usize,
        h: usize,
        w: usize,
        border: usize,
        fill: impl FnOnce(&Blocked, *mut f32),
    ) -> Self {
        assert!(c.is_multiple_of(LANES), "blocked layout: {c} channels is not a multiple of {LANES}");
        let mut out = Blocked { c, n, h, w, border, data: Vec::new() };
        let len = n * c * (h + 2 * border) * out.wp();
        let mut data: Vec<f32> = Vec::with_capacity(len);
        zero_border(&out, &mut data.spare_capacity_mut()[..len]);
        fill(&out, data.as_mut_ptr());
        data.set_len(len);
        out.data = data;
        out
    }
}

/// A raw pointer passed to the tasks of a parallel loop, each writing its own part.
#[derive(Clone, Copy)]
pub(super) struct SendPtr(pub *mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// # Safety
    /// `offset` must be within the allocation.
    pub unsafe fn at(self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

/// Zeros the border of every plane of `g` in `data` (its full length), leaving the interior.
fn zero_border(g: &Blocked, data: &mut [std::mem::MaybeUninit<f32>]) {
    if g.border == 0 || data.is_empty() {
        return;
    }
    let (wp, bd, rows) = (g.wp(), g.border, g.h + 2 * g.border);
    // Pixel by pixel (16 floats, one vector store): the segments are too short for memset calls.
    let zero = |s: &mut [std::mem::MaybeUninit<f32>]| {
        for px in s.chunks_exact_mut(LANES) {
            px.copy_from_slice(&[std::mem::MaybeUninit::new(0.0); LANES]);
        }
    };
    // One task per image: a plane's border is a few hundred floats, too little for a task.
    data.par_chunks_mut(g.image_len()).for_each(|img| {
        for plane in img.chunks_exact_mut(g.plane_len()) {
            zero(&mut plane[..bd * wp * LANES]);
            zero(&mut plane[(rows - bd) * wp * LANES..]);
            for y in bd..rows - bd {
                // The right border of row y and the left border of row y + 1 are adjacent.
                let row = &mut plane[y * wp * LANES..(y + 1) * wp * LANES];
                zero(&mut row[..bd * LANES]);
                zero(&mut row[(wp - bd) * LANES..]);
            }
        }
    });
}

/// Packs PyTorch-layout weights [out][in][4][4] (a Conv2d's) into [out/16][in][4][4][16].
pub fn pack_out_major(w: &[f32], outs: usize, ins: usize) -> Vec<f32> {
    check_weights(w, outs, ins);
    let r = ins * K * K;
    // One output block per task; within it, contiguous writes, sixteen rows read side by side.
    fresh(w.len(), |p| {
        p.par_chunks_mut(r * LANES).enumerate().for_each(|(ob, dst)| {
            let src = &w[ob * LANES * r..][..LANES * r];
            for (j, d) in dst.chunks_exact_mut(LANES).enumerate() {
                for (l, v) in d.iter_mut().enumerate() {
                    v.write(src[l * r + j]);
                }
            }
        })
    })
}

/// A vector of `len` floats that `fill` writes, every one of them (no memset first).
fn fresh(len: usize, fill: impl FnOnce(&mut [std::mem::MaybeUninit<f32>])) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: the callers' `fill` writes every element (each is a bijection onto the output).
    unsafe { v.set_len(len) };
    v
}

/// Packs PyTorch-layout weights [in][out][4][4] (a ConvTranspose2d's, or a Conv2d's read as the
/// transposed convolution that is its input gradient) into [out/16][in][4][4][16].
pub fn pack_in_major(w: &[f32], ins: usize, outs: usize) -> Vec<f32> {
    check_weights(w, outs, ins);
    fresh(w.len(), |p| {
        p.par_chunks_mut(ins * K * K * LANES).enumerate().for_each(|(ob, dst)| {
            for (i, di) in dst.chunks_exact_mut(K * K * LANES).enumerate() {
                let src = &w[(i * outs + ob * LANES) * K * K..][..LANES * K * K];
                for (t, d) in di.chunks_exact_mut(LANES).enumerate() {
                    for (l, v) in d.iter_mut().enumerate() {
                        v.write(src[l * K * K + t]);
                    }
                }
            }
        })
    })
}

/// dst (PyTorch's [out][in][4][4]) += p ([out/16][in][4][4][16]), element by element: the
/// inverse layout of `pack_out_major`, added as autograd adds a new gradient to `.grad`.
pub fn add_unpacked_out_major(p: &[f32], outs: usize, ins: usize, dst: &mut [f32]) {
    check_weights(p, outs, ins);
    assert_eq!(dst.len(), p.len(), "direct weights: gradient length");
    let r = ins * K * K;
    dst.par_chunks_mut(r * LANES).enumerate().for_each(|(ob, d)| {
        let src = &p[ob * r * LANES..][..r * LANES];
        for (l, row) in d.chunks_exact_mut(r).enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v += src[j * LANES + l];
            }
        }
    });
}

fn check_weights(w: &[f32], outs: usize, ins: usize) {
    assert_eq!(w.len(), outs * ins * K * K, "direct weights: length");
    assert!(outs.is_multiple_of(LANES), "direct weights: {outs} output channels is not a multiple of {LANES}");
}
