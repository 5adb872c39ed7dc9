//! 2-D PCA of the latent code (Fig. 6b-d): the axes are fitted on the clean codes of a fixed,
//! seeded sample of images; the same images occluded (p = 0.3, tile 4, one mask per image) are
//! projected on those axes, so the plot shows how far occlusion moves each code.
//! (fig6_plot_PCA.py in the authors' repository actually runs t-SNE on clean and occluded codes
//! together, with one mask for the whole batch; the paper's figure and this stage use PCA.)
//!
//! PCA here: covariance in f64, then all eigenpairs by the cyclic Jacobi method, which is exact
//! to rounding for symmetric matrices and needs no external linear-algebra crate.
use super::error::EvalError;
use super::features::encode_selected;
use super::occlusion::image_mask;
use crate::data::Images;
use crate::engine::rng::Stream;
use crate::model::Encoder;
use ndarray::{Array2, ArrayView2};
use serde::Serialize;

/// Principal axes of a set of rows.
#[derive(Clone, Debug)]
pub struct Pca {
    pub mean: Vec<f64>,
    /// Unit axes, largest variance first; each signed so its largest-magnitude entry is positive.
    pub axes: Vec<Vec<f64>>,
    /// Variance along each axis.
    pub variance: Vec<f64>,
    /// Sum of all variances (trace of the covariance).
    pub total_variance: f64,
}

/// Fits the first `k` principal axes of the rows of `x`.
pub fn fit(x: ArrayView2<f32>, k: usize) -> Result<Pca, EvalError> {
    let (n, d) = x.dim();
    if n < 2 || k == 0 || k > d {
        return Err(EvalError::Input(format!("PCA of {n} rows of dimension {d} into {k} axes")));
    }
    let xf: Array2<f64> = x.mapv(f64::from);
    let mean = xf.mean_axis(ndarray::Axis(0)).expect("n >= 2").to_vec();
    let centred = &xf - &ndarray::aview1(&mean);
    let cov = centred.t().dot(&centred) / (n - 1) as f64;
    let cov: Vec<f64> = cov.iter().copied().collect(); // row-major, whatever the memory order
    let (values, vectors) = symmetric_eigen(&cov, d);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let axes = order[..k].iter().map(|&c| canonical_sign((0..d).map(|r| vectors[r * d + c]).collect())).collect();
    Ok(Pca {
        mean,
        axes,
        variance: order[..k].iter().map(|&c| values[c]).collect(),
        total_variance: values.iter().sum(),
    })
}

fn canonical_sign(mut v: Vec<f64>) -> Vec<f64> {
    let big = v.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
    if big < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    v
}

impl Pca {
    /// Coordinates of each row of `x` on the axes (rows x axes).
    pub fn project(&self, x: ArrayView2<f32>) -> Vec<Vec<f64>> {
        x.rows()
            .into_iter()
            .map(|r| {
                self.axes
                    .iter()
                    .map(|a| r.iter().zip(&self.mean).zip(a).map(|((&v, m), w)| (v as f64 - m) * w).sum())
                    .collect()
            })
            .collect()
    }
}

/// Eigenvalues and eigenvectors (column c of the row-major d x d result) of the symmetric
/// row-major matrix `a`, by cyclic Jacobi rotations until the off-diagonal mass is negligible.
pub fn symmetric_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; d * d];
    (0..d).for_each(|i| v[i * d + i] = 1.0);
    let norm: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j].powi(2))
            .sum();
        if off <= 1e-30 * norm.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                rotate(&mut a, &mut v, d, p, q);
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

/// One Jacobi rotation A <- J^T A J, V <- V J that zeroes a[p][q].
fn rotate(a: &mut [f64], v: &mut [f64], d: usize, p: usize, q: usize) {
    let apq = a[p * d + q];
    if apq == 0.0 {
        return;
    }
    let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
    // The smaller root of t^2 + 2 theta t - 1 = 0 keeps the rotation angle below pi/4 (stable).
    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
    let t = if theta == 0.0 { 1.0 } else { t };
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for k in 0..d {
        let (x, y) = (a[k * d + p], a[k * d + q]);
        a[k * d + p] = c * x - s * y;
        a[k * d + q] = s * x + c * y;
    }
    for k in 0..d {
        let (x, y) = (a[p * d + k], a[q * d + k]);
        a[p * d + k] = c * x - s * y;
        a[q * d + k] = s * x + c * y;
    }
    for k in 0..d {
        let (x, y) = (v[k * d + p], v[k * d + q]);
        v[k * d + p] = c * x - s * y;
        v[k * d + q] = s * x + c * y;
    }
}

#[derive(Clone, Debug)]
pub struct PcaConfig {
    pub samples: usize,
    pub drop: f64,
    pub tile: usize,
    pub seed: u64,
}

impl Default for PcaConfig {
    fn default() -> Self {
        PcaConfig { samples: 1000, drop: 0.3, tile: 4, seed: 0 }
    }
}

