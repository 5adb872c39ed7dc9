//! The tiles of tiles.rs on AVX-512: one vector holds the 16 output channels of a block, so each
//! multiply-add of tiles.rs's scalar loops becomes one lane of a vector FMA, in the same order.
//! The accumulators (OB x NP, or OB x 8 for the weight gradient) stay in registers for the
//! whole tile.
#![cfg(target_arch = "x86_64")]
// Indexed loops over the register arrays spell out the same chains as tiles.rs.
#![allow(clippy::needless_range_loop)]
use super::layout::{K, LANES};
use super::tiles::{by_grad_geometry, by_row_width, class_tap, tap, ConvTile, GradTile};
use std::arch::x86_64::*;

/// # Safety
/// The CPU must have AVX-512F; the tile's pointers as for tiles::conv_tile_scalar.
#[target_feature(enable = "avx512f")]
pub unsafe fn conv_tile<const OB: usize, const NP: usize>(t: &ConvTile<OB, NP>) {
    by_row_width!(t.wp, |WP| conv_tile_in::<OB, NP, WP>(t))
}

#[target_feature(enable = "avx512f")]
unsafe fn conv_tile_in<const OB: usize, const NP: usize, const WP: usize>(t: &ConvTile<OB, NP>) {
    let wp = if WP == 0 { t.wp } else { WP };
    let mut acc = [[_mm512_setzero_ps(); NP]; OB];
    if t.load {
        for o in 0..OB {
            for p in 0..NP {
                acc[o][p] = _mm512_loadu_ps(t.y[o].add(t.yoff[p]));
            }
        }
    }
    for bk in 0..t.nb {
        let x = t.x.add(bk * t.xb);
        for ic in 0..LANES {
            for kh in 0..K {
                for kw in 0..K {
                    let mut wv = [_mm512_setzero_ps(); OB];
                    for o in 0..OB {
                        wv[o] = _mm512_loadu_ps(t.w[o].add(bk * t.wb + tap(ic, kh, kw)));
                    }
                    let base = x.add((kh * wp + kw) * LANES + ic);
                    for p in 0..NP {
                        let xv = _mm512_set1_ps(*base.add(t.xoff[p]));
                        for o in 0..OB {
                            acc[o][p] = _mm512_fmadd_ps(wv[o], xv, acc[o][p]);
                        }
                    }
                }
            }
        }
    }
    store(&acc, t.y, &t.yoff, t.bias);
}

/// # Safety
/// As for `conv_tile`.
#[target_feature(enable = "avx512f")]
pub unsafe fn transpose_tile<const OB: usize, const NP: usize>(t: &ConvTile<OB, NP>) {
    by_row_width!(t.wp, |WP| transpose_tile_in::<OB, NP, WP>(t))
}

#[target_feature(enable = "avx512f")]
unsafe fn transpose_tile_in<const OB: usize, const NP: usize, const WP: usize>(c: &ConvTile<OB, NP>) {
    let wp = if WP == 0 { c.wp } else { WP };
    let mut acc = [[_mm512_setzero_ps(); NP]; OB];
    if c.load {
        for o in 0..OB {
            for p in 0..NP {
                acc[o][p] = _mm512_loadu_ps(c.y[o].add(c.yoff[p]));
            }
        }
    }
    for bk in 0..c.nb {
        let x = c.x.add(bk * c.xb);
        for ic in 0..LANES {
            for a in 0..2 {
                for b in 0..2 {
                    let mut wv = [_mm512_setzero_ps(); OB];
                    for o in 0..OB {
                        wv[o] = _mm512_loadu_ps(c.w[o].add(bk * c.wb + class_tap(ic, a, b)));
                    }
                    let base = x.add(ic).sub((a * wp + b) * LANES);
                    for p in 0..NP {
                        let xv = _mm512_set1_ps(*base.add(c.xoff[p]));
                        for o in 0..OB {
                            acc[o][p] = _mm512_fmadd_ps(wv[o], xv, acc[o][p]);
                        }
                    }
                }
            }
        }
    }
    store(&acc, c.y, &c.yoff, c.bias);
}

/// Writes the accumulators back, adding the bias after the last block of input channels.
#[inline(always)]
unsafe fn store<const OB: usize, const NP: usize>(
    acc: &[[__m512; NP]; OB],
    y: [*mut f32; OB],
    yoff: &[usize; NP],
    bias: Option<[*const f32; OB]>,
) {
    for o in 0..OB {
        let b = bias.map(|b| _mm512_loadu_ps(b[o]));
        for p in 0..NP {
            let v = match b {
                Some(b) => _mm512_add_ps(acc[o][p], b),
                None => acc[o][p],
            };
            _mm512_storeu_ps(y[o].add(yoff[p]), v);
        }
    }
}

