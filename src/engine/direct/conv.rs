//! The forward passes: a k4 s2 p1 convolution (which is also a transposed convolution's input
//! gradient) and a k4 s2 p1 transposed convolution (also a convolution's input gradient), on
//! blocked images, straight from image to image.
//!
//! Work split: each thread takes a fixed run of images; within it, for each run of output blocks
//! (three on AVX-512, two elsewhere: `output_runs`), the input blocks in order (so the run's 16 KB
//! of weights per output block and input block stay in cache across the images), then the output
//! pixels in groups of eight. Every output value's chain runs through the input blocks in order
//! whatever the split, so the bytes do not depend on the thread count.
use super::layout::{Blocked, SendPtr, K, LANES};
use super::tiles::ConvTile;
use super::Isa;
use rayon::prelude::*;

/// Output pixels that share one tile kind: their input offsets (of the tap the tile counts
/// from) and output offsets within a plane, and, for a transposed convolution, their parity.
struct Group {
    py: usize,
    px: usize,
    xoff: Vec<usize>,
    yoff: Vec<usize>,
}

/// y = conv2d(x, w) + bias, k4 s2 p1. x: blocked with a border of at least 1, even H and W;
/// w: packed [cout/16][x.c][4][4][16] (pack::pack_out_major of a Conv2d's weight). The result
/// has a zero border of `out_border`.
pub fn conv_forward(x: &Blocked, w: &[f32], bias: Option<&[f32]>, cout: usize, out_border: usize) -> Blocked {
    conv_forward_on(Isa::detect(), x, w, bias, cout, out_border)
}

pub(super) fn conv_forward_on(
    isa: Isa,
    x: &Blocked,
    w: &[f32],
    bias: Option<&[f32]>,
    cout: usize,
    out_border: usize,
) -> Blocked {
    check_input(x, w, bias, cout);
    assert!(x.h.is_multiple_of(2) && x.w.is_multiple_of(2), "direct conv: odd input size {}x{}", x.h, x.w);
    let skew = skew(x);
    let fill = |y: &Blocked, out: *mut f32| {
        let (xoff, yoff) = (0..y.h * y.w)
            .map(|p| {
                let (oy, ox) = (p / y.w, p % y.w);
                (skew + (2 * oy * x.wp() + 2 * ox) * LANES, y.pixel(oy, ox))
            })
            .unzip();
        run(isa, false, x, w, bias, y, SendPtr(out), &[Group { py: 0, px: 0, xoff, yoff }]);
    };
    // SAFETY: `run` writes every interior pixel of every output block (the first input block's
    // tiles store without loading).
    unsafe { Blocked::build(cout, x.n, x.h / 2, x.w / 2, out_border, fill) }
}

/// y = conv_transpose2d(x, w) + bias, k4 s2 p1 (output 2H x 2W). x: blocked with a border of at
/// least 1; w: packed [cout/16][4][x.c][2][2][16] (pack::pack_in_major of a ConvTranspose2d's
/// weight, or of a Conv2d's for that convolution's input gradient).
pub fn conv_transpose_forward(x: &Blocked, w: &[f32], bias: Option<&[f32]>, cout: usize, out_border: usize) -> Blocked {
    conv_transpose_forward_on(Isa::detect(), x, w, bias, cout, out_border)
}

pub(super) fn conv_transpose_forward_on(
    isa: Isa,
    x: &Blocked,
    w: &[f32],
    bias: Option<&[f32]>,
    cout: usize,
    out_border: usize,
) -> Blocked {
    check_input(x, w, bias, cout);
    let skew = skew(x);
    let fill = |y: &Blocked, out: *mut f32| {
        // Output (2cy + py, 2cx + px) takes its first tap (a = b = 0) from input
        // (cy + py, cx + px), which sits at padded (cy + py + 1, cx + px + 1).
        let groups: Vec<Group> = [(0, 0), (0, 1), (1, 0), (1, 1)]
            .iter()
            .map(|&(py, px)| {
                let (xoff, yoff) = (0..x.h * x.w)
                    .map(|c| {
                        let (cy, cx) = (c / x.w, c % x.w);
                        let xo = skew + ((cy + py + 1) * x.wp() + cx + px + 1) * LANES;
                        (xo, y.pixel(2 * cy + py, 2 * cx + px))
                    })
                    .unzip();
                Group { py, px, xoff, yoff }
            })
            .collect();
        run(isa, true, x, w, bias, y, SendPtr(out), &groups);
    };
    // SAFETY: the four parity classes cover every output pixel, each written by the first input
    // block's tiles without loading.
    unsafe { Blocked::build(cout, x.n, 2 * x.h, 2 * x.w, out_border, fill) }
}

