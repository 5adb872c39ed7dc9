//! Bilinear resizing as Pillow's `Image.resize(size, BILINEAR)` does it on 8-bit images
//! (Resample.c: separable triangle filter whose support grows with the downscale factor,
//! coefficients rounded to 22-bit fixed point, horizontal pass then vertical pass, each clipped
//! to u8). torchvision's `Resize(32)` on a PIL image is exactly this call, so MNIST-style 28x28
//! digits come out bit-identical to the PyTorch pipeline (checked against Pillow by the golden
//! fixture tests/fixtures/resize_golden.bin, made by tests/fixtures/make_resize_golden.py).

use super::{PLANE, SIDE};

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Fixed-point coefficients for one axis: per output pixel (first input index, taps).
fn coeffs(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 1.0 * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let w: Vec<f64> = (xmin..xmax)
                .map(|x| {
                    let t = ((x as f64 - center + 0.5) * ss).abs();
                    if t < 1.0 {
                        1.0 - t
                    } else {
                        0.0
                    }
                })
                .collect();
            let total: f64 = w.iter().sum();
            let k = w
                .iter()
                .map(|&v| {
                    let v = if total != 0.0 { v / total } else { v };
                    let f = v * (1u32 << PRECISION_BITS) as f64;
                    if f < 0.0 {
                        (-0.5 + f) as i32
                    } else {
                        (0.5 + f) as i32
                    }
                })
                .collect();
            (xmin, k)
        })
        .collect()
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resizes one u8 plane (row-major, `w` x `h`) to `ow` x `oh` like Pillow's BILINEAR.
pub fn resize_plane(src: &[u8], w: usize, h: usize, ow: usize, oh: usize) -> Vec<u8> {
    let mut cur = src.to_vec();
    let mut cw = w;
    if ow != w {
        let k = coeffs(w, ow);
        let mut out = vec![0u8; ow * h];
        for y in 0..h {
            let row = &cur[y * w..(y + 1) * w];
            for (xx, (xmin, taps)) in k.iter().enumerate() {
                let mut ss: i32 = 1 << (PRECISION_BITS - 1);
                for (t, &c) in taps.iter().enumerate() {
                    ss += row[xmin + t] as i32 * c;
                }
                out[y * ow + xx] = clip8(ss);
            }
        }
        cur = out;
        cw = ow;
    }
    if oh != h {
        let k = coeffs(h, oh);
        let mut out = vec![0u8; cw * oh];
        for (yy, (ymin, taps)) in k.iter().enumerate() {
            for xx in 0..cw {
                let mut ss: i32 = 1 << (PRECISION_BITS - 1);
                for (t, &c) in taps.iter().enumerate() {
                    ss += cur[(ymin + t) * cw + xx] as i32 * c;
                }
                out[yy * cw + xx] = clip8(ss);
            }
        }
        cur = out;
    }
    cur
}

/// torchvision `Resize(32)` then `CenterCrop(32)` of an interleaved (HWC) u8 image with `c`
/// channels; returns the 32x32 result in CHW order.
pub fn to_32(src: &[u8], w: usize, h: usize, c: usize) -> Vec<u8> {
    // Resize(32): the shorter edge becomes 32, the longer int(32 * long / short).
    let (nw, nh) = if w <= h { (SIDE, SIDE * h / w) } else { (SIDE * w / h, SIDE) };
    // CenterCrop(32): offsets int(round((size - 32) / 2)) with Python's round-half-even.
    let off = |size: usize| -> usize {
        let d = size - SIDE;
        let half = d / 2;
        if d % 2 == 1 && half % 2 == 1 {
            half + 1
        } else {
            half
        }
    };
    let (top, left) = (off(nh), off(nw));
    let mut out = vec![0u8; c * PLANE];
    let mut plane = vec![0u8; w * h];
    for ch in 0..c {
        for (i, p) in plane.iter_mut().enumerate() {
            *p = src[i * c + ch];
        }
        let r = if (w, h) == (nw, nh) { plane.clone() } else { resize_plane(&plane, w, h, nw, nh) };
        let dst = &mut out[ch * PLANE..(ch + 1) * PLANE];
        for y in 0..SIDE {
            let s = (y + top) * nw + left;
            dst[y * SIDE..(y + 1) * SIDE].copy_from_slice(&r[s..s + SIDE]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_image_stays_constant() {
        for v in [0u8, 1, 128, 254, 255] {
            let out = to_32(&vec![v; 28 * 28], 28, 28, 1);
            assert!(out.iter().all(|&x| x == v), "value {v}");
        }
    }

    #[test]
    fn identity_size_is_a_transpose_to_chw() {
        let src: Vec<u8> = (0..32 * 32 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let out = to_32(&src, 32, 32, 3);
        assert_eq!(out[PLANE + 5], src[5 * 3 + 1]);
        assert_eq!(out[2 * PLANE + 33], src[33 * 3 + 2]);
    }

    #[test]
    fn center_crop_of_wide_image() {
        // 64x32: resized to 64x32 (no-op), crop starts at column 16.
        let src: Vec<u8> = (0..32 * 64).map(|i| (i % 64) as u8).collect();
        let out = to_32(&src, 64, 32, 1);
        assert_eq!(&out[..3], &[16, 17, 18]);
    }

    /// Golden images from Pillow (see tests/fixtures/make_resize_golden.py): bit-exact.
    #[test]
    fn matches_pillow_golden() {
        let g = include_bytes!("../../tests/fixtures/resize_golden.bin");
        // records: u16 w, u16 h, u16 ow, u16 oh, w*h input, ow*oh output
        let mut o = 0;
        let mut count = 0;
        while o < g.len() {
            let rd = |i: usize| u16::from_le_bytes([g[o + 2 * i], g[o + 2 * i + 1]]) as usize;
            let (w, h, ow, oh) = (rd(0), rd(1), rd(2), rd(3));
            o += 8;
            let src = &g[o..o + w * h];
            o += w * h;
            let want = &g[o..o + ow * oh];
            o += ow * oh;
            assert_eq!(resize_plane(src, w, h, ow, oh), want, "{w}x{h} -> {ow}x{oh}");
            count += 1;
        }
        assert!(count >= 4);
    }
}
