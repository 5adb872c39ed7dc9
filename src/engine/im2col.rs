//! im2col / col2im on the engine's activation layout, CNHW ([channels, batch, height, width]).
//!
//! Why CNHW: with the batch folded into the GEMM's column dimension, a convolution over the whole
//! mini-batch is *one* GEMM whose output [C_out, N*H*W] already is the next layer's CNHW input: no
//! transposes between layers, and even the 1x1 latent layer becomes a proper matrix product.
//!
//! A `Patches` describes the two sides of a convolution: the "image" side (C channels, H x W) and
//! the "column" side (OH x OW positions). For conv2d the image side is the input; for a transposed
//! convolution it is the output (conv_transpose2d is the adjoint of conv2d with the same geometry).
use super::gemm::{zero_row_tails, MatRef};
#[cfg(target_arch = "x86_64")]
use super::row_copy::Avx512;
use super::row_copy::{gather, Plain, RowMoves};
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::ops::Range;

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
    /// Column positions per image: oh * ow.
    pub fn per(&self) -> usize {
        self.oh * self.ow
    }
    /// Length of the image-side tensor: c * n * h * w.
    pub fn image_len(&self) -> usize {
        self.c * self.n * self.h * self.w
    }
    /// Distance between rows of the column matrix. PAD's column counts are powers of two (1,024
    /// to 16,384 floats), so unpadded rows would start a multiple of 4 KB apart and all fall into
    /// the same L1 sets; the GEMM's packing reads down 64 such rows at once (the weight gradient
    /// transposes them) and kept evicting its own lines. One cache line of padding (where the
    /// count is a multiple of 256 floats, 1 KB, so that every 4th row or more would share L1
    /// sets) spreads them: the weight-gradient products ran 10-17% faster (docs/performance.md),
    /// with the same bytes.
    pub fn ld(&self) -> usize {
        let n = self.cols();
        if n.is_multiple_of(256) {
            n + 16
        } else {
            n
        }
    }
    /// Length of a column matrix buffer: rows * ld.
    pub fn col_len(&self) -> usize {
        self.rows() * self.ld()
    }
    /// A column matrix buffer of this geometry as a [rows, cols] matrix (rows `ld` apart).
    pub fn col_matrix<'a>(&self, cols: &'a [f32]) -> MatRef<'a> {
        assert_eq!(cols.len(), self.col_len(), "column matrix length");
        MatRef { data: cols, rows: self.rows(), cols: self.cols(), rs: self.ld(), cs: 1 }
    }
}

/// im2col into a new buffer of `g.col_len()` (never zero-filled first: every element, padding
/// included, is written once).
pub fn im2col_new(g: &Patches, image: &[f32]) -> Vec<f32> {
    let len = g.col_len();
    let mut cols = Vec::with_capacity(len);
    im2col_uninit(g, image, &mut cols.spare_capacity_mut()[..len]);
    // SAFETY: im2col_uninit wrote every one of the `len` elements.
    unsafe { cols.set_len(len) };
    cols
}

/// cols[(ci, kh, kw), (n, oh, ow)] = image[ci, n, oh*s - p + kh, ow*s - p + kw] (0 outside),
/// rows `g.ld()` apart; the padding at the end of each row is zero.
pub fn im2col(g: &Patches, image: &[f32], cols: &mut [f32]) {
    // SAFETY: viewing initialised floats as MaybeUninit is sound; only valid floats are written.
    let cols = unsafe { std::slice::from_raw_parts_mut(cols.as_mut_ptr() as *mut MaybeUninit<f32>, cols.len()) };
    im2col_uninit(g, image, cols);
}

