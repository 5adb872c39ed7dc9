//! A closed-form linear read-out of z beside the paper's probe: ridge regression of one-hot
//! targets on standardised z, predicting the class of the largest output.
//!
//! Why a second read-out: the paper's probe (SGD, lr 0.2, on raw z; probe.rs) moves by several
//! points from one probe epoch to the next, and its level depends on the scale of z as much as on
//! how separable the classes are. This one has a single answer for given features (no learning
//! rate, initialisation, order or epochs), and standardising makes it blind to the scale of each
//! dimension, so differences between networks are differences in linear separability.
//!
//! The fit, all in f64: each dimension is standardised with the training rows' mean and population
//! standard deviation (a constant dimension keeps scale 1, so it becomes 0); a bias column of ones
//! is appended; W solves (X'X + lambda D) W = X'Y with Y the one-hot targets and D the identity
//! without the bias entry (the bias is not shrunk), by Cholesky. Sums run over the rows in index
//! order on one thread, so the result is the same bytes for any thread count.
use super::error::EvalError;
use super::linalg::cholesky_solve;
use crate::files::safetensors::{self, Dtype, HeaderLayout, Tensor};
use nalgebra::DMatrix;
use ndarray::{ArrayView1, ArrayView2};
use std::collections::BTreeMap;
use std::path::Path;

/// The ridge penalty of the pipeline's read-out (`[eval] ridge_lambda`).
pub const DEFAULT_LAMBDA: f64 = 1.0;

/// A fitted read-out.
#[derive(Clone, Debug, PartialEq)]
pub struct Ridge {
    /// Per-dimension mean and scale of the training rows (standardised z = (z - mean) / scale).
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    /// [dim + 1, classes] row-major: row j weighs standardised dimension j, the last row is the bias.
    pub weight: Vec<f64>,
    pub classes: usize,
}

/// The read-out's accuracy (%) on the rows it was fitted on and on the test rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RidgeScore {
    pub lambda: f64,
    pub train_acc: f64,
    pub test_acc: f64,
}

/// Fits the read-out to rows `x` with labels `y` in 0..classes.
pub fn ridge_fit(x: ArrayView2<f32>, y: &[u8], classes: usize, lambda: f64) -> Result<Ridge, EvalError> {
    let (n, d) = x.dim();
    if !(lambda.is_finite() && lambda > 0.0) {
        return Err(EvalError::Input(format!("the ridge penalty must be a positive number, not {lambda}")));
    }
    if n == 0 || d == 0 || y.len() != n || classes == 0 {
        return Err(EvalError::Input(format!("a ridge read-out of {n} rows of {d} features with {} labels", y.len())));
    }
    if let Some(i) = y.iter().position(|&l| l as usize >= classes) {
        return Err(EvalError::Input(format!("label {} of row {i} is not one of {classes} classes", y[i])));
    }
    check_finite(x)?;
    let (mean, scale) = moments(x);
    let mut r = Ridge { mean, scale, weight: Vec::new(), classes };
    // Upper triangle of X'X and X'Y with X the standardised rows plus the bias column.
    let m = d + 1;
    let (mut gram, mut xty) = (vec![0.0f64; m * m], vec![0.0f64; m * classes]);
    let mut z = vec![0.0f64; m];
    for (row, &label) in x.rows().into_iter().zip(y) {
        r.standardise(row, &mut z);
        for i in 0..m {
            let a = z[i];
            gram[i * m + i..(i + 1) * m].iter_mut().zip(&z[i..]).for_each(|(g, b)| *g += a * b);
            xty[i * classes + label as usize] += a;
        }
    }
    let a = DMatrix::from_fn(m, m, |i, j| {
        let g = gram[i.min(j) * m + i.max(j)];
        if i == j && i < d {
            g + lambda
        } else {
            g
        }
    });
    let w = cholesky_solve(a, &DMatrix::from_row_slice(m, classes, &xty), "the ridge read-out's normal matrix")?;
    r.weight = (0..m).flat_map(|i| (0..classes).map(move |c| (i, c))).map(|(i, c)| w[(i, c)]).collect();
    Ok(r)
}

/// The class of the largest output for every row of `x` (the first of equal outputs).
pub fn ridge_predict(r: &Ridge, x: ArrayView2<f32>) -> Result<Vec<u8>, EvalError> {
    if x.ncols() != r.mean.len() {
        return Err(EvalError::Input(format!(
            "the ridge read-out takes {}-d codes, these are {}-d",
            r.mean.len(),
            x.ncols()
        )));
    }
    check_finite(x)?;
    let (m, k) = (r.mean.len() + 1, r.classes);
    let mut z = vec![0.0f64; m];
    let mut out = Vec::with_capacity(x.nrows());
    for row in x.rows() {
        r.standardise(row, &mut z);
        let mut scores = vec![0.0f64; k];
        for (zi, w) in z.iter().zip(r.weight.chunks_exact(k)) {
            scores.iter_mut().zip(w).for_each(|(s, wc)| *s += zi * wc);
        }
        let best = (1..k).fold(0, |b, c| if scores[c] > scores[b] { c } else { b });
        out.push(best as u8);
    }
    Ok(out)
}

