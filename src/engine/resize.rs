//! Bilinear resizing of f32 planes as torch's `F.interpolate(mode='bilinear',
//! align_corners=False)` does it without antialiasing (upsample_bilinear2d): output pixel i reads
//! input coordinate max((i + 0.5) * in/out - 0.5, 0), i.e. pixel centres are aligned and the
//! border pixel is repeated. Index arithmetic in f32 like torch's CPU kernel, so the taps and
//! weights are the same ones.
//!
//! (Pillow's resampling for dataset preparation is src/data/resize.rs, a different filter.)
use super::Shape4;
use rayon::prelude::*;

/// Two taps and the weight of the second one, for each output index of one axis.
fn taps(in_size: usize, out_size: usize) -> Vec<(usize, usize, f32)> {
    let scale = in_size as f32 / out_size as f32;
    (0..out_size)
        .map(|i| {
            let src = (scale * (i as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(in_size - 1);
            let lambda = (src - i0 as f32).clamp(0.0, 1.0);
            let i1 = if i0 + 1 < in_size { i0 + 1 } else { i0 };
            (i0, i1, lambda)
        })
        .collect()
}

/// Resizes every (channel, example) plane of a CNHW tensor to oh x ow. Parallel over planes.
pub fn resize_bilinear(x: &[f32], xs: Shape4, oh: usize, ow: usize) -> (Vec<f32>, Shape4) {
    assert_eq!(x.len(), xs.len(), "resize: input shape");
    let ys = Shape4 { c: xs.c, n: xs.n, h: oh, w: ow };
    if xs.is_empty() || ys.is_empty() {
        return (vec![0.0; ys.len()], ys);
    }
    let (ty, tx) = (taps(xs.h, oh), taps(xs.w, ow));
    let mut y = vec![0.0; ys.len()];
    y.par_chunks_mut(oh * ow).zip(x.par_chunks(xs.h * xs.w)).for_each(|(out, p)| {
        for (r, &(y0, y1, ly)) in ty.iter().enumerate() {
            let (row0, row1) = (&p[y0 * xs.w..(y0 + 1) * xs.w], &p[y1 * xs.w..(y1 + 1) * xs.w]);
            for (c, &(x0, x1, lx)) in tx.iter().enumerate() {
                let top = (1.0 - lx) * row0[x0] + lx * row0[x1];
                let bottom = (1.0 - lx) * row1[x0] + lx * row1[x1];
                out[r * ow + c] = (1.0 - ly) * top + ly * bottom;
            }
        }
    });
    (y, ys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upscale_by_two_follows_half_pixel_centres() {
        // torch: F.interpolate(tensor([[[[0., 1.]]]]), size=(1, 4), mode='bilinear') = [0, .25, .75, 1]
        let (y, _) = resize_bilinear(&[0.0, 1.0], Shape4 { c: 1, n: 1, h: 1, w: 2 }, 1, 4);
        assert_eq!(y, vec![0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn same_size_is_identity_and_constants_stay_constant() {
        let xs = Shape4 { c: 2, n: 1, h: 3, w: 5 };
        let x: Vec<f32> = (0..xs.len()).map(|i| i as f32 * 0.5).collect();
        assert_eq!(resize_bilinear(&x, xs, 3, 5).0, x);
        let (y, ys) = resize_bilinear(&[0.3; 32 * 32], Shape4 { c: 1, n: 1, h: 32, w: 32 }, 299, 299);
        assert_eq!(ys.len(), 299 * 299);
        assert!(y.iter().all(|&v| (v - 0.3).abs() < 1e-6));
    }
}
