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
                let row = &mut plane[y * wp * LANES..(y + 1) * wp * LANES];
                if bd == 1 {
                    // PAD's border: two single pixels, written as fixed-size stores; through
                    // `zero` each became a memset call (1.5% of a training iteration).
                    let (left, rest) = row.split_first_chunk_mut::<LANES>().expect("a row has 2 border pixels");
                    *left = [std::mem::MaybeUninit::new(0.0); LANES];
                    *rest.last_chunk_mut::<LANES>().expect("a row has 2 border pixels") =
                        [std::mem::MaybeUninit::new(0.0); LANES];
                } else {
                    zero(&mut row[..bd * LANES]);
                    zero(&mut row[(wp - bd) * LANES..]);
                }
            }
        }
    });
}
