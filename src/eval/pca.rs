//! 2-D PCA of the latent code (Fig. 6b-d): the axes are fitted on the clean codes of a fixed,
//! seeded sample of images; the same images occluded (p = 0.3, tile 4, one mask per image) are
//! projected on those axes, so the plot shows how far occlusion moves each code.
//! (fig6_plot_PCA.py in the authors' repository actually runs t-SNE on clean and occluded codes
//! together, with one mask for the whole batch; the paper's figure and this stage use PCA.)
//!
//! PCA here: covariance in f64, then its eigenpairs from nalgebra's symmetric eigensolver (the
//! one FID uses, eval/linalg.rs), largest first, each axis signed so its largest entry is positive.
use super::error::EvalError;
use super::features::encode_selected;
use super::linalg::principal_axes;
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
    // Read row by row, whatever ndarray's memory order.
    let cov = nalgebra::DMatrix::from_row_slice(d, d, &cov.iter().copied().collect::<Vec<f64>>());
    let (values, mut axes) = principal_axes(cov, "the covariance of z")?;
    axes.truncate(k);
    Ok(Pca { mean, axes, variance: values[..k].to_vec(), total_variance: values.iter().sum() })
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
