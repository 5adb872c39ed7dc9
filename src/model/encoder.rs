//! The encoder E (the authors' `Discriminator`, netD): a 3-layer convolutional trunk with two
//! heads on its last feature map: the latent z (conv4, no nonlinearity) and the real/fake
//! output d = sigmoid(dis(trunk)).
//!
//!   x [C,32,32] -conv1-> 64x16x16 -conv2-> 128x8x8 -conv3-> 256x4x4 -conv4-> z 256 ; -dis-> d 1
//!   (k4 s2 p1 with LeakyReLU(0.2) in the trunk; heads k4 s2 p0)
//!
//! conv2 and conv3 run on engine::direct's blocked images wherever their channel counts allow
//! (the paper's networks): the first layer's output is blocked once, the third's unblocked once
//! for the heads. Smaller networks (the golden tests') run the whole trunk by im2col + GEMM.
use super::param::{ConvLayer, Network};
use crate::engine::activation::{leaky_relu_backward, leaky_relu_forward, sigmoid_backward, sigmoid_forward};
use crate::engine::conv2d::{
    conv2d_backward, conv2d_backward_cols, conv2d_forward, conv2d_forward_reuse, conv2d_infer, conv2d_input_grad,
    Conv2dSaved, ConvSpec,
};
use crate::engine::direct::{self, Blocked};
use crate::engine::Shape4;

/// The paper's latent size and filter count (the authors' --nz and --nf).
pub const NZ: usize = 256;
pub const NF: usize = 64;
const SLOPE: f32 = 0.2;
const TRUNK: ConvSpec = ConvSpec { k: 4, stride: 2, pad: 1 };
const HEAD: ConvSpec = ConvSpec { k: 4, stride: 2, pad: 0 };

#[derive(Clone, Debug)]
pub struct Encoder {
    pub channels: usize,
    pub nz: usize,
    pub conv1: ConvLayer,
    pub conv2: ConvLayer,
    pub conv3: ConvLayer,
    pub conv4: ConvLayer,
    pub dis: ConvLayer,
    /// Runs conv2 and conv3 by im2col + GEMM even where engine::direct could (tests compare the
    /// two paths); false in every network the program builds.
    pub gemm_middle: bool,
}

/// Which heads a forward pass computes (NREM needs only z, REM only d).
#[derive(Clone, Copy, Debug)]
pub struct Heads {
    pub z: bool,
    pub d: bool,
}

/// Forward results plus what the backward pass needs.
pub struct EncoderPass {
    /// z laid out [nz, N] (latent dimension major).
    pub z: Vec<f32>,
    /// d = sigmoid(dis(.)), [N].
    pub d: Vec<f32>,
    k1: Conv2dSaved,
    k4: Conv2dSaved,
    /// conv1's output and the trunk's (after LeakyReLU), CNHW.
    a1: Vec<f32>,
    a3: Vec<f32>,
    a3_shape: Shape4,
    middle: Middle,
}

/// What conv2 and conv3 keep for their backward pass.
enum Middle {
    /// im2col + GEMM on CNHW: both layers' columns and conv2's output.
    Gemm { k2: Conv2dSaved, k3: Conv2dSaved, a2: Vec<f32> },
    /// engine::direct: both layers' inputs, blocked with a border of 1.
    Direct { a1: Blocked, a2: Blocked },
}

impl Encoder {
    /// The paper's encoder for images with `channels` channels.
    pub fn new(channels: usize) -> Self {
        Self::with_size(channels, NF, NZ)
    }

    /// An encoder with `nf` base filters and an `nz`-dimensional latent (tests use small ones).
    pub fn with_size(channels: usize, nf: usize, nz: usize) -> Self {
        Encoder {
            channels,
            nz,
            conv1: ConvLayer::conv("conv1", channels, nf, TRUNK),
            conv2: ConvLayer::conv("conv2", nf, nf * 2, TRUNK),
            conv3: ConvLayer::conv("conv3", nf * 2, nf * 4, TRUNK),
            conv4: ConvLayer::conv("conv4", nf * 4, nz, HEAD),
            dis: ConvLayer::conv("dis", nf * 4, 1, HEAD),
            gemm_middle: false,
        }
    }

