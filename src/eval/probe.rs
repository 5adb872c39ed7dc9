//! Linear separability of the latent code (Fig. 4, Appendix 1-Table 1), as the authors' script
//! fig4_linear_classif.py does it: a linear layer nz -> classes with bias (PyTorch's default
//! init), cross-entropy, plain SGD (lr 0.2), batch 64, shuffled, last partial batch dropped,
//! 20 epochs on the frozen train features.
//!
//! Test accuracy is reported two ways: over all test images (`test_acc`), and as the reference
//! computes it (`test_acc_ref`: the mean of per-batch accuracies over the full batches of 64).
use crate::engine::rng::Stream;
use ndarray::{s, Array1, Array2, ArrayView2, Axis};

#[derive(Clone, Copy, Debug)]
pub struct ProbeConfig {
    pub lr: f32,
    pub batch: usize,
    pub epochs: usize,
    pub seed: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig { lr: 0.2, batch: 64, epochs: 20, seed: 0 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeEpoch {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub test_acc_ref: f64,
}

/// A trained linear read-out.
#[derive(Clone, Debug)]
pub struct Linear {
    /// [classes, dim]
    pub w: Array2<f32>,
    pub b: Array1<f32>,
}

impl Linear {
    /// PyTorch's nn.Linear default: weight and bias ~ U(-1/sqrt(dim), 1/sqrt(dim)).
    pub fn init(dim: usize, classes: usize, rng: &mut Stream) -> Self {
        let bound = 1.0 / (dim as f64).sqrt();
        let mut u = || ((rng.uniform() * 2.0 - 1.0) * bound) as f32;
        let w = Array2::from_shape_simple_fn((classes, dim), &mut u);
        let b = Array1::from_shape_simple_fn(classes, &mut u);
        Linear { w, b }
    }

    pub fn logits(&self, x: ArrayView2<f32>) -> Array2<f32> {
        x.dot(&self.w.t()) + &self.b
    }

    /// Mean cross-entropy and the number of correct argmax predictions.
    pub fn evaluate(&self, x: ArrayView2<f32>, y: &[u8]) -> (f64, usize) {
        let logits = self.logits(x);
        let (loss, correct, _) = softmax_xent(&logits, y);
        (loss, correct)
    }
}

/// Mean cross-entropy, correct count, and dL/dlogits (softmax - onehot) / batch.
fn softmax_xent(logits: &Array2<f32>, y: &[u8]) -> (f64, usize, Array2<f32>) {
    let n = logits.nrows();
    let mut grad = Array2::<f32>::zeros(logits.raw_dim());
    let (mut loss, mut correct) = (0.0f64, 0usize);
    for (i, row) in logits.axis_iter(Axis(0)).enumerate() {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let exps: Vec<f64> = row.iter().map(|&v| ((v - max) as f64).exp()).collect();
        let sum: f64 = exps.iter().sum();
        let label = y[i] as usize;
        loss += sum.ln() - (row[label] - max) as f64;
        let argmax =
            row.iter().enumerate().fold((0, f32::NEG_INFINITY), |a, (j, &v)| if v > a.1 { (j, v) } else { a }).0;
        correct += (argmax == label) as usize;
        for (j, e) in exps.iter().enumerate() {
            grad[[i, j]] = ((e / sum) as f32 - (j == label) as u8 as f32) / n as f32;
        }
    }
    (loss / n as f64, correct, grad)
}

/// Trains the read-out on (train_x, train_y) and evaluates on the test set after every epoch.
pub fn linear_probe(
    train_x: ArrayView2<f32>,
    train_y: &[u8],
    test_x: ArrayView2<f32>,
    test_y: &[u8],
    classes: usize,
    cfg: &ProbeConfig,
) -> (Linear, Vec<ProbeEpoch>) {
    let mut clf = Linear::init(train_x.ncols(), classes, &mut Stream::derive(cfg.seed, "probe-init", 0));
    let batches = train_x.nrows() / cfg.batch;
    let mut history = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        let mut order: Vec<usize> = (0..train_x.nrows()).collect();
        Stream::derive(cfg.seed, "probe-shuffle", epoch as u64).shuffle(&mut order);
        let (mut loss_sum, mut correct) = (0.0, 0);
        for b in 0..batches {
            let idx = &order[b * cfg.batch..(b + 1) * cfg.batch];
            let xb = train_x.select(Axis(0), idx);
            let yb: Vec<u8> = idx.iter().map(|&i| train_y[i]).collect();
            let (loss, c, grad) = softmax_xent(&clf.logits(xb.view()), &yb);
            loss_sum += loss;
            correct += c;
            // SGD on W [classes, dim] and b: dW = grad^T · x, db = column sums of grad.
            clf.w.scaled_add(-cfg.lr, &grad.t().dot(&xb));
            clf.b.scaled_add(-cfg.lr, &grad.sum_axis(Axis(0)));
        }
        let (test_loss, test_correct) = clf.evaluate(test_x, test_y);
        history.push(ProbeEpoch {
            epoch,
            train_loss: loss_sum / batches as f64,
            train_acc: 100.0 * correct as f64 / (batches * cfg.batch) as f64,
            test_loss,
            test_acc: 100.0 * test_correct as f64 / test_y.len() as f64,
            test_acc_ref: reference_style_accuracy(&clf, test_x, test_y, cfg.batch),
        });
    }
    (clf, history)
}

/// Header of a probe's per-epoch table (`history_csv`).
pub const HISTORY_HEADER: &str = "probe_epoch,train_loss,train_acc,test_loss,test_acc,test_acc_ref";

/// The probe's history as CSV, one row per probe epoch: the one format of every probe table (the
/// probe stage's probe.csv, `pad probe`), so that cached results and the command agree byte for byte.
pub fn history_csv(history: &[ProbeEpoch]) -> String {
    let mut csv = format!("{HISTORY_HEADER}\n");
    for h in history {
        csv.push_str(&format!(
            "{},{:.6},{:.4},{:.6},{:.4},{:.4}\n",
            h.epoch, h.train_loss, h.train_acc, h.test_loss, h.test_acc, h.test_acc_ref
        ));
    }
    csv
}

/// The authors' number: mean over full test batches of each batch's accuracy.
pub(crate) fn reference_style_accuracy(clf: &Linear, x: ArrayView2<f32>, y: &[u8], batch: usize) -> f64 {
    let nb = y.len() / batch;
    if nb == 0 {
        return f64::NAN;
    }
    let total: f64 = (0..nb)
        .map(|b| {
            let (_, c) = clf.evaluate(x.slice(s![b * batch..(b + 1) * batch, ..]), &y[b * batch..(b + 1) * batch]);
            100.0 * c as f64 / batch as f64
        })
        .sum();
    total / nb as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfectly_separable_features_reach_100_percent() {
        // Class k lives at +3 on axis k, with small deterministic jitter elsewhere.
        let (n, dim, classes) = (640, 16, 4);
        let mut rng = Stream::derive(1, "test", 0);
        let mut x = Array2::<f32>::zeros((n, dim));
        let y: Vec<u8> = (0..n).map(|i| (i % classes) as u8).collect();
        for i in 0..n {
            for j in 0..dim {
                x[[i, j]] = (rng.uniform() as f32 - 0.5) * 0.2;
            }
            x[[i, y[i] as usize]] += 3.0;
        }
        let cfg = ProbeConfig { epochs: 5, ..Default::default() };
        let (_, h) = linear_probe(x.view(), &y, x.view(), &y, classes, &cfg);
        assert_eq!(h.last().unwrap().test_acc, 100.0);
        assert_eq!(h.last().unwrap().test_acc_ref, 100.0);
    }

    #[test]
    fn history_csv_has_the_probe_stage_format() {
        let h = ProbeEpoch {
            epoch: 3,
            train_loss: 1.0 / 3.0,
            train_acc: 50.125,
            test_loss: 2.0,
            test_acc: 45.55556,
            test_acc_ref: f64::NAN,
        };
        assert_eq!(
            history_csv(&[h]),
            "probe_epoch,train_loss,train_acc,test_loss,test_acc,test_acc_ref\n3,0.333333,50.1250,2.000000,45.5556,NaN\n"
        );
        assert_eq!(history_csv(&[]), format!("{HISTORY_HEADER}\n"));
    }

    #[test]
    fn uninformative_features_stay_at_chance() {
        let (n, dim, classes) = (2000, 8, 10);
        let mut rng = Stream::derive(2, "test", 0);
        let x = Array2::from_shape_simple_fn((n, dim), || rng.uniform() as f32);
        let y: Vec<u8> = (0..n).map(|i| ((i * 7919) % classes) as u8).collect();
        let (tx, ty) = (x.slice(s![..1000, ..]), &y[..1000]);
        let (vx, vy) = (x.slice(s![1000.., ..]), &y[1000..]);
        let (_, h) = linear_probe(tx, ty, vx, vy, classes, &ProbeConfig { epochs: 3, ..Default::default() });
        assert!(h.last().unwrap().test_acc < 20.0, "{:?}", h.last());
    }
}
