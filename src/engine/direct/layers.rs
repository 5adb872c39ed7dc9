//! Layer passes on blocked images, paired as engine::conv2d's and engine::conv_transpose2d's are:
//! k4 s2 p1 only, weights and their gradients in PyTorch's layouts. A convolution's input
//! gradient is a transposed convolution of dy and the other way round, so the three kernels
//! (conv.rs, weight_grad.rs) make all six passes.
use super::conv::{conv_forward, conv_transpose_forward};
use super::layout::{Blocked, LANES};
use super::pack::{add_unpacked_out_major, pack_in_major, pack_out_major};
use super::weight_grad::conv_weight_grad;
use rayon::prelude::*;

/// y = conv2d(x, weight) + bias; weight [cout][x.c][4][4]. x needs a zero border of 1; y gets
/// `out_border`.
pub fn conv2d_forward(x: &Blocked, weight: &[f32], bias: &[f32], out_border: usize) -> Blocked {
    conv2d_forward_packed(x, &pack_out_major(weight, bias.len(), x.c), bias, out_border)
}

/// `conv2d_forward` with the weight packed already (pack::pack_out_major), for callers that run
/// the same weights over many batches.
pub fn conv2d_forward_packed(x: &Blocked, packed: &[f32], bias: &[f32], out_border: usize) -> Blocked {
    conv_forward(x, packed, Some(bias), bias.len(), out_border)
}

/// Accumulates dL/dweight and dL/dbias of `conv2d_forward` (+=, like autograd) and returns dL/dx
/// with a border of `dx_border` if asked. dy needs a zero border of 1 when dx is asked.
pub fn conv2d_backward(
    x: &Blocked,
    weight: &[f32],
    dy: &Blocked,
    dweight: &mut [f32],
    dbias: &mut [f32],
    dx_border: Option<usize>,
) -> Option<Blocked> {
    let cout = dy.c;
    add_unpacked_out_major(&conv_weight_grad(x, dy), cout, x.c, dweight);
    add_channel_sums(dy, dbias);
    dx_border.map(|b| conv_transpose_forward(dy, &pack_in_major(weight, cout, x.c), None, x.c, b))
}

/// y = conv_transpose2d(x, weight) + bias; weight [x.c][cout][4][4]. x needs a zero border of 1.
pub fn conv_transpose2d_forward(x: &Blocked, weight: &[f32], bias: &[f32], out_border: usize) -> Blocked {
    conv_transpose_forward(x, &pack_in_major(weight, x.c, bias.len()), Some(bias), bias.len(), out_border)
}

/// Accumulates dL/dweight and dL/dbias of `conv_transpose2d_forward` and returns dL/dx with a
/// border of `dx_border` if asked. dy needs a zero border of 1.
pub fn conv_transpose2d_backward(
    x: &Blocked,
    weight: &[f32],
    dy: &Blocked,
    dweight: &mut [f32],
    dbias: &mut [f32],
    dx_border: Option<usize>,
) -> Option<Blocked> {
    // The transposed convolution's weight gradient is the convolution's with x and dy exchanged:
    // [x.c][dy.c][4][4], PyTorch's ConvTranspose2d layout.
    add_unpacked_out_major(&conv_weight_grad(dy, x), x.c, dy.c, dweight);
    add_channel_sums(dy, dbias);
    dx_border.map(|b| conv_forward(dy, &pack_out_major(weight, x.c, dy.c), None, x.c, b))
}

/// out[c] += sum over images and pixels of channel c, in f64 from -0.0 in (image, row, column)
/// order: the bytes engine::reduce::add_row_sums gives for the same tensor in CNHW.
pub fn add_channel_sums(dy: &Blocked, out: &mut [f32]) {
    assert_eq!(out.len(), dy.c, "channel sums: length");
    out.par_chunks_mut(LANES).enumerate().for_each(|(b, o)| {
        let mut s = [-0.0f64; LANES];
        for i in 0..dy.n {
            let plane = &dy.data[i * dy.image_len() + b * dy.plane_len()..][..dy.plane_len()];
            for y in 0..dy.h {
                for x in 0..dy.w {
                    let px = &plane[dy.pixel(y, x)..][..LANES];
                    for (s, &v) in s.iter_mut().zip(px) {
                        *s += v as f64;
                    }
                }
            }
        }
        for (o, s) in o.iter_mut().zip(s) {
            *o += s as f32;
        }
    });
}