fn check_input(x: &Blocked, w: &[f32], bias: Option<&[f32]>, cout: usize) {
    assert!(x.border >= 1, "direct conv: the input needs a zero border of 1");
    assert_eq!(w.len(), cout * x.c * K * K, "direct conv: packed weight length");
    assert!(cout.is_multiple_of(LANES), "direct conv: {cout} output channels");
    if let Some(b) = bias {
        assert_eq!(b.len(), cout, "direct conv: bias length");
    }
}

/// Where a border of 1 would start, for an input with a wider one.
fn skew(x: &Blocked) -> usize {
    ((x.border - 1) * x.wp() + x.border - 1) * LANES
}

/// Pixels per tile: 8 pixels x 3 output blocks of accumulators take 24 of AVX-512's 32 vector
/// registers and leave room for the weights and the broadcast input.
const NP: usize = 8;

/// Output blocks per tile on AVX-512. Three blocks load 3 weight vectors and 8 inputs for 24
/// multiply-adds, where two load 2 and 8 for 16. Measured on the Intel Xeon against two
/// (`pad bench --layers`, 5 alternating runs, medians): the middle layers' forward and input-
/// gradient passes 0.86-1.01x of the time, all passes 0.96-0.99x at 1 thread and 0.96x at 2; an
/// iteration 0.97x at 1 thread, 0.99x at 2.
/// AVX2's tiles are computed in parts of one block (avx2.rs), so there it stays two. The
/// weight-gradient tile stays at two: at three its tasks no longer divide among two threads
/// (conv2's dW 1.22x the time) and at one thread it gained nothing.
const WIDEST_AVX512: usize = 3;

/// Runs the tiles of every image into `out`, the data of `y` (geometry only).
#[allow(clippy::too_many_arguments)]
fn run(
    isa: Isa,
    transpose: bool,
    x: &Blocked,
    w: &[f32],
    bias: Option<&[f32]>,
    y: &Blocked,
    out: SendPtr,
    groups: &[Group],
) {
    let (cb, ob) = (x.blocks(), y.blocks());
    let (img_in, plane_in, img_out, plane_out) = (x.image_len(), x.plane_len(), y.image_len(), y.plane_len());
    let per_thread = x.n.div_ceil(rayon::current_num_threads()).max(1);
    // Where output block o's weights for input block b start: [out/16][in][4][4][16], or for a
    // transposed convolution [out/16][class][in][2][2][16] (pack::pack_in_major).
    let w_at = |o: usize, b: usize, g: &Group| match transpose {
        false => (o * x.c + b * LANES) * K * K * LANES,
        true => ((o * 4 + g.py * 2 + g.px) * x.c + b * LANES) * 4 * LANES,
    };
    // Input blocks per tile: a transposed convolution's tile has only 4 taps per channel, so it
    // runs through up to eight blocks before storing its sums (measured at 1 and 2 threads on
    // tconv2 and tconv3: 79-87% of the GEMM ceiling with one block, 88-94% with eight).
    let nb_max = if transpose { TRANSPOSE_BLOCKS } else { 1 };
    let runs = output_runs(ob, if isa == Isa::Avx512 { WIDEST_AVX512 } else { 2 });
    (0..x.n.div_ceil(per_thread)).into_par_iter().for_each(|chunk| {
        let first = chunk * per_thread;
        let images = per_thread.min(x.n - first);
        for &(og, obn) in &runs {
            for b in (0..cb).step_by(nb_max) {
                let nb = nb_max.min(cb - b);
                let bias_now = bias.filter(|_| b + nb == cb);
                for g in groups {
                    for k in 0..images {
                        let part = Part {
                            isa,
                            transpose,
                            x: x.data[(first + k) * img_in + b * plane_in..].as_ptr(),
                            wp: x.wp(),
                            nb,
                            xb: plane_in,
                            // SAFETY: inside the output; each task writes only its own images.
                            y: unsafe { out.at((first + k) * img_out + og * plane_out) },
                            plane_out,
                            load: b > 0,
                        };
                        let wps = |o: usize| w[w_at(og + o, b, g)..].as_ptr();
                        let bps = |o: usize| bias_now.map(|bv| bv[(og + o) * LANES..].as_ptr());
                        // SAFETY: offsets come from the geometry checked above; each thread
                        // writes only its own images.
                        unsafe {
                            match obn {
                                3 => part.group::<3>(g, wps, bps),
                                2 => part.group::<2>(g, wps, bps),
                                _ => part.group::<1>(g, wps, bps),
                            }
                        }
                    }
                }
            }
        }
    });
}