/// # Safety
/// As for `conv_tile`.
#[target_feature(enable = "avx512f")]
pub unsafe fn grad_tile<const OB: usize>(t: &GradTile<OB>) {
    // PAD's geometries with the loop bounds and strides known at compile time (1.1-1.3x faster
    // than read from the tile); anything else with them read at run time (0 = from the tile).
    by_grad_geometry!(t, |S, WP, DWP| grad_tile_in::<OB, S, WP, DWP>(t))
}

#[target_feature(enable = "avx512f")]
unsafe fn grad_tile_in<const OB: usize, const S: usize, const WP: usize, const DWP: usize>(t: &GradTile<OB>) {
    let pick = |c: usize, v: usize| if c == 0 { v } else { c };
    let (oh, ow, wp, dwp) = (pick(S, t.oh), pick(S, t.ow), pick(WP, t.wp), pick(DWP, t.dwp));
    let at = |j: usize, kw: usize| ((j * K + t.kh) * K + kw) * LANES;
    let mut acc = [[_mm512_setzero_ps(); 8]; OB];
    if t.load {
        for o in 0..OB {
            for j in 0..2 {
                for kw in 0..K {
                    acc[o][j * K + kw] = _mm512_loadu_ps(t.dw[o].add(at(j, kw)));
                }
            }
        }
    }
    for i in 0..t.imgs {
        let xi = t.x.add(i * t.xs + t.kh * wp * LANES);
        for oy in 0..oh {
            for ox in 0..ow {
                let mut d = [_mm512_setzero_ps(); OB];
                for o in 0..OB {
                    d[o] = _mm512_loadu_ps(t.dy[o].add(i * t.dys + (oy * dwp + ox) * LANES));
                }
                let base = xi.add((2 * oy * wp + 2 * ox) * LANES);
                for j in 0..2 {
                    for kw in 0..K {
                        let xv = _mm512_set1_ps(*base.add(kw * LANES + j));
                        for o in 0..OB {
                            acc[o][j * K + kw] = _mm512_fmadd_ps(d[o], xv, acc[o][j * K + kw]);
                        }
                    }
                }
            }
        }
    }
    for o in 0..OB {
        for j in 0..2 {
            for kw in 0..K {
                _mm512_storeu_ps(t.dw[o].add(at(j, kw)), acc[o][j * K + kw]);
            }
        }
    }
}

/// 16 x 16 transpose in registers: afterwards r[i][j] is the old r[j][i].
#[target_feature(enable = "avx512f")]
unsafe fn transpose16(r: &mut [__m512; 16]) {
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for i in 0..4 {
        let q: [__m512d; 4] = std::array::from_fn(|j| _mm512_castps_pd(t[4 * i + j]));
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(q[0], q[2]));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(q[0], q[2]));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(q[1], q[3]));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(q[1], q[3]));
    }
    for i in [0, 1, 2, 3, 8, 9, 10, 11] {
        t[i] = _mm512_shuffle_f32x4::<0x88>(r[i], r[i + 4]);
        t[i + 4] = _mm512_shuffle_f32x4::<0xdd>(r[i], r[i + 4]);
    }
    for i in 0..8 {
        r[i] = _mm512_shuffle_f32x4::<0x88>(t[i], t[i + 8]);
        r[i + 8] = _mm512_shuffle_f32x4::<0xdd>(t[i], t[i + 8]);
    }
}

/// Sixteen pixels of sixteen channel planes to sixteen blocked pixels: 16 floats from each
/// `src[l]` (channel l), stored as pixel i's vector at `dst + off[i]`.
///
/// # Safety
/// The CPU must have AVX-512F; 16 floats readable at each src[l] and writable at each dst + off[i].
#[target_feature(enable = "avx512f")]
pub unsafe fn planes_to_pixels(src: &[*const f32; LANES], dst: *mut f32, off: &[usize; LANES]) {
    let mut r: [__m512; LANES] = std::array::from_fn(|l| _mm512_loadu_ps(src[l]));
    transpose16(&mut r);
    for (i, v) in r.iter().enumerate() {
        _mm512_storeu_ps(dst.add(off[i]), *v);
    }
}

/// The inverse of `planes_to_pixels`: pixel i's vector at `src + off[i]` to lane i of each
/// channel's 16 floats at dst[l], stored, or added to what is there when `ADD`.
///
/// # Safety
/// As for `planes_to_pixels`, with reads and writes exchanged.
#[target_feature(enable = "avx512f")]
pub unsafe fn pixels_to_planes<const ADD: bool>(src: *const f32, off: &[usize; LANES], dst: &[*mut f32; LANES]) {
    let mut r: [__m512; LANES] = std::array::from_fn(|i| _mm512_loadu_ps(src.add(off[i])));
    transpose16(&mut r);
    for (l, v) in r.iter().enumerate() {
        let v = if ADD { _mm512_add_ps(_mm512_loadu_ps(dst[l]), *v) } else { *v };
        _mm512_storeu_ps(dst[l], v);
    }
}
