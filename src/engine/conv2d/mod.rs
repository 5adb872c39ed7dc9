//! 2-D convolution (PyTorch's Conv2d semantics: cross-correlation, square kernel, zero padding)
//! on CNHW activations, by im2col + one GEMM for the whole batch.
//!
//! Shapes: x [C_in, N, H, W], weight [C_out, C_in, k, k] (PyTorch layout), bias [C_out],
//! y [C_out, N, OH, OW].
use super::gemm::{gemm, gemm_new, gemm_new_ld, gemm_new_then, gemm_uninit_then, MatRef};
pub use super::im2col::RectSpec;
use super::im2col::{col2im_new, im2col_new, Patches};
use super::implicit_gemm::{conv_forward_gemm_then, conv_forward_gemm_uninit};
use super::pixel_conv::{conv_rows_then, conv_rows_uninit};
use super::reduce::add_row_sums;
use super::Shape4;
use std::mem::MaybeUninit;

/// Kernel size, stride and padding of a square convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl From<ConvSpec> for RectSpec {
    fn from(s: ConvSpec) -> Self {
        RectSpec { kh: s.k, kw: s.k, sh: s.stride, sw: s.stride, ph: s.pad, pw: s.pad }
    }
}

impl RectSpec {
    /// A 1x1, stride-1, unpadded convolution: its im2col would be a plain copy of the input.
    pub fn is_pointwise(&self) -> bool {
        (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw) == (1, 1, 1, 1, 0, 0)
    }
    pub fn geometry(&self, xs: Shape4) -> Patches {
        Patches::rect(xs.c, xs.n, xs.h, xs.w, *self)
    }
}

/// What follows the product in a forward-only convolution, applied to each tile of the output
/// as soon as the GEMM has finished it, while it is still in cache, instead of in a pass of its
/// own over the whole output (Inception's outputs are 0.1-6 MB a convolution). The same bytes:
/// each element gets the same operations on its final value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epilogue {
    /// y + bias.
    Bias,
    /// max(y + bias, 0): Inception's BasicConv2d (the same bytes as adding the bias, then
    /// clamping).
    BiasRelu,
}

impl Epilogue {
    /// The epilogue of output channel i's values, as the products apply it to each tile's rows
    /// while the tile is in cache: y + bias[i], then the clamp for BiasRelu.
    fn rows(self, bias: &[f32]) -> impl Fn(usize, &mut [f32]) + Sync + '_ {
        move |i, row| {
            let b = bias[i];
            match self {
                Epilogue::Bias => row.iter_mut().for_each(|v| *v += b),
                Epilogue::BiasRelu => row.iter_mut().for_each(|v| *v = (*v + b).max(0.0)),
            }
        }
    }
}

/// Forward-only y = conv2d(x, weight) + bias with a rectangular kernel; nothing is kept for a
/// backward pass, so the GEMM reads its columns where each tile makes them (engine::implicit_gemm). A pointwise convolution multiplies the CNHW input directly, which already is
/// its own column matrix [C_in, N*H*W], so most of Inception's convolutions skip im2col.
pub fn conv2d_infer(x: &[f32], xs: Shape4, weight: &[f32], bias: &[f32], spec: RectSpec) -> (Vec<f32>, Shape4) {
    conv2d_infer_then(x, xs, weight, bias, spec, Epilogue::Bias)
}

/// `conv2d_infer` followed by `then`.
pub fn conv2d_infer_then(
    x: &[f32],
    xs: Shape4,
    weight: &[f32],
    bias: &[f32],
    spec: RectSpec,
    then: Epilogue,
) -> (Vec<f32>, Shape4) {
    let (geom, w) = infer_geometry(x, xs, weight, bias, spec);
    let cout = bias.len();
    // The output is allocated after the columns, not before as with conv2d_infer_uninit: at
    // Inception's stem (Conv2d_2a, 2b: 48 MB of columns) the other order measured 15-17 ms
    // slower per convolution, presumably the columns' memory no longer being reused.
    let rows = then.rows(bias);
    let y = if spec.is_pointwise() {
        gemm_new_then(w, MatRef::rm(x, geom.rows(), geom.cols()), geom.cols(), Some(&rows))
    } else {
        conv_rows_then(w, &geom, x, Some(&rows))
            .or_else(|| conv_forward_gemm_then(w, &geom, x, Some(&rows)))
            .unwrap_or_else(|| gemm_new_then(w, geom.col_matrix(&im2col_new(&geom, x)), geom.cols(), Some(&rows)))
    };
    (y, Shape4 { c: cout, n: xs.n, h: geom.oh, w: geom.ow })
}

/// The geometry of a forward-only convolution and its weights as a [C_out, C_in*kh*kw] matrix,
/// with the shapes checked.
fn infer_geometry<'a>(x: &[f32], xs: Shape4, weight: &'a [f32], bias: &[f32], spec: RectSpec) -> (Patches, MatRef<'a>) {
    let geom = spec.geometry(xs);
    assert_eq!(weight.len(), bias.len() * geom.rows(), "conv2d: weight shape");
    assert_eq!(x.len(), xs.len(), "conv2d: input shape");
    let w = MatRef::rm(weight, bias.len(), geom.rows());
    (geom, w)
}

