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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patches {
    pub c: usize,
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Patches {
    /// Geometry of a convolution reading an image side of `c x h x w` per example.
    pub fn new(c: usize, n: usize, h: usize, w: usize, k: usize, stride: usize, pad: usize) -> Self {
        assert!(h + 2 * pad >= k && w + 2 * pad >= k, "kernel larger than padded input");
        let oh = (h + 2 * pad - k) / stride + 1;
        let ow = (w + 2 * pad - k) / stride + 1;
        Patches { c, n, h, w, k, stride, pad, oh, ow }
    }
    /// Rows of the column matrix: c * k * k.
    pub fn rows(&self) -> usize {
        self.c * self.k * self.k
    }
    /// Columns of the column matrix: n * oh * ow.
    pub fn cols(&self) -> usize {
        self.n * self.oh * self.ow
    }
    /// Length of the image-side tensor: c * n * h * w.
    pub fn image_len(&self) -> usize {
        self.c * self.n * self.h * self.w
    }
    /// Input coordinate of output position `o` and kernel offset `kk`, if inside the image.
    #[inline]
    fn src(&self, o: usize, kk: usize, size: usize) -> Option<usize> {
        let i = (o * self.stride + kk) as isize - self.pad as isize;
        (i >= 0 && (i as usize) < size).then_some(i as usize)
    }
}

/// cols[(ci, kh, kw), (n, oh, ow)] = image[ci, n, oh*s - p + kh, ow*s - p + kw] (0 outside).
/// Parallel over rows of `cols`: each row is an independent contiguous slice.
pub fn im2col(g: &Patches, image: &[f32], cols: &mut [f32]) {
    assert_eq!(image.len(), g.image_len());
    assert_eq!(cols.len(), g.rows() * g.cols());
    let kk = g.k * g.k;
    let plane = g.h * g.w;
    cols.par_chunks_mut(g.cols()).enumerate().for_each(|(row, out)| {
        let (ci, kh, kw) = (row / kk, (row % kk) / g.k, row % g.k);
        let img = &image[ci * g.n * plane..(ci + 1) * g.n * plane];
        for n in 0..g.n {
            let src_plane = &img[n * plane..(n + 1) * plane];
            for oh in 0..g.oh {
                let dst = &mut out[(n * g.oh + oh) * g.ow..(n * g.oh + oh + 1) * g.ow];
                match g.src(oh, kh, g.h) {
                    None => dst.fill(0.0),
                    Some(ih) => {
                        let src_row = &src_plane[ih * g.w..(ih + 1) * g.w];
                        for (ow, d) in dst.iter_mut().enumerate() {
                            *d = g.src(ow, kw, g.w).map_or(0.0, |iw| src_row[iw]);
                        }
                    }
                }
            }
        }
    });
}

/// The adjoint of `im2col`: image[ci, n, ih, iw] += cols[...] for every patch that covers it.
/// Parallel over channels (each owns its image plane and its k*k rows of `cols`); within a channel
/// contributions are added in a fixed (kh, kw, n, oh, ow) order, so the sums are deterministic.
/// `image` is overwritten (not accumulated into).
pub fn col2im(g: &Patches, cols: &[f32], image: &mut [f32]) {
    assert_eq!(image.len(), g.image_len());
    assert_eq!(cols.len(), g.rows() * g.cols());
    let kk = g.k * g.k;
    let plane = g.h * g.w;
    let ncols = g.cols();
    image.par_chunks_mut(g.n * plane).enumerate().for_each(|(ci, img)| {
        img.fill(0.0);
        for kh in 0..g.k {
            for kw in 0..g.k {
                let row = &cols[(ci * kk + kh * g.k + kw) * ncols..][..ncols];
                for n in 0..g.n {
                    let dst_plane = &mut img[n * plane..(n + 1) * plane];
                    for oh in 0..g.oh {
                        let Some(ih) = g.src(oh, kh, g.h) else { continue };
                        let src = &row[(n * g.oh + oh) * g.ow..][..g.ow];
                        let dst_row = &mut dst_plane[ih * g.w..(ih + 1) * g.w];
                        for (ow, v) in src.iter().enumerate() {
                            if let Some(iw) = g.src(ow, kw, g.w) {
                                dst_row[iw] += v;
                            }
                        }
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
        for &(c, n, h, k, s, p) in &[(2, 3, 8, 4, 2, 1), (3, 2, 5, 3, 1, 1), (1, 1, 4, 4, 1, 0), (2, 2, 7, 4, 2, 0)] {
            let g = Patches::new(c, n, h, h, k, s, p);
            let x: Vec<f32> = (0..g.image_len()).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
            let y: Vec<f32> = (0..g.rows() * g.cols()).map(|i| ((i * 13 % 7) as f32) - 3.0).collect();
            let mut cx = vec![0.0; y.len()];
            im2col(&g, &x, &mut cx);
            let mut ty = vec![0.0; x.len()];
            col2im(&g, &y, &mut ty);
            let lhs: f64 = cx.iter().zip(&y).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
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
