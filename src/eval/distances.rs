//! Organisation of the latent space (Fig. 6e,f) as Methods 4.4.4 of the paper defines it: the
//! two ratios the figure plots, intra/inter (6e) and clean-occluded/inter (6f), of mean
//! Euclidean distances between latent codes of
//!   - intra-class: 1,000 random pairs of different images of the same class, per class
//!     (averaged over classes),
//!   - inter-class: 10,000 random pairs of images of different classes,
//!   - clean-occluded: 10,000 random images and their own occluded version (p = 0.3, tile 4).
//!
//! fig6_compute_distances.py computes something else: the MSE between latents of batches of 500
//! images (per class: half A vs half B of the class, A vs other classes, A vs A with one mask for
//! the whole batch), so its numbers are squared and per-dimension; the output says which
//! definition it follows ("definition": "paper-4.4.4").
use super::error::EvalError;
use super::features::encode_selected;
use super::occlusion::image_mask;
use crate::data::Images;
use crate::engine::rng::Stream;
use crate::model::Encoder;
use ndarray::{ArrayView1, ArrayView2};
use serde::Serialize;

pub const DEFINITION: &str = "paper-4.4.4";

#[derive(Clone, Debug)]
pub struct DistanceConfig {
    pub intra_pairs_per_class: usize,
    pub inter_pairs: usize,
    pub occluded_pairs: usize,
    pub drop: f64,
    pub tile: usize,
    pub seed: u64,
}

impl Default for DistanceConfig {
    fn default() -> Self {
        DistanceConfig {
            intra_pairs_per_class: 1000,
            inter_pairs: 10_000,
            occluded_pairs: 10_000,
            drop: 0.3,
            tile: 4,
            seed: 0,
        }
    }
}

/// Which images are compared: indices into the image set.
#[derive(Clone, Debug, PartialEq)]
pub struct PairPlan {
    /// Per class, its same-class pairs (empty for a class with fewer than two images).
    pub intra: Vec<Vec<(usize, usize)>>,
    pub inter: Vec<(usize, usize)>,
    /// Images compared with their occluded version; the k-th gets mask k.
    pub occluded: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Distances {
    pub definition: String,
    pub intra: f64,
    pub inter: f64,
    pub clean_occluded: f64,
    /// intra / inter (Fig. 6e).
    pub ratio_intra_inter: f64,
    /// clean-occluded / inter (Fig. 6f).
    pub ratio_occluded_inter: f64,
    pub intra_per_class: Vec<f64>,
    pub intra_pairs: usize,
    pub inter_pairs: usize,
    pub occluded_pairs: usize,
}

/// Draws the pairs from the "eval-distance-pairs" stream of `cfg.seed`.
pub fn plan_pairs(labels: &[u8], classes: usize, cfg: &DistanceConfig) -> Result<PairPlan, EvalError> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class
            .get_mut(l as usize)
            .ok_or_else(|| EvalError::Input(format!("label {l} of image {i} is not below {classes} classes")))?
            .push(i);
    }
    if by_class.iter().all(|c| c.len() < 2) || by_class.iter().filter(|c| !c.is_empty()).count() < 2 {
        return Err(EvalError::Input("distances need two classes present and one with at least two images".into()));
    }
    let mut rng = Stream::derive(cfg.seed, "eval-distance-pairs", 0);
    let mut pick = |v: &[usize]| v[rng.int_inclusive(0, v.len() as u64 - 1) as usize];
    let intra = by_class
        .iter()
        .map(|c| {
            if c.len() < 2 {
                Vec::new()
            } else {
                (0..cfg.intra_pairs_per_class).map(|_| distinct_pair(c, &mut pick)).collect()
            }
        })
        .collect();
    let all: Vec<usize> = (0..labels.len()).collect();
    let inter = (0..cfg.inter_pairs)
        .map(|_| {
            let i = pick(&all);
            // Rejection keeps j uniform over the images of the other classes.
            loop {
                let j = pick(&all);
                if labels[j] != labels[i] {
                    return (i, j);
                }
            }
        })
        .collect();
    let occluded = (0..cfg.occluded_pairs).map(|_| pick(&all)).collect();
    Ok(PairPlan { intra, inter, occluded })
}

