//! Inception statistics of real training images, once per dataset: the reference side of every
//! dream FID (Fig. 3d).
use super::data::{self, Split};
use crate::eval::fid::{save_stats, StatsInfo};
use crate::eval::inception::{InceptionV3, Layout};
use crate::pipeline::error::PipelineError;

use crate::pipeline::stage::{decode, Contribution, Coord, Env, Inputs, Item, Kind, Planner, ReportCtx, Unit, Weights};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The real-image Inception statistics of a fid-real stage.
pub const REAL_STATS: &str = "real.fidstats.safetensors";

pub static KIND: Kind = Kind {
    name: "fid-real",
    // 2: every product of engine::gemm summed by one rule on every CPU (engine/gemm/blocks.rs).
    version: 2,
    about: "Inception statistics of real training images, once per dataset (for FID)",
    resumable: false,
    plan,
    decode: decode::<FidReal>,
    report,
};

/// The Inception-v3 weights FID is computed with: identified by content, found by path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InceptionWeights {
    pub layout: Layout,
    pub weights_sha256: String,
    /// Where the file is (not hashed: its sha256 is, and is checked before use).
    #[serde(skip)]
    pub path: PathBuf,
}

impl InceptionWeights {
    /// The profile's weights as planned ("missing" when absent: `Plan::check` refuses to run then).
    pub fn planned(p: &Planner) -> InceptionWeights {
        let (path, sha) = match p.fid_weights {
            Weights::Found { path, sha256 } => (path.clone(), sha256.clone()),
            Weights::Missing { path, .. } => (path.clone(), "missing".into()),
            Weights::NotNeeded => (String::new(), "missing".into()),
        };
        InceptionWeights { layout: p.profile.eval.fid_layout, weights_sha256: sha, path: path.into() }
    }

    /// The network, after checking that the file is still the one the key names.
    pub fn load(&self, stage: &str) -> Result<InceptionV3, PipelineError> {
        let sha = crate::files::sha256_file(&self.path)?;
        if sha != self.weights_sha256 {
            return Err(PipelineError::Params {
                stage: stage.into(),
                msg: format!(
                    "{} has sha256 {sha}, but this stage was planned with {}; run again to plan with the new file",
                    self.path.display(),
                    self.weights_sha256
                ),
            });
        }
        Ok(InceptionV3::load(&self.path, self.layout)?)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FidReal {
    /// Real images in the statistics.
    pub samples: usize,
    pub split: Split,
    /// Seed of the image sample.
    pub seed: u64,
    #[serde(flatten)]
    pub weights: InceptionWeights,
}

fn plan(p: &mut Planner) {
    if p.profile.fid_conditions.is_empty() {
        return;
    }
    let weights = InceptionWeights::planned(p);
    let e = p.profile.eval.clone();
    for d in p.of(&data::KIND) {
        let at = Coord { dataset: p.node(d).at.dataset.clone(), ..Coord::default() };
        let stage =
            FidReal { samples: e.fid_samples, split: Split::Train, seed: e.eval_seed, weights: weights.clone() };
        p.add(stage, vec![d], at);
    }
}

/// A progress bar with ETA over `total` images (hidden unless asked for).
pub fn images_bar(show: bool, total: usize, what: String) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    let style = "{prefix} [{elapsed_precise}] {bar:25} {pos}/{len} images {per_sec} ETA {eta}";
    bar.set_style(indicatif::ProgressStyle::with_template(style).expect("a valid template"));
    bar.set_prefix(what);
    bar
}

impl Unit for FidReal {
    fn kind() -> &'static Kind {
        &KIND
    }

    fn compute(&self, inputs: &Inputs, work: &Path, env: &Env) -> Result<(), PipelineError> {
        let ds = data::dataset(inputs)?;
        let net = self.weights.load(&inputs.label)?;
        let (imgs, _) = data::split(&ds, self.split)?;
        let bar = images_bar(env.progress, self.samples, inputs.label.clone());
        let s = crate::eval::dream_fid::real_stats(&net, imgs, self.samples, self.seed, &|done| {
            bar.set_position(done as u64)
        })?;
        bar.finish_and_clear();
        let source = format!("{} train, {} images of the eval-fid-real shuffle (seed {})", ds.name, s.n, self.seed);
        let info = StatsInfo { n: s.n, layout: self.weights.layout, source };
        Ok(save_stats(&work.join(REAL_STATS), &s, &info)?)
    }
}

/// Statistics are an intermediate: the dream FID stages report the distances.
fn report(_: &ReportCtx, _: &[Item]) -> Result<Contribution, PipelineError> {
    Ok(Contribution::default())
}