    /// x: images in CNHW [C, N, 32, 32].
    pub fn forward(&self, x: &[f32], xs: Shape4, heads: Heads) -> EncoderPass {
        let (mut a1, s1, k1) = conv2d_forward(x, xs, &self.conv1.weight.value, &self.conv1.bias.value, TRUNK);
        leaky_relu_forward(&mut a1, SLOPE);
        let (a3, s3, middle) = if self.middle_is_direct() {
            let (a3, s3, [a1b, a2b]) = self.middle_direct(&a1, s1);
            (a3, s3, Middle::Direct { a1: a1b, a2: a2b })
        } else {
            let (mut a2, s2, k2) = conv2d_forward(&a1, s1, &self.conv2.weight.value, &self.conv2.bias.value, TRUNK);
            leaky_relu_forward(&mut a2, SLOPE);
            let (mut a3, s3, k3) = conv2d_forward(&a2, s2, &self.conv3.weight.value, &self.conv3.bias.value, TRUNK);
            leaky_relu_forward(&mut a3, SLOPE);
            (a3, s3, Middle::Gemm { k2, k3, a2 })
        };
        // Both heads read the same 4x4 map with the same geometry: one im2col serves both.
        let (z, _, k4) = if heads.z {
            conv2d_forward(&a3, s3, &self.conv4.weight.value, &self.conv4.bias.value, HEAD)
        } else {
            conv2d_forward(&a3, s3, &self.dis.weight.value, &self.dis.bias.value, HEAD)
        };
        let d = if heads.d {
            let mut d = if heads.z {
                conv2d_forward_reuse(&k4, &self.dis.weight.value, &self.dis.bias.value)
            } else {
                z.clone()
            };
            sigmoid_forward(&mut d);
            d
        } else {
            Vec::new()
        };
        let z = if heads.z { z } else { Vec::new() };
        EncoderPass { z, d, k1, k4, a1, a3, a3_shape: s3, middle }
    }

    /// Whether conv2 and conv3 run on engine::direct (the paper's sizes do).
    fn middle_is_direct(&self) -> bool {
        !self.gemm_middle && self.conv2.is_direct() && self.conv3.is_direct()
    }

    /// conv2 and conv3 with their LeakyReLUs on engine::direct, from conv1's activated output
    /// (CNHW): conv3's activated output in CNHW, and the two layers' blocked inputs.
    fn middle_direct(&self, a1: &[f32], s1: Shape4) -> (Vec<f32>, Shape4, [Blocked; 2]) {
        self.middle_direct_packed(a1, s1, &self.packed_middle())
    }

    /// conv2's and conv3's weights as engine::direct reads them ([cout][cin][4][4] packed).
    fn packed_middle(&self) -> [Vec<f32>; 2] {
        [&self.conv2, &self.conv3].map(|l| {
            let s = &l.weight.shape;
            direct::pack_out_major(&l.weight.value, s[0], s[1])
        })
    }

    /// `middle_direct` with conv2's and conv3's weights packed already (`packed_middle`).
    fn middle_direct_packed(&self, a1: &[f32], s1: Shape4, packed: &[Vec<f32>; 2]) -> (Vec<f32>, Shape4, [Blocked; 2]) {
        let a1b = Blocked::from_cnhw(a1, s1, 1);
        let mut a2b = direct::layers::conv2d_forward_packed(&a1b, &packed[0], &self.conv2.bias.value, 1);
        leaky_relu_forward(&mut a2b.data, SLOPE);
        let mut a3b = direct::layers::conv2d_forward_packed(&a2b, &packed[1], &self.conv3.bias.value, 0);
        leaky_relu_forward(&mut a3b.data, SLOPE);
        let s3 = Shape4 { c: a3b.c, n: a3b.n, h: a3b.h, w: a3b.w };
        (a3b.to_cnhw(), s3, [a1b, a2b])
    }

