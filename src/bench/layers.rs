//! `pad bench --layers`: where an iteration's time goes. For every layer of E and G at the paper's
//! batch, the time of its forward pass, its input gradient and its weight gradient, as GFLOP/s and
//! as a share of a GEMM ceiling measured in the same run with the same kernel (engine::gemm on a
//! large square product). A weak kernel would make the shares look good, so `pad bench` also
//! measures that ceiling against MKL's sgemm on the same machine (docs/performance.md).
//!
//! Attribution: a forward pass is im2col + GEMM + bias (conv) or GEMM + col2im + bias (transposed
//! conv); the weight gradient is its GEMM + bias sums, plus, for a transposed conv, the im2col of
//! dy that the input gradient then reuses; the input gradient is its GEMM (+ col2im for a conv).
//! Activations and losses are outside the layers and show up as the difference to the iteration.
//! The layers the networks run on engine::direct (conv2, conv3, tconv2, tconv3 at the paper's
//! sizes) are timed on it: each pass is its kernel plus the weight packing it does (and, for
//! dW, the gradient's unpacking and the bias sums); the layout changes at the first and last
//! such layer of each network are outside the table, with the activations.
use super::time_ms;
use crate::engine::conv2d::{conv2d_backward_cols, conv2d_forward, conv2d_forward_reuse, conv2d_input_grad, ConvSpec};
use crate::engine::conv_transpose2d::{conv_transpose2d_backward, conv_transpose2d_forward};
use crate::engine::direct::{self, Blocked};
use crate::engine::gemm::{gemm, gemm_new, gemm_new_ld, tile_count, MatRef};
use crate::engine::im2col::im2col_new;
use crate::engine::rng::Stream;
use crate::engine::Shape4;
use serde::Serialize;

/// One layer's geometry: input [cin, batch, hw, hw] -> output [cout, batch, ..].
#[derive(Clone, Copy, Debug)]
pub struct LayerShape {
    pub name: &'static str,
    pub transposed: bool,
    pub cin: usize,
    pub cout: usize,
    pub hw_in: usize,
    pub spec: ConvSpec,
    /// A head that reads the same trunk as the layer before it shares its im2col columns
    /// (conv2d_forward_reuse), so its forward pass is the GEMM and bias alone.
    pub reuses_columns: bool,
}

const TRUNK: ConvSpec = ConvSpec { k: 4, stride: 2, pad: 1 };
const HEAD: ConvSpec = ConvSpec { k: 4, stride: 2, pad: 0 };
const FIRST: ConvSpec = ConvSpec { k: 4, stride: 1, pad: 0 };

/// The nine layers of the paper's networks (model::encoder, model::generator) for `c` channels.
pub fn pad_layers(c: usize, nf: usize, nz: usize) -> [LayerShape; 9] {
    let conv = |name, cin, cout, hw_in, spec| LayerShape {
        name,
        transposed: false,
        cin,
        cout,
        hw_in,
        spec,
        reuses_columns: name == "dis",
    };
    let tconv = |name, cin, cout, hw_in, spec| LayerShape {
        name,
        transposed: true,
        cin,
        cout,
        hw_in,
        spec,
        reuses_columns: false,
    };
    [
        conv("conv1", c, nf, 32, TRUNK),
        conv("conv2", nf, nf * 2, 16, TRUNK),
        conv("conv3", nf * 2, nf * 4, 8, TRUNK),
        conv("conv4", nf * 4, nz, 4, HEAD),
        conv("dis", nf * 4, 1, 4, HEAD),
        tconv("tconv1", nz, nf * 4, 1, FIRST),
        tconv("tconv2", nf * 4, nf * 2, 4, TRUNK),
        tconv("tconv3", nf * 2, nf, 8, TRUNK),
        tconv("tconv4", nf, c, 16, TRUNK),
    ]
}

impl LayerShape {
    fn input(&self, batch: usize) -> Shape4 {
        Shape4 { c: self.cin, n: batch, h: self.hw_in, w: self.hw_in }
    }
    fn hw_out(&self) -> usize {
        let s = self.spec;
        if self.transposed {
            (self.hw_in - 1) * s.stride + s.k - 2 * s.pad
        } else {
            (self.hw_in + 2 * s.pad - s.k) / s.stride + 1
        }
    }
    /// The (m, n, k) of the GEMM of each pass: forward, input gradient, weight gradient.
    pub fn gemm_shapes(&self, batch: usize) -> [(usize, usize, usize); 3] {
        let k2 = self.spec.k * self.spec.k;
        if self.transposed {
            // Columns of the equivalent conv live at the input's resolution.
            let j = batch * self.hw_in * self.hw_in;
            [(self.cout * k2, j, self.cin), (self.cin, j, self.cout * k2), (self.cin, self.cout * k2, j)]
        } else {
            let j = batch * self.hw_out() * self.hw_out();
            [(self.cout, j, self.cin * k2), (self.cin * k2, j, self.cout), (self.cout, self.cin * k2, j)]
        }
    }

