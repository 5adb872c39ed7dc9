//! Fréchet Inception Distance: feature statistics (mean, covariance) accumulated in f64, and
//! d^2 = |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2).
//!
//! tr sqrt(S1 S2) is computed without a non-symmetric matrix square root: S1 S2 is similar to the
//! symmetric positive semi-definite M = S1^1/2 S2 S1^1/2 (same eigenvalues), so
//! tr sqrt(S1 S2) = sum_i sqrt(lambda_i(M)). Two symmetric eigendecompositions (nalgebra, pure
//! Rust) replace scipy's sqrtm, and tiny negative eigenvalues from rounding are clipped to 0.
//!
//! With fewer samples than dimensions (2048 for pool3) a covariance has rank < dim: the value is
//! still defined but biased and noisy, so it comes with a warning, and every value carries the
//! sample counts it was computed from.
use super::error::EvalError;
use super::inception::{InceptionV3, Layout, BATCH, DIM};
use super::linalg::symmetric_eigen;
use crate::data::Images;
use crate::files::safetensors::{self, Dtype, HeaderLayout, Tensor};
use nalgebra::DMatrix;
use std::collections::BTreeMap;
use std::path::Path;

/// Mean and covariance (unbiased, like numpy's np.cov) of `n` feature vectors of length `dim`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub dim: usize,
    pub n: usize,
    pub mu: Vec<f64>,
    /// Row-major dim x dim.
    pub sigma: Vec<f64>,
}

/// Streams feature rows into f64 sums. Rows are shifted by the first row seen before the
/// products are summed, so the covariance does not suffer from cancellation when the features
/// sit far from zero (the mean is subtracted from shifted sums, not from raw second moments).
pub struct StatsBuilder {
    dim: usize,
    n: usize,
    shift: Option<Vec<f64>>,
    sum: Vec<f64>,
    gram: DMatrix<f64>,
}

impl StatsBuilder {
    pub fn new(dim: usize) -> Self {
        StatsBuilder { dim, n: 0, shift: None, sum: vec![0.0; dim], gram: DMatrix::zeros(dim, dim) }
    }

    /// Adds `rows` ([m, dim] row-major) to the sums. Non-finite features are an error.
    pub fn add(&mut self, rows: &[f32]) -> Result<(), EvalError> {
        let d = self.dim;
        if d == 0 || !rows.len().is_multiple_of(d) {
            return Err(EvalError::Input(format!("{} feature values are not rows of {d}", rows.len())));
        }
        if let Some(i) = rows.iter().position(|v| !v.is_finite()) {
            return Err(EvalError::Input(format!("feature {} of sample {} is {}", i % d, self.n + i / d, rows[i])));
        }
        let m = rows.len() / d;
        if m == 0 {
            return Ok(());
        }
        let shift = self.shift.get_or_insert_with(|| rows[..d].iter().map(|&v| v as f64).collect());
        // Y is [m, dim] shifted; nalgebra is column-major, so build Y^T ([dim, m]) from rows directly.
        let yt = DMatrix::from_iterator(d, m, rows.iter().enumerate().map(|(i, &v)| v as f64 - shift[i % d]));
        for (j, s) in self.sum.iter_mut().enumerate() {
            *s += yt.row(j).iter().sum::<f64>();
        }
        self.gram.gemm(1.0, &yt, &yt.transpose(), 1.0);
        self.n += m;
        Ok(())
    }

    /// Mean and unbiased covariance; needs at least two samples.
    pub fn finish(self) -> Result<Stats, EvalError> {
        let (d, n) = (self.dim, self.n);
        if n < 2 {
            return Err(EvalError::Stats {
                what: "feature statistics".into(),
                msg: format!("need at least 2 samples, got {n}"),
            });
        }
        let shift = self.shift.unwrap_or_else(|| vec![0.0; d]);
        let ybar: Vec<f64> = self.sum.iter().map(|s| s / n as f64).collect();
        let mu = ybar.iter().zip(&shift).map(|(y, s)| y + s).collect();
        let mut sigma = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                sigma[i * d + j] = (self.gram[(i, j)] - n as f64 * ybar[i] * ybar[j]) / (n - 1) as f64;
            }
        }
        Ok(Stats { dim: d, n, mu, sigma })
    }
}

