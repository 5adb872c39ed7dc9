//! The generator G: z (256) -> image [C, 32, 32] in [-1, 1] by four transposed convolutions.
//!
//!   z 256x1x1 -tconv1(k4 s1 p0)-> 256x4x4 -tconv2-> 128x8x8 -tconv3-> 64x16x16 -tconv4-> C x32x32
//!   (LeakyReLU(0.2) after the first three, tanh after the last; k4 s2 p1 from tconv2 on)
//!
//! tconv2 and tconv3 run on engine::direct's blocked images wherever their channel counts allow
//! (the paper's networks), as the encoder's conv2 and conv3 do.
use super::encoder::{NF, NZ};
use super::param::{ConvLayer, Network};
use crate::engine::activation::{leaky_relu_backward, leaky_relu_forward, tanh_backward, tanh_forward};
use crate::engine::conv2d::ConvSpec;
use crate::engine::conv_transpose2d::{conv_transpose2d_backward, conv_transpose2d_forward, ConvT2dSaved};
use crate::engine::direct::{self, Blocked};
use crate::engine::Shape4;

const SLOPE: f32 = 0.2;
const FIRST: ConvSpec = ConvSpec { k: 4, stride: 1, pad: 0 };
const UP: ConvSpec = ConvSpec { k: 4, stride: 2, pad: 1 };

#[derive(Clone, Debug)]
pub struct Generator {
    pub channels: usize,
    pub nz: usize,
    pub tconv1: ConvLayer,
    pub tconv2: ConvLayer,
    pub tconv3: ConvLayer,
    pub tconv4: ConvLayer,
    /// Runs tconv2 and tconv3 by GEMM + col2im even where engine::direct could (tests compare the
    /// two paths); false in every network the program builds.
    pub gemm_middle: bool,
}

/// Forward result: the image (CNHW) and what backward needs (each layer's input).
pub struct GeneratorPass {
    pub x: Vec<f32>,
    pub xs: Shape4,
    k1: ConvT2dSaved,
    k4: ConvT2dSaved,
    /// z, tconv1's and tconv3's activated outputs, CNHW.
    z: Vec<f32>,
    h1: Vec<f32>,
    h3: Vec<f32>,
    h3_shape: Shape4,
    middle: Middle,
}

/// What tconv2 and tconv3 keep for their backward pass.
enum Middle {
    /// GEMM + col2im on CNHW: both layers' geometry and tconv2's output.
    Gemm { k2: ConvT2dSaved, k3: ConvT2dSaved, h2: Vec<f32> },
    /// engine::direct: both layers' inputs, blocked with a border of 1.
    Direct { h1: Blocked, h2: Blocked },
}

impl Generator {
    /// The paper's generator for images with `channels` channels.
    pub fn new(channels: usize) -> Self {
        Self::with_size(channels, NF, NZ)
    }

    /// A generator from an `nz`-dimensional latent with `nf` base filters.
    pub fn with_size(channels: usize, nf: usize, nz: usize) -> Self {
        Generator {
            channels,
            nz,
            tconv1: ConvLayer::conv_transpose("tconv1", nz, nf * 4, FIRST),
            tconv2: ConvLayer::conv_transpose("tconv2", nf * 4, nf * 2, UP),
            tconv3: ConvLayer::conv_transpose("tconv3", nf * 2, nf, UP),
            tconv4: ConvLayer::conv_transpose("tconv4", nf, channels, UP),
            gemm_middle: false,
        }
    }