/// Accuracy (%) of the read-out on rows `x` with labels `y`.
pub fn ridge_accuracy(r: &Ridge, x: ArrayView2<f32>, y: &[u8]) -> Result<f64, EvalError> {
    if y.len() != x.nrows() {
        return Err(EvalError::Input(format!("{} labels for {} rows", y.len(), x.nrows())));
    }
    let correct = ridge_predict(r, x)?.iter().zip(y).filter(|(p, l)| p == l).count();
    Ok(100.0 * correct as f64 / y.len().max(1) as f64)
}

/// Fits on the training rows and scores on both sets.
pub fn ridge_readout(
    train: (ArrayView2<f32>, &[u8]),
    test: (ArrayView2<f32>, &[u8]),
    classes: usize,
    lambda: f64,
) -> Result<(Ridge, RidgeScore), EvalError> {
    let r = ridge_fit(train.0, train.1, classes, lambda)?;
    let score = RidgeScore {
        lambda,
        train_acc: ridge_accuracy(&r, train.0, train.1)?,
        test_acc: ridge_accuracy(&r, test.0, test.1)?,
    };
    Ok((r, score))
}

/// Header of the one-row table `score_csv` writes.
pub const SCORE_HEADER: &str = "lambda,train_acc,test_acc";

/// The score as a one-row CSV table (the probe stage's ridge.csv).
pub fn score_csv(s: &RidgeScore) -> String {
    format!("{SCORE_HEADER}\n{},{:.4},{:.4}\n", s.lambda, s.train_acc, s.test_acc)
}

impl Ridge {
    /// Row `x` standardised, with the bias entry 1 appended, into `out` ([dim + 1]).
    fn standardise(&self, x: ArrayView1<f32>, out: &mut [f64]) {
        for (((o, &v), m), s) in out.iter_mut().zip(x).zip(&self.mean).zip(&self.scale) {
            *o = (v as f64 - m) / s;
        }
        out[self.mean.len()] = 1.0;
    }

    /// The read-out as a safetensors file (f64 tensors mean, scale [dim] and weight [dim + 1, classes]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let (mean, scale, weight) = (
            safetensors::f64_bytes(&self.mean),
            safetensors::f64_bytes(&self.scale),
            safetensors::f64_bytes(&self.weight),
        );
        let d = self.mean.len();
        let tensors = [
            Tensor { name: "mean", dtype: Dtype::F64, shape: vec![d], data: &mean },
            Tensor { name: "scale", dtype: Dtype::F64, shape: vec![d], data: &scale },
            Tensor { name: "weight", dtype: Dtype::F64, shape: vec![d + 1, self.classes], data: &weight },
        ];
        safetensors::to_bytes(&tensors, &BTreeMap::new(), HeaderLayout::Sorted)
    }

    /// Reads a file written from `to_bytes`.
    pub fn read(path: &Path) -> Result<Ridge, EvalError> {
        let f = safetensors::load(path)?;
        let bad = |msg: String| EvalError::Parse { path: path.to_path_buf(), msg };
        let get = |name: &str| -> Result<(Vec<usize>, Vec<f64>), EvalError> {
            let (t, data) = f.tensor(name).ok_or_else(|| bad(format!("no tensor {name}")))?;
            if t.dtype != Dtype::F64 {
                return Err(bad(format!("tensor {name} is {:?}, not F64", t.dtype)));
            }
            Ok((t.shape.clone(), safetensors::f64s(data)))
        };
        let ((ms, mean), (ss, scale), (ws, weight)) = (get("mean")?, get("scale")?, get("weight")?);
        let d = mean.len();
        if ms != [d] || ss != [d] || ws.len() != 2 || ws[0] != d + 1 || ws[1] == 0 {
            return Err(bad(format!("shapes mean {ms:?}, scale {ss:?}, weight {ws:?} are not a ridge read-out")));
        }
        Ok(Ridge { mean, scale, weight, classes: ws[1] })
    }
}