/// Statistics of a whole [n, dim] feature matrix.
pub fn stats_of(features: &[f32], dim: usize) -> Result<Stats, EvalError> {
    let mut b = StatsBuilder::new(dim);
    b.add(features)?;
    b.finish()
}

/// Statistics of the pool3 features of the first `n` images of a u8 image set (converted to
/// [-1, 1] as training does). `progress` sees images done.
pub fn stats_of_images(
    net: &InceptionV3,
    images: Images,
    n: usize,
    progress: &dyn Fn(usize),
) -> Result<Stats, EvalError> {
    if n > images.n {
        return Err(EvalError::Input(format!("asked for {n} images, the set has {}", images.n)));
    }
    stats_of_selected(net, images, &(0..n).collect::<Vec<_>>(), progress)
}

/// Statistics of the pool3 features of the images `idx` of a u8 image set, in that order,
/// `BATCH` images per forward pass. `progress` sees images done.
pub fn stats_of_selected(
    net: &InceptionV3,
    images: Images,
    idx: &[usize],
    progress: &dyn Fn(usize),
) -> Result<Stats, EvalError> {
    let mut b = StatsBuilder::new(DIM);
    for (k, chunk) in idx.chunks(BATCH).enumerate() {
        let (x, xs) = images.batch(chunk);
        b.add(&net.pool3_cnhw(&x, xs)?)?;
        progress(k * BATCH + chunk.len());
    }
    b.finish()
}

/// One FID value with the sample counts it rests on.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Frechet {
    pub fid: f64,
    pub n1: usize,
    pub n2: usize,
    pub dim: usize,
    /// Set when a covariance is rank-deficient (fewer samples than dimensions).
    pub warning: Option<String>,
}

impl std::fmt::Display for Frechet {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "FID {:.4} (n1 = {}, n2 = {}, dim {})", self.fid, self.n1, self.n2, self.dim)
    }
}

fn matrix(s: &Stats) -> DMatrix<f64> {
    DMatrix::from_row_slice(s.dim, s.dim, &s.sigma)
}

/// tr sqrt(S1 S2) as sum_i sqrt(lambda_i(S1^1/2 S2 S1^1/2)).
pub fn trace_sqrt_product(s1: &DMatrix<f64>, s2: &DMatrix<f64>) -> Result<f64, EvalError> {
    let e1 = symmetric_eigen(s1.clone(), "the Fréchet distance's sigma1")?;
    // S1^1/2 = V diag(sqrt(max(l, 0))) V^T, the diagonal applied as a column scaling.
    let v = &e1.eigenvectors;
    let mut scaled = v.clone();
    for (mut col, &l) in scaled.column_iter_mut().zip(e1.eigenvalues.iter()) {
        col *= l.max(0.0).sqrt();
    }
    let s1_half = scaled * v.transpose();
    let m = &s1_half * s2 * &s1_half;
    // Only the eigenvalues of M are needed: skipping the eigenvectors saves most of the work.
    let sym = (&m + m.transpose()) * 0.5;
    Ok(sym.symmetric_eigenvalues().iter().map(|&l| l.max(0.0).sqrt()).sum())
}

