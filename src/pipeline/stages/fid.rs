//! FID of dreams (Fig. 3d): NREM and REM dreams of a run's early and last epoch against the
//! dataset's real-image statistics, for a profile's fid_conditions.
use super::data::{self, Split};
use super::dreams::dream_epochs;
use super::fid_real::{self, images_bar, InceptionWeights, REAL_STATS};
use super::{trained_states, Networks};
use crate::eval::dream_fid::DreamKind;
use crate::eval::fid::{frechet_distance, load_stats};
use crate::pipeline::error::PipelineError;
use crate::pipeline::rows::{self as report};
use crate::pipeline::stage::{decode, Contribution, Env, Inputs, Item, Kind, Planner, ReportCtx, Unit};
use crate::report::figures;
use crate::report::tables::{mean_sem, pm, Cell, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub static KIND: Kind = Kind {
    name: "fid",
    // 2: engine::direct computes the networks' middle layers (new summation order).
    // 3: every product of engine::gemm summed by one rule on every CPU (engine/gemm/blocks.rs).
    version: 3,
    about: "FID of NREM and REM dreams at the early and last epoch (Fig. 3d)",
    resumable: false,
    plan,
    decode: decode::<Fid>,
    report,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fid {
    pub epoch: usize,
    /// Dreams per kind.
    pub samples: usize,
    /// The images dreams start from.
    pub split: Split,
    /// Seed of the image draws and the REM noise.
    pub seed: u64,
    pub kinds: Vec<DreamKind>,
    #[serde(flatten)]
    pub weights: InceptionWeights,
}

fn plan(p: &mut Planner) {
    let e = p.profile.eval.clone();
    let weights = InceptionWeights::planned(p);
    let reals = p.of(&fid_real::KIND);
    for s in trained_states(p, dream_epochs) {
        let wanted = s.at.condition.as_ref().is_some_and(|c| p.profile.fid_conditions.contains(c));
        let Some(&real) = reals.iter().find(|&&r| p.node(r).at.dataset == s.at.dataset) else { continue };
        if !wanted {
            continue;
        }
        let mut inputs = s.inputs.clone();
        inputs.push(real);
        let stage = Fid {
            epoch: s.at.epoch.unwrap_or(0),
            samples: e.fid_samples,
            split: Split::Train,
            seed: e.eval_seed,
            kinds: DreamKind::ALL.to_vec(),
            weights: weights.clone(),
        };
        p.add(stage, inputs, s.at);
    }
}

impl Unit for Fid {
    fn kind() -> &'static Kind {
        &KIND
    }

    fn compute(&self, inputs: &Inputs, work: &Path, env: &Env) -> Result<(), PipelineError> {
        let ds = data::dataset(inputs)?;
        let (enc, gen) = super::networks(&Networks::Checkpoint { epoch: self.epoch }, inputs, ds.channels)?;
        let net = self.weights.load(&inputs.label)?;
        let (real, _) = load_stats(&inputs.need(&fid_real::KIND)?.join(REAL_STATS))?;
        let (imgs, _) = data::split(&ds, self.split)?;
        let mut csv = String::from("kind,samples_real,samples_dreams,fid,warning\n");
        for &kind in &self.kinds {
            let bar = images_bar(env.progress, self.samples, format!("{} {}", inputs.label, kind.name()));
            let tick = |done: usize| bar.set_position(done as u64);
            let s = crate::eval::dream_fid::dream_stats(&net, &enc, &gen, imgs, kind, self.samples, self.seed, &tick)?;
            bar.finish_and_clear();
            let f = frechet_distance(&real, &s)?;
            if let Some(w) = &f.warning {
                eprintln!("warning: {}: {w}", inputs.label);
            }
            let warning = f.warning.as_deref().map(|w| format!("\"{}\"", w.replace('"', "'"))).unwrap_or_default();
            csv.push_str(&format!("{},{},{},{},{}\n", kind.name(), f.n1, f.n2, f.fid, warning));
        }
        let path = work.join("fid.csv");
        crate::files::atomic::write_atomic(&path, csv.as_bytes()).map_err(PipelineError::from)
    }
}

/// dataset -> dream kind -> (condition, epoch, values over seeds).
type Bars = BTreeMap<String, BTreeMap<String, Vec<(String, usize, Vec<f64>)>>>;

/// fid.csv, the FID bars and the Fig. 3d section.
fn report(ctx: &ReportCtx, items: &[Item]) -> Result<Contribution, PipelineError> {
    let mut t = Table::new(&["dataset", "condition", "seed", "epoch", "kind", "fid", "samples_real", "samples_dreams"]);
    let mut fids: Bars = BTreeMap::new();
    for it in items {
        let at = &it.node.at;
        for r in report::read_csv(&it.dir.join("fid.csv"))? {
            let kind = r.get("kind").cloned().unwrap_or_default();
            let mut cells = report::head(at);
            cells.extend([
                Cell::Text(kind.clone()),
                Cell::Float(report::num(&r, "fid"), 3),
                Cell::Int(report::num(&r, "samples_real") as i64),
                Cell::Int(report::num(&r, "samples_dreams") as i64),
            ]);
            t.push(cells);
            let bars = fids.entry(at.dataset.clone()).or_default().entry(kind.to_uppercase()).or_default();
            let (c, e) = (at.condition_name(), at.epoch.unwrap_or(0));
            match bars.iter_mut().find(|b| b.0 == c && b.1 == e) {
                Some(b) => b.2.push(report::num(&r, "fid")),
                None => bars.push((c, e, vec![report::num(&r, "fid")])),
            }
        }
    }
    let mut out = Contribution::default();
    out.table("fid.csv", t);
    for (d, kinds) in &fids {
        let panels: Vec<(String, Vec<figures::FidBar>)> = kinds.iter().map(|(k, b)| (k.clone(), b.clone())).collect();
        out.files.push((format!("figures/fid_{d}.svg"), figures::fid_bars(d, &panels, &ctx.colors()).into_bytes()));
    }
    if !fids.is_empty() {
        let mut s = Table::new(&["dataset", "dreams", "condition", "epoch", "FID", "seeds"]);
        for (d, kinds) in &fids {
            for (k, bars) in kinds {
                for (c, e, v) in bars {
                    let (m, sem) = mean_sem(v);
                    s.push(vec![
                        Cell::Text(d.clone()),
                        Cell::Text(k.clone()),
                        Cell::Text(c.clone()),
                        Cell::Int(*e as i64),
                        Cell::Text(pm(m, sem, 2)),
                        Cell::Int(v.len() as i64),
                    ]);
                }
            }
        }
        let e = &ctx.profile.eval;
        out.summary = format!(
            "## Realism of dreams (Fig. 3d)\n\nFID between {} real training images and {} dreams ({} Inception-v3 weights); fid.csv has the sample counts of every value. Bars: figures/fid_<dataset>.svg; dream grids: figures/dreams_*.svg.\n\n{}\n",
            e.fid_samples,
            e.fid_samples,
            e.fid_layout,
            s.to_markdown()
        );
    }
    Ok(out)
}
