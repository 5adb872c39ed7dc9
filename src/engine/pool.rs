//! Max and average pooling (PyTorch's max_pool2d / avg_pool2d, floor mode, square windows) and
//! the global average pool, on CNHW activations, forward only (Inception for FID needs no
//! gradients).
//!
//! Each (channel, example) plane is pooled on its own: parallel over output planes only, and each
//! window is reduced in a fixed row-major order, so results do not depend on the thread count.
//!
//! Every window is reduced several outputs at once (one vector lane per output, neighbouring
//! outputs of a row): each lane still sees its window's taps in the same row-major order,
//! through the same IEEE operations (add and divide, or the max rule's compare and select), so
//! the bytes are those of reducing one output at a time. The windows that the border clips
//! (a fifth of a 17 x 17 map's outputs, nearly half of an 8 x 8 map's) take their lanes from a
//! copy of the plane inside a border of the reduction's identity (see `Reduction`); reduced one
//! at a time, they would cost as much as all the others together.
use super::Shape4;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Window size, stride and zero padding (the same on both axes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl PoolSpec {
    /// Output shape; None when the window does not fit the padded input or the padding exceeds
    /// half the window (PyTorch rejects that too: a window could then see only padding).
    pub fn out_shape(&self, xs: Shape4) -> Option<Shape4> {
        let ok =
            self.stride > 0 && 2 * self.pad <= self.k && xs.h + 2 * self.pad >= self.k && xs.w + 2 * self.pad >= self.k;
        ok.then(|| Shape4 {
            c: xs.c,
            n: xs.n,
            h: (xs.h + 2 * self.pad - self.k) / self.stride + 1,
            w: (xs.w + 2 * self.pad - self.k) / self.stride + 1,
        })
    }

    /// The input rows (or columns) [lo, hi) under window `o` of an axis of `size`, clipped to the
    /// image, and the extent of the window clipped to the padded image (PyTorch's divisor when
    /// padding counts).
    #[inline(always)]
    fn span(&self, o: usize, size: usize) -> (usize, usize, usize) {
        let start = (o * self.stride) as isize - self.pad as isize;
        let end_padded = (start + self.k as isize).min((size + self.pad) as isize);
        let padded_len = (end_padded - start) as usize;
        (start.max(0) as usize, (end_padded.min(size as isize)) as usize, padded_len)
    }
}

/// How windows are reduced: `init` then `step(acc, tap)` over the taps in row-major order, then
/// `finish(acc, real pixels, padded area)` (the counts as floats: small integers, exact).
///
/// `init` is also the reduction's identity on the values it can meet, which is what lets a
/// padded copy of a plane stand for its clipped windows: `acc + 0.0` is `acc` bit for bit
/// because a sum that starts at +0.0 is never -0.0 (IEEE round-to-nearest gives -0.0 only for
/// -0.0 + -0.0), and the max rule never takes -inf over what it holds.
#[derive(Clone, Copy)]
struct Reduction<S, F> {
    init: f32,
    step: S,
    finish: F,
}

/// Pools every plane with reduction `r` into a new buffer.
fn pool_planes<S, F>(x: &[f32], xs: Shape4, spec: PoolSpec, r: Reduction<S, F>) -> (Vec<f32>, Shape4)
where
    S: Fn(f32, f32) -> f32 + Sync + Copy,
    F: Fn(f32, f32, f32) -> f32 + Sync + Copy,
{
    let ys = spec.out_shape(xs).expect("pool: window does not fit the input (checked by callers)");
    let mut y = Vec::with_capacity(ys.len());
    pool_planes_uninit(x, xs, spec, r, &mut y.spare_capacity_mut()[..ys.len()]);
    // SAFETY: pool_planes_uninit wrote all of it.
    unsafe { y.set_len(ys.len()) };
    (y, ys)
}

/// The two counts `finish` divides by, per output of a plane (the same for every plane): the
/// real pixels under the window and its extent inside the padded image.
struct Counts {
    real: Vec<f32>,
    padded: Vec<f32>,
}

impl Counts {
    fn new(xs: Shape4, ys: Shape4, spec: PoolSpec) -> Self {
        let (mut real, mut padded) = (Vec::with_capacity(ys.h * ys.w), Vec::with_capacity(ys.h * ys.w));
        for oh in 0..ys.h {
            let (y0, y1, ph) = spec.span(oh, xs.h);
            for ow in 0..ys.w {
                let (x0, x1, pw) = spec.span(ow, xs.w);
                real.push(((y1 - y0) * (x1 - x0)) as f32);
                padded.push((ph * pw) as f32);
            }
        }
        Counts { real, padded }
    }
}

/// Pools every plane with reduction `r` into `y`, writing every output exactly once (no zero
/// fill first).
fn pool_planes_uninit<S, F>(
    x: &[f32],
    xs: Shape4,
    spec: PoolSpec,
    r: Reduction<S, F>,
    y: &mut [MaybeUninit<f32>],
) -> Shape4
where
    S: Fn(f32, f32) -> f32 + Sync + Copy,
    F: Fn(f32, f32, f32) -> f32 + Sync + Copy,
{
    let ys = spec.out_shape(xs).expect("pool: window does not fit the input (checked by callers)");
    assert_eq!(x.len(), xs.len(), "pool: input shape");
    assert_eq!(y.len(), ys.len(), "pool: output length");
    let (plane_in, plane_out) = (xs.h * xs.w, ys.h * ys.w);
    let counts = Counts::new(xs, ys, spec);
    let g = Plane { xs, ys, spec, counts: &counts };
    y.par_chunks_mut(plane_out.max(1)).zip(x.par_chunks(plane_in.max(1))).for_each_init(
        Vec::new,
        |padded, (out, inp)| {
            match spec.stride {
                // Constant strides let the lanes' loads be plain (1) or de-interleaved (2) vector loads.
                1 => pool_plane_wide::<1, S, F>(inp, &g, r, padded, out),
                2 => pool_plane_wide::<2, S, F>(inp, &g, r, padded, out),
                _ => pool_plane_wide::<0, S, F>(inp, &g, r, padded, out),
            }
        },
    );
    // pool_plane writes all of each output plane, and the planes tile y.
    ys
}

/// What every plane of one pooling shares: the shapes, the window and the counts.
struct Plane<'a> {
    xs: Shape4,
    ys: Shape4,
    spec: PoolSpec,
    counts: &'a Counts,
}

