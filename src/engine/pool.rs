//! Max and average pooling (PyTorch's max_pool2d / avg_pool2d, floor mode, square windows) and
//! the global average pool, on CNHW activations, forward only (Inception for FID needs no
//! gradients).
//!
//! Each (channel, example) plane is pooled on its own: parallel over output planes only, and each
//! window is reduced in a fixed row-major order, so results do not depend on the thread count.
use super::Shape4;
use rayon::prelude::*;

/// Window size, stride and zero padding (the same on both axes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl PoolSpec {
    /// Output shape; None when the window does not fit the padded input or the padding exceeds
    /// half the window (PyTorch rejects that too: a window could then see only padding).
    pub fn out_shape(&self, xs: Shape4) -> Option<Shape4> {
        let ok =
            self.stride > 0 && 2 * self.pad <= self.k && xs.h + 2 * self.pad >= self.k && xs.w + 2 * self.pad >= self.k;
        ok.then(|| Shape4 {
            c: xs.c,
            n: xs.n,
            h: (xs.h + 2 * self.pad - self.k) / self.stride + 1,
            w: (xs.w + 2 * self.pad - self.k) / self.stride + 1,
        })
    }

    /// The input rows (or columns) [lo, hi) under window `o` of an axis of `size`, clipped to the
    /// image, and the extent of the window clipped to the padded image (PyTorch's divisor when
    /// padding counts).
    #[inline]
    fn span(&self, o: usize, size: usize) -> (usize, usize, usize) {
        let start = (o * self.stride) as isize - self.pad as isize;
        let end_padded = (start + self.k as isize).min((size + self.pad) as isize);
        let padded_len = (end_padded - start) as usize;
        (start.max(0) as usize, (end_padded.min(size as isize)) as usize, padded_len)
    }
}

/// Applies `window` to every output position of every plane; `window(plane, y0, y1, x0, x1,
/// padded_area)` sees the clipped input rectangle.
fn pool_planes(
    x: &[f32],
    xs: Shape4,
    spec: PoolSpec,
    window: impl Fn(&[f32], (usize, usize), (usize, usize), usize) -> f32 + Sync,
) -> (Vec<f32>, Shape4) {
    let ys = spec.out_shape(xs).expect("pool: window does not fit the input (checked by callers)");
    assert_eq!(x.len(), xs.len(), "pool: input shape");
    let (plane_in, plane_out) = (xs.h * xs.w, ys.h * ys.w);
    let mut y = vec![0.0; ys.len()];
    y.par_chunks_mut(plane_out.max(1)).zip(x.par_chunks(plane_in.max(1))).for_each(|(out, inp)| {
        for oh in 0..ys.h {
            let (y0, y1, ph) = spec.span(oh, xs.h);
            for ow in 0..ys.w {
                let (x0, x1, pw) = spec.span(ow, xs.w);
                out[oh * ys.w + ow] = window(inp, (y0, y1), (x0, x1), ph * pw);
            }
        }
    });
    (y, ys)
}

/// max_pool2d: padding never wins (it acts as -inf).
pub fn max_pool2d(x: &[f32], xs: Shape4, spec: PoolSpec) -> (Vec<f32>, Shape4) {
    pool_planes(x, xs, spec, |p, (y0, y1), (x0, x1), _| {
        let mut m = f32::NEG_INFINITY;
        for r in y0..y1 {
            for &v in &p[r * xs.w + x0..r * xs.w + x1] {
                // NaN propagates, as in PyTorch.
                if v > m || v.is_nan() {
                    m = v;
                }
            }
        }
        m
    })
}

/// avg_pool2d. `count_include_pad = false` divides by the number of real pixels under the window
/// (TensorFlow's behaviour, which FID's Inception relies on); `true` by the window's extent
/// inside the padded image (PyTorch's default).
pub fn avg_pool2d(x: &[f32], xs: Shape4, spec: PoolSpec, count_include_pad: bool) -> (Vec<f32>, Shape4) {
    pool_planes(x, xs, spec, |p, (y0, y1), (x0, x1), padded_area| {
        let mut s = 0.0f32;
        for r in y0..y1 {
            for &v in &p[r * xs.w + x0..r * xs.w + x1] {
                s += v;
            }
        }
        let n = if count_include_pad { padded_area } else { (y1 - y0) * (x1 - x0) };
        s / n as f32
    })
}