/// Parallel over channels: a channel's kh*kw rows of `cols` are written from its N image planes,
/// each first copied into a zero-bordered plane (when there is padding) so that every patch read
/// is in bounds. The copy loops then have no edge cases, and for PAD's output widths (1, 4, 8, 16)
/// and strides (1, 2) they are unrolled at compile time: per-row-segment overhead, not memory,
/// was what made the general loops slow on the small 8- and 4-wide maps (conv2: 3.4 GB/s).
fn im2col_uninit(g: &Patches, image: &[f32], cols: &mut [MaybeUninit<f32>]) {
    assert_eq!(image.len(), g.image_len());
    assert_eq!(cols.len(), g.col_len());
    let kk = g.k.kh * g.k.kw;
    let plane = g.h * g.w;
    let (ncols, ld) = (g.cols(), g.ld());
    cols.par_chunks_mut(kk * ld).enumerate().for_each(|(ci, rows)| {
        im2col_channel(g, &image[ci * g.n * plane..(ci + 1) * g.n * plane], 0..g.n, rows, ld);
        zero_row_tails(rows, ld, ncols);
    });
}

/// The columns of images `imgs`, all rows: row-major [c * kh * kw, imgs.len() * oh * ow] in
/// `out`. The same values as that block of `im2col`, made where a GEMM tile needs them
/// (engine::implicit_gemm).
pub fn im2col_images(g: &Patches, image: &[f32], imgs: Range<usize>, out: &mut [MaybeUninit<f32>]) {
    assert_eq!(image.len(), g.image_len());
    let kk = g.k.kh * g.k.kw;
    let width = imgs.len() * g.per();
    assert_eq!(out.len(), g.c * kk * width);
    let plane = g.h * g.w;
    for (ci, rows) in out.chunks_exact_mut(kk * width).enumerate() {
        im2col_channel(g, &image[ci * g.n * plane..(ci + 1) * g.n * plane], imgs.clone(), rows, width);
    }
}

/// Columns `cols` of the column matrix, all rows: row-major [c * kh * kw, cols.len()] in `out`,
/// whatever images the range starts, ends or cuts. The same values as that block of `im2col`,
/// made where a GEMM tile that cuts images apart needs them (engine::implicit_gemm at
/// Inception's batch of 2, where one image has up to 22,201 positions). No padded copy of the
/// planes: a tile reads a few input rows of each, so each output row segment is clipped against
/// the image's edges instead.
pub fn im2col_cols(g: &Patches, image: &[f32], cols: Range<usize>, out: &mut [MaybeUninit<f32>]) {
    assert_eq!(image.len(), g.image_len());
    assert!(cols.end <= g.cols(), "im2col_cols: columns past the matrix");
    let width = cols.len();
    assert_eq!(out.len(), g.rows() * width);
    // What every row of kernel position (kh, kw) is made of, the same for all channels: worked out
    // once per range, since at 17 positions a row the clipping costs as much as the copies.
    let plan = ColumnPlan::new(g, cols);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { fill_rows_avx512(g, image, &plan, out, width) };
    }
    fill_rows::<Plain>(g, image, &plan, out, width);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fill_rows_avx512(g: &Patches, image: &[f32], plan: &ColumnPlan, out: &mut [MaybeUninit<f32>], width: usize) {
    fill_rows::<Avx512>(g, image, plan, out, width)
}

/// Row r = (channel, kernel position) of the range: its position's pieces, read from its channel.
#[inline(always)]
fn fill_rows<M: RowMoves>(g: &Patches, image: &[f32], plan: &ColumnPlan, out: &mut [MaybeUninit<f32>], width: usize) {
    let (channel_len, kk) = (g.n * g.h * g.w, g.k.kh * g.k.kw);
    for (r, dst) in out.chunks_exact_mut(width).enumerate() {
        let channel = &image[r / kk * channel_len..(r / kk + 1) * channel_len];
        for p in plan.pieces(r % kk) {
            let d = &mut dst[p.at..p.at + p.len];
            match (p.src, g.k.sw) {
                (None, _) => M::zero(d),
                (Some(s), 1) => M::copy(d, &channel[s..s + p.len]),
                (Some(s), 2) => M::gather2(d, &channel[s..s + 2 * p.len - 1]),
                (Some(s), sw) => gather(d, &channel[s..], sw),
            }
        }
    }
}

