//! The three tiles every direct pass is made of, and their plain-Rust form.
//!
//! A tile is a fixed, small piece of work: OB blocks of 16 output channels by NP output pixels
//! (forward and transposed forward), or OB blocks of 16 output channels by two input channels by
//! one kernel row (weight gradient). Each output value is one chain of fused multiply-adds in
//! the order the loops below spell out; a tile either starts the chain from +0.0 or continues it
//! from the value stored by the tile before it. The AVX-512 tiles (avx512.rs) run the same chains
//! sixteen lanes at a time, so both give the same bytes (tested), and so does any split of the
//! work over threads.
// Indexed loops: each is one index of the chain the doc comments give.
#![allow(clippy::needless_range_loop)]
use super::layout::{K, LANES};

/// A tile of a forward convolution, k4 s2 (or of a transposed one: `transpose_tile_scalar`):
/// for each of NP output pixels p, each output block o and lane l,
///   y[o][yoff[p] + l] (+)= sum over input blocks b in 0..nb, ic in 0..16, kh, kw of
///       w[o][b * wb + ((ic * 4 + kh) * 4 + kw) * 16 + l] * x[b * xb + xoff[p] + (kh * wp + kw) * 16 + ic],
/// in that order, then + bias[o][l] if given.
pub struct ConvTile<const OB: usize, const NP: usize> {
    pub x: *const f32,
    pub wp: usize,
    pub nb: usize,
    pub xb: usize,
    pub wb: usize,
    pub xoff: [usize; NP],
    pub w: [*const f32; OB],
    pub y: [*mut f32; OB],
    pub yoff: [usize; NP],
    pub load: bool,
    pub bias: Option<[*const f32; OB]>,
}

/// Weight gradient of a k4 s2 convolution for two input channels (x already offset to the first;
/// the second is the next lane) and kernel row kh, all four kw:
///   dw[o][((j * 4 + kh) * 4 + kw) * 16 + l] (+)= sum over images i, output pixels (oy, ox) of
///       dy[o][i * dys + (oy * dwp + ox) * 16 + l] * x[i * xs + ((2 oy + kh) * wp + 2 ox + kw) * 16 + j],
/// images, then rows, then columns in order.
pub struct GradTile<const OB: usize> {
    pub dy: [*const f32; OB],
    pub dys: usize,
    pub dwp: usize,
    pub x: *const f32,
    pub xs: usize,
    pub wp: usize,
    pub oh: usize,
    pub ow: usize,
    pub imgs: usize,
    pub kh: usize,
    pub dw: [*mut f32; OB],
    pub load: bool,
}

/// Calls `$call` with `$wp` (a tile's padded row width) as the compile-time constant `$W` for
/// PAD's widths (18, 10, 6), else 0 (= read from the tile): one list for every vector form of
/// the forward tiles (1.1-1.3x on the weight gradient, where this began).
macro_rules! by_row_width {
    ($wp:expr, |$W:ident| $call:expr) => {
        match $wp {
            18 => {
                const $W: usize = 18;
                $call
            }
            10 => {
                const $W: usize = 10;
                $call
            }
            6 => {
                const $W: usize = 6;
                $call
            }
            _ => {
                const $W: usize = 0;
                $call
            }
        }
    };
}
pub(super) use by_row_width;

/// Calls `$call` with a weight-gradient tile's geometry as compile-time constants `$S` (output
/// side), `$WP` and `$DWP` (x's and dy's padded row widths) for PAD's conv2/tconv3 and
/// conv3/tconv2 shapes, else zeros (= read from the tile).
macro_rules! by_grad_geometry {
    ($t:expr, |$S:ident, $WP:ident, $DWP:ident| $call:expr) => {
        match ($t.ow, $t.oh, $t.wp, $t.dwp) {
            (8, 8, 18, 8) => by_grad_geometry!(@ $call, $S = 8, $WP = 18, $DWP = 8),
            (8, 8, 18, 10) => by_grad_geometry!(@ $call, $S = 8, $WP = 18, $DWP = 10),
            (4, 4, 10, 4) => by_grad_geometry!(@ $call, $S = 4, $WP = 10, $DWP = 4),
            (4, 4, 10, 6) => by_grad_geometry!(@ $call, $S = 4, $WP = 10, $DWP = 6),
            _ => by_grad_geometry!(@ $call, $S = 0, $WP = 0, $DWP = 0),
        }
    };
    (@ $call:expr, $S:ident = $s:literal, $WP:ident = $wp:literal, $DWP:ident = $dwp:literal) => {{
        const $S: usize = $s;
        const $WP: usize = $wp;
        const $DWP: usize = $dwp;
        $call
    }};
}
pub(super) use by_grad_geometry;

