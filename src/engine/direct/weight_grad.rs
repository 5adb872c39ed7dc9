//! The weight gradient of a k4 s2 p1 convolution on blocked images: dW = sum over the batch and
//! the output pixels of dy (a vector of 16 output channels) times x at each tap. A transposed
//! convolution's weight gradient is the same sum with the roles of x and dy exchanged.
//!
//! Work split: one task per pair of output blocks (and, on more threads than pairs, per block
//! of input channels); each walks the images in runs of up to four, so a run's dy stays in L1 while
//! every input channel and kernel row of the task uses it. Every dW value's chain runs over
//! images, rows and columns in order whatever the split.
use super::layout::{Blocked, SendPtr, K, LANES};
use super::tiles::GradTile;
use super::Isa;
use crate::engine::cache_size::l1d_bytes;
use rayon::prelude::*;

/// Images per run: their dy planes of two output blocks stay in L1 while a task reuses them for
/// its 32 (input channel, kh) tiles, and so should one input block's planes of x, which those
/// tiles read 32 times over. So at most four images, and only as many as keep x's planes within
/// three quarters of the L1 data cache (the rest for dy). The run length only decides where a
/// chain is stored and reloaded, so it moves speed, never bytes (tested).
///
/// Measured with `pad bench --layers --threads 1 --reps 5`, dW as % of the GEMM ceiling:
/// - AMD EPYC (Zen 3, 32 KiB L1d): conv2 (x planes of 20 KB) 80% at 2 images, 100-102% at 1;
///   conv3 (6 KB) 83-87% at 4, 95% at 2; tconv3 and tconv2 follow them (79% -> 103-105%,
///   87-89% -> 97%).
/// - Intel Xeon (48 KiB L1d), before this rule (a fixed 48 KB budget): conv2 84-85% / 91-94% /
///   85-88% at 4 / 2 / 8 images, conv3 86-87% / 79-82% / 74-79%. The rule keeps conv3 at 4 there
///   and gives conv2 1 image, which that machine has not measured.
fn images_per_run(x: &Blocked, l1d_bytes: usize) -> usize {
    let plane_bytes = x.plane_len() * std::mem::size_of::<f32>();
    [4, 2].into_iter().find(|&n| 4 * n * plane_bytes <= 3 * l1d_bytes).unwrap_or(1)
}

/// dL/dW of y = conv2d(x, W), k4 s2 p1, packed [dy.c/16][x.c][4][4][16] (pack::add_unpacked_out_major
/// adds it to PyTorch's [dy.c][x.c][4][4]). x: the layer's input with a border of at least 1; dy:
/// the gradient of its output, any border.
pub fn conv_weight_grad(x: &Blocked, dy: &Blocked) -> Vec<f32> {
    conv_weight_grad_on(Isa::detect(), x, dy)
}

pub(super) fn conv_weight_grad_on(isa: Isa, x: &Blocked, dy: &Blocked) -> Vec<f32> {
    conv_weight_grad_runs(isa, x, dy, images_per_run(x, l1d_bytes()))
}

/// As `conv_weight_grad_on`, walking the images in runs of `per_run`.
pub(super) fn conv_weight_grad_runs(isa: Isa, x: &Blocked, dy: &Blocked, per_run: usize) -> Vec<f32> {
    assert!(x.border >= 1, "direct weight gradient: x needs a zero border of 1");
    assert_eq!((dy.n, dy.h, dy.w), (x.n, x.h / 2, x.w / 2), "direct weight gradient: dy shape");
    assert!(x.h.is_multiple_of(2) && x.w.is_multiple_of(2), "direct weight gradient: odd input size");
    let (cin, ob, cb) = (x.c, dy.blocks(), x.blocks());
    // A task walks all input blocks per run of images, so the run's dy is reused by all of them;
    // only when there are fewer output-block pairs than threads are the input blocks split too.
    let pairs = ob.div_ceil(2);
    let per_task = if pairs >= rayon::current_num_threads() { cb } else { 1 };
    let tasks: Vec<(usize, usize)> =
        (0..ob).step_by(2).flat_map(|og| (0..cb).step_by(per_task).map(move |b| (og, b))).collect();
    let len = dy.c * cin * K * K;
    let mut dw: Vec<f32> = Vec::with_capacity(len);
    let out = SendPtr(dw.as_mut_ptr());
    let blocks = |b: usize| b..(b + per_task).min(cb);
    tasks.par_iter().for_each(|&(og, b)| task(isa, x, dy, og, (ob - og).min(2), blocks(b), per_run, out));
    // SAFETY: the tasks cover every (output block, input block) pair once, and each tile's first
    // run of images stores its sums without loading.
    unsafe { dw.set_len(len) };
    dw
}

/// dW of output blocks og..og+obn and input blocks `bs`, into their places in `out`
/// ([dy.c/16][x.c][4][4][16]).
#[allow(clippy::too_many_arguments)]
fn task(
    isa: Isa,
    x: &Blocked,
    dy: &Blocked,
    og: usize,
    obn: usize,
    bs: std::ops::Range<usize>,
    per_run: usize,
    out: SendPtr,
) {
    let skew = ((x.border - 1) * x.wp() + x.border - 1) * LANES;
    for i0 in (0..x.n).step_by(per_run) {
        let imgs = per_run.min(x.n - i0);
        for b in bs.clone() {
            for ic in (0..LANES).step_by(2) {
                for kh in 0..K {
                    let dyp =
                        |o: usize| dy.data[i0 * dy.image_len() + (og + o) * dy.plane_len() + dy.pixel(0, 0)..].as_ptr();
                    let xp = x.data[i0 * x.image_len() + b * x.plane_len() + skew + ic..].as_ptr();
                    // SAFETY: this task's own rows of dW.
                    let dwp = |o: usize| unsafe { out.at(((og + o) * x.c + b * LANES + ic) * K * K * LANES) };
                    // SAFETY: the offsets stay inside the images checked above.
                    unsafe {
                        if obn == 2 {
                            grad::<2>(isa, x, dy, dyp, xp, imgs, kh, dwp, i0 > 0);
                        } else {
                            grad::<1>(isa, x, dy, dyp, xp, imgs, kh, dwp, i0 > 0);
                        }
                    }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn grad<const OB: usize>(
    isa: Isa,
    x: &Blocked,
    dy: &Blocked,
    dyp: impl Fn(usize) -> *const f32,
    xp: *const f32,
    imgs: usize,
    kh: usize,
    dwp: impl Fn(usize) -> *mut f32,
    load: bool,
) {
    let t = GradTile::<OB> {
        dy: std::array::from_fn(dyp),
        dys: dy.image_len(),
        dwp: dy.wp(),
        x: xp,
        xs: x.image_len(),
        wp: x.wp(),
        oh: dy.h,
        ow: dy.w,
        imgs,
        kh,
        dw: std::array::from_fn(dwp),
        load,
    };
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => super::avx512::grad_tile(&t),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => super::avx2::grad_tile(&t),
        _ => super::tiles::grad_tile_scalar(&t),
    }
}