/// Per-dimension mean and population standard deviation, two passes in row order; a dimension
/// whose spread is rounding noise (or nothing) keeps scale 1.
fn moments(x: ArrayView2<f32>) -> (Vec<f64>, Vec<f64>) {
    let (n, d) = x.dim();
    let mut mean = vec![0.0f64; d];
    for row in x.rows() {
        mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = vec![0.0f64; d];
    for row in x.rows() {
        var.iter_mut().zip(row).zip(&mean).for_each(|((s, &v), m)| *s += (v as f64 - m) * (v as f64 - m));
    }
    let scale = var
        .iter()
        .zip(&mean)
        .map(|(s, m)| {
            let sd = (s / n as f64).sqrt();
            // f32 codes carry 24 bits: a spread below 1e-9 of the mean is no signal.
            if sd > 0.0 && sd > 1e-9 * m.abs() {
                sd
            } else {
                1.0
            }
        })
        .collect();
    (mean, scale)
}

fn check_finite(x: ArrayView2<f32>) -> Result<(), EvalError> {
    match x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((i, j), v)) => Err(EvalError::Input(format!("feature {j} of row {i} is {v}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Stream;
    use ndarray::Array2;

    /// Class k sits at +3 on axis k, with uniform jitter of +-0.1 everywhere; dimension j is then
    /// scaled by 10^(j % 5 - 2) and shifted by 1000 (what standardising must undo).
    fn separable(n: usize, seed: u64) -> (Array2<f32>, Vec<u8>) {
        let (dim, classes) = (16, 4);
        let mut rng = Stream::derive(seed, "test-separable", 0);
        let y: Vec<u8> = (0..n).map(|i| (i % classes) as u8).collect();
        let x = Array2::from_shape_fn((n, dim), |(i, j)| {
            let v = (rng.uniform() - 0.5) * 0.2 + if j == y[i] as usize { 3.0 } else { 0.0 };
            (v * 10f64.powi(j as i32 % 5 - 2) + 1000.0) as f32
        });
        (x, y)
    }

    #[test]
    fn linearly_separable_classes_are_read_out_perfectly() {
        let (train, ty) = separable(400, 1);
        let (test, vy) = separable(400, 2);
        let (_, s) = ridge_readout((train.view(), &ty), (test.view(), &vy), 4, 1.0).unwrap();
        assert_eq!((s.train_acc, s.test_acc), (100.0, 100.0));
    }

    /// Standard normal cumulative distribution.
    fn phi(x: f64) -> f64 {
        0.5 * (1.0 + libm::erf(x / 2f64.sqrt()))
    }

    #[test]
    fn two_gaussian_classes_are_read_out_at_the_bayes_accuracy() {
        // Equal priors, shared diagonal covariance, means 2 standard units apart (Mahalanobis):
        // the best any classifier can do is Phi(2 / 2) = 84.13%.
        let sd = [1.0f64, 2.0, 0.5, 3.0, 1.0];
        let delta = [1.0f64, -1.0, 0.6, 0.8, 1.0]; // in units of sd; squared norm 1 + 1 + 0.36 + 0.64 + 1 = 4
        let mahalanobis = delta.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((mahalanobis - 2.0).abs() < 1e-12);
        let draw = |n: usize, seed: u64| {
            let mut noise = vec![0.0f32; n * sd.len()];
            Stream::derive(seed, "test-gauss", 0).fill_normal(&mut noise, 0.0, 1.0);
            let y: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
            let x = Array2::from_shape_fn((n, sd.len()), |(i, j)| {
                (50.0 + sd[j] * (noise[i * sd.len() + j] as f64 + y[i] as f64 * delta[j])) as f32
            });
            (x, y)
        };
        let ((train, ty), (test, vy)) = (draw(20_000, 3), draw(20_000, 4));
        let (_, s) = ridge_readout((train.view(), &ty), (test.view(), &vy), 2, 1.0).unwrap();
        let bayes = 100.0 * phi(mahalanobis / 2.0);
        assert!((s.test_acc - bayes).abs() < 1.0, "ridge {} vs Bayes {bayes}", s.test_acc);
    }

    #[test]
    fn constant_and_repeated_features_are_harmless_and_files_round_trip() {
        let (mut x, y) = separable(200, 5);
        x.column_mut(3).fill(7.0);
        let copy = x.column(0).to_owned();
        x.column_mut(1).assign(&copy);
        let r = ridge_fit(x.view(), &y, 4, 1.0).unwrap();
        assert_eq!(r.scale[3], 1.0);
        assert!(r.weight.iter().all(|w| w.is_finite()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ridge.safetensors");
        std::fs::write(&path, r.to_bytes()).unwrap();
        assert_eq!(Ridge::read(&path).unwrap(), r);
        assert!(Ridge::read(&dir.path().join("none")).is_err());
    }

    #[test]
    fn bad_inputs_are_errors_that_say_what_is_wrong() {
        let (x, y) = separable(40, 6);
        let err = |r: Result<Ridge, EvalError>| r.unwrap_err().to_string();
        assert!(err(ridge_fit(x.view(), &y, 4, 0.0)).contains("positive"));
        assert!(err(ridge_fit(x.view(), &y, 4, f64::NAN)).contains("positive"));
        assert!(err(ridge_fit(x.view(), &y, 3, 1.0)).contains("label 3"));
        assert!(err(ridge_fit(x.view(), &y[1..], 4, 1.0)).contains("39 labels"));
        let mut bad = x.clone();
        bad[[5, 2]] = f32::NAN;
        assert!(err(ridge_fit(bad.view(), &y, 4, 1.0)).contains("feature 2 of row 5"));
        let r = ridge_fit(x.view(), &y, 4, 1.0).unwrap();
        let narrow = x.slice(ndarray::s![.., ..8]);
        assert!(ridge_predict(&r, narrow).unwrap_err().to_string().contains("16-d"));
        assert_eq!(
            score_csv(&RidgeScore { lambda: 1.0, train_acc: 50.0, test_acc: 100.0 / 3.0 }),
            "lambda,train_acc,test_acc\n1,50.0000,33.3333\n"
        );
    }
}