/// One piece of a row of the column matrix: `len` columns from column `at` of the range, zeros
/// (`src` None) or read from the channel's N planes at `src` (every sw-th float).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Piece {
    at: usize,
    len: usize,
    src: Option<usize>,
}

/// The pieces of each kernel position's rows for a range of columns: its output row segments
/// clipped against the image's edges, neighbours merged where they continue each other in both
/// the row and the input (a 7 x 1 kernel's rows of 17 become one copy from one image's plane).
struct ColumnPlan {
    pieces: Vec<Piece>,
    /// pieces[starts[kpos]..starts[kpos + 1]] are kernel position kpos's.
    starts: Vec<usize>,
}

impl ColumnPlan {
    fn new(g: &Patches, cols: Range<usize>) -> Self {
        let (plane, sw) = (g.h * g.w, g.k.sw);
        let segments = row_segments(g, cols);
        let mut pieces: Vec<Piece> = Vec::new();
        let mut starts = vec![0];
        for kpos in 0..g.k.kh * g.k.kw {
            let (kh, kw) = (kpos / g.k.kw, kpos % g.k.kw);
            // The output columns whose input column ox * sw + kw - pw is inside the image.
            let lo = g.k.pw.saturating_sub(kw).div_ceil(sw).min(g.ow);
            let hi = ((g.w + g.k.pw).saturating_sub(kw).div_ceil(sw)).clamp(lo, g.ow);
            let first = pieces.len();
            let mut push = |p: Piece| {
                if p.len == 0 {
                    return;
                }
                if let Some(last) = pieces[first..].last_mut() {
                    let follows = match (last.src, p.src) {
                        (None, None) => true,
                        (Some(a), Some(b)) => sw == 1 && a + last.len == b,
                        _ => false,
                    };
                    if follows && last.at + last.len == p.at {
                        last.len += p.len;
                        return;
                    }
                }
                pieces.push(p);
            };
            for s in &segments {
                let len = s.ox1 - s.ox0;
                match (s.oy * g.k.sh + kh).checked_sub(g.k.ph).filter(|&iy| iy < g.h) {
                    None => push(Piece { at: s.at, len, src: None }),
                    Some(iy) => {
                        let (a, b) = (lo.clamp(s.ox0, s.ox1), hi.clamp(s.ox0, s.ox1));
                        let row = s.n * plane + iy * g.w;
                        push(Piece { at: s.at, len: a - s.ox0, src: None });
                        push(Piece { at: s.at + a - s.ox0, len: b - a, src: Some(row + a * sw + kw - g.k.pw) });
                        push(Piece { at: s.at + b - s.ox0, len: s.ox1 - b, src: None });
                    }
                }
            }
            starts.push(pieces.len());
        }
        ColumnPlan { pieces, starts }
    }

    fn pieces(&self, kpos: usize) -> &[Piece] {
        &self.pieces[self.starts[kpos]..self.starts[kpos + 1]]
    }
}

/// A piece of one output row inside a range of columns: image `n`, output row `oy`, output
/// columns ox0..ox1, starting at column `at` of the range.
struct RowSegment {
    n: usize,
    oy: usize,
    ox0: usize,
    ox1: usize,
    at: usize,
}

fn row_segments(g: &Patches, cols: Range<usize>) -> Vec<RowSegment> {
    let mut segments = Vec::with_capacity(cols.len() / g.ow + 2);
    let mut j = cols.start;
    while j < cols.end {
        let (n, p) = (j / g.per(), j % g.per());
        let (oy, ox0) = (p / g.ow, p % g.ow);
        let ox1 = g.ow.min(ox0 + cols.end - j);
        segments.push(RowSegment { n, oy, ox0, ox1, at: j - cols.start });
        j += ox1 - ox0;
    }
    segments
}