/// `pool_plane` compiled for the widest vectors the CPU has: AVX-512 (16 lanes), else AVX2 (8),
/// else baseline SSE. Not `simd::wide`: a closure as large as this plane's loops is compiled on
/// its own, at baseline, instead of inside wide's AVX-512 function, so the lanes never became
/// 16-wide; here the plane is inlined into functions that carry the features themselves. The
/// bytes do not change: the same IEEE operations per lane.
#[inline(always)]
fn pool_plane_wide<const ST: usize, S, F>(
    inp: &[f32],
    g: &Plane,
    r: Reduction<S, F>,
    padded: &mut Vec<f32>,
    out: &mut [MaybeUninit<f32>],
) where
    S: Fn(f32, f32) -> f32 + Copy,
    F: Fn(f32, f32, f32) -> f32 + Copy,
{
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { pool_plane_avx512::<ST, S, F>(inp, g, r, padded, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { pool_plane_avx2::<ST, S, F>(inp, g, r, padded, out) };
        }
    }
    pool_plane::<ST, S, F>(inp, g, r, padded, out)
}

/// `pool_plane` inlined into a function compiled with `$feature`.
macro_rules! pool_plane_for {
    ($name:ident, $feature:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name<const ST: usize, S, F>(
            inp: &[f32],
            g: &Plane,
            r: Reduction<S, F>,
            padded: &mut Vec<f32>,
            out: &mut [MaybeUninit<f32>],
        ) where
            S: Fn(f32, f32) -> f32 + Copy,
            F: Fn(f32, f32, f32) -> f32 + Copy,
        {
            pool_plane::<ST, S, F>(inp, g, r, padded, out)
        }
    };
}
pool_plane_for!(pool_plane_avx512, "avx512f");
pool_plane_for!(pool_plane_avx2, "avx2");

