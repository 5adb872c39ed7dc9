//! Latent distances (Fig. 6e,f): intra- vs inter-class and clean vs occluded distances of z, as
//! Methods 4.4.4 defines them, for each seed's untrained networks and every run's last epoch.
use super::data::{self, Split};
use super::{final_states, Networks};
use crate::eval::Distances;
use crate::pipeline::error::PipelineError;
use crate::pipeline::rows::{self as report, push_seed, BySeeds};
use crate::pipeline::stage::{decode, Contribution, Env, Inputs, Item, Kind, Planner, ReportCtx, Unit};
use crate::report::figures;
use crate::report::tables::{Cell, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub static KIND: Kind = Kind {
    name: "distances",
    // 2: engine::direct computes the networks' middle layers (new summation order).
    // 3: every product of engine::gemm summed by one rule on every CPU (engine/gemm/blocks.rs).
    version: 3,
    about: "intra/inter-class and clean/occluded latent distances (Fig. 6e,f)",
    resumable: false,
    plan,
    decode: decode::<LatentDistances>,
    report,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentDistances {
    /// The images the pairs are drawn from.
    pub split: Split,
    pub intra_pairs_per_class: usize,
    pub inter_pairs: usize,
    pub occluded_pairs: usize,
    /// Occlusion probability of the occluded copies, and the occluders' side.
    pub drop: f64,
    pub tile: usize,
    /// Seed of the pair draws and masks.
    pub seed: u64,
    #[serde(flatten)]
    pub net: Networks,
}

fn plan(p: &mut Planner) {
    let d = crate::eval::DistanceConfig::default();
    let seed = p.profile.eval.eval_seed;
    for s in final_states(p) {
        let stage = LatentDistances {
            split: Split::Train,
            intra_pairs_per_class: d.intra_pairs_per_class,
            inter_pairs: d.inter_pairs,
            occluded_pairs: d.occluded_pairs,
            drop: d.drop,
            tile: d.tile,
            seed,
            net: s.net,
        };
        p.add(stage, s.inputs, s.at);
    }
}

impl Unit for LatentDistances {
    fn kind() -> &'static Kind {
        &KIND
    }

    fn compute(&self, inputs: &Inputs, work: &Path, _: &Env) -> Result<(), PipelineError> {
        let ds = data::dataset(inputs)?;
        let (enc, _) = super::networks(&self.net, inputs, ds.channels)?;
        let (imgs, labels) = data::split(&ds, self.split)?;
        let cfg = crate::eval::DistanceConfig {
            intra_pairs_per_class: self.intra_pairs_per_class,
            inter_pairs: self.inter_pairs,
            occluded_pairs: self.occluded_pairs,
            drop: self.drop,
            tile: self.tile,
            seed: self.seed,
        };
        let d = crate::eval::latent_distances(&enc, imgs, labels, ds.classes.len(), &cfg)?;
        let path = work.join("distances.json");
        crate::files::atomic::write_atomic(&path, report::to_json(&d).as_bytes()).map_err(PipelineError::from)
    }
}

/// distances.csv, the ratio bars and the Fig. 6e,f section.
fn report(ctx: &ReportCtx, items: &[Item]) -> Result<Contribution, PipelineError> {
    let mut t = Table::new(&[
        "dataset",
        "condition",
        "seed",
        "epoch",
        "definition",
        "intra",
        "inter",
        "clean_occluded",
        "ratio_intra_inter",
        "ratio_occluded_inter",
    ]);
    let mut dists: BySeeds<Distances> = BTreeMap::new();
    for it in items {
        let d: Distances = report::read_json(&it.dir.join("distances.json"))?;
        let mut cells = report::head(&it.node.at);
        let f = |v| Cell::Float(v, 6);
        cells.extend([
            Cell::Text(d.definition.clone()),
            f(d.intra),
            f(d.inter),
            f(d.clean_occluded),
            f(d.ratio_intra_inter),
            f(d.ratio_occluded_inter),
        ]);
        t.push(cells);
        push_seed(&mut dists, &it.node.at.dataset, &it.node.at.condition_name(), d);
    }
    let mut out = Contribution::default();
    out.table("distances.csv", t);
    for (d, conds) in &dists {
        let svg = figures::distance_ratio_bars(&ratios(conds), &ctx.colors());
        out.files.push((format!("figures/distances_{d}.svg"), svg.into_bytes()));
    }
    if !dists.is_empty() {
        let cols: [report::Column<Distances>; 2] =
            [("intra / inter", |d| d.ratio_intra_inter, 3), ("clean-occluded / inter", |d| d.ratio_occluded_inter, 3)];
        out.summary = format!(
            "## Latent organisation (Fig. 6e,f)\n\nMean Euclidean distances of z as Methods 4.4.4 defines them (definition \"{}\"; the authors' fig6 script uses batch MSEs instead): intra-class / inter-class, and clean / 30%-occluded pairs over inter-class. Last epoch; bars: figures/distances_<dataset>.svg; PCA: figures/pca_*.svg.\n\n{}\n",
            crate::eval::distances::DEFINITION,
            report::pm_rows(&dists, &cols).to_markdown()
        );
    }
    Ok(out)
}

/// The figure's plain input: each run's two ratios.
fn ratios(conds: &[(String, Vec<Distances>)]) -> Vec<(String, Vec<figures::DistanceRatios>)> {
    let r = |d: &Distances| figures::DistanceRatios {
        intra_inter: d.ratio_intra_inter,
        occluded_inter: d.ratio_occluded_inter,
    };
    conds.iter().map(|(c, ds)| (c.clone(), ds.iter().map(r).collect())).collect()
}
