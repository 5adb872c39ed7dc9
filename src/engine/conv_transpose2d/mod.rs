//! Transposed 2-D convolution (PyTorch's ConvTranspose2d, output_padding 0, no dilation) on CNHW
//! activations: the adjoint of conv2d with the same geometry, by one GEMM + col2im.
//!
//! Shapes: x [C_in, N, H, W], weight [C_in, C_out, k, k] (PyTorch layout), bias [C_out],
//! y [C_out, N, OH, OW] with OH = (H - 1) * stride - 2 * pad + k.
use super::conv2d::{add_bias, ConvSpec};
use super::gemm::{gemm, gemm_new, gemm_new_ld, MatRef};
use super::im2col::{col2im_new, im2col_new, Patches};
use super::reduce::add_row_sums;
use super::Shape4;

/// What the backward pass needs: the geometry and the input itself (for dW).
pub struct ConvT2dSaved {
    /// Geometry of the equivalent conv2d: image side = our output, column side = our input.
    pub geom: Patches,
    pub cin: usize,
}

/// Output size of a transposed convolution along one axis.
pub fn out_size(size: usize, spec: ConvSpec) -> usize {
    (size - 1) * spec.stride + spec.k - 2 * spec.pad
}

/// y = conv_transpose2d(x, weight) + bias.
pub fn conv_transpose2d_forward(
    x: &[f32],
    xs: Shape4,
    weight: &[f32],
    bias: &[f32],
    spec: ConvSpec,
) -> (Vec<f32>, Shape4, ConvT2dSaved) {
    let cout = bias.len();
    let (oh, ow) = (out_size(xs.h, spec), out_size(xs.w, spec));
    let geom = Patches::new(cout, xs.n, oh, ow, spec.k, spec.stride, spec.pad);
    assert_eq!((geom.oh, geom.ow), (xs.h, xs.w), "conv_transpose2d: geometry does not invert");
    assert_eq!(weight.len(), xs.c * geom.rows(), "conv_transpose2d: weight shape");
    // cols[(co, kh, kw), j] = sum_ci W[ci, (co, kh, kw)] * x[ci, j]
    let cols = gemm_new_ld(MatRef::rm(weight, xs.c, geom.rows()).t(), MatRef::rm(x, xs.c, geom.cols()), geom.ld());
    let mut y = col2im_new(&geom, &cols);
    add_bias(&mut y, bias);
    let ys = Shape4 { c: cout, n: xs.n, h: oh, w: ow };
    (y, ys, ConvT2dSaved { geom, cin: xs.c })
}

/// Accumulates dL/dweight and dL/dbias and returns dL/dx if asked for. `x` is the forward input.
pub fn conv_transpose2d_backward(
    saved: &ConvT2dSaved,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    want_dx: bool,
) -> Option<Vec<f32>> {
    let g = &saved.geom;
    let cout = dbias.len();
    assert_eq!(dy.len(), g.image_len(), "conv_transpose2d backward: dy shape");
    let dcols = im2col_new(g, dy);
    // dW[ci, r] += sum_j x[ci, j] * dcols[r, j]
    gemm(MatRef::rm(x, saved.cin, g.cols()), g.col_matrix(&dcols).t(), dweight, g.rows(), true);
    add_row_sums(dy, dy.len() / cout, dbias);
    want_dx.then(|| gemm_new(MatRef::rm(weight, saved.cin, g.rows()), g.col_matrix(&dcols)))
}

#[cfg(test)]
mod tests;