    /// z laid out [nz, N].
    pub fn forward(&self, z: &[f32]) -> GeneratorPass {
        let n = z.len() / self.nz;
        let s0 = Shape4 { c: self.nz, n, h: 1, w: 1 };
        let layer = |l: &ConvLayer, x: &[f32], xs: Shape4| {
            conv_transpose2d_forward(x, xs, &l.weight.value, &l.bias.value, l.spec)
        };
        let (mut h1, s1, k1) = layer(&self.tconv1, z, s0);
        leaky_relu_forward(&mut h1, SLOPE);
        let (h3, s3, middle) = if !self.gemm_middle && self.tconv2.is_direct() && self.tconv3.is_direct() {
            let h1b = Blocked::from_cnhw(&h1, s1, 1);
            let mut h2b =
                direct::layers::conv_transpose2d_forward(&h1b, &self.tconv2.weight.value, &self.tconv2.bias.value, 1);
            leaky_relu_forward(&mut h2b.data, SLOPE);
            let mut h3b =
                direct::layers::conv_transpose2d_forward(&h2b, &self.tconv3.weight.value, &self.tconv3.bias.value, 0);
            leaky_relu_forward(&mut h3b.data, SLOPE);
            let s3 = Shape4 { c: h3b.c, n, h: h3b.h, w: h3b.w };
            (h3b.to_cnhw(), s3, Middle::Direct { h1: h1b, h2: h2b })
        } else {
            let (mut h2, s2, k2) = layer(&self.tconv2, &h1, s1);
            leaky_relu_forward(&mut h2, SLOPE);
            let (mut h3, s3, k3) = layer(&self.tconv3, &h2, s2);
            leaky_relu_forward(&mut h3, SLOPE);
            (h3, s3, Middle::Gemm { k2, k3, h2 })
        };
        let (mut x, xs, k4) = layer(&self.tconv4, &h3, s3);
        tanh_forward(&mut x);
        GeneratorPass { x, xs, k1, k4, z: z.to_vec(), h1, h3, h3_shape: s3, middle }
    }

    /// Accumulates parameter gradients from dL/dimage and returns dL/dz if `want_dz`.
    pub fn backward(&mut self, pass: &GeneratorPass, dimage: &[f32], want_dz: bool) -> Option<Vec<f32>> {
        let mut g = dimage.to_vec();
        tanh_backward(&mut g, &pass.x);
        let mut g3 = back(&mut self.tconv4, &pass.k4, &pass.h3, &g, true).unwrap();
        leaky_relu_backward(&mut g3, &pass.h3, SLOPE);
        let mut g1 = match &pass.middle {
            Middle::Gemm { k2, k3, h2 } => {
                let mut g2 = back(&mut self.tconv3, k3, h2, &g3, true).unwrap();
                leaky_relu_backward(&mut g2, h2, SLOPE);
                back(&mut self.tconv2, k2, &pass.h1, &g2, true).unwrap()
            }
            Middle::Direct { h1, h2 } => {
                let g3b = Blocked::from_cnhw(&g3, pass.h3_shape, 1);
                let (w, dw, db) = self.tconv3.for_backward();
                let mut g2b = direct::layers::conv_transpose2d_backward(h2, w, &g3b, dw, db, Some(1)).unwrap();
                leaky_relu_backward(&mut g2b.data, &h2.data, SLOPE);
                let (w, dw, db) = self.tconv2.for_backward();
                direct::layers::conv_transpose2d_backward(h1, w, &g2b, dw, db, Some(0)).unwrap().to_cnhw()
            }
        };
        leaky_relu_backward(&mut g1, &pass.h1, SLOPE);
        back(&mut self.tconv1, &pass.k1, &pass.z, &g1, want_dz)
    }
}

fn back(l: &mut ConvLayer, saved: &ConvT2dSaved, x: &[f32], dy: &[f32], want_dx: bool) -> Option<Vec<f32>> {
    let (w, dw, db) = l.for_backward();
    conv_transpose2d_backward(saved, x, w, dy, dw, db, want_dx)
}

impl Network for Generator {
    fn layers(&self) -> Vec<&ConvLayer> {
        vec![&self.tconv1, &self.tconv2, &self.tconv3, &self.tconv4]
    }
    fn layers_mut(&mut self) -> Vec<&mut ConvLayer> {
        vec![&mut self.tconv1, &mut self.tconv2, &mut self.tconv3, &mut self.tconv4]
    }
}