    /// The encoder as feature extraction runs it: conv2's and conv3's weights packed once for
    /// every batch that follows (packed per 64-image batch, they took 2.8% of an encode).
    pub fn for_inference(&self) -> ZEncoder<'_> {
        ZEncoder { enc: self, packed: self.middle_is_direct().then(|| self.packed_middle()) }
    }

    /// z alone ([nz, N]) for inference: the same arithmetic (and bytes) as `forward`'s z head.
    /// For many batches, `for_inference` packs the weights once for all of them.
    pub fn forward_z(&self, x: &[f32], xs: Shape4) -> Vec<f32> {
        self.for_inference().z(x, xs)
    }

    /// Accumulates parameter gradients from dL/dz ([nz, N]) and dL/dd ([N], gradient with respect
    /// to the sigmoid output), and returns dL/dx if `want_dx`. A head whose gradient is None gets
    /// none (its parameters keep `has_grad` as they were, as in autograd).
    pub fn backward(
        &mut self,
        pass: &EncoderPass,
        dz: Option<&[f32]>,
        dd: Option<&[f32]>,
        want_dx: bool,
    ) -> Option<Vec<f32>> {
        let k4 = &pass.k4;
        let mut dcols = vec![0.0; k4.geom.col_len()];
        if let Some(dz) = dz {
            let (w, dw, db) = self.conv4.for_backward();
            conv2d_backward_cols(k4, w, dz, dw, db, Some(&mut dcols));
        }
        if let Some(dd) = dd {
            let mut dlogit = dd.to_vec();
            sigmoid_backward(&mut dlogit, &pass.d);
            let (w, dw, db) = self.dis.for_backward();
            conv2d_backward_cols(k4, w, &dlogit, dw, db, Some(&mut dcols));
        }
        let mut g3 = conv2d_input_grad(k4, &dcols);
        leaky_relu_backward(&mut g3, &pass.a3, SLOPE);
        let mut g1 = match &pass.middle {
            Middle::Gemm { k2, k3, a2 } => {
                let mut g2 = trunk_backward(&mut self.conv3, k3, &g3, true).unwrap();
                leaky_relu_backward(&mut g2, a2, SLOPE);
                trunk_backward(&mut self.conv2, k2, &g2, true).unwrap()
            }
            Middle::Direct { a1, a2 } => {
                let g3b = Blocked::from_cnhw(&g3, pass.a3_shape, 1);
                let (w, dw, db) = self.conv3.for_backward();
                let mut g2b = direct::layers::conv2d_backward(a2, w, &g3b, dw, db, Some(1)).unwrap();
                leaky_relu_backward(&mut g2b.data, &a2.data, SLOPE);
                let (w, dw, db) = self.conv2.for_backward();
                direct::layers::conv2d_backward(a1, w, &g2b, dw, db, Some(0)).unwrap().to_cnhw()
            }
        };
        leaky_relu_backward(&mut g1, &pass.a1, SLOPE);
        trunk_backward(&mut self.conv1, &pass.k1, &g1, want_dx)
    }
}

fn trunk_backward(l: &mut ConvLayer, saved: &Conv2dSaved, dy: &[f32], want_dx: bool) -> Option<Vec<f32>> {
    let (w, dw, db) = l.for_backward();
    conv2d_backward(saved, w, dy, dw, db, want_dx)
}

/// An encoder ready for feature extraction (`Encoder::for_inference`).
pub struct ZEncoder<'a> {
    enc: &'a Encoder,
    /// conv2's and conv3's packed weights where they run on engine::direct.
    packed: Option<[Vec<f32>; 2]>,
}

impl ZEncoder<'_> {
    pub fn nz(&self) -> usize {
        self.enc.nz
    }

    /// z alone ([nz, N]): the same arithmetic (and bytes) as `Encoder::forward`'s z head, but no
    /// layer keeps its columns (the GEMM reads each tile's block where it is made,
    /// engine::implicit_gemm) and each activation is dropped as soon as the next layer has read
    /// it, so feature extraction keeps one layer's buffers at a time.
    pub fn z(&self, x: &[f32], xs: Shape4) -> Vec<f32> {
        let e = self.enc;
        let layer = |x: &[f32], xs: Shape4, l: &ConvLayer, spec: ConvSpec, leaky: bool| {
            let (mut y, ys) = conv2d_infer(x, xs, &l.weight.value, &l.bias.value, spec.into());
            if leaky {
                leaky_relu_forward(&mut y, SLOPE);
            }
            (y, ys)
        };
        let (a1, s1) = layer(x, xs, &e.conv1, TRUNK, true);
        let (a3, s3) = match &self.packed {
            Some(packed) => {
                let (a3, s3, _) = e.middle_direct_packed(&a1, s1, packed);
                (a3, s3)
            }
            None => {
                let (a2, s2) = layer(&a1, s1, &e.conv2, TRUNK, true);
                drop(a1);
                layer(&a2, s2, &e.conv3, TRUNK, true)
            }
        };
        layer(&a3, s3, &e.conv4, HEAD, false).0
    }
}

impl Network for Encoder {
    fn layers(&self) -> Vec<&ConvLayer> {
        vec![&self.conv1, &self.conv2, &self.conv3, &self.conv4, &self.dis]
    }
    fn layers_mut(&mut self) -> Vec<&mut ConvLayer> {
        vec![&mut self.conv1, &mut self.conv2, &mut self.conv3, &mut self.conv4, &mut self.dis]
    }
}
