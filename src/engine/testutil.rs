//! Helpers for the engine's gradient tests: deterministic random data, f64 reference ops, and
//! central finite differences in f64.
#![cfg(test)]
use super::Shape4;

/// Deterministic values in [-1, 1) from a seed (a tiny LCG; tests need no RNG stream).
pub fn randn_like(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Central finite differences of `f` at `x` (step h), compared with `analytic`.
/// Passes when |a - fd| <= tol * max(1, |fd|) for every coordinate.
pub fn check_grad(name: &str, f: &dyn Fn(&[f64]) -> f64, x: &[f32], analytic: &[f32], tol: f64) {
    assert_eq!(x.len(), analytic.len(), "{name}: gradient length");
    let mut p = to64(x);
    let h = 1e-6;
    for i in 0..p.len() {
        let x0 = p[i];
        p[i] = x0 + h;
        let up = f(&p);
        p[i] = x0 - h;
        let down = f(&p);
        p[i] = x0;
        let fd = (up - down) / (2.0 * h);
        let a = analytic[i] as f64;
        assert!((a - fd).abs() <= tol * fd.abs().max(1.0), "{name}[{i}]: analytic {a} vs finite difference {fd}");
    }
}

/// f64 direct conv2d on CNHW: y[co,n,oh,ow] = b[co] + sum W[co,ci,kh,kw] x[ci,n,oh*s-p+kh,ow*s-p+kw].
pub fn conv2d_ref(x: &[f64], xs: Shape4, w: &[f64], b: &[f64], k: usize, s: usize, p: usize) -> Vec<f64> {
    let cout = b.len();
    let oh = (xs.h + 2 * p - k) / s + 1;
    let ow = (xs.w + 2 * p - k) / s + 1;
    let mut y = vec![0.0; cout * xs.n * oh * ow];
    for co in 0..cout {
        for n in 0..xs.n {
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = b[co];
                    for ci in 0..xs.c {
                        for kh in 0..k {
                            for kw in 0..k {
                                let (ih, iw) = ((i * s + kh) as isize - p as isize, (j * s + kw) as isize - p as isize);
                                if ih < 0 || iw < 0 || ih as usize >= xs.h || iw as usize >= xs.w {
                                    continue;
                                }
                                acc += w[((co * xs.c + ci) * k + kh) * k + kw]
                                    * x[((ci * xs.n + n) * xs.h + ih as usize) * xs.w + iw as usize];
                            }
                        }
                    }
                    y[((co * xs.n + n) * oh + i) * ow + j] = acc;
                }
            }
        }
    }
    y
}

/// f64 direct conv_transpose2d on CNHW with PyTorch's weight layout [C_in, C_out, k, k].
pub fn conv_transpose2d_ref(x: &[f64], xs: Shape4, w: &[f64], b: &[f64], k: usize, s: usize, p: usize) -> Vec<f64> {
    let cout = b.len();
    let oh = (xs.h - 1) * s + k - 2 * p;
    let ow = (xs.w - 1) * s + k - 2 * p;
    let mut y = vec![0.0; cout * xs.n * oh * ow];
    for co in 0..cout {
        for n in 0..xs.n {
            for v in y[((co * xs.n + n) * oh * ow)..((co * xs.n + n + 1) * oh * ow)].iter_mut() {
                *v = b[co];
            }
        }
    }
    for ci in 0..xs.c {
        for co in 0..cout {
            for n in 0..xs.n {
                for i in 0..xs.h {
                    for j in 0..xs.w {
                        let xv = x[((ci * xs.n + n) * xs.h + i) * xs.w + j];
                        for kh in 0..k {
                            for kw in 0..k {
                                let (oi, oj) = ((i * s + kh) as isize - p as isize, (j * s + kw) as isize - p as isize);
                                if oi < 0 || oj < 0 || oi as usize >= oh || oj as usize >= ow {
                                    continue;
                                }
                                y[((co * xs.n + n) * oh + oi as usize) * ow + oj as usize] +=
                                    w[((ci * cout + co) * k + kh) * k + kw] * xv;
                            }
                        }
                    }
                }
            }
        }
    }
    y
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
