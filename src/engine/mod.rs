//! The numeric engine: tensors as flat f32 buffers in CNHW order ([channels, batch, height,
//! width]); convolutions, either by direct kernels on channel-blocked images (direct/: the
//! networks' middle layers on CPUs with AVX-512 or AVX2) or by im2col and the tiled GEMM (gemm/:
//! the other layers, and every layer elsewhere); activations, losses, Adam and seeded random
//! streams. Knows nothing of PAD or files.
//!
//! Every op comes as a `*_forward` / `*_backward` pair. Parallel work is split into pieces whose
//! boundaries depend only on tensor shapes, and every reduction runs in index order, so results
//! are bit-identical for any RAYON_NUM_THREADS.
pub mod activation;
pub mod adam;
pub mod alloc;
pub mod cache_size;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod direct;
pub mod fpmode;
pub mod gemm;
pub mod im2col;
pub mod implicit_gemm;
pub mod loss;
pub mod pixel_conv;
pub mod pool;
pub mod reduce;
pub mod resize;
pub mod rng;
mod row_copy;
pub mod simd;
mod testutil;
pub mod workers;

/// Shape of a CNHW activation tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape4 {
    pub c: usize,
    pub n: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape4 {
    pub fn len(&self) -> usize {
        self.c * self.n * self.h * self.w
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reorders [a, b, rest] to [b, a, rest] (NCHW <-> CNHW, or [N, D] <-> [D, N] with rest = 1).
pub fn swap_leading_axes(x: &[f32], a: usize, b: usize, rest: usize) -> Vec<f32> {
    assert_eq!(x.len(), a * b * rest);
    let mut y = vec![0.0; x.len()];
    for i in 0..a {
        for j in 0..b {
            y[(j * a + i) * rest..(j * a + i + 1) * rest]
                .copy_from_slice(&x[(i * b + j) * rest..(i * b + j + 1) * rest]);
        }
    }
    y
}