/// Weight offset of (input channel ic of the block, kh, kw).
#[inline(always)]
pub fn tap(ic: usize, kh: usize, kw: usize) -> usize {
    ((ic * K + kh) * K + kw) * LANES
}

/// Weight offset of (input channel ic of the block, a, b) within one parity class.
#[inline(always)]
pub fn class_tap(ic: usize, a: usize, b: usize) -> usize {
    ((ic * 2 + a) * 2 + b) * LANES
}

/// # Safety
/// Every pointer and offset of `t` must be in bounds of its buffer, the outputs disjoint from
/// the inputs.
pub unsafe fn conv_tile_scalar<const OB: usize, const NP: usize>(t: &ConvTile<OB, NP>) {
    for o in 0..OB {
        for p in 0..NP {
            for l in 0..LANES {
                let out = t.y[o].add(t.yoff[p] + l);
                let mut acc = if t.load { *out } else { 0.0 };
                for b in 0..t.nb {
                    for ic in 0..LANES {
                        for kh in 0..K {
                            for kw in 0..K {
                                let xv = *t.x.add(b * t.xb + t.xoff[p] + (kh * t.wp + kw) * LANES + ic);
                                acc = (*t.w[o].add(b * t.wb + tap(ic, kh, kw) + l)).mul_add(xv, acc);
                            }
                        }
                    }
                }
                if let Some(b) = t.bias {
                    acc += *b[o].add(l);
                }
                *out = acc;
            }
        }
    }
}

/// Transposed convolution, k4 s2 p1, on a ConvTile whose NP pixels are of one parity class
/// (py, px) of the output: only the taps kh = 1 - py + 2a, kw = 1 - px + 2b (a, b in 0..2) reach
/// them, from input pixel xoff[p] - (a * wp + b) * 16, so
///   y[o][yoff[p] + l] (+)= sum over input blocks b in 0..nb, ic in 0..16, a, b of
///       w[o][b * wb + class_tap(ic, a, b) + l] * x[b * xb + xoff[p] - (a * wp + b) * 16 + ic],
/// in that order, then + bias[o][l] if given; w points at the class's own weights
/// (pack::pack_in_major).
///
/// # Safety
/// As for `conv_tile_scalar`.
pub unsafe fn transpose_tile_scalar<const OB: usize, const NP: usize>(c: &ConvTile<OB, NP>) {
    for o in 0..OB {
        for p in 0..NP {
            for l in 0..LANES {
                let out = c.y[o].add(c.yoff[p] + l);
                let mut acc = if c.load { *out } else { 0.0 };
                for bk in 0..c.nb {
                    let (x, w) = (c.x.add(bk * c.xb), c.w[o].add(bk * c.wb));
                    for ic in 0..LANES {
                        for a in 0..2 {
                            for b in 0..2 {
                                let xv = *x.add(c.xoff[p] - (a * c.wp + b) * LANES + ic);
                                acc = (*w.add(class_tap(ic, a, b) + l)).mul_add(xv, acc);
                            }
                        }
                    }
                }
                if let Some(b) = c.bias {
                    acc += *b[o].add(l);
                }
                *out = acc;
            }
        }
    }
}

/// # Safety
/// As for `conv_tile_scalar`.
pub unsafe fn grad_tile_scalar<const OB: usize>(t: &GradTile<OB>) {
    for o in 0..OB {
        for j in 0..2 {
            for kw in 0..K {
                for l in 0..LANES {
                    let out = t.dw[o].add(((j * K + t.kh) * K + kw) * LANES + l);
                    let mut acc = if t.load { *out } else { 0.0 };
                    for i in 0..t.imgs {
                        for oy in 0..t.oh {
                            for ox in 0..t.ow {
                                let d = *t.dy[o].add(i * t.dys + (oy * t.dwp + ox) * LANES + l);
                                let xv = *t.x.add(i * t.xs + ((2 * oy + t.kh) * t.wp + 2 * ox + kw) * LANES + j);
                                acc = d.mul_add(xv, acc);
                            }
                        }
                    }
                    *out = acc;
                }
            }
        }
    }
}