/// One plane; `ST` is the stride when it is a compile-time constant, 0 when it is read from
/// `spec`. With padding, the plane is first copied into `padded` inside a border of `r.init`,
/// so that every window, the clipped ones at the edges too, is a whole k x k window there:
/// the border's taps leave the accumulator as it is (see `Reduction`), and each output is still
/// its real taps in row-major order, divided by the counts of its clipped window.
#[inline(always)]
fn pool_plane<const ST: usize, S, F>(
    inp: &[f32],
    g: &Plane,
    r: Reduction<S, F>,
    padded: &mut Vec<f32>,
    out: &mut [MaybeUninit<f32>],
) where
    S: Fn(f32, f32) -> f32 + Copy,
    F: Fn(f32, f32, f32) -> f32 + Copy,
{
    let (xs, ys, spec) = (g.xs, g.ys, g.spec);
    let (plane, wp) = if spec.pad == 0 {
        (inp, xs.w)
    } else {
        pad_plane(inp, xs, spec.pad, r.init, padded);
        (&padded[..], xs.w + 2 * spec.pad)
    };
    for oh in 0..ys.h {
        let at = oh * ys.w;
        let row = &mut out[at..at + ys.w];
        let counts = (&g.counts.real[at..at + ys.w], &g.counts.padded[at..at + ys.w]);
        // The widest lane count the row fills; its last group overlaps the one before rather
        // than leaving a scalar tail (the overlapped outputs are written twice, equally).
        match ys.w {
            16.. => windows_lanes::<16, ST, S, F>(plane, wp, spec, r, oh, counts, row),
            8.. => windows_lanes::<8, ST, S, F>(plane, wp, spec, r, oh, counts, row),
            4.. => windows_lanes::<4, ST, S, F>(plane, wp, spec, r, oh, counts, row),
            _ => windows_lanes::<1, ST, S, F>(plane, wp, spec, r, oh, counts, row),
        }
    }
}

/// `inp` (an h x w plane) inside a border of `pad` values `fill`, into `padded`.
#[inline(always)]
fn pad_plane(inp: &[f32], xs: Shape4, pad: usize, fill: f32, padded: &mut Vec<f32>) {
    let wp = xs.w + 2 * pad;
    padded.clear();
    padded.resize(wp * (xs.h + 2 * pad), fill);
    for (dst, src) in padded[pad * wp..].chunks_exact_mut(wp).zip(inp.chunks_exact(xs.w)) {
        dst[pad..pad + xs.w].copy_from_slice(src);
    }
}

/// The outputs of row `oh`, L at a time, over a plane `wp` floats wide in which every window is
/// whole (the input itself without padding, else its padded copy): lane l reduces output
/// ow + l over its k x k taps in row-major order, then finishes with that output's counts.
#[inline(always)]
fn windows_lanes<const L: usize, const ST: usize, S, F>(
    p: &[f32],
    wp: usize,
    spec: PoolSpec,
    r: Reduction<S, F>,
    oh: usize,
    (real, padded): (&[f32], &[f32]),
    row: &mut [MaybeUninit<f32>],
) where
    S: Fn(f32, f32) -> f32,
    F: Fn(f32, f32, f32) -> f32,
{
    let (k, s) = (spec.k, if ST == 0 { spec.stride } else { ST });
    let top = oh * s;
    let n = row.len();
    let mut ow = 0;
    loop {
        let left = ow * s;
        let mut acc = [r.init; L];
        for a in 0..k {
            let line = &p[(top + a) * wp..(top + a + 1) * wp];
            for b in 0..k {
                let src = &line[left + b..left + b + (L - 1) * s + 1];
                for (l, acc) in acc.iter_mut().enumerate() {
                    *acc = (r.step)(*acc, src[l * s]);
                }
            }
        }
        let (re, pa) = (&real[ow..ow + L], &padded[ow..ow + L]);
        for (l, acc) in acc.iter_mut().enumerate() {
            *acc = (r.finish)(*acc, re[l], pa[l]);
        }
        // SAFETY: ow + L <= n = row.len(), and MaybeUninit<f32> has f32's layout.
        unsafe { std::ptr::copy_nonoverlapping(acc.as_ptr(), row[ow..ow + L].as_mut_ptr().cast::<f32>(), L) };
        if ow + L == n {
            break;
        }
        ow = (ow + L).min(n - L);
    }
}

/// max_pool2d: padding never wins (it acts as -inf).
pub fn max_pool2d(x: &[f32], xs: Shape4, spec: PoolSpec) -> (Vec<f32>, Shape4) {
    pool_planes(x, xs, spec, max_rule())
}

