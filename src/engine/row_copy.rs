//! The short copies the column matrix is made of: runs of 8-35 floats (one output row of
//! Inception's 8 x 8 to 35 x 35 maps) copied, gathered from every second float (stride-2
//! kernels) or zeroed (padding), thousands of times per tile.
//!
//! Why not `copy_from_slice` and a fill loop: a copy of a run-time length is a call to the C
//! library's memmove, whose dispatch costs as much as moving 17 floats, and a fill loop is compiled
//! for baseline SSE. On AVX-512 CPUs a run here is 16-float vector moves, the last one masked (one
//! to three for such rows). Elsewhere the plain loops. The values are copied, never computed: the
//! bytes are the same on every path.
use std::mem::MaybeUninit;

/// The three moves, for a CPU's vector unit. `src` of `copy` has dst.len() floats; `src` of
/// `gather2` has 2 * dst.len() - 1 floats, of which the even ones are taken.
pub trait RowMoves {
    fn copy(dst: &mut [MaybeUninit<f32>], src: &[f32]);
    fn gather2(dst: &mut [MaybeUninit<f32>], src: &[f32]);
    fn zero(dst: &mut [MaybeUninit<f32>]);
}

/// Plain loops: any CPU.
pub struct Plain;

impl RowMoves for Plain {
    #[inline(always)]
    fn copy(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
        gather(dst, src, 1);
    }

    #[inline(always)]
    fn gather2(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
        if !dst.is_empty() {
            gather(dst, src, 2);
        }
    }

    #[inline(always)]
    fn zero(dst: &mut [MaybeUninit<f32>]) {
        dst.iter_mut().for_each(|d| {
            d.write(0.0);
        });
    }
}

/// dst[j] = src[j * stride], with the common strides spelled out so the compiler unrolls them.
#[inline]
pub fn gather(dst: &mut [MaybeUninit<f32>], src: &[f32], stride: usize) {
    match stride {
        1 => dst.iter_mut().zip(src).for_each(|(d, v)| {
            d.write(*v);
        }),
        2 => {
            let src = &src[..2 * dst.len() - 1];
            for (j, d) in dst.iter_mut().enumerate() {
                d.write(src[2 * j]);
            }
        }
        s => dst.iter_mut().zip(src.iter().step_by(s)).for_each(|(d, v)| {
            d.write(*v);
        }),
    }
}

/// 16-float AVX-512 moves, the tail masked. Only to be called from code compiled for AVX-512F
/// (`#[target_feature(enable = "avx512f")]`, checked by the caller), where they are inlined.
#[cfg(target_arch = "x86_64")]
pub struct Avx512;

#[cfg(target_arch = "x86_64")]
impl RowMoves for Avx512 {
    #[inline(always)]
    fn copy(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
        assert_eq!(src.len(), dst.len(), "row_copy: lengths");
        // SAFETY: callers run on AVX-512F (the type's contract); the lengths were checked.
        unsafe { avx512::copy(dst.as_mut_ptr().cast(), src.as_ptr(), dst.len()) }
    }

    #[inline(always)]
    fn gather2(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
        if dst.is_empty() {
            return;
        }
        assert!(src.len() >= 2 * dst.len() - 1, "row_copy: gather length");
        // SAFETY: as above; src holds the 2 * len - 1 floats read.
        unsafe { avx512::gather2(dst.as_mut_ptr().cast(), src.as_ptr(), dst.len()) }
    }

    #[inline(always)]
    fn zero(dst: &mut [MaybeUninit<f32>]) {
        // SAFETY: callers run on AVX-512F.
        unsafe { avx512::zero(dst.as_mut_ptr().cast(), dst.len()) }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// The first `r` lanes (0..=16).
    #[inline(always)]
    fn lanes(r: usize) -> __mmask16 {
        ((1u32 << r) - 1) as __mmask16
    }

    /// dst[0..n] = src[0..n]. Masked lanes are neither read nor written.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn copy(dst: *mut f32, src: *const f32, n: usize) {
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY (all blocks): i + 16 <= n, inside both runs.
            unsafe { _mm512_storeu_ps(dst.add(i), _mm512_loadu_ps(src.add(i))) };
            i += 16;
        }
        if i < n {
            let m = lanes(n - i);
            unsafe { _mm512_mask_storeu_ps(dst.add(i), m, _mm512_maskz_loadu_ps(m, src.add(i))) };
        }
    }

    /// dst[j] = src[2j] for j < n; src holds 2n - 1 floats.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn gather2(dst: *mut f32, src: *const f32, n: usize) {
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let mut i = 0;
        while i + 16 <= n {
            // Floats 2i .. 2i + 30 (the last one is 2i + 30 <= 2n - 2): 16 + 15 of them.
            let (lo, hi) =
                unsafe { (_mm512_loadu_ps(src.add(2 * i)), _mm512_maskz_loadu_ps(lanes(15), src.add(2 * i + 16))) };
            unsafe { _mm512_storeu_ps(dst.add(i), _mm512_permutex2var_ps(lo, even, hi)) };
            i += 16;
        }
        if i < n {
            let (r, need) = (n - i, 2 * (n - i) - 1);
            let lo = unsafe { _mm512_maskz_loadu_ps(lanes(need.min(16)), src.add(2 * i)) };
            // The upper half only where the tail reaches it (no pointer past the run otherwise).
            let hi = if need > 16 {
                unsafe { _mm512_maskz_loadu_ps(lanes(need - 16), src.add(2 * i + 16)) }
            } else {
                _mm512_setzero_ps()
            };
            unsafe { _mm512_mask_storeu_ps(dst.add(i), lanes(r), _mm512_permutex2var_ps(lo, even, hi)) };
        }
    }

    /// dst[0..n] = 0.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn zero(dst: *mut f32, n: usize) {
        let z = _mm512_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            unsafe { _mm512_storeu_ps(dst.add(i), z) };
            i += 16;
        }
        if i < n {
            unsafe { _mm512_mask_storeu_ps(dst.add(i), lanes(n - i), z) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug)]
    enum Move {
        Copy,
        Gather2,
        Zero,
    }

    /// One move of `n` floats into the middle of a guarded buffer; its bits, guards included.
    fn run<M: RowMoves>(n: usize, m: Move) -> Vec<u32> {
        let src: Vec<f32> = (0..2 * n + 40).map(|i| i as f32 + 0.5).collect();
        let mut out = vec![MaybeUninit::new(-1.0f32); n + 32];
        let dst = &mut out[16..16 + n];
        match m {
            Move::Copy => M::copy(dst, &src[3..3 + n]),
            Move::Gather2 => M::gather2(dst, &src[3..3 + (2 * n).saturating_sub(1)]),
            Move::Zero => M::zero(dst),
        }
        out.iter().map(|v| unsafe { v.assume_init() }.to_bits()).collect()
    }

    /// Every length from 0 to 70 (whole vectors, masked tails, the gather's two halves): the
    /// AVX-512 moves write what the plain loops write, and nothing beside the run.
    #[test]
    fn vector_moves_write_what_the_plain_loops_write() {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f")]
            fn wide(n: usize, m: Move) -> Vec<u32> {
                run::<Avx512>(n, m)
            }
            if !std::arch::is_x86_feature_detected!("avx512f") {
                return;
            }
            for n in 0..70 {
                for m in [Move::Copy, Move::Gather2, Move::Zero] {
                    // SAFETY: the CPU has AVX-512F, checked above.
                    assert_eq!(unsafe { wide(n, m) }, run::<Plain>(n, m), "{n} floats, {m:?}");
                }
            }
        }
    }
}