/// The Fréchet distance between two Gaussians given by their statistics.
pub fn frechet_distance(a: &Stats, b: &Stats) -> Result<Frechet, EvalError> {
    let d = a.dim;
    if b.dim != d || a.mu.len() != d || b.mu.len() != d || a.sigma.len() != d * d || b.sigma.len() != d * d {
        return Err(EvalError::Stats {
            what: "Fréchet distance".into(),
            msg: format!("statistics of different sizes ({} and {} dims)", a.dim, b.dim),
        });
    }
    let finite = |s: &Stats| s.mu.iter().chain(&s.sigma).all(|v| v.is_finite());
    if !finite(a) || !finite(b) {
        return Err(EvalError::Stats {
            what: "Fréchet distance".into(),
            msg: "statistics contain NaN or infinity".into(),
        });
    }
    let (s1, s2) = (matrix(a), matrix(b));
    let diff: f64 = a.mu.iter().zip(&b.mu).map(|(x, y)| (x - y) * (x - y)).sum();
    let fid = diff + s1.trace() + s2.trace() - 2.0 * trace_sqrt_product(&s1, &s2)?;
    let n_min = a.n.min(b.n);
    let warning = (n_min < d).then(|| {
        format!("only {n_min} samples for {d}-d features: the covariance is rank-deficient, so this FID is biased upwards and not comparable with values from >= {d} samples (the paper uses 10,000)")
    });
    Ok(Frechet { fid, n1: a.n, n2: b.n, dim: d, warning })
}

/// What a cached statistics file says about its origin.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatsInfo {
    pub n: usize,
    pub layout: Layout,
    /// Free-form origin (dataset name and split, or checkpoint and dream kind).
    pub source: String,
}

/// Metadata key of pad's FID statistics files (one key, so the header is byte-deterministic).
const META_KEY: &str = "pad_fid_stats";

/// Writes statistics as a safetensors file (mu [dim], sigma [dim, dim], f64) atomically, in the
/// header layout these files have always had (`HeaderLayout::Crate`).
pub fn save_stats(path: &Path, s: &Stats, info: &StatsInfo) -> Result<(), EvalError> {
    let (mu, sigma) = (safetensors::f64_bytes(&s.mu), safetensors::f64_bytes(&s.sigma));
    let tensors = [
        Tensor { name: "mu", dtype: Dtype::F64, shape: vec![s.dim], data: &mu },
        Tensor { name: "sigma", dtype: Dtype::F64, shape: vec![s.dim, s.dim], data: &sigma },
    ];
    let meta = BTreeMap::from([(META_KEY.to_string(), serde_json::to_string(info).expect("plain struct"))]);
    Ok(crate::files::atomic::write_atomic(path, &safetensors::to_bytes(&tensors, &meta, HeaderLayout::Crate))?)
}

/// Whether `path` is a statistics file written by `save_stats` (rather than a dataset artifact).
/// Reads only the header: artifacts can be hundreds of megabytes.
pub fn is_stats_file(path: &Path) -> Result<bool, EvalError> {
    Ok(safetensors::read_header(path)?.0.metadata.contains_key(META_KEY))
}

