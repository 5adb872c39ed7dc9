//! im2col / col2im on the engine's activation layout, CNHW ([channels, batch, height, width]).
//!
//! Why CNHW: with the batch folded into the GEMM's column dimension, a convolution over the whole
//! mini-batch is *one* GEMM whose output [C_out, N*H*W] already is the next layer's CNHW input: no
//! transposes between layers, and even the 1x1 latent layer becomes a proper matrix product.
//!
//! A `Patches` describes the two sides of a convolution: the "image" side (C channels, H x W) and
//! the "column" side (OH x OW positions). For conv2d the image side is the input; for a transposed
//! convolution it is the output (conv_transpose2d is the adjoint of conv2d with the same geometry).
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Kernel kh x kw, strides (sh, sw) and zero padding (ph, pw) on both sides of each axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RectSpec {
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
}

/// Geometry of a convolution over `c x h x w` images. Square kernels (PAD's own networks) use
/// `new`; Inception's 1x7 / 7x1 / 1x3 / 3x1 kernels use `rect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patches {
    pub c: usize,
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub k: RectSpec,
    pub oh: usize,
    pub ow: usize,
}

/// One spatial axis of the geometry: stride and padding.
#[derive(Clone, Copy)]
struct Axis {
    s: usize,
    p: usize,
}

impl Axis {
    /// Input coordinate of output position `o` and kernel offset `kk`, if inside the image.
    #[inline]
    fn src(self, o: usize, kk: usize, size: usize) -> Option<usize> {
        let i = (o * self.s + kk) as isize - self.p as isize;
        (i >= 0 && (i as usize) < size).then_some(i as usize)
    }
    /// The output positions [lo, hi) whose input coordinate o*s + kk - p lies in [0, size), so the
    /// inner loops run without bounds tests.
    #[inline]
    fn valid(self, kk: usize, size: usize, out: usize) -> (usize, usize) {
        let (s, p) = (self.s, self.p);
        let lo = if p > kk { (p - kk).div_ceil(s) } else { 0 };
        let hi = if size + p > kk { (size + p - kk).div_ceil(s) } else { 0 };
        (lo.min(out), hi.min(out).max(lo.min(out)))
    }
}

impl Patches {
    /// Geometry of a square convolution reading an image side of `c x h x w` per example.
    pub fn new(c: usize, n: usize, h: usize, w: usize, k: usize, stride: usize, pad: usize) -> Self {
        Self::rect(c, n, h, w, RectSpec { kh: k, kw: k, sh: stride, sw: stride, ph: pad, pw: pad })
    }
    /// General geometry: rectangular kernel, per-axis strides and paddings.
    pub fn rect(c: usize, n: usize, h: usize, w: usize, k: RectSpec) -> Self {
        assert!(h + 2 * k.ph >= k.kh && w + 2 * k.pw >= k.kw, "kernel larger than padded input");
        assert!(k.sh > 0 && k.sw > 0, "zero stride");
        let oh = (h + 2 * k.ph - k.kh) / k.sh + 1;
        let ow = (w + 2 * k.pw - k.kw) / k.sw + 1;
        Patches { c, n, h, w, k, oh, ow }
    }
    /// Rows of the column matrix: c * kh * kw.
    pub fn rows(&self) -> usize {
        self.c * self.k.kh * self.k.kw
    }
    /// Columns of the column matrix: n * oh * ow.
    pub fn cols(&self) -> usize {
        self.n * self.oh * self.ow
    }
    /// Length of the image-side tensor: c * n * h * w.
    pub fn image_len(&self) -> usize {
        self.c * self.n * self.h * self.w
    }
    fn y(&self) -> Axis {
        Axis { s: self.k.sh, p: self.k.ph }
    }
    fn x(&self) -> Axis {
        Axis { s: self.k.sw, p: self.k.pw }
    }
}

/// im2col into a new buffer (never zero-filled first: every element is written once).
pub fn im2col_new(g: &Patches, image: &[f32]) -> Vec<f32> {
    let len = g.rows() * g.cols();
    let mut cols = Vec::with_capacity(len);
    im2col_uninit(g, image, &mut cols.spare_capacity_mut()[..len]);
    // SAFETY: im2col_uninit wrote every one of the `len` elements.
    unsafe { cols.set_len(len) };
    cols
}

/// cols[(ci, kh, kw), (n, oh, ow)] = image[ci, n, oh*s - p + kh, ow*s - p + kw] (0 outside).
pub fn im2col(g: &Patches, image: &[f32], cols: &mut [f32]) {
    // SAFETY: viewing initialised floats as MaybeUninit is sound; only valid floats are written.
    let cols = unsafe { std::slice::from_raw_parts_mut(cols.as_mut_ptr() as *mut MaybeUninit<f32>, cols.len()) };
    im2col_uninit(g, image, cols);
}