/// One channel's kh*kw rows of the column matrix, for images `imgs` (column (n - imgs.start) *
/// oh * ow onwards of each row of `rows`, which are `width` apart). `img` is the channel's N planes.
fn im2col_channel(g: &Patches, img: &[f32], imgs: Range<usize>, rows: &mut [MaybeUninit<f32>], width: usize) {
    let plane = g.h * g.w;
    let per = g.per();
    let (hp, wp) = (g.h + 2 * g.k.ph, g.w + 2 * g.k.pw);
    let padded = g.k.ph > 0 || g.k.pw > 0;
    let first = imgs.start;
    if g.oh == 1 && g.ow == 1 && !padded {
        // One output position (the latent layer on its 4x4 map): row (kh, kw) gathers that pixel
        // of every plane.
        for (kpos, dst) in rows.chunks_exact_mut(width).enumerate() {
            let at = first * plane + (kpos / g.k.kw) * g.w + kpos % g.k.kw;
            dst.iter_mut().zip(img.iter().skip(at).step_by(plane)).for_each(|(d, v)| {
                d.write(*v);
            });
        }
        return;
    }
    let mut buf = if padded { vec![0.0f32; hp * wp] } else { Vec::new() };
    for n in imgs {
        let src_plane = &img[n * plane..(n + 1) * plane];
        let (src, ld) = if padded {
            for ih in 0..g.h {
                let at = (ih + g.k.ph) * wp + g.k.pw;
                buf[at..at + g.w].copy_from_slice(&src_plane[ih * g.w..(ih + 1) * g.w]);
            }
            (&buf[..], wp)
        } else {
            (src_plane, g.w)
        };
        for kh in 0..g.k.kh {
            for kw in 0..g.k.kw {
                let row = (kh * g.k.kw + kw) * width + (n - first) * per;
                patch_rows(&mut rows[row..row + per], &src[kh * ld + kw..], g, ld);
            }
        }
    }
}

/// dst[oh * ow + j] = src[oh * sh * ld + j * sw] for every output position of one kernel offset.
#[inline]
fn patch_rows(dst: &mut [MaybeUninit<f32>], src: &[f32], g: &Patches, ld: usize) {
    match (g.ow, g.k.sw) {
        (16, 2) => patch_rows_const::<16, 2>(dst, src, g.k.sh * ld),
        (8, 2) => patch_rows_const::<8, 2>(dst, src, g.k.sh * ld),
        (4, 2) => patch_rows_const::<4, 2>(dst, src, g.k.sh * ld),
        (1, _) => patch_rows_const::<1, 1>(dst, src, g.k.sh * ld),
        _ => {
            for (oh, d) in dst.chunks_exact_mut(g.ow).enumerate() {
                gather(d, &src[oh * g.k.sh * ld..], g.k.sw);
            }
        }
    }
}

/// `patch_rows` with the width and column stride known at compile time (fully unrolled rows).
#[inline]
fn patch_rows_const<const OW: usize, const SW: usize>(dst: &mut [MaybeUninit<f32>], src: &[f32], row_step: usize) {
    for (oh, d) in dst.chunks_exact_mut(OW).enumerate() {
        let s = &src[oh * row_step..oh * row_step + (OW - 1) * SW + 1];
        for j in 0..OW {
            d[j].write(s[j * SW]);
        }
    }
}

/// dst[oh * sh * ld + j * sw] += src[oh * ow + j]: the adjoint of `patch_rows`, unrolled alike.
#[inline]
fn add_patch_rows(dst: &mut [f32], src: &[f32], g: &Patches, ld: usize) {
    match (g.ow, g.k.sw) {
        (16, 2) => add_patch_rows_const::<16, 2>(dst, src, g.k.sh * ld),
        (8, 2) => add_patch_rows_const::<8, 2>(dst, src, g.k.sh * ld),
        (4, 2) => add_patch_rows_const::<4, 2>(dst, src, g.k.sh * ld),
        _ => {
            for (oh, s) in src.chunks_exact(g.ow).enumerate() {
                scatter_add(&mut dst[oh * g.k.sh * ld..], s, g.k.sw);
            }
        }
    }
}