/// `max_pool2d` into memory the caller owns (one branch's channels of a concatenated tensor),
/// writing all of it; returns the output shape.
pub fn max_pool2d_uninit(x: &[f32], xs: Shape4, spec: PoolSpec, y: &mut [MaybeUninit<f32>]) -> Shape4 {
    pool_planes_uninit(x, xs, spec, max_rule(), y)
}

/// The max rule; NaN propagates, as in PyTorch.
fn max_rule() -> Reduction<impl Fn(f32, f32) -> f32 + Sync + Copy, impl Fn(f32, f32, f32) -> f32 + Sync + Copy> {
    let step = |m: f32, v: f32| if v > m || v.is_nan() { v } else { m };
    Reduction { init: f32::NEG_INFINITY, step, finish: |m: f32, _: f32, _: f32| m }
}

/// avg_pool2d. `count_include_pad = false` divides by the number of real pixels under the window
/// (TensorFlow's behaviour, which FID's Inception relies on); `true` by the window's extent
/// inside the padded image (PyTorch's default).
pub fn avg_pool2d(x: &[f32], xs: Shape4, spec: PoolSpec, count_include_pad: bool) -> (Vec<f32>, Shape4) {
    let finish = move |s: f32, real: f32, padded_area: f32| s / if count_include_pad { padded_area } else { real };
    pool_planes(x, xs, spec, Reduction { init: 0.0, step: |s, v| s + v, finish })
}

