//! The tiles of tiles.rs on AVX2 with FMA, for CPUs without AVX-512. A block's 16 output channels
//! are two 8-lane vectors, and each multiply-add of tiles.rs's scalar loops is one lane of a
//! vector FMA, in the same order: these tiles give the bytes of the plain-Rust and AVX-512 ones
//! (tested), so a machine without AVX-512 computes the same networks.
//!
//! AVX2 has 16 vector registers where AVX-512 has 32, so a tile is computed in parts whose
//! accumulators fit: one output block by four pixels (8 vectors) for the forward tiles, one
//! output block by one input channel (4 kw x 2 halves) for the weight gradient. Each part runs
//! its outputs' whole chains; the parts only re-read weights and inputs, from L1.
#![cfg(target_arch = "x86_64")]
// Indexed loops over the register arrays spell out the same chains as tiles.rs.
#![allow(clippy::needless_range_loop)]
use super::layout::{K, LANES};
use super::tiles::{by_grad_geometry, by_row_width, class_tap, tap, ConvTile, GradTile};
use std::arch::x86_64::*;

/// Lanes of one AVX2 vector: a block is two.
const HALF: usize = 8;
/// Pixels per part of a forward tile.
const PART: usize = 4;

/// # Safety
/// The CPU must have AVX2 and FMA; the tile's pointers as for tiles::conv_tile_scalar.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn conv_tile<const OB: usize, const NP: usize>(t: &ConvTile<OB, NP>) {
    forward::<OB, NP, false>(t)
}

/// # Safety
/// As for `conv_tile`; the tile as for tiles::transpose_tile_scalar.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn transpose_tile<const OB: usize, const NP: usize>(t: &ConvTile<OB, NP>) {
    forward::<OB, NP, true>(t)
}

/// PAD's row strides known at compile time, as on AVX-512.
#[target_feature(enable = "avx2,fma")]
unsafe fn forward<const OB: usize, const NP: usize, const T: bool>(t: &ConvTile<OB, NP>) {
    by_row_width!(t.wp, |WP| forward_in::<OB, NP, WP, T>(t))
}

/// Both forward tiles, part by part: output block o, pixels p0.. (four, or one for a tile of
/// fewer than four).
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_in<const OB: usize, const NP: usize, const WP: usize, const T: bool>(t: &ConvTile<OB, NP>) {
    let wp = if WP == 0 { t.wp } else { WP };
    for o in 0..OB {
        if NP.is_multiple_of(PART) {
            for p0 in (0..NP).step_by(PART) {
                forward_part::<OB, NP, PART, T>(t, wp, o, p0);
            }
        } else {
            for p0 in 0..NP {
                forward_part::<OB, NP, 1, T>(t, wp, o, p0);
            }
        }
    }
}

#[inline(always)]
unsafe fn forward_part<const OB: usize, const NP: usize, const Q: usize, const T: bool>(
    t: &ConvTile<OB, NP>,
    wp: usize,
    o: usize,
    p0: usize,
) {
    let y = |q: usize, h: usize| t.y[o].add(t.yoff[p0 + q] + h * HALF);
    let mut acc = [[_mm256_setzero_ps(); 2]; Q];
    if t.load {
        for q in 0..Q {
            for h in 0..2 {
                acc[q][h] = _mm256_loadu_ps(y(q, h));
            }
        }
    }
    for bk in 0..t.nb {
        let (x, w) = (t.x.add(bk * t.xb), t.w[o].add(bk * t.wb));
        for ic in 0..LANES {
            // A convolution's 16 taps (kh, kw), or a transposed one's 4 of its parity class
            // (a, b); two nested loops of constant length, which the compiler unrolls (one loop
            // of 16 ran the conv tile at three quarters of the transposed one's speed).
            let (rows, cols) = if T { (2, 2) } else { (K, K) };
            for r in 0..rows {
                for c in 0..cols {
                    let (wo, xo) = if T {
                        (class_tap(ic, r, c), ic as isize - ((r * wp + c) * LANES) as isize)
                    } else {
                        (tap(ic, r, c), ((r * wp + c) * LANES + ic) as isize)
                    };
                    let wv = [_mm256_loadu_ps(w.add(wo)), _mm256_loadu_ps(w.add(wo + HALF))];
                    for q in 0..Q {
                        let xv = _mm256_set1_ps(*x.offset(t.xoff[p0 + q] as isize + xo));
                        for h in 0..2 {
                            acc[q][h] = _mm256_fmadd_ps(wv[h], xv, acc[q][h]);
                        }
                    }
                }
            }
        }
    }
    for h in 0..2 {
        let b = t.bias.map(|b| _mm256_loadu_ps(b[o].add(h * HALF)));
        for q in 0..Q {
            let v = match b {
                Some(b) => _mm256_add_ps(acc[q][h], b),
                None => acc[q][h],
            };
            _mm256_storeu_ps(y(q, h), v);
        }
    }
}