fn distinct_pair(c: &[usize], pick: &mut impl FnMut(&[usize]) -> usize) -> (usize, usize) {
    let i = pick(c);
    loop {
        let j = pick(c);
        if j != i {
            return (i, j);
        }
    }
}

fn euclid(a: ArrayView1<f32>, b: ArrayView1<f32>) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| ((x - y) as f64).powi(2)).sum::<f64>().sqrt()
}

fn mean_distance(z: ArrayView2<f32>, pairs: &[(usize, usize)]) -> f64 {
    pairs.iter().map(|&(i, j)| euclid(z.row(i), z.row(j))).sum::<f64>() / pairs.len() as f64
}

/// The distances from features: `z` has one row per image index of `plan`, `z_occ` row k is the
/// occluded version of image plan.occluded[k].
pub fn distances_from_features(z: ArrayView2<f32>, z_occ: ArrayView2<f32>, plan: &PairPlan) -> Distances {
    let per_class: Vec<f64> = plan.intra.iter().filter(|p| !p.is_empty()).map(|p| mean_distance(z, p)).collect();
    let intra = per_class.iter().sum::<f64>() / per_class.len() as f64;
    let inter = mean_distance(z, &plan.inter);
    let clean_occluded = plan.occluded.iter().enumerate().map(|(k, &i)| euclid(z.row(i), z_occ.row(k))).sum::<f64>()
        / plan.occluded.len() as f64;
    Distances {
        definition: DEFINITION.to_string(),
        intra,
        inter,
        clean_occluded,
        ratio_intra_inter: intra / inter,
        ratio_occluded_inter: clean_occluded / inter,
        intra_per_class: per_class,
        intra_pairs: plan.intra.iter().map(Vec::len).sum(),
        inter_pairs: plan.inter.len(),
        occluded_pairs: plan.occluded.len(),
    }
}

