//! Dream grids (Fig. 3): real inputs, NREM dreams G(E(x)) and REM dreams from mixed memories, at
//! the early and the last epoch of every run.
use super::data::{self, Split};
use super::{trained_states, Networks};
use crate::files::At;
use crate::pipeline::error::PipelineError;

use crate::pipeline::stage::{decode, Contribution, Env, Inputs, Item, Kind, Planner, ReportCtx, Unit};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub static KIND: Kind = Kind {
    name: "dreams",
    // 2: engine::direct computes the networks' middle layers (new summation order).
    // 3: every product of engine::gemm summed by one rule on every CPU (engine/gemm/blocks.rs).
    version: 3,
    about: "grids of real images, NREM and REM dreams at the early and last epoch (Fig. 3)",
    resumable: false,
    plan,
    decode: decode::<Dreams>,
    report,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dreams {
    pub epoch: usize,
    /// Images per row.
    pub n: usize,
    pub split: Split,
    /// Seed of the image draw and the REM noise.
    pub seed: u64,
}

/// The epochs whose dreams are drawn: the early one and the last.
pub fn dream_epochs(p: &crate::pipeline::config::Profile) -> Vec<usize> {
    let mut v = vec![p.eval.early_epoch, p.epochs];
    v.dedup();
    v
}

fn plan(p: &mut Planner) {
    let seed = p.profile.eval.eval_seed;
    let n = crate::eval::DreamConfig::default().n;
    for s in trained_states(p, dream_epochs) {
        p.add(Dreams { epoch: s.at.epoch.unwrap_or(0), n, split: Split::Train, seed }, s.inputs, s.at);
    }
}

impl Unit for Dreams {
    fn kind() -> &'static Kind {
        &KIND
    }

    fn compute(&self, inputs: &Inputs, work: &Path, _: &Env) -> Result<(), PipelineError> {
        let ds = data::dataset(inputs)?;
        let (enc, gen) = super::networks(&Networks::Checkpoint { epoch: self.epoch }, inputs, ds.channels)?;
        let (imgs, _) = data::split(&ds, self.split)?;
        let d = crate::eval::dreams(&enc, &gen, imgs, &crate::eval::DreamConfig { n: self.n, seed: self.seed })?;
        crate::eval::dreams::write_dreams(&d, work)?;
        Ok(())
    }
}

/// The rows of a dream figure: the stage's file of each and its label.
pub const ROWS: [(&str, &str); 3] = [("real.png", "real"), ("nrem.png", "NREM dream"), ("rem.png", "REM dream")];

/// The first seed's grids, rows labelled (real, NREM dream, REM dream) and enlarged.
fn report(ctx: &ReportCtx, items: &[Item]) -> Result<Contribution, PipelineError> {
    let mut out = Contribution::default();
    for it in items {
        let at = &it.node.at;
        let s = at.seed.unwrap_or(0);
        if s != ctx.profile.seeds[0] {
            continue;
        }
        let (c, e) = (at.condition_name(), at.epoch.unwrap_or(0));
        let pngs = ROWS
            .iter()
            .map(|(file, _)| {
                let path = it.dir.join(file);
                std::fs::read(&path).at(&path)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rows: Vec<(&str, &[u8])> =
            ROWS.iter().zip(&pngs).map(|((_, label), png)| (*label, png.as_slice())).collect();
        let title = format!("{}, {c}, seed {s}, epoch {e}: real images and their dreams", at.dataset);
        let svg = crate::report::grids::labelled_rows(&title, &rows)
            .map_err(|e| PipelineError::Format { path: it.dir.clone(), msg: e.to_string() })?;
        out.files.push((format!("figures/dreams_{}_{c}_seed{s}_epoch{e}.svg", at.dataset), svg.into_bytes()));
    }
    Ok(out)
}