/// # Safety
/// As for `conv_tile`; the tile as for tiles::grad_tile_scalar.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn grad_tile<const OB: usize>(t: &GradTile<OB>) {
    // PAD's geometries with the loop bounds and strides known at compile time, as on AVX-512.
    by_grad_geometry!(t, |S, WP, DWP| grad_in::<OB, S, WP, DWP>(t))
}

/// Part by part: output block o, input channel j, its four kw by two halves.
#[target_feature(enable = "avx2,fma")]
unsafe fn grad_in<const OB: usize, const S: usize, const WP: usize, const DWP: usize>(t: &GradTile<OB>) {
    let pick = |c: usize, v: usize| if c == 0 { v } else { c };
    let (oh, ow, wp, dwp) = (pick(S, t.oh), pick(S, t.ow), pick(WP, t.wp), pick(DWP, t.dwp));
    for o in 0..OB {
        for j in 0..2 {
            let dw = |kw: usize, h: usize| t.dw[o].add(((j * K + t.kh) * K + kw) * LANES + h * HALF);
            let mut acc = [[_mm256_setzero_ps(); 2]; K];
            if t.load {
                for kw in 0..K {
                    for h in 0..2 {
                        acc[kw][h] = _mm256_loadu_ps(dw(kw, h));
                    }
                }
            }
            for i in 0..t.imgs {
                let xi = t.x.add(i * t.xs + t.kh * wp * LANES + j);
                for oy in 0..oh {
                    for ox in 0..ow {
                        let dp = t.dy[o].add(i * t.dys + (oy * dwp + ox) * LANES);
                        let d = [_mm256_loadu_ps(dp), _mm256_loadu_ps(dp.add(HALF))];
                        let base = xi.add((2 * oy * wp + 2 * ox) * LANES);
                        for kw in 0..K {
                            let xv = _mm256_set1_ps(*base.add(kw * LANES));
                            for h in 0..2 {
                                acc[kw][h] = _mm256_fmadd_ps(d[h], xv, acc[kw][h]);
                            }
                        }
                    }
                }
            }
            for kw in 0..K {
                for h in 0..2 {
                    _mm256_storeu_ps(dw(kw, h), acc[kw][h]);
                }
            }
        }
    }
}

/// 8 x 8 transpose in registers: afterwards r[i] holds the old column i.
#[target_feature(enable = "avx2,fma")]
unsafe fn transpose8(r: &mut [__m256; 8]) {
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (a, b) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 {
            _mm256_unpacklo_ps(a, b)
        } else {
            _mm256_unpackhi_ps(a, b)
        }
    });
    // Pairs of 64-bit lanes: rows 4k..4k+4 interleaved two by two.
    let mut u = [_mm256_setzero_ps(); 8];
    for k in 0..2 {
        let (t0, t1, t2, t3) = (t[4 * k], t[4 * k + 1], t[4 * k + 2], t[4 * k + 3]);
        u[4 * k] = _mm256_shuffle_ps::<0x44>(t0, t2);
        u[4 * k + 1] = _mm256_shuffle_ps::<0xee>(t0, t2);
        u[4 * k + 2] = _mm256_shuffle_ps::<0x44>(t1, t3);
        u[4 * k + 3] = _mm256_shuffle_ps::<0xee>(t1, t3);
    }
    for i in 0..4 {
        r[i] = _mm256_permute2f128_ps::<0x20>(u[i], u[i + 4]);
        r[i + 4] = _mm256_permute2f128_ps::<0x31>(u[i], u[i + 4]);
    }
}

/// As avx512::planes_to_pixels, in four 8 x 8 transposes.
///
/// # Safety
/// The CPU must have AVX2; 16 floats readable at each src[l] and writable at each dst + off[i].
#[target_feature(enable = "avx2,fma")]
pub unsafe fn planes_to_pixels(src: &[*const f32; LANES], dst: *mut f32, off: &[usize; LANES]) {
    for hb in 0..2 {
        for lb in 0..2 {
            let mut r: [__m256; HALF] = std::array::from_fn(|k| _mm256_loadu_ps(src[lb * HALF + k].add(hb * HALF)));
            transpose8(&mut r);
            for (j, v) in r.iter().enumerate() {
                _mm256_storeu_ps(dst.add(off[hb * HALF + j] + lb * HALF), *v);
            }
        }
    }
}

/// As avx512::pixels_to_planes, adding into dst[l] when `ADD`.
///
/// # Safety
/// As for `planes_to_pixels`, with reads and writes exchanged.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn pixels_to_planes<const ADD: bool>(src: *const f32, off: &[usize; LANES], dst: &[*mut f32; LANES]) {
    for lb in 0..2 {
        for hb in 0..2 {
            let mut r: [__m256; HALF] =
                std::array::from_fn(|k| _mm256_loadu_ps(src.add(off[hb * HALF + k] + lb * HALF)));
            transpose8(&mut r);
            for (j, v) in r.iter().enumerate() {
                let to = dst[lb * HALF + j].add(hb * HALF);
                let v = if ADD { _mm256_add_ps(_mm256_loadu_ps(to), *v) } else { *v };
                _mm256_storeu_ps(to, v);
            }
        }
    }
}