/// The whole measurement for one encoder (trained or not) on one image set.
pub fn latent_distances(
    enc: &Encoder,
    images: Images,
    labels: &[u8],
    classes: usize,
    cfg: &DistanceConfig,
) -> Result<Distances, EvalError> {
    if labels.len() != images.n {
        return Err(EvalError::Input(format!("{} labels for {} images", labels.len(), images.n)));
    }
    if cfg.inter_pairs == 0 || cfg.occluded_pairs == 0 || cfg.intra_pairs_per_class == 0 {
        return Err(EvalError::Input("every kind of pair needs a positive count".into()));
    }
    let plan = plan_pairs(labels, classes, cfg)?;
    // Encode each needed image once, then renumber the plan into rows of that subset.
    let mut needed: Vec<usize> = plan
        .intra
        .iter()
        .flatten()
        .chain(&plan.inter)
        .flat_map(|&(i, j)| [i, j])
        .chain(plan.occluded.iter().copied())
        .collect();
    needed.sort_unstable();
    needed.dedup();
    let row = |i: usize| needed.binary_search(&i).expect("every planned image is needed");
    let rows = PairPlan {
        intra: plan.intra.iter().map(|p| p.iter().map(|&(i, j)| (row(i), row(j))).collect()).collect(),
        inter: plan.inter.iter().map(|&(i, j)| (row(i), row(j))).collect(),
        occluded: plan.occluded.iter().map(|&i| row(i)).collect(),
    };
    let z = encode_selected(enc, images, &needed, |_| None);
    let z_occ = encode_selected(enc, images, &plan.occluded, |k| {
        Some(image_mask(cfg.seed, "eval-distance-occlusion", cfg.drop, cfg.tile, k))
    });
    Ok(distances_from_features(z.view(), z_occ.view(), &rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn small_cfg() -> DistanceConfig {
        DistanceConfig { intra_pairs_per_class: 50, inter_pairs: 200, occluded_pairs: 100, ..Default::default() }
    }

    #[test]
    fn identical_clean_and_occluded_features_give_ratio_zero() {
        let labels: Vec<u8> = (0..60).map(|i| (i % 3) as u8).collect();
        let mut rng = Stream::derive(5, "test", 0);
        let z = Array2::from_shape_simple_fn((60, 6), || rng.uniform() as f32);
        let plan = plan_pairs(&labels, 3, &small_cfg()).unwrap();
        let z_occ = z.select(ndarray::Axis(0), &plan.occluded);
        let d = distances_from_features(z.view(), z_occ.view(), &plan);
        assert_eq!(d.clean_occluded, 0.0);
        assert_eq!(d.ratio_occluded_inter, 0.0);
        assert!(d.inter > 0.0 && d.intra > 0.0);
    }

    #[test]
    fn point_classes_give_known_distances() {
        // Class k sits exactly at (2k, 0): intra 0, inter |2k - 2l| averaged over pairs.
        let labels: Vec<u8> = (0..40).map(|i| (i % 2) as u8).collect();
        let z = Array2::from_shape_fn((40, 2), |(i, j)| if j == 0 { 2.0 * labels[i] as f32 } else { 0.0 });
        let plan = plan_pairs(&labels, 2, &small_cfg()).unwrap();
        let z_occ = Array2::<f32>::from_elem((plan.occluded.len(), 2), 0.0);
        let d = distances_from_features(z.view(), z_occ.view(), &plan);
        assert_eq!((d.intra, d.inter, d.ratio_intra_inter), (0.0, 2.0, 0.0));
        // Occluded codes all at the origin: class-1 images are 2 away, class-0 images 0.
        let ones = plan.occluded.iter().filter(|&&i| labels[i] == 1).count() as f64;
        assert!((d.clean_occluded - 2.0 * ones / plan.occluded.len() as f64).abs() < 1e-12);
        assert_eq!(d.definition, "paper-4.4.4");
    }

    #[test]
    fn pairs_respect_classes_and_counts() {
        let labels: Vec<u8> = (0..90).map(|i| ((i * 7) % 3) as u8).collect();
        let cfg = small_cfg();
        let plan = plan_pairs(&labels, 3, &cfg).unwrap();
        for (k, pairs) in plan.intra.iter().enumerate() {
            assert_eq!(pairs.len(), cfg.intra_pairs_per_class);
            assert!(pairs.iter().all(|&(i, j)| i != j && labels[i] as usize == k && labels[j] as usize == k));
        }
        assert_eq!(plan.inter.len(), cfg.inter_pairs);
        assert!(plan.inter.iter().all(|&(i, j)| labels[i] != labels[j]));
        assert_eq!(plan, plan_pairs(&labels, 3, &cfg).unwrap());
        assert!(plan_pairs(&[0, 0, 0], 1, &cfg).is_err());
        assert!(plan_pairs(&[0, 5], 2, &cfg).is_err());
    }

    #[test]
    fn encoder_distances_are_finite_and_occlusion_moves_codes() {
        let (enc, data, labels) = crate::eval::testutil::tiny(60, 3, 6);
        let images = Images::new(&data, 3).unwrap();
        let d = latent_distances(&enc, images, &labels, 3, &small_cfg()).unwrap();
        assert!(d.inter > 0.0 && d.clean_occluded > 0.0 && d.ratio_intra_inter.is_finite(), "{d:?}");
        assert_eq!(d, latent_distances(&enc, images, &labels, 3, &small_cfg()).unwrap());
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (enc, data, labels) = crate::eval::testutil::tiny(600, 3, 12);
        let images = Images::new(&data, 3).unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| latent_distances(&enc, images, &labels, 3, &small_cfg()).unwrap())
        };
        assert_eq!(run(1), run(3));
    }
}