/// Clean and occluded codes of the sampled images on the clean codes' first two axes.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct PcaProjection {
    pub index: Vec<usize>,
    pub labels: Vec<u8>,
    pub clean: Vec<[f64; 2]>,
    pub occluded: Vec<[f64; 2]>,
    /// Share of the clean codes' variance along each axis.
    pub explained: [f64; 2],
}

pub fn pca_projection(
    enc: &Encoder,
    images: Images,
    labels: &[u8],
    cfg: &PcaConfig,
) -> Result<PcaProjection, EvalError> {
    if labels.len() != images.n {
        return Err(EvalError::Input(format!("{} labels for {} images", labels.len(), images.n)));
    }
    let mut index: Vec<usize> = (0..images.n).collect();
    Stream::derive(cfg.seed, "eval-pca-sample", 0).shuffle(&mut index);
    index.truncate(cfg.samples);
    let clean = encode_selected(enc, images, &index, |_| None);
    let occ = encode_selected(enc, images, &index, |k| {
        Some(image_mask(cfg.seed, "eval-pca-occlusion", cfg.drop, cfg.tile, k))
    });
    let pca = fit(clean.view(), 2)?;
    let two = |rows: Vec<Vec<f64>>| rows.into_iter().map(|r| [r[0], r[1]]).collect::<Vec<_>>();
    let share = |i: usize| if pca.total_variance > 0.0 { pca.variance[i] / pca.total_variance } else { 0.0 };
    Ok(PcaProjection {
        labels: index.iter().map(|&i| labels[i]).collect(),
        clean: two(pca.project(clean.view())),
        occluded: two(pca.project(occ.view())),
        explained: [share(0), share(1)],
        index,
    })
}

impl PcaProjection {
    /// One row per point: image index, label, "clean"/"occluded", pc1, pc2.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("index,label,kind,pc1,pc2\n");
        for (kind, pts) in [("clean", &self.clean), ("occluded", &self.occluded)] {
            for ((i, l), p) in self.index.iter().zip(&self.labels).zip(pts) {
                s.push_str(&format!("{i},{l},{kind},{:.6},{:.6}\n", p[0], p[1]));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalises_a_known_matrix() {
        // [[2,1],[1,2]] has eigenvalues 1 and 3 with axes (1,-1)/sqrt2 and (1,1)/sqrt2.
        let (vals, vecs) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        let mut sorted = vals.clone();
        sorted.sort_by(f64::total_cmp);
        assert!((sorted[0] - 1.0).abs() < 1e-12 && (sorted[1] - 3.0).abs() < 1e-12, "{vals:?}");
        let big = if vals[0] > vals[1] { 0 } else { 1 };
        assert!((vecs[big].abs() - 0.5f64.sqrt()).abs() < 1e-12 && (vecs[2 + big] - vecs[big]).abs() < 1e-12);
    }

    #[test]
    fn pca_recovers_known_axes_up_to_sign() {
        // Points spread 10x along u = (1,2,2)/3 and 3x along w = (2,1,-2)/3, tiny noise elsewhere.
        let u = [1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0];
        let w = [2.0 / 3.0, 1.0 / 3.0, -2.0 / 3.0];
        let mut rng = Stream::derive(9, "test", 0);
        let x = Array2::from_shape_vec(
            (500, 3),
            (0..500)
                .flat_map(|_| {
                    let (a, b, e) =
                        (10.0 * (rng.uniform() - 0.5), 3.0 * (rng.uniform() - 0.5), 0.01 * (rng.uniform() - 0.5));
                    let n = [u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]];
                    (0..3).map(move |j| (5.0 + a * u[j] + b * w[j] + e * n[j]) as f32).collect::<Vec<_>>()
                })
                .collect(),
        )
        .unwrap();
        let pca = fit(x.view(), 2).unwrap();
        for (axis, truth) in pca.axes.iter().zip([u, w]) {
            let dot: f64 = axis.iter().zip(truth).map(|(a, t)| a * t).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-4, "axis {axis:?} vs {truth:?}");
        }
        assert!(pca.variance[0] > 5.0 * pca.variance[1]);
        // Projections are centred.
        let p = pca.project(x.view());
        assert!(p.iter().map(|r| r[0]).sum::<f64>().abs() / 500.0 < 1e-3);
    }

    #[test]
    fn projection_of_encoder_codes_has_one_point_per_sample() {
        let (enc, data, labels) = crate::eval::testutil::tiny(50, 1, 8);
        let images = Images::new(&data, 1).unwrap();
        let cfg = PcaConfig { samples: 30, ..Default::default() };
        let p = pca_projection(&enc, images, &labels, &cfg).unwrap();
        assert_eq!((p.clean.len(), p.occluded.len(), p.labels.len()), (30, 30, 30));
        assert!(p.explained[0] >= p.explained[1] && p.explained[0] <= 1.0);
        assert_ne!(p.clean, p.occluded);
        assert_eq!(p.to_csv().lines().count(), 61);
        assert!(fit(Array2::<f32>::zeros((1, 3)).view(), 2).is_err());
    }
}