    /// Tiles of each pass's GEMM on `threads` threads: how many cores each can use (engine::gemm
    /// cuts at most two a thread and 16 in all). A direct layer's passes split over images
    /// (forward, dx) and over pairs of output blocks by input blocks (dW).
    pub fn tiles(&self, batch: usize, threads: usize) -> [usize; 3] {
        if self.is_direct() {
            let (o, i) = if self.transposed { (self.cin, self.cout) } else { (self.cout, self.cin) };
            return [batch, batch, (o / 32) * (i / 16)];
        }
        self.gemm_shapes(batch).map(|(m, n, k)| tile_count(m, n, k, threads))
    }

    /// Whether the networks run this layer on engine::direct (model::param::ConvLayer::is_direct).
    pub fn is_direct(&self) -> bool {
        direct::Isa::detect().is_vector()
            && self.spec == TRUNK
            && self.cin.is_multiple_of(16)
            && self.cout.is_multiple_of(16)
    }

    /// Multiply-adds of the forward pass (each gradient costs as many).
    pub fn macs(&self, batch: usize) -> f64 {
        let k2 = (self.spec.k * self.spec.k) as f64;
        let hw = if self.transposed { self.hw_in } else { self.hw_out() };
        (batch * hw * hw * self.cin * self.cout) as f64 * k2
    }
}

/// A layer's three passes: milliseconds (median over repetitions) and GFLOP/s.
#[derive(Serialize, Clone, Debug)]
pub struct LayerTime {
    pub layer: &'static str,
    pub gflop: f64,
    pub forward_ms: f64,
    pub input_grad_ms: f64,
    pub weight_grad_ms: f64,
    /// GEMM tiles of the forward, input-gradient and weight-gradient passes.
    pub tiles: [usize; 3],
}

impl LayerTime {
    pub fn rate(&self, ms: f64) -> f64 {
        self.gflop / ms * 1e3
    }
}

/// The whole table at one thread count.
#[derive(Serialize, Clone, Debug)]
pub struct LayerTable {
    pub threads: usize,
    pub batch: usize,
    /// engine::gemm on a `ceiling_n`^3 product, GFLOP/s (median).
    pub ceiling_gflops: f64,
    pub ceiling_n: usize,
    pub layers: Vec<LayerTime>,
}

fn noise(len: usize, stream: u64) -> Vec<f32> {
    let mut v = vec![0.0; len];
    Stream::derive(0, "bench-layers", stream).fill_normal(&mut v, 0.0, 0.1);
    v
}

/// GFLOP/s of engine::gemm on an n x n x n product: the ceiling the layers are compared with.
pub fn gemm_ceiling(n: usize, reps: usize) -> f64 {
    let (a, b) = (noise(n * n, 1), noise(n * n, 2));
    let mut c = vec![0.0f32; n * n];
    let ms = time_ms(reps, || gemm(MatRef::rm(&a, n, n), MatRef::rm(&b, n, n), &mut c, n, false));
    2.0 * (n as f64).powi(3) / ms / 1e6
}

fn time_conv(l: &LayerShape, batch: usize, reps: usize) -> (f64, f64, f64) {
    let xs = l.input(batch);
    let (x, w, b) = (noise(xs.len(), 3), noise(l.cout * l.cin * l.spec.k * l.spec.k, 4), vec![0.0; l.cout]);
    let (y, _, saved) = conv2d_forward(&x, xs, &w, &b, l.spec);
    let fwd = if l.reuses_columns {
        time_ms(reps, || drop(conv2d_forward_reuse(&saved, &w, &b)))
    } else {
        time_ms(reps, || drop(conv2d_forward(&x, xs, &w, &b, l.spec)))
    };
    let dy = noise(y.len(), 5);
    let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; l.cout]);
    let wgrad = time_ms(reps, || conv2d_backward_cols(&saved, &w, &dy, &mut dw, &mut db, None));
    let g = &saved.geom;
    let wt = MatRef::rm(&w, l.cout, g.rows()).t();
    let igrad = if l.reuses_columns {
        // Its column gradient is added to the other head's, which pays the one col2im.
        let mut dcols = vec![0.0; g.col_len()];
        time_ms(reps, || gemm(wt, MatRef::rm(&dy, l.cout, g.cols()), &mut dcols, g.ld(), true))
    } else {
        time_ms(reps, || drop(conv2d_input_grad(&saved, &gemm_new_ld(wt, MatRef::rm(&dy, l.cout, g.cols()), g.ld()))))
    };
    (fwd, igrad, wgrad)
}

