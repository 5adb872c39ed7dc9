//! PCA of the latent code (Fig. 6b-d): a sample of test images, clean and occluded, on the clean
//! codes' first two principal axes, for each seed's untrained networks and every run's last epoch.
use super::data::{self, Split};
use super::{final_states, Networks};
use crate::eval::PcaProjection;
use crate::pipeline::error::PipelineError;
use crate::pipeline::rows::{self as report};
use crate::pipeline::stage::{decode, Contribution, Env, Inputs, Item, Kind, Planner, ReportCtx, Unit};
use crate::report::figures;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub static KIND: Kind = Kind {
    name: "pca",
    // 2: nalgebra's symmetric eigensolver instead of Jacobi rotations (last digits of the projections).
    // 3: engine::direct computes the networks' middle layers (new summation order).
    // 4: every product of engine::gemm summed by one rule on every CPU (engine/gemm/blocks.rs).
    version: 4,
    about: "2-D PCA of z, clean and occluded (Fig. 6b-d)",
    resumable: false,
    plan,
    decode: decode::<Pca>,
    report,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pca {
    pub split: Split,
    /// Images in the projection.
    pub samples: usize,
    /// Occlusion probability of the occluded copies, and the occluders' side.
    pub drop: f64,
    pub tile: usize,
    /// Seed of the sample and the masks.
    pub seed: u64,
    #[serde(flatten)]
    pub net: Networks,
}

fn plan(p: &mut Planner) {
    let d = crate::eval::PcaConfig::default();
    let e = p.profile.eval.clone();
    for s in final_states(p) {
        let stage = Pca {
            split: Split::Test,
            samples: e.pca_samples,
            drop: d.drop,
            tile: d.tile,
            seed: e.eval_seed,
            net: s.net,
        };
        p.add(stage, s.inputs, s.at);
    }
}

impl Unit for Pca {
    fn kind() -> &'static Kind {
        &KIND
    }

    fn compute(&self, inputs: &Inputs, work: &Path, _: &Env) -> Result<(), PipelineError> {
        let ds = data::dataset(inputs)?;
        let (enc, _) = super::networks(&self.net, inputs, ds.channels)?;
        let (imgs, labels) = data::split(&ds, self.split)?;
        let cfg = crate::eval::PcaConfig { samples: self.samples, drop: self.drop, tile: self.tile, seed: self.seed };
        let p = crate::eval::pca_projection(&enc, imgs, labels, &cfg)?;
        let path = work.join("pca.csv");
        crate::files::atomic::write_atomic(&path, p.to_csv().as_bytes()).map_err(PipelineError::from)?;
        let path = work.join("pca.json");
        crate::files::atomic::write_atomic(&path, report::to_json(&p).as_bytes()).map_err(PipelineError::from)
    }
}

/// The first seed's scatter per network state, classes named as the dataset names them.
fn report(ctx: &ReportCtx, items: &[Item]) -> Result<Contribution, PipelineError> {
    let mut out = Contribution::default();
    for it in items {
        let at = &it.node.at;
        let s = at.seed.unwrap_or(0);
        if s != ctx.profile.seeds[0] {
            continue;
        }
        let classes = match ctx.input_dir(it.node, &data::KIND) {
            Some(dir) => crate::data::load_artifact(&dir.join(data::ARTIFACT))?.classes,
            None => Vec::new(),
        };
        let p: PcaProjection = report::read_json(&it.dir.join("pca.json"))?;
        let view =
            figures::Projection { labels: &p.labels, clean: &p.clean, occluded: &p.occluded, explained: p.explained };
        let (d, c, e) = (&at.dataset, at.condition_name(), at.epoch.unwrap_or(0));
        let title = format!("{d}, {c}, seed {s}, epoch {e}: clean codes (dots), 30% occluded (circles)");
        out.files.push((
            format!("figures/pca_{d}_{c}_seed{s}.svg"),
            figures::pca_scatter(&title, &view, &classes, 4).into_bytes(),
        ));
    }
    Ok(out)
}