/// Mean over each H x W plane (adaptive average pooling to 1x1): [C, N, H, W] -> [C, N].
/// Summed in f64 so the result does not depend on the summation order to f32 precision.
pub fn global_avg_pool(x: &[f32], xs: Shape4) -> Vec<f32> {
    assert_eq!(x.len(), xs.len(), "pool: input shape");
    let plane = (xs.h * xs.w).max(1);
    x.par_chunks(plane).map(|p| (p.iter().map(|&v| v as f64).sum::<f64>() / plane as f64) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::randn_like;

    /// Direct definition over an explicitly padded plane (NaN marks padding).
    fn reference(x: &[f32], xs: Shape4, spec: PoolSpec, op: &str) -> Vec<f32> {
        let ys = spec.out_shape(xs).unwrap();
        let mut y = Vec::new();
        for pl in 0..xs.c * xs.n {
            for oh in 0..ys.h {
                for ow in 0..ys.w {
                    let (mut vals, mut area) = (Vec::new(), 0usize);
                    for a in 0..spec.k {
                        for b in 0..spec.k {
                            let (i, j) = (
                                (oh * spec.stride + a) as isize - spec.pad as isize,
                                (ow * spec.stride + b) as isize - spec.pad as isize,
                            );
                            let in_padded = i < (xs.h + spec.pad) as isize && j < (xs.w + spec.pad) as isize;
                            area += in_padded as usize;
                            if i >= 0 && j >= 0 && (i as usize) < xs.h && (j as usize) < xs.w {
                                vals.push(x[pl * xs.h * xs.w + i as usize * xs.w + j as usize] as f64);
                            }
                        }
                    }
                    let sum: f64 = vals.iter().sum();
                    y.push(match op {
                        "max" => vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max) as f32,
                        "avg_real" => (sum / vals.len() as f64) as f32,
                        _ => (sum / area as f64) as f32,
                    });
                }
            }
        }
        y
    }

    /// One output at a time over its clipped window: the definition the vector lanes must
    /// reproduce byte for byte (the pools as they were before the interior got lanes).
    fn one_at_a_time(x: &[f32], xs: Shape4, spec: PoolSpec, op: &str) -> Vec<f32> {
        let ys = spec.out_shape(xs).unwrap();
        let mut y = Vec::new();
        for p in x.chunks(xs.h * xs.w) {
            for oh in 0..ys.h {
                let (y0, y1, ph) = spec.span(oh, xs.h);
                for ow in 0..ys.w {
                    let (x0, x1, pw) = spec.span(ow, xs.w);
                    let taps = (y0..y1).flat_map(|r| p[r * xs.w + x0..r * xs.w + x1].iter().copied());
                    y.push(match op {
                        "max" => taps.fold(f32::NEG_INFINITY, |m, v| if v > m || v.is_nan() { v } else { m }),
                        "avg_real" => taps.fold(0.0f32, |s, v| s + v) / ((y1 - y0) * (x1 - x0)) as f32,
                        _ => taps.fold(0.0f32, |s, v| s + v) / (ph * pw) as f32,
                    });
                }
            }
        }
        y
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn lanes_give_the_bytes_of_one_output_at_a_time() {
        let specials = [f32::NAN, -f32::NAN, 0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, 1e-40, -1e-40];
        let mut cases = 0;
        for k in 1..=5 {
            for stride in 1..=3 {
                for pad in 0..=k / 2 {
                    for (h, w) in [(1, 1), (3, 40), (7, 9), (8, 8), (17, 17), (19, 23), (35, 35), (5, 70)] {
                        let xs = Shape4 { c: 2, n: 2, h, w };
                        let spec = PoolSpec { k, stride, pad };
                        if spec.out_shape(xs).is_none() {
                            continue;
                        }
                        let seed = (k * 1000 + stride * 100 + pad * 10 + h * 7 + w) as u64;
                        let mut x = randn_like(xs.len(), seed);
                        // Specials sprinkled in, and a run of signed zeros (max's ±0 tie rule).
                        for (i, v) in x.iter_mut().enumerate() {
                            let hash = (i as u64 + seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58;
                            if hash < specials.len() as u64 && i % 3 == 0 {
                                *v = specials[hash as usize];
                            } else if i % 11 < 3 && h > 2 {
                                *v = if i % 2 == 0 { 0.0 } else { -0.0 };
                            }
                        }
                        assert_eq!(bits(&max_pool2d(&x, xs, spec).0), bits(&one_at_a_time(&x, xs, spec, "max")));
                        for (rule, op) in [(false, "avg_real"), (true, "avg_padded")] {
                            let got = avg_pool2d(&x, xs, spec, rule).0;
                            assert_eq!(bits(&got), bits(&one_at_a_time(&x, xs, spec, op)), "{xs:?} {spec:?} {op}");
                        }
                        cases += 1;
                    }
                }
            }
        }
        assert!(cases > 100, "{cases} shapes");
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-6 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn pools_match_the_direct_definitions() {
        // Inception's windows (3/2/0, 3/1/1) and a few odd ones.
        for &(h, w, k, s, p) in &[(9, 9, 3, 2, 0), (8, 7, 3, 1, 1), (5, 6, 2, 2, 1), (7, 7, 3, 2, 1), (4, 4, 4, 1, 2)] {
            let xs = Shape4 { c: 2, n: 3, h, w };
            let x = randn_like(xs.len(), (h * 100 + k * 10 + p) as u64);
            let spec = PoolSpec { k, stride: s, pad: p };
            close(&max_pool2d(&x, xs, spec).0, &reference(&x, xs, spec, "max"));
            close(&avg_pool2d(&x, xs, spec, false).0, &reference(&x, xs, spec, "avg_real"));
            close(&avg_pool2d(&x, xs, spec, true).0, &reference(&x, xs, spec, "avg_padded"));
        }
    }

    #[test]
    fn corner_average_differs_by_padding_rule() {
        // 2x2 ones, 3x3 window with padding 1: the corner window covers 4 real pixels of 9.
        let xs = Shape4 { c: 1, n: 1, h: 2, w: 2 };
        let spec = PoolSpec { k: 3, stride: 1, pad: 1 };
        assert_eq!(avg_pool2d(&[1.0; 4], xs, spec, false).0, vec![1.0; 4]);
        assert_eq!(avg_pool2d(&[1.0; 4], xs, spec, true).0, vec![4.0 / 9.0; 4]);
        assert_eq!(max_pool2d(&[-1.0, -2.0, -3.0, -4.0], xs, spec).0, vec![-1.0; 4]);
    }

    #[test]
    fn global_average_is_the_plane_mean_and_rejects_nothing() {
        let xs = Shape4 { c: 2, n: 2, h: 2, w: 3 };
        let x: Vec<f32> = (0..xs.len()).map(|i| i as f32).collect();
        assert_eq!(global_avg_pool(&x, xs), vec![2.5, 8.5, 14.5, 20.5]);
        assert!(PoolSpec { k: 3, stride: 1, pad: 2 }.out_shape(xs).is_none());
    }
}