/// Mean over each H x W plane (adaptive average pooling to 1x1): [C, N, H, W] -> [C, N].
/// Summed in f64 so the result does not depend on the summation order to f32 precision.
pub fn global_avg_pool(x: &[f32], xs: Shape4) -> Vec<f32> {
    assert_eq!(x.len(), xs.len(), "pool: input shape");
    let plane = (xs.h * xs.w).max(1);
    x.par_chunks(plane).map(|p| (p.iter().map(|&v| v as f64).sum::<f64>() / plane as f64) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::randn_like;

    /// Direct definition over an explicitly padded plane (NaN marks padding).
    fn reference(x: &[f32], xs: Shape4, spec: PoolSpec, op: &str) -> Vec<f32> {
        let ys = spec.out_shape(xs).unwrap();
        let mut y = Vec::new();
        for pl in 0..xs.c * xs.n {
            for oh in 0..ys.h {
                for ow in 0..ys.w {
                    let (mut vals, mut area) = (Vec::new(), 0usize);
                    for a in 0..spec.k {
                        for b in 0..spec.k {
                            let (i, j) = (
                                (oh * spec.stride + a) as isize - spec.pad as isize,
                                (ow * spec.stride + b) as isize - spec.pad as isize,
                            );
                            let in_padded = i < (xs.h + spec.pad) as isize && j < (xs.w + spec.pad) as isize;
                            area += in_padded as usize;
                            if i >= 0 && j >= 0 && (i as usize) < xs.h && (j as usize) < xs.w {
                                vals.push(x[pl * xs.h * xs.w + i as usize * xs.w + j as usize] as f64);
                            }
                        }
                    }
                    let sum: f64 = vals.iter().sum();
                    y.push(match op {
                        "max" => vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max) as f32,
                        "avg_real" => (sum / vals.len() as f64) as f32,
                        _ => (sum / area as f64) as f32,
                    });
                }
            }
        }
        y
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-6 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn pools_match_the_direct_definitions() {
        // Inception's windows (3/2/0, 3/1/1) and a few odd ones.
        for &(h, w, k, s, p) in &[(9, 9, 3, 2, 0), (8, 7, 3, 1, 1), (5, 6, 2, 2, 1), (7, 7, 3, 2, 1), (4, 4, 4, 1, 2)] {
            let xs = Shape4 { c: 2, n: 3, h, w };
            let x = randn_like(xs.len(), (h * 100 + k * 10 + p) as u64);
            let spec = PoolSpec { k, stride: s, pad: p };
            close(&max_pool2d(&x, xs, spec).0, &reference(&x, xs, spec, "max"));
            close(&avg_pool2d(&x, xs, spec, false).0, &reference(&x, xs, spec, "avg_real"));
            close(&avg_pool2d(&x, xs, spec, true).0, &reference(&x, xs, spec, "avg_padded"));
        }
    }

    #[test]
    fn corner_average_differs_by_padding_rule() {
        // 2x2 ones, 3x3 window with padding 1: the corner window covers 4 real pixels of 9.
        let xs = Shape4 { c: 1, n: 1, h: 2, w: 2 };
        let spec = PoolSpec { k: 3, stride: 1, pad: 1 };
        assert_eq!(avg_pool2d(&[1.0; 4], xs, spec, false).0, vec![1.0; 4]);
        assert_eq!(avg_pool2d(&[1.0; 4], xs, spec, true).0, vec![4.0 / 9.0; 4]);
        assert_eq!(max_pool2d(&[-1.0, -2.0, -3.0, -4.0], xs, spec).0, vec![-1.0; 4]);
    }

    #[test]
    fn global_average_is_the_plane_mean_and_rejects_nothing() {
        let xs = Shape4 { c: 2, n: 2, h: 2, w: 3 };
        let x: Vec<f32> = (0..xs.len()).map(|i| i as f32).collect();
        assert_eq!(global_avg_pool(&x, xs), vec![2.5, 8.5, 14.5, 20.5]);
        assert!(PoolSpec { k: 3, stride: 1, pad: 2 }.out_shape(xs).is_none());
    }
}
