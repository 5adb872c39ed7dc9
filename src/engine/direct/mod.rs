//! Direct convolution kernels: k4 s2 p1 convolutions, transposed convolutions and their weight
//! gradients computed from image to image on channel-blocked images (layout.rs), with no column
//! matrix, no col2im and no packing. The engine's GEMM path reaches 67-91% of its ceiling on
//! PAD's large layers, most of the rest going to im2col, col2im and the library's packing; these
//! kernels read the images where they are (`cargo bench --bench direct_conv` measures both).
//!
//! Bytes: every output value is one chain of fused multiply-adds in an order fixed by tiles.rs,
//! whatever the thread count and whichever instruction set runs it: the AVX-512 tiles and the
//! plain-Rust ones give the same bits (tested), unlike the GEMM library, whose reduction blocks
//! follow the CPU's cache sizes.
//!
//! Not yet used by the model: the model's tensors are CNHW, and converting at every layer costs
//! what the kernels save.
pub mod conv;
pub mod convert;
pub mod layers;
pub mod layout;
pub mod tiles;
pub mod weight_grad;

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(test)]
mod tests;

pub use conv::{conv_forward, conv_transpose_forward};
pub use layout::{add_unpacked_out_major, pack_in_major, pack_out_major, Blocked};
pub use weight_grad::conv_weight_grad;

/// Which form of the tiles runs: AVX-512 where the CPU has it, plain Rust elsewhere (same bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Scalar,
}

impl Isa {
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        Isa::Scalar
    }
}
