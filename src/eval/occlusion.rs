//! Robustness to occlusion (Fig. 5): the read-outs fitted on clean train features (the paper's
//! probe, and the ridge read-out beside it), evaluated on test images occluded with probability
//! p = 0, 0.1, ..., 1.0 (tile 4, dropped tile = grey 0).
//!
//! Masks are drawn per image, as fig5_linear_classif_occ.py does: there Occlude is part of the
//! dataset transform, so it runs once per image (`d=0`) and every test image gets its own mask.
//! Each image's mask comes from its own stream (seed, purpose, p and image index), so the result
//! depends neither on chunking nor on thread count, and the masks at p differ from those at p'.
use super::error::EvalError;
use super::features::encode_selected;
use super::probe::{linear_probe, reference_style_accuracy, Linear, ProbeConfig, ProbeEpoch};
use super::ridge::{ridge_accuracy, ridge_fit, Ridge};
use crate::data::{Images, SIDE};
use crate::engine::rng::Stream;
use crate::model::Encoder;
use crate::train::occlusion::tile_mask;
use ndarray::ArrayView2;
use serde::Serialize;

/// The authors' occlusion levels and tile size.
pub const LEVELS: [f64; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
pub const TILE: usize = 4;

#[derive(Clone, Debug)]
pub struct SweepConfig {
    pub levels: Vec<f64>,
    pub tile: usize,
    pub seed: u64,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig { levels: LEVELS.to_vec(), tile: TILE, seed: 0 }
    }
}

/// One occlusion level: the paper probe's test loss and accuracy over all images and the
/// reference's mean of per-batch (64) accuracies; the ridge read-out's accuracy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct SweepRow {
    pub p: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub test_acc_ref: f64,
    pub ridge_acc: f64,
}

/// Image `i`'s mask at drop probability `p`: its own stream, so any subset or order of images
/// gets the same masks.
pub fn image_mask(seed: u64, purpose: &str, p: f64, tile: usize, i: usize) -> Vec<f32> {
    // p enters the stream index in thousandths (levels are multiples of 0.1), the image in the
    // low 32 bits: distinct (p, i) pairs get distinct streams.
    let index = ((p * 1000.0).round() as u64) << 32 | i as u64;
    tile_mask(SIDE, SIDE, p, tile, &mut Stream::derive(seed, purpose, index))
}

/// The read-outs a sweep evaluates, both fitted on clean train features.
#[derive(Clone, Copy, Debug)]
pub struct Readouts<'a> {
    /// The paper's probe.
    pub probe: &'a Linear,
    pub ridge: &'a Ridge,
}

/// Evaluates both read-outs on the test images occluded at every level of `cfg` (one encoding
/// per level, shared by the two).
pub fn occlusion_sweep(
    enc: &Encoder,
    readouts: Readouts,
    test: Images,
    test_y: &[u8],
    batch: usize,
    cfg: &SweepConfig,
) -> Result<Vec<SweepRow>, EvalError> {
    let idx: Vec<usize> = (0..test.n).collect();
    cfg.levels
        .iter()
        .map(|&p| {
            let z = encode_selected(enc, test, &idx, |r| {
                Some(image_mask(cfg.seed, "eval-occlusion-sweep", p, cfg.tile, idx[r]))
            });
            row(readouts, p, z.view(), test_y, batch)
        })
        .collect()
}

/// Header of `sweep_csv`.
pub const SWEEP_HEADER: &str = "p,test_loss,test_acc,test_acc_ref,ridge_acc";

/// The sweep as CSV, as the pipeline stage and `pad occlusion` write it.
pub fn sweep_csv(rows: &[SweepRow]) -> String {
    let mut csv = format!("{SWEEP_HEADER}\n");
    rows.iter().for_each(|r| {
        csv.push_str(&format!(
            "{:.1},{:.6},{:.4},{:.4},{:.4}\n",
            r.p, r.test_loss, r.test_acc, r.test_acc_ref, r.ridge_acc
        ))
    });
    csv
}

fn row(r: Readouts, p: f64, z: ArrayView2<f32>, y: &[u8], batch: usize) -> Result<SweepRow, EvalError> {
    let (test_loss, correct) = r.probe.evaluate(z, y);
    Ok(SweepRow {
        p,
        test_loss,
        test_acc: 100.0 * correct as f64 / y.len().max(1) as f64,
        test_acc_ref: reference_style_accuracy(r.probe, z, y, batch),
        ridge_acc: ridge_accuracy(r.ridge, z, y)?,
    })
}

/// The whole Fig. 5 measurement for one encoder: the paper's probe and the ridge read-out (penalty
/// `lambda`) on clean train features, then the sweep. Returns the probe's history (its last test
/// accuracy is the clean reference) and the rows.
pub fn occlusion_curve(
    enc: &Encoder,
    (train, train_y): (Images, &[u8]),
    (test, test_y): (Images, &[u8]),
    classes: usize,
    (probe, lambda): (&ProbeConfig, f64),
    sweep: &SweepConfig,
) -> Result<(Vec<ProbeEpoch>, Vec<SweepRow>), EvalError> {
    let ftr = super::encode(enc, train, None);
    let fte = super::encode(enc, test, None);
    let (clf, hist) = linear_probe(ftr.view(), train_y, fte.view(), test_y, classes, probe);
    let ridge = ridge_fit(ftr.view(), train_y, classes, lambda)?;
    let rows = occlusion_sweep(enc, Readouts { probe: &clf, ridge: &ridge }, test, test_y, probe.batch, sweep)?;
    Ok((hist, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::testutil::tiny;

    #[test]
    fn masks_at_p0_keep_and_at_p1_drop_everything() {
        for i in [0, 7, 12345] {
            assert!(image_mask(3, "m", 0.0, TILE, i).iter().all(|&m| m == 1.0));
            assert!(image_mask(3, "m", 1.0, TILE, i).iter().all(|&m| m == 0.0));
        }
        // Different images get different masks at intermediate p.
        assert_ne!(image_mask(3, "m", 0.5, TILE, 0), image_mask(3, "m", 0.5, TILE, 1));
    }

    #[test]
    fn sweep_at_p0_equals_clean_accuracy_and_p1_is_constant_input() {
        let (enc, data, labels) = tiny(200, 1, 4);
        let images = Images::new(&data, 1).unwrap();
        let cfg = ProbeConfig { epochs: 3, batch: 16, ..Default::default() };
        let sweep = SweepConfig { levels: vec![0.0, 0.5, 1.0], ..Default::default() };
        let (hist, rows) = occlusion_curve(&enc, (images, &labels), (images, &labels), 3, (&cfg, 1.0), &sweep).unwrap();
        let clean = hist.last().unwrap();
        let z = crate::eval::encode(&enc, images, None);
        let ridge = ridge_fit(z.view(), &labels, 3, 1.0).unwrap();
        assert_eq!(rows[0].ridge_acc, ridge_accuracy(&ridge, z.view(), &labels).unwrap());
        assert_eq!(rows[0].test_acc, clean.test_acc);
        assert_eq!(rows[0].test_acc_ref, clean.test_acc_ref);
        assert_eq!(rows[0].test_loss, clean.test_loss);
        // At p = 1 every image is the same grey picture: one prediction for all, so the accuracy
        // is the share of one class (labels cycle through 3 classes).
        let share = [67.0, 67.0, 66.0].map(|c: f64| 100.0 * c / 200.0);
        assert!(share.contains(&rows[2].test_acc) && share.contains(&rows[2].ridge_acc), "{:?}", rows[2]);
    }
}
