//! The occlusion sweep (Fig. 5): the probe stage's clean read-outs (the paper's probe and the
//! ridge read-out) on test images occluded with probability p, for each seed's untrained networks
//! and every run's last epoch.
use super::data::{self, Split};
use super::{final_states, probe, Networks};
use crate::eval::SweepRow;
use crate::pipeline::error::PipelineError;
use crate::pipeline::rows::{self as report, push_seed, BySeeds};
use crate::pipeline::stage::{decode, Contribution, Env, Inputs, Item, Kind, Planner, ReportCtx, Unit};
use crate::report::claims::Metric;
use crate::report::figures;
use crate::report::tables::{Cell, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub static KIND: Kind = Kind {
    name: "occlusion",
    // 2: the evaluation batch (of the reference-style accuracy) is a parameter.
    // 3: the ridge read-out's accuracy too (column ridge_acc).
    // 4: engine::direct computes the networks' middle layers (new summation order).
    // 5: every product of engine::gemm summed by one rule on every CPU (engine/gemm/blocks.rs).
    version: 5,
    about: "read-out accuracy on occluded test images, p = 0 .. 1 (Fig. 5)",
    resumable: false,
    plan,
    decode: decode::<Occlusion>,
    report,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Occlusion {
    /// Occlusion probabilities.
    pub levels: Vec<f64>,
    /// Side of the square occluders.
    pub tile: usize,
    /// Seed of the masks.
    pub seed: u64,
    /// Batch of the reference-style accuracy (the mean of per-batch accuracies, as fig5 does).
    pub batch: usize,
    #[serde(flatten)]
    pub net: Networks,
}

fn plan(p: &mut Planner) {
    let e = p.profile.eval.clone();
    let probes = p.of(&probe::KIND);
    for s in final_states(p) {
        // The sweep reuses the read-out the probe of the same networks trained.
        let Some(&pr) = probes.iter().find(|&&i| p.node(i).at == s.at) else { continue };
        let mut inputs = s.inputs.clone();
        inputs.push(pr);
        let stage = Occlusion {
            levels: crate::eval::occlusion::LEVELS.to_vec(),
            tile: crate::eval::occlusion::TILE,
            seed: e.eval_seed,
            batch: e.probe_batch,
            net: s.net,
        };
        p.add(stage, inputs, s.at);
    }
}

impl Unit for Occlusion {
    fn kind() -> &'static Kind {
        &KIND
    }

    fn compute(&self, inputs: &Inputs, work: &Path, _: &Env) -> Result<(), PipelineError> {
        let ds = data::dataset(inputs)?;
        let (enc, _) = super::networks(&self.net, inputs, ds.channels)?;
        let (clf, ridge) = (probe::classifier(inputs)?, probe::ridge(inputs)?);
        for (name, dim) in [("probe's read-out", clf.w.ncols()), ("ridge read-out", ridge.mean.len())] {
            if dim != enc.nz {
                // A read-out of other networks (a wiring or parameter mismatch), said before any work.
                let msg = format!("the {name} takes {dim}-d codes, the encoder makes {}-d ones", enc.nz);
                return Err(PipelineError::Params { stage: inputs.label.clone(), msg });
            }
        }
        let (test, vy) = data::split(&ds, Split::Test)?;
        let cfg = crate::eval::SweepConfig { levels: self.levels.clone(), tile: self.tile, seed: self.seed };
        let readouts = crate::eval::occlusion::Readouts { probe: &clf, ridge: &ridge };
        let rows = crate::eval::occlusion_sweep(&enc, readouts, test, vy, self.batch, &cfg)?;
        let path = work.join("occlusion.csv");
        crate::files::atomic::write_atomic(&path, crate::eval::occlusion::sweep_csv(&rows).as_bytes())
            .map_err(PipelineError::from)
    }
}

fn acc_at(rows: &[SweepRow], p: f64, pick: fn(&SweepRow) -> f64) -> f64 {
    rows.iter().find(|r| (r.p - p).abs() < 1e-9).map(pick).unwrap_or(f64::NAN)
}

/// The occlusion levels of the summary's columns.
const SUMMARY_LEVELS: [f64; 5] = [0.0, 0.2, 0.4, 0.6, 0.8];

/// The two read-outs' accuracies in a sweep row.
const READOUTS: [fn(&SweepRow) -> f64; 2] = [|r| r.test_acc, |r| r.ridge_acc];

/// occlusion.csv, the accuracy-vs-occlusion figures and the Fig. 5 section.
fn report(ctx: &ReportCtx, items: &[Item]) -> Result<Contribution, PipelineError> {
    let mut t = Table::new(&[
        "dataset",
        "condition",
        "seed",
        "epoch",
        "p",
        "test_acc",
        "test_acc_ref",
        "test_loss",
        "ridge_acc",
    ]);
    let mut sweeps: BySeeds<Vec<SweepRow>> = BTreeMap::new();
    for it in items {
        let mut sweep = Vec::new();
        for r in report::read_csv(&it.dir.join("occlusion.csv"))? {
            let num = |k| report::num(&r, k);
            let row = SweepRow {
                p: num("p"),
                test_loss: num("test_loss"),
                test_acc: num("test_acc"),
                test_acc_ref: num("test_acc_ref"),
                ridge_acc: num("ridge_acc"),
            };
            let mut cells = report::head(&it.node.at);
            cells.extend([
                Cell::Float(row.p, 1),
                Cell::Float(row.test_acc, 2),
                Cell::Float(row.test_acc_ref, 2),
                Cell::Float(row.test_loss, 4),
                Cell::Float(row.ridge_acc, 2),
            ]);
            t.push(cells);
            sweep.push(row);
        }
        push_seed(&mut sweeps, &it.node.at.dataset, &it.node.at.condition_name(), sweep);
    }
    let mut out = Contribution::default();
    out.table("occlusion.csv", t);
    let names = probe::readout_names(ctx.profile);
    for (d, conds) in &sweeps {
        let panels: Vec<figures::CurvePanel> =
            (0..2).map(|k| (format!("{d}, last epoch: {}", names[k]), curves(conds, READOUTS[k]))).collect();
        let marks = [Metric::OcclusionProbe, Metric::OcclusionRidge]
            .map(|m| crate::pipeline::claims::marks(ctx.claims, ctx.profile, d, m));
        out.files.push((
            format!("figures/occlusion_{d}.svg"),
            figures::accuracy_vs_occlusion_with_paper(&panels, &marks, &ctx.colors()).into_bytes(),
        ));
    }
    if !sweeps.is_empty() {
        // One table per read-out, a column per level of SUMMARY_LEVELS.
        let cols: [report::Column<[f64; 5]>; 5] = [
            ("p = 0", |a| a[0], 2),
            ("p = 0.2", |a| a[1], 2),
            ("p = 0.4", |a| a[2], 2),
            ("p = 0.6", |a| a[3], 2),
            ("p = 0.8", |a| a[4], 2),
        ];
        let mut tables = String::new();
        for (name, pick) in names.iter().zip(READOUTS) {
            let at_levels: BySeeds<[f64; 5]> = sweeps
                .iter()
                .map(|(d, conds)| {
                    let conds = conds
                        .iter()
                        .map(|(c, runs)| {
                            (c.clone(), runs.iter().map(|r| SUMMARY_LEVELS.map(|p| acc_at(r, p, pick))).collect())
                        })
                        .collect();
                    (d.clone(), conds)
                })
                .collect();
            tables +=
                &format!("Test accuracy (%) of the {name}:\n\n{}\n", report::pm_rows(&at_levels, &cols).to_markdown());
        }
        out.summary = format!(
            "## Robustness to occlusion (Fig. 5)\n\nThe read-outs fitted on clean codes, on test images occluded with probability p (tile 4, grey), last epoch. Curves: figures/occlusion_<dataset>.svg.\n\n{tables}"
        );
    }
    Ok(out)
}

/// The figure's plain input: each run's (p, accuracy) curve for one read-out.
fn curves(conds: &[(String, Vec<Vec<SweepRow>>)], pick: fn(&SweepRow) -> f64) -> Vec<figures::Runs> {
    conds
        .iter()
        .map(|(c, runs)| (c.clone(), runs.iter().map(|r| r.iter().map(|x| (x.p, pick(x))).collect()).collect()))
        .collect()
}
