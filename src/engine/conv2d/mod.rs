//! 2-D convolution (PyTorch's Conv2d semantics: cross-correlation, square kernel, zero padding)
//! on CNHW activations, by im2col + one GEMM for the whole batch.
//!
//! Shapes: x [C_in, N, H, W], weight [C_out, C_in, k, k] (PyTorch layout), bias [C_out],
//! y [C_out, N, OH, OW].
use super::gemm::{gemm, MatRef};
use super::im2col::{col2im, im2col, Patches};
use super::reduce::add_row_sums;
use super::Shape4;

/// Kernel size, stride and padding of a square convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

/// What the backward pass needs from the forward pass.
pub struct Conv2dSaved {
    pub geom: Patches,
    /// im2col of the input, [C_in*k*k, N*OH*OW].
    pub cols: Vec<f32>,
}

/// y = conv2d(x, weight) + bias. Returns y and the saved columns.
pub fn conv2d_forward(x: &[f32], xs: Shape4, weight: &[f32], bias: &[f32], spec: ConvSpec) -> (Vec<f32>, Shape4, Conv2dSaved) {
    let geom = Patches::new(xs.c, xs.n, xs.h, xs.w, spec.k, spec.stride, spec.pad);
    let cout = bias.len();
    assert_eq!(weight.len(), cout * geom.rows(), "conv2d: weight shape");
    let mut cols = vec![0.0; geom.rows() * geom.cols()];
    im2col(&geom, x, &mut cols);
    let mut y = vec![0.0; cout * geom.cols()];
    gemm(MatRef::rm(weight, cout, geom.rows()), MatRef::rm(&cols, geom.rows(), geom.cols()), &mut y, geom.cols(), false);
    add_bias(&mut y, bias);
    let ys = Shape4 { c: cout, n: xs.n, h: geom.oh, w: geom.ow };
    (y, ys, Conv2dSaved { geom, cols })
}

/// Accumulates dL/dweight and dL/dbias (+=, like autograd) and returns dL/dx if asked for.
pub fn conv2d_backward(
    saved: &Conv2dSaved,
    weight: &[f32],
    dy: &[f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    want_dx: bool,
) -> Option<Vec<f32>> {
    let g = &saved.geom;
    let cout = dbias.len();
    assert_eq!(dy.len(), cout * g.cols(), "conv2d backward: dy shape");
    // dW[co, r] += sum_j dy[co, j] * cols[r, j]
    gemm(MatRef::rm(dy, cout, g.cols()), MatRef::rm(&saved.cols, g.rows(), g.cols()).t(), dweight, g.rows(), true);
    add_row_sums(dy, g.cols(), dbias);
    want_dx.then(|| {
        // dcols = W^T · dy, then scatter the columns back onto the input image.
        let mut dcols = vec![0.0; g.rows() * g.cols()];
        gemm(MatRef::rm(weight, cout, g.rows()).t(), MatRef::rm(dy, cout, g.cols()), &mut dcols, g.cols(), false);
        let mut dx = vec![0.0; g.image_len()];
        col2im(g, &dcols, &mut dx);
        dx
    })
}

/// y[c, :] += bias[c] for each channel row of a [C, rest] matrix.
pub(crate) fn add_bias(y: &mut [f32], bias: &[f32]) {
    use rayon::prelude::*;
    let row = y.len() / bias.len();
    y.par_chunks_mut(row).zip(bias.par_iter()).for_each(|(r, b)| r.iter_mut().for_each(|v| *v += b));
}

#[cfg(test)]
mod tests;