/// Reads statistics written by `save_stats`.
pub fn load_stats(path: &Path) -> Result<(Stats, StatsInfo), EvalError> {
    let f = safetensors::load(path)?;
    let bad = |msg: String| EvalError::Stats { what: path.display().to_string(), msg };
    let info_json = f
        .header
        .metadata
        .get(META_KEY)
        .ok_or_else(|| bad(format!("no {META_KEY} metadata (not written by pad fid)")))?;
    let info: StatsInfo = serde_json::from_str(info_json).map_err(|e| bad(e.to_string()))?;
    let read = |name: &str| -> Result<(Vec<usize>, Vec<f64>), EvalError> {
        let (t, data) = f.tensor(name).ok_or_else(|| bad(format!("missing tensor {name}")))?;
        if t.dtype != Dtype::F64 {
            return Err(bad(format!("tensor {name} is {:?}, expected F64", t.dtype)));
        }
        Ok((t.shape.clone(), safetensors::f64s(data)))
    };
    let ((ms, mu), (ss, sigma)) = (read("mu")?, read("sigma")?);
    let dim = mu.len();
    if ms != [dim] || ss != [dim, dim] {
        return Err(bad(format!("shapes mu {ms:?}, sigma {ss:?} do not match")));
    }
    Ok((Stats { dim, n: info.n, mu, sigma }, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaussian_features(n: usize, d: usize, seed: u32, offset: f32) -> Vec<f32> {
        (0..n * d)
            .map(|i| {
                (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
                    + offset * (i % d) as f32
            })
            .collect()
    }

    #[test]
    fn streaming_stats_equal_the_two_pass_definition() {
        let (n, d) = (50, 6);
        let x = gaussian_features(n, d, 7, 100.0);
        let mut b = StatsBuilder::new(d);
        for chunk in x.chunks(7 * d) {
            b.add(chunk).unwrap();
        }
        let s = b.finish().unwrap();
        let mu: Vec<f64> = (0..d).map(|j| (0..n).map(|i| x[i * d + j] as f64).sum::<f64>() / n as f64).collect();
        for j in 0..d {
            assert!((s.mu[j] - mu[j]).abs() < 1e-9 * (1.0 + mu[j].abs()));
            for k in 0..d {
                let c: f64 = (0..n).map(|i| (x[i * d + j] as f64 - mu[j]) * (x[i * d + k] as f64 - mu[k])).sum::<f64>()
                    / (n - 1) as f64;
                assert!((s.sigma[j * d + k] - c).abs() < 1e-9, "{} vs {c}", s.sigma[j * d + k]);
            }
        }
    }

    #[test]
    fn distance_of_identical_and_shifted_gaussians() {
        let d = 8;
        let s = stats_of(&gaussian_features(40, d, 3, 0.0), d).unwrap();
        let same = frechet_distance(&s, &s).unwrap();
        assert!(same.fid.abs() < 1e-10, "{}", same.fid);
        assert!(same.warning.is_none());
        let mut t = s.clone();
        t.mu.iter_mut().for_each(|m| *m += 0.5);
        assert!((frechet_distance(&s, &t).unwrap().fid - d as f64 * 0.25).abs() < 1e-10);
        // Diagonal case in closed form: sum (sqrt a - sqrt b)^2.
        let diag = |v: &[f64]| Stats {
            dim: v.len(),
            n: 100,
            mu: vec![0.0; v.len()],
            sigma: (0..v.len() * v.len()).map(|i| if i % (v.len() + 1) == 0 { v[i / v.len()] } else { 0.0 }).collect(),
        };
        let (a, b) = ([1.0, 4.0, 9.0], [4.0, 1.0, 0.0]);
        assert!((frechet_distance(&diag(&a), &diag(&b)).unwrap().fid - (1.0 + 1.0 + 9.0)).abs() < 1e-12);
    }

    #[test]
    fn few_samples_warn_and_bad_inputs_are_errors() {
        let d = 8;
        let s = stats_of(&gaussian_features(5, d, 3, 0.0), d).unwrap();
        let f = frechet_distance(&s, &s).unwrap();
        assert!(f.warning.as_deref().unwrap().contains("rank-deficient"));
        assert_eq!((f.n1, f.n2), (5, 5));
        assert!(stats_of(&[1.0; 8], d).is_err());
        assert!(StatsBuilder::new(d).add(&[f32::NAN; 8]).is_err());
        let other = stats_of(&gaussian_features(5, 4, 3, 0.0), 4).unwrap();
        assert!(frechet_distance(&s, &other).is_err());
    }

    #[test]
    fn stats_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.safetensors");
        let s = stats_of(&gaussian_features(20, 5, 9, 1.0), 5).unwrap();
        let info = StatsInfo { n: 20, layout: Layout::Fid, source: "test".into() };
        save_stats(&p, &s, &info).unwrap();
        assert_eq!(load_stats(&p).unwrap(), (s, info));
        assert!(matches!(load_stats(&dir.path().join("none")), Err(EvalError::Io { .. })));
    }
}