/// `conv2d_infer_then` into memory the caller owns (C_out * N * OH * OW floats, say one branch's
/// channels of a concatenated CNHW tensor), writing all of it: the same products, so the same
/// bytes. Returns the output shape.
pub fn conv2d_infer_uninit(
    x: &[f32],
    xs: Shape4,
    weight: &[f32],
    bias: &[f32],
    spec: RectSpec,
    then: Epilogue,
    y: &mut [MaybeUninit<f32>],
) -> Shape4 {
    let (geom, w) = infer_geometry(x, xs, weight, bias, spec);
    let cout = bias.len();
    assert_eq!(y.len(), cout * geom.cols(), "conv2d: output length");
    let rows = then.rows(bias);
    if spec.is_pointwise() {
        gemm_uninit_then(w, MatRef::rm(x, geom.rows(), geom.cols()), y, geom.cols(), Some(&rows));
    } else if !conv_rows_uninit(w, &geom, x, y, Some(&rows)) && !conv_forward_gemm_uninit(w, &geom, x, y, Some(&rows)) {
        // Nothing keeps the columns, so the kernel reads each tile's block where it is made
        // (just above); where that path does not apply, im2col first.
        gemm_uninit_then(w, geom.col_matrix(&im2col_new(&geom, x)), y, geom.cols(), Some(&rows));
    }
    Shape4 { c: cout, n: xs.n, h: geom.oh, w: geom.ow }
}

/// What the backward pass needs from the forward pass.
pub struct Conv2dSaved {
    pub geom: Patches,
    /// im2col of the input, [C_in*k*k, N*OH*OW] with rows `geom.ld()` apart.
    pub cols: Vec<f32>,
}

/// y = conv2d(x, weight) + bias. Returns y and the saved columns.
pub fn conv2d_forward(
    x: &[f32],
    xs: Shape4,
    weight: &[f32],
    bias: &[f32],
    spec: ConvSpec,
) -> (Vec<f32>, Shape4, Conv2dSaved) {
    let geom = Patches::new(xs.c, xs.n, xs.h, xs.w, spec.k, spec.stride, spec.pad);
    let cout = bias.len();
    assert_eq!(weight.len(), cout * geom.rows(), "conv2d: weight shape");
    let cols = im2col_new(&geom, x);
    let mut y = gemm_new(MatRef::rm(weight, cout, geom.rows()), geom.col_matrix(&cols));
    add_bias(&mut y, bias);
    let ys = Shape4 { c: cout, n: xs.n, h: geom.oh, w: geom.ow };
    (y, ys, Conv2dSaved { geom, cols })
}

/// y = conv2d(x, weight) + bias for the same input `x` as an earlier forward (its columns are
/// reused): two heads reading one trunk share one im2col.
pub fn conv2d_forward_reuse(saved: &Conv2dSaved, weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let g = &saved.geom;
    let cout = bias.len();
    assert_eq!(weight.len(), cout * g.rows(), "conv2d: weight shape");
    let mut y = gemm_new(MatRef::rm(weight, cout, g.rows()), g.col_matrix(&saved.cols));
    add_bias(&mut y, bias);
    y
}

/// Accumulates dL/dweight and dL/dbias (+=, like autograd). If `dcols` is given, also
/// accumulates W^T·dy into it (the input gradient in column form, `geom.col_len()` long; see
/// `conv2d_input_grad`).
pub fn conv2d_backward_cols(
    saved: &Conv2dSaved,
    weight: &[f32],
    dy: &[f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    dcols: Option<&mut [f32]>,
) {
    let g = &saved.geom;
    let cout = dbias.len();
    assert_eq!(dy.len(), cout * g.cols(), "conv2d backward: dy shape");
    // dW[co, r] += sum_j dy[co, j] * cols[r, j]
    gemm(MatRef::rm(dy, cout, g.cols()), g.col_matrix(&saved.cols).t(), dweight, g.rows(), true);
    add_row_sums(dy, g.cols(), dbias);
    if let Some(dcols) = dcols {
        assert_eq!(dcols.len(), g.col_len(), "conv2d backward: column gradient length");
        gemm(MatRef::rm(weight, cout, g.rows()).t(), MatRef::rm(dy, cout, g.cols()), dcols, g.ld(), true);
    }
}

/// dL/dx from the column-form gradient: scatter the columns back onto the input image.
pub fn conv2d_input_grad(saved: &Conv2dSaved, dcols: &[f32]) -> Vec<f32> {
    col2im_new(&saved.geom, dcols)
}

/// Accumulates dL/dweight and dL/dbias and returns dL/dx if asked for.
pub fn conv2d_backward(
    saved: &Conv2dSaved,
    weight: &[f32],
    dy: &[f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    want_dx: bool,
) -> Option<Vec<f32>> {
    if want_dx {
        conv2d_backward_cols(saved, weight, dy, dweight, dbias, None);
        let g = &saved.geom;
        let wt = MatRef::rm(weight, dbias.len(), g.rows()).t();
        let dcols = gemm_new_ld(wt, MatRef::rm(dy, dbias.len(), g.cols()), g.ld());
        Some(conv2d_input_grad(saved, &dcols))
    } else {
        conv2d_backward_cols(saved, weight, dy, dweight, dbias, None);
        None
    }
}

/// y[c, :] += bias[c] for each channel row of a [C, rest] matrix.
pub(crate) fn add_bias(y: &mut [f32], bias: &[f32]) {
    use rayon::prelude::*;
    let row = y.len() / bias.len();
    y.par_chunks_mut(row).zip(bias.par_iter()).for_each(|(r, b)| r.iter_mut().for_each(|v| *v += b));
}

#[cfg(test)]
mod tests;