/// A layer on engine::direct, its input and output blocked with the borders the networks give
/// them (1 where a kernel reads the tensor as its padded input).
fn time_direct(l: &LayerShape, batch: usize, reps: usize) -> (f64, f64, f64) {
    let xs = l.input(batch);
    let ys = Shape4 { c: l.cout, n: batch, h: l.hw_out(), w: l.hw_out() };
    let k2 = l.spec.k * l.spec.k;
    let (x, w, b) = (noise(xs.len(), 3), noise(l.cin * l.cout * k2, 4), vec![0.0; l.cout]);
    let xb = Blocked::from_cnhw(&x, xs, 1);
    let dyb = Blocked::from_cnhw(&noise(ys.len(), 5), ys, 1);
    let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; l.cout]);
    if l.transposed {
        let fwd = time_ms(reps, || drop(direct::layers::conv_transpose2d_forward(&xb, &w, &b, 1)));
        let igrad = time_ms(reps, || {
            drop(direct::conv_forward(&dyb, &direct::pack_out_major(&w, l.cin, l.cout), None, l.cin, 1))
        });
        let wgrad =
            time_ms(reps, || drop(direct::layers::conv_transpose2d_backward(&xb, &w, &dyb, &mut dw, &mut db, None)));
        (fwd, igrad, wgrad)
    } else {
        let fwd = time_ms(reps, || drop(direct::layers::conv2d_forward(&xb, &w, &b, 1)));
        let igrad = time_ms(reps, || {
            drop(direct::conv_transpose_forward(&dyb, &direct::pack_in_major(&w, l.cout, l.cin), None, l.cin, 1))
        });
        let wgrad = time_ms(reps, || drop(direct::layers::conv2d_backward(&xb, &w, &dyb, &mut dw, &mut db, None)));
        (fwd, igrad, wgrad)
    }
}

fn time_tconv(l: &LayerShape, batch: usize, reps: usize) -> (f64, f64, f64) {
    let xs = l.input(batch);
    let (x, w, b) = (noise(xs.len(), 3), noise(l.cin * l.cout * l.spec.k * l.spec.k, 4), vec![0.0; l.cout]);
    let fwd = time_ms(reps, || drop(conv_transpose2d_forward(&x, xs, &w, &b, l.spec)));
    let (y, _, saved) = conv_transpose2d_forward(&x, xs, &w, &b, l.spec);
    let dy = noise(y.len(), 5);
    let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; l.cout]);
    let wgrad = time_ms(reps, || drop(conv_transpose2d_backward(&saved, &x, &w, &dy, &mut dw, &mut db, false)));
    let g = &saved.geom;
    let dcols = im2col_new(g, &dy);
    let igrad = time_ms(reps, || drop(gemm_new(MatRef::rm(&w, l.cin, g.rows()), g.col_matrix(&dcols))));
    (fwd, igrad, wgrad)
}

/// The per-layer table on `pool` (its thread count), `reps` timed calls per pass.
pub fn layer_table(pool: &rayon::ThreadPool, batch: usize, reps: usize, ceiling_n: usize) -> LayerTable {
    pool.install(|| {
        let ceiling_gflops = gemm_ceiling(ceiling_n, reps);
        let layers = pad_layers(super::CHANNELS, crate::model::encoder::NF, crate::model::NZ)
            .iter()
            .map(|l| {
                let (forward_ms, input_grad_ms, weight_grad_ms) = if l.is_direct() {
                    time_direct(l, batch, reps)
                } else if l.transposed {
                    time_tconv(l, batch, reps)
                } else {
                    time_conv(l, batch, reps)
                };
                LayerTime {
                    layer: l.name,
                    gflop: 2.0 * l.macs(batch) / 1e9,
                    forward_ms,
                    input_grad_ms,
                    weight_grad_ms,
                    tiles: l.tiles(batch, rayon::current_num_threads()),
                }
            })
            .collect();
        LayerTable { threads: pool.current_num_threads(), batch, ceiling_gflops, ceiling_n, layers }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count the PyTorch peer uses (scripts/torch_pad.py, iteration_flop): 18.76 G multiply-adds
    /// an iteration.
    #[test]
    fn iteration_account_matches_the_peers_count() {
        let macs: f64 = super::super::iteration_macs(64, 3, 64, 256).iter().sum();
        assert!((macs / 1e9 - 18.76).abs() < 0.01, "{macs}");
    }

    /// Each pass's GEMM does the layer's multiply-adds.
    #[test]
    fn gemm_shapes_carry_the_layer_macs() {
        for l in pad_layers(3, 64, 256) {
            for (m, n, k) in l.gemm_shapes(64) {
                assert_eq!((m * n * k) as f64, l.macs(64), "{}", l.name);
            }
        }
    }

    /// Output sizes follow the networks' documented geometry (32 -> 16 -> 8 -> 4 -> 1; 1 -> 4 -> .. -> 32).
    #[test]
    fn geometry_matches_the_networks() {
        let outs: Vec<usize> = pad_layers(3, 64, 256).iter().map(|l| l.hw_out()).collect();
        assert_eq!(outs, vec![16, 8, 4, 1, 1, 4, 8, 16, 32]);
    }
}