/// Parallel over rows of `cols`: each row is an independent contiguous slice, written in full.
fn im2col_uninit(g: &Patches, image: &[f32], cols: &mut [MaybeUninit<f32>]) {
    assert_eq!(image.len(), g.image_len());
    assert_eq!(cols.len(), g.rows() * g.cols());
    let kk = g.k.kh * g.k.kw;
    let plane = g.h * g.w;
    let (ay, ax) = (g.y(), g.x());
    cols.par_chunks_mut(g.cols()).enumerate().for_each(|(row, out)| {
        let (ci, kh, kw) = (row / kk, (row % kk) / g.k.kw, row % g.k.kw);
        let img = &image[ci * g.n * plane..(ci + 1) * g.n * plane];
        let (lo, hi) = ax.valid(kw, g.w, g.ow);
        for n in 0..g.n {
            let src_plane = &img[n * plane..(n + 1) * plane];
            for oh in 0..g.oh {
                let dst = &mut out[(n * g.oh + oh) * g.ow..(n * g.oh + oh + 1) * g.ow];
                match ay.src(oh, kh, g.h) {
                    None => dst.fill(ZERO),
                    Some(ih) => {
                        let src_row = &src_plane[ih * g.w..(ih + 1) * g.w];
                        dst[..lo].fill(ZERO);
                        dst[hi..].fill(ZERO);
                        let first = lo * g.k.sw + kw - g.k.pw;
                        gather(&mut dst[lo..hi], &src_row[first..], g.k.sw);
                    }
                }
            }
        }
    });
}

const ZERO: MaybeUninit<f32> = MaybeUninit::new(0.0);

/// dst[j] = src[j * stride], with the common strides spelled out so the compiler unrolls them.
#[inline]
fn gather(dst: &mut [MaybeUninit<f32>], src: &[f32], stride: usize) {
    match stride {
        1 => dst.iter_mut().zip(src).for_each(|(d, v)| {
            d.write(*v);
        }),
        2 => {
            let src = &src[..2 * dst.len() - 1];
            for (j, d) in dst.iter_mut().enumerate() {
                d.write(src[2 * j]);
            }
        }
        s => dst.iter_mut().zip(src.iter().step_by(s)).for_each(|(d, v)| {
            d.write(*v);
        }),
    }
}

/// dst[j * stride] += src[j] (the adjoint of `gather`).
#[inline]
fn scatter_add(dst: &mut [f32], src: &[f32], stride: usize) {
    match stride {
        1 => dst[..src.len()].iter_mut().zip(src).for_each(|(d, v)| *d += v),
        2 => {
            let dst = &mut dst[..2 * src.len() - 1];
            for (j, v) in src.iter().enumerate() {
                dst[2 * j] += v;
            }
        }
        s => dst.iter_mut().step_by(s).zip(src).for_each(|(d, v)| *d += v),
    }
}

