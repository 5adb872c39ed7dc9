//! The losses PAD uses, each as a forward (the loss value) and a backward (dL/dinput, scaled by
//! the loss weight), with PyTorch's exact definitions:
//! - MSE: mean over all elements (torch.nn.MSELoss).
//! - BCE on probabilities: mean, each log clamped at -100 (torch.nn.BCELoss); the backward divides
//!   by max(p(1-p), 1e-12) as torch does, and is chained with sigmoid's backward separately.
//! - The authors' batch KL regulariser (utils.kl_loss): per latent dimension j, batch mean m_j and
//!   unbiased std s_j; loss = mean_j((s_j^2 + m_j^2)/2 - ln s_j - 1/2).
//!
//! Sums run in f64 in index order (deterministic).

/// mean((a - b)^2)
pub fn mse_forward(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let s: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    (s / a.len() as f64) as f32
}

/// dL/da for L = weight * mean((a - b)^2).
pub fn mse_backward(a: &[f32], b: &[f32], weight: f32) -> Vec<f32> {
    let k = 2.0 * weight / a.len() as f32;
    a.iter().zip(b).map(|(x, y)| k * (x - y)).collect()
}

/// mean(-(t ln p + (1 - t) ln(1 - p))) with logs clamped at -100; `target` is 0 or 1 for all.
pub fn bce_forward(p: &[f32], target: f32) -> f32 {
    let s: f64 = p
        .iter()
        .map(|&p| {
            let lp = (p as f64).ln().max(-100.0);
            let lq = (1.0 - p as f64).ln().max(-100.0);
            -(target as f64 * lp + (1.0 - target as f64) * lq)
        })
        .sum();
    (s / p.len() as f64) as f32
}

/// dL/dp for L = weight * BCE(p, target).
pub fn bce_backward(p: &[f32], target: f32, weight: f32) -> Vec<f32> {
    let n = p.len() as f32;
    p.iter().map(|&p| weight * (p - target) / (p * (1.0 - p)).max(1e-12) / n).collect()
}

/// Per-row statistics of z laid out [D, N] (latent dimension j = row j, batch along the row).
fn row_stats(z: &[f32], d: usize) -> Vec<(f64, f64)> {
    let n = z.len() / d;
    (0..d)
        .map(|j| {
            let row = &z[j * n..(j + 1) * n];
            let m = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let var = row.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / (n - 1) as f64;
            (m, var.sqrt())
        })
        .collect()
}

/// The authors' KL regulariser on z [D, N] (rows = latent dimensions).
pub fn kl_forward(z: &[f32], d: usize) -> f32 {
    let s: f64 = row_stats(z, d).iter().map(|&(m, s)| (s * s + m * m) / 2.0 - s.ln() - 0.5).sum();
    (s / d as f64) as f32
}

/// dL/dz for the KL regulariser: dL/dm_j = m_j / D, dL/ds_j = (s_j - 1/s_j) / D,
/// dm_j/dz = 1/N, ds_j/dz_bj = (z_bj - m_j) / ((N - 1) s_j).
pub fn kl_backward(z: &[f32], d: usize) -> Vec<f32> {
    let n = z.len() / d;
    let mut g = vec![0.0; z.len()];
    for (j, (m, s)) in row_stats(z, d).into_iter().enumerate() {
        let dm = m / d as f64 / n as f64;
        let ds = (s - 1.0 / s) / d as f64 / ((n - 1) as f64 * s);
        for (gi, &zi) in g[j * n..(j + 1) * n].iter_mut().zip(&z[j * n..(j + 1) * n]) {
            *gi = (dm + ds * (zi as f64 - m)) as f32;
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::*;

    #[test]
    fn mse_gradient_matches_finite_differences() {
        let a = randn_like(30, 1);
        let b = randn_like(30, 2);
        let b64 = to64(&b);
        let g = mse_backward(&a, &b, 0.7);
        check_grad(
            "mse",
            &|v| 0.7 * v.iter().zip(&b64).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / 30.0,
            &a,
            &g,
            1e-4,
        );
        assert!(
            (mse_forward(&a, &b) as f64 - a.iter().zip(&b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / 30.0)
                .abs()
                < 1e-6
        );
    }

    #[test]
    fn bce_gradient_matches_finite_differences_and_clamps() {
        let p: Vec<f32> = randn_like(20, 3).iter().map(|v| 0.5 + 0.45 * v).collect();
        for t in [0.0f32, 1.0] {
            let g = bce_backward(&p, t, 1.3);
            let f = |v: &[f64]| {
                1.3 * v.iter().map(|&p| -(t as f64 * p.ln() + (1.0 - t as f64) * (1.0 - p).ln())).sum::<f64>() / 20.0
            };
            check_grad("bce", &f, &p, &g, 1e-4);
        }
        // torch clamps log at -100: a certain wrong answer costs 100, not infinity.
        assert_eq!(bce_forward(&[0.0], 1.0), 100.0);
        assert_eq!(bce_forward(&[1.0], 0.0), 100.0);
    }

    #[test]
    fn kl_matches_definition_and_finite_differences() {
        let (d, n) = (4, 6);
        let z = randn_like(d * n, 5);
        let f = |v: &[f64]| {
            let mut s = 0.0;
            for j in 0..d {
                let r = &v[j * n..(j + 1) * n];
                let m = r.iter().sum::<f64>() / n as f64;
                let sd = (r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
                s += (sd * sd + m * m) / 2.0 - sd.ln() - 0.5;
            }
            s / d as f64
        };
        assert!((kl_forward(&z, d) as f64 - f(&to64(&z))).abs() < 1e-6);
        check_grad("kl", &f, &z, &kl_backward(&z, d), 1e-4);
        // A batch that already is N(0,1)-like in its statistics has zero loss at m=0, s=1.
        let unit = [1.0f32, -1.0, 1.0, -1.0];
        let s = (4.0f64 / 3.0).sqrt();
        assert!((kl_forward(&unit, 1) as f64 - (s * s / 2.0 - s.ln() - 0.5)).abs() < 1e-6);
    }
}
