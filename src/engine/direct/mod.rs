//! Direct convolution kernels: k4 s2 p1 convolutions, transposed convolutions and their weight
//! gradients computed from image to image on channel-blocked images (layout.rs), with no column
//! matrix, no col2im and no packing of activations. On the GEMM path much of a large layer's time
//! goes to im2col, col2im and the library's packing; these kernels read the images where they are
//! (`pad bench --layers` times them).
//!
//! Bytes: every output value is one chain of fused multiply-adds in an order fixed by tiles.rs,
//! whatever the thread count and whichever instruction set runs it: the AVX-512, AVX2 and
//! plain-Rust tiles give the same bits (tested). The order differs from the GEMM path's summation
//! rule (engine/gemm/blocks.rs), so a layer's bytes depend on which path it takes, never on the
//! CPU that runs that path.
//!
//! Used by the model for the middle layers (conv2, conv3, tconv2, tconv3) on CPUs with AVX-512
//! or AVX2 (model::param::ConvLayer::is_direct); the others stay on the GEMM path.
pub mod conv;
pub mod convert;
pub mod layers;
pub mod layout;
pub mod pack;
pub mod tiles;
pub mod transpose;
pub mod weight_grad;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(test)]
mod tests;

pub use conv::{conv_forward, conv_transpose_forward};
pub use layout::Blocked;
pub use pack::{add_unpacked_out_major, pack_in_major, pack_out_major};
pub use weight_grad::conv_weight_grad;

use std::sync::atomic::{AtomicU8, Ordering};

/// Which form of the tiles runs: AVX-512 or AVX2 (with FMA) where the CPU has them, plain Rust
/// elsewhere. All three give the same bytes (tested); the plain one is the reference the others
/// are tested against, far slower than the GEMM path, so the networks only take the direct path
/// with one of the other two (`Isa::is_vector`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2,
    Scalar,
}

/// The tiles `choose` set for the whole process: 0 for none (the widest the CPU has), else
/// 1 + the index in `Isa::ALL`.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

impl Isa {
    pub const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Scalar];

    /// The tiles every pass runs: those `choose` set, else the widest this CPU has.
    pub fn detect() -> Isa {
        match CHOSEN.load(Ordering::Relaxed) {
            0 => Isa::widest(),
            n => Isa::ALL[usize::from(n) - 1],
        }
    }

    /// The widest tiles this CPU runs.
    pub fn widest() -> Isa {
        Isa::ALL.into_iter().find(|i| i.runs_here()).unwrap_or(Isa::Scalar)
    }

    /// Whether this CPU has the instructions of these tiles.
    pub fn runs_here(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            Isa::Scalar => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Whether these are vector tiles, faster than the GEMM path (the plain ones are not).
    pub fn is_vector(self) -> bool {
        self != Isa::Scalar
    }
}

/// Makes every later `Isa::detect` in this process return `isa` (`pad bench --kernels`), so that
/// one machine can measure what a CPU with narrower vectors runs; `Isa::Scalar` sends the
/// networks' middle layers to the GEMM path. Refused when this CPU lacks the instructions.
pub fn choose(isa: Isa) -> Result<(), String> {
    if !isa.runs_here() {
        return Err(format!("this CPU cannot run the {isa:?} kernels (it has {:?} at most)", Isa::widest()));
    }
    let n = Isa::ALL.iter().position(|&i| i == isa).expect("every Isa is in ALL") + 1;
    CHOSEN.store(n as u8, Ordering::Relaxed);
    Ok(())
}