#[inline]
fn add_patch_rows_const<const OW: usize, const SW: usize>(dst: &mut [f32], src: &[f32], row_step: usize) {
    for (oh, s) in src.chunks_exact(OW).enumerate() {
        let d = &mut dst[oh * row_step..oh * row_step + (OW - 1) * SW + 1];
        for j in 0..OW {
            d[j * SW] += s[j];
        }
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
/// Parallel over channels (each owns its image planes and its kh*kw rows of `cols`). Each plane is
/// accumulated in a zero-bordered copy (so no add needs an edge test) and its interior copied
/// back; every pixel receives its contributions in (kh, kw) order, one per kernel offset, on top
/// of its value in `image`, so the sums are deterministic and the same whatever the loop blocking.
/// `image` is accumulated into (`col2im_new` starts from zeros). `cols` has rows `g.ld()` apart,
/// like im2col's.
pub fn col2im(g: &Patches, cols: &[f32], image: &mut [f32]) {
    // SAFETY: viewing initialised floats as MaybeUninit is sound; only valid floats are written.
    let image = unsafe { std::slice::from_raw_parts_mut(image.as_mut_ptr() as *mut MaybeUninit<f32>, image.len()) };
    col2im_into(g, cols, image, false);
}

/// col2im onto a zero image, in a new buffer. The same bytes as `col2im` onto `vec![0.0; ..]`
/// (each pixel's sum starts from the same +0.0), without first zero-filling the whole image
/// (a memset of up to 16 MB per call, 1.5% of an iteration).
pub fn col2im_new(g: &Patches, cols: &[f32]) -> Vec<f32> {
    let len = g.image_len();
    let mut image = Vec::with_capacity(len);
    col2im_into(g, cols, &mut image.spare_capacity_mut()[..len], true);
    // SAFETY: col2im_into with `fresh` wrote every one of the `len` elements.
    unsafe { image.set_len(len) };
    image
}

/// col2im onto `image`: its values if `fresh` is false (then it must be initialised), zeros if
/// true (then it is only written).
fn col2im_into(g: &Patches, cols: &[f32], image: &mut [MaybeUninit<f32>], fresh: bool) {
    assert_eq!(image.len(), g.image_len());
    assert_eq!(cols.len(), g.col_len());
    let kk = g.k.kh * g.k.kw;
    let plane = g.h * g.w;
    let (ncols, ld) = (g.cols(), g.ld());
    let (hp, wp) = (g.h + 2 * g.k.ph, g.w + 2 * g.k.pw);
    let per = g.oh * g.ow;
    image.par_chunks_mut(g.n * plane).enumerate().for_each(|(ci, img)| {
        let rows = &cols[ci * kk * ld..(ci + 1) * kk * ld];
        if per == 1 && g.k.ph == 0 && g.k.pw == 0 {
            if fresh {
                img.iter_mut().for_each(|v| {
                    v.write(0.0);
                });
            }
            // SAFETY: every element is initialised now (by the caller, or just above).
            let img = unsafe { &mut *(img as *mut [MaybeUninit<f32>] as *mut [f32]) };
            // One output position: row (kh, kw) adds onto that pixel of every plane.
            for (kpos, src) in rows.chunks_exact(ld).map(|r| &r[..ncols]).enumerate() {
                let at = (kpos / g.k.kw) * g.w + kpos % g.k.kw;
                img.iter_mut().skip(at).step_by(plane).zip(src).for_each(|(d, v)| *d += v);
            }
            return;
        }
        let mut buf = vec![0.0f32; hp * wp];
        for n in 0..g.n {
            let dst_plane = &mut img[n * plane..(n + 1) * plane];
            for ih in 0..g.h {
                let at = (ih + g.k.ph) * wp + g.k.pw;
                let interior = &mut buf[at..at + g.w];
                if fresh {
                    interior.fill(0.0);
                } else {
                    for (b, d) in interior.iter_mut().zip(&dst_plane[ih * g.w..(ih + 1) * g.w]) {
                        // SAFETY: without `fresh` the caller's image is initialised.
                        *b = unsafe { d.assume_init_read() };
                    }
                }
            }
            for kh in 0..g.k.kh {
                for kw in 0..g.k.kw {
                    let row = (kh * g.k.kw + kw) * ld + n * per;
                    add_patch_rows(&mut buf[kh * wp + kw..], &rows[row..row + per], g, wp);
                }
            }
            for ih in 0..g.h {
                let at = (ih + g.k.ph) * wp + g.k.pw;
                for (d, b) in dst_plane[ih * g.w..(ih + 1) * g.w].iter_mut().zip(&buf[at..at + g.w]) {
                    d.write(*b);
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
            let y: Vec<f32> = (0..g.col_len()).map(|i| ((i * 13 % 7) as f32) - 3.0).collect();
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

    /// The bounds-test-free loops agree with the plain definition, for strides 1-3 and paddings 0-2,
    /// including PAD's geometries (output widths 16, 8, 4 and 1: the compile-time unrolled copies).
    #[test]
    fn im2col_matches_the_definition_elementwise() {
        for &(h, w, k, s, p) in &[
            (5, 7, 3, 1, 1),
            (8, 8, 4, 2, 1),
            (9, 6, 3, 3, 2),
            (4, 4, 4, 2, 0),
            (3, 5, 4, 1, 2),
            (32, 32, 4, 2, 1),
            (16, 16, 4, 2, 1),
            (7, 16, 4, 2, 1),
        ] {
            let g = Patches::new(2, 2, h, w, k, s, p);
            let x: Vec<f32> = (0..g.image_len()).map(|i| i as f32 + 1.0).collect();
            let mut cols = vec![f32::NAN; g.col_len()];
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
                                    let got = cols[((ci * k + kh) * k + kw) * g.ld() + (n * g.oh + oh) * g.ow + ow];
                                    assert_eq!(got, want, "h{h} w{w} k{k} s{s} p{p}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Any range of columns (inside one output row, across rows, across images, the whole
    /// matrix) is that block of the full column matrix, for padded, strided and rectangular
    /// kernels, including kernels wider than the padding on one side, on the vector moves and the
    /// plain loops alike.
    #[test]
    fn a_range_of_columns_is_that_block_of_im2col() {
        for &(h, w, kh, kw, sh, sw, ph, pw) in &[
            (9, 9, 3, 3, 1, 1, 0, 0),
            (9, 11, 3, 3, 2, 2, 0, 0),
            (8, 8, 3, 3, 1, 1, 1, 1),
            (9, 7, 3, 3, 2, 2, 1, 1),
            (6, 9, 1, 7, 1, 1, 0, 3),
            (9, 6, 7, 1, 1, 1, 3, 0),
            (8, 7, 3, 2, 1, 3, 0, 1),
            (7, 7, 5, 5, 1, 1, 2, 2),
        ] {
            let g = Patches::rect(3, 3, h, w, RectSpec { kh, kw, sh, sw, ph, pw });
            let x: Vec<f32> = (0..g.image_len()).map(|i| i as f32 + 1.0).collect();
            let full = im2col_new(&g, &x);
            let n = g.cols();
            for range in
                [0..n, 0..1, 1..g.ow - 1, g.ow - 1..g.ow + 2, 5..g.per() + 7, g.per() - 3..2 * g.per() + 1, n - 4..n]
            {
                let mut out = vec![MaybeUninit::new(f32::NAN); g.rows() * range.len()];
                im2col_cols(&g, &x, range.clone(), &mut out);
                // The plain loops (what CPUs without AVX-512 run) give the same block.
                let mut plain = vec![MaybeUninit::new(f32::NAN); g.rows() * range.len()];
                fill_rows::<Plain>(&g, &x, &ColumnPlan::new(&g, range.clone()), &mut plain, range.len());
                let bits =
                    |v: &[MaybeUninit<f32>]| v.iter().map(|v| unsafe { v.assume_init() }.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&plain), bits(&out), "{kh}x{kw} s{sh},{sw} p{ph},{pw} plain, columns {range:?}");
                for (r, row) in out.chunks(range.len()).enumerate() {
                    let got: Vec<u32> = row.iter().map(|v| unsafe { v.assume_init() }.to_bits()).collect();
                    let want: Vec<u32> =
                        full[r * g.ld() + range.start..r * g.ld() + range.end].iter().map(|v| v.to_bits()).collect();
                    assert_eq!(got, want, "{kh}x{kw} s{sh},{sw} p{ph},{pw} row {r} columns {range:?}");
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
            for (row, r) in cols.chunks(g.ld()).enumerate() {
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

    /// col2im's bytes are fixed by its order: each pixel gets its value, then its contributions
    /// in (kh, kw) order. It matches a plain f32 loop in that order bit for bit, on values whose
    /// sums round, for PAD's geometries and others; a faster col2im must keep this order.
    #[test]
    fn col2im_adds_in_kernel_order_bit_for_bit() {
        for &(c, n, h, w, k, s, p) in &[
            (2, 3, 16, 16, 4, 2, 1),
            (2, 2, 8, 8, 4, 2, 1),
            (1, 2, 32, 32, 4, 2, 1),
            (2, 2, 9, 7, 3, 2, 1),
            (1, 2, 11, 10, 5, 3, 2),
            (2, 2, 7, 7, 3, 1, 1),
            (1, 1, 4, 4, 4, 2, 0),
        ] {
            let g = Patches::new(c, n, h, w, k, s, p);
            let cols: Vec<f32> = (0..g.col_len()).map(|i| ((i * 7919 % 1009) as f32).sqrt() - 15.0).collect();
            let start: Vec<f32> = (0..g.image_len()).map(|i| ((i * 104729 % 997) as f32).ln_1p()).collect();
            let mut want = start.clone();
            for ci in 0..c {
                for kh in 0..k {
                    for kw in 0..k {
                        for b in 0..n {
                            for oh in 0..g.oh {
                                for ow in 0..g.ow {
                                    let (ih, iw) =
                                        ((oh * s + kh) as isize - p as isize, (ow * s + kw) as isize - p as isize);
                                    if ih < 0 || iw < 0 || ih >= h as isize || iw >= w as isize {
                                        continue;
                                    }
                                    let col = ((ci * k + kh) * k + kw) * g.ld() + (b * g.oh + oh) * g.ow + ow;
                                    want[((ci * n + b) * h + ih as usize) * w + iw as usize] += cols[col];
                                }
                            }
                        }
                    }
                }
            }
            let mut got = start;
            col2im(&g, &cols, &mut got);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "c{c} n{n} {h}x{w} k{k} s{s} p{p}");
        }
    }

    /// col2im_new is col2im onto zeros, bit for bit, also where every contribution is -0.0 (a
    /// sum that starts from +0.0 ends +0.0), on the padded, unpadded and one-position paths.
    #[test]
    fn col2im_new_is_col2im_onto_zeros() {
        for &(c, n, h, k, s, p) in &[(2, 3, 16, 4, 2, 1), (1, 4, 16, 4, 2, 1), (3, 5, 4, 4, 2, 0), (2, 2, 7, 3, 1, 1)] {
            let g = Patches::new(c, n, h, h, k, s, p);
            for negative_zeros in [false, true] {
                let cols: Vec<f32> = (0..g.col_len())
                    .map(|i| if negative_zeros { -0.0 } else { ((i * 7919 % 1009) as f32).sqrt() - 15.0 })
                    .collect();
                let mut want = vec![0.0; g.image_len()];
                col2im(&g, &cols, &mut want);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&col2im_new(&g, &cols)), bits(&want), "c{c} n{n} {h} k{k} s{s} p{p}");
            }
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