/// The adjoint of `im2col`: image[ci, n, ih, iw] += cols[...] for every patch that covers it.
/// Parallel over channels (each owns its image plane and its k*k rows of `cols`); within a channel
/// contributions are added in a fixed (kh, kw, n, oh, ow) order, so the sums are deterministic.
/// `image` is accumulated into: pass zeros to get the plain adjoint.
pub fn col2im(g: &Patches, cols: &[f32], image: &mut [f32]) {
    assert_eq!(image.len(), g.image_len());
    assert_eq!(cols.len(), g.rows() * g.cols());
    let kk = g.k.kh * g.k.kw;
    let plane = g.h * g.w;
    let ncols = g.cols();
    let (ay, ax) = (g.y(), g.x());
    image.par_chunks_mut(g.n * plane).enumerate().for_each(|(ci, img)| {
        for kh in 0..g.k.kh {
            for kw in 0..g.k.kw {
                let row = &cols[(ci * kk + kh * g.k.kw + kw) * ncols..][..ncols];
                let (lo, hi) = ax.valid(kw, g.w, g.ow);
                if lo >= hi {
                    continue;
                }
                let first = lo * g.k.sw + kw - g.k.pw;
                for n in 0..g.n {
                    let dst_plane = &mut img[n * plane..(n + 1) * plane];
                    for oh in 0..g.oh {
                        let Some(ih) = ay.src(oh, kh, g.h) else { continue };
                        let src = &row[(n * g.oh + oh) * g.ow + lo..(n * g.oh + oh) * g.ow + hi];
                        scatter_add(&mut dst_plane[ih * g.w + first..(ih + 1) * g.w], src, g.k.sw);
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// <im2col(x), y> == <x, col2im(y)>: col2im is exactly the adjoint.
    #[test]
    fn col2im_is_adjoint_of_im2col() {
        for &(c, n, h, k, s, p) in &[
            (2, 3, 8, 4, 2, 1),
            (3, 2, 5, 3, 1, 1),
            (1, 1, 4, 4, 1, 0),
            (2, 2, 7, 4, 2, 0),
            (2, 2, 9, 3, 3, 2),
            (1, 2, 3, 4, 1, 2),
        ] {
            let g = Patches::new(c, n, h, h, k, s, p);
            let x: Vec<f32> = (0..g.image_len()).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
            let y: Vec<f32> = (0..g.rows() * g.cols()).map(|i| ((i * 13 % 7) as f32) - 3.0).collect();
            let mut cx = vec![0.0; y.len()];
            im2col(&g, &x, &mut cx);
            let mut ty = vec![0.0; x.len()];
            assert_eq!(im2col_new(&g, &x), cx);
            col2im(&g, &y, &mut ty);
            let lhs: f64 = cx.iter().zip(&y).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            let rhs: f64 = x.iter().zip(&ty).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            assert_eq!(lhs, rhs);
        }
    }

    /// The bounds-test-free loops agree with the plain definition, for strides 1-3 and paddings 0-2.
    #[test]
    fn im2col_matches_the_definition_elementwise() {
        for &(h, w, k, s, p) in &[(5, 7, 3, 1, 1), (8, 8, 4, 2, 1), (9, 6, 3, 3, 2), (4, 4, 4, 2, 0), (3, 5, 4, 1, 2)] {
            let g = Patches::new(2, 2, h, w, k, s, p);
            let x: Vec<f32> = (0..g.image_len()).map(|i| i as f32 + 1.0).collect();
            let mut cols = vec![f32::NAN; g.rows() * g.cols()];
            im2col(&g, &x, &mut cols);
            for ci in 0..2 {
                for kh in 0..k {
                    for kw in 0..k {
                        for n in 0..2 {
                            for oh in 0..g.oh {
                                for ow in 0..g.ow {
                                    let (ih, iw) =
                                        ((oh * s + kh) as isize - p as isize, (ow * s + kw) as isize - p as isize);
                                    let want = if ih < 0 || iw < 0 || ih >= h as isize || iw >= w as isize {
                                        0.0
                                    } else {
                                        x[((ci * 2 + n) * h + ih as usize) * w + iw as usize]
                                    };
                                    let got = cols[((ci * k + kh) * k + kw) * g.cols() + (n * g.oh + oh) * g.ow + ow];
                                    assert_eq!(got, want, "h{h} w{w} k{k} s{s} p{p}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Rectangular kernels with per-axis stride and padding (Inception's 1x7, 7x1, 1x3, 3x1)
    /// agree with the definition, and col2im stays their exact adjoint.
    #[test]
    fn rectangular_geometry_matches_the_definition_and_adjoint() {
        for &(h, w, kh, kw, sh, sw, ph, pw) in &[
            (6, 9, 1, 7, 1, 1, 0, 3),
            (9, 6, 7, 1, 1, 1, 3, 0),
            (5, 5, 1, 3, 1, 1, 0, 1),
            (7, 8, 3, 1, 2, 1, 1, 0),
            (8, 7, 3, 2, 1, 3, 0, 1),
        ] {
            let g = Patches::rect(2, 2, h, w, RectSpec { kh, kw, sh, sw, ph, pw });
            assert_eq!((g.oh, g.ow), ((h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1));
            let x: Vec<f32> = (0..g.image_len()).map(|i| i as f32 + 1.0).collect();
            let cols = im2col_new(&g, &x);
            for (row, r) in cols.chunks(g.cols()).enumerate() {
                let (ci, a, b) = (row / (kh * kw), row % (kh * kw) / kw, row % kw);
                for n in 0..2 {
                    for oh in 0..g.oh {
                        for ow in 0..g.ow {
                            let (ih, iw) = ((oh * sh + a) as isize - ph as isize, (ow * sw + b) as isize - pw as isize);
                            let inside = ih >= 0 && iw >= 0 && ih < h as isize && iw < w as isize;
                            let want = if inside { x[((ci * 2 + n) * h + ih as usize) * w + iw as usize] } else { 0.0 };
                            assert_eq!(r[(n * g.oh + oh) * g.ow + ow], want, "{kh}x{kw} s{sh},{sw} p{ph},{pw}");
                        }
                    }
                }
            }
            let y: Vec<f32> = (0..cols.len()).map(|i| ((i * 13 % 7) as f32) - 3.0).collect();
            let mut ty = vec![0.0; x.len()];
            col2im(&g, &y, &mut ty);
            let lhs: f64 = cols.iter().zip(&y).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            let rhs: f64 = x.iter().zip(&ty).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            assert_eq!(lhs, rhs);
        }
    }

    #[test]
    fn output_size_follows_the_conv_formula() {
        let g = Patches::new(3, 1, 32, 32, 4, 2, 1);
        assert_eq!((g.oh, g.ow), (16, 16));
        let g = Patches::new(256, 1, 4, 4, 4, 2, 0);
        assert_eq!((g.oh, g.ow), (1, 1));
    }
}