const TRANSPOSE_BLOCKS: usize = 8;

/// Runs of output blocks (first, length) of at most `widest` blocks each, in order, with no run
/// of a lone block where a pair fits (8 blocks by 3: 3, 3, 2; 16: 2, 3, 3, 3, 3, 2). A run only
/// decides which outputs share a tile, never the order of a chain, so it moves speed, not bytes.
pub(super) fn output_runs(ob: usize, widest: usize) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut at = 0;
    while at < ob {
        let left = ob - at;
        let len = if left > widest && left % widest == 1 && widest > 2 { widest - 1 } else { left.min(widest) };
        runs.push((at, len));
        at += len;
    }
    runs
}

/// What the tiles of one group of pixels of one image share, for one run of input blocks.
struct Part {
    isa: Isa,
    transpose: bool,
    x: *const f32,
    wp: usize,
    nb: usize,
    xb: usize,
    y: *mut f32,
    plane_out: usize,
    load: bool,
}

impl Part {
    /// The tiles of OB output blocks over all pixels of `g`: eight at a time, then one at a time.
    unsafe fn group<const OB: usize>(
        &self,
        g: &Group,
        w: impl Fn(usize) -> *const f32,
        bias: impl Fn(usize) -> Option<*const f32>,
    ) {
        let full = g.xoff.len() / NP * NP;
        let mut tile = self.tile::<OB, NP>(&w, &bias);
        // One tile description per group, its pixel offsets rewritten for each eight: building
        // it per call cost 3% of an iteration (mostly in a memcpy of the description).
        for (xo, yo) in g.xoff[..full].chunks_exact(NP).zip(g.yoff[..full].chunks_exact(NP)) {
            tile.xoff.copy_from_slice(xo);
            tile.yoff.copy_from_slice(yo);
            self.run_tile(&tile);
        }
        let mut one = self.tile::<OB, 1>(&w, &bias);
        for (&xo, &yo) in g.xoff[full..].iter().zip(&g.yoff[full..]) {
            (one.xoff, one.yoff) = ([xo], [yo]);
            self.run_tile(&one);
        }
    }

    /// A tile of this part with its pixel offsets still to be set.
    unsafe fn tile<const OB: usize, const P: usize>(
        &self,
        w: &impl Fn(usize) -> *const f32,
        bias: &impl Fn(usize) -> Option<*const f32>,
    ) -> ConvTile<OB, P> {
        ConvTile {
            x: self.x,
            wp: self.wp,
            nb: self.nb,
            xb: self.xb,
            wb: if self.transpose { LANES * 4 * LANES } else { LANES * K * K * LANES },
            xoff: [0; P],
            w: std::array::from_fn(w),
            y: std::array::from_fn(|o| self.y.add(o * self.plane_out)),
            yoff: [0; P],
            load: self.load,
            bias: bias(0).map(|_| std::array::from_fn(|o| bias(o).unwrap())),
        }
    }

    unsafe fn run_tile<const OB: usize, const P: usize>(&self, t: &ConvTile<OB, P>) {
        match (self.isa, self.transpose) {
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, true) => super::avx512::transpose_tile(t),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, false) => super::avx512::conv_tile(t),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, true) => super::avx2::transpose_tile(t),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, false) => super::avx2::conv_tile(t),
            (_, true) => super::tiles::transpose_tile_scalar(t),
            (_, false) => super::tiles::conv_tile_scalar(t),
        }
    }
}
