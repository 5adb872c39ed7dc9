//! The training stage: one condition x seed on one dataset, a checkpoint per epoch and
//! losses.csv. The only stage that resumes from its partial directory (exactly: see train::run).
use super::data::{self, Split};
use crate::files::At;
use crate::pipeline::error::PipelineError;
use crate::pipeline::rows::{self as report};
use crate::pipeline::stage::{decode, Contribution, Coord, Env, Inputs, Item, Kind, Planner, ReportCtx, Unit};
use crate::report::figures;
use crate::report::tables::{Cell, Table};
use crate::train::Condition;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub static KIND: Kind = Kind {
    name: "train",
    // 2: engine::direct computes the networks' middle layers (new summation order).
    // 3: every product of engine::gemm summed by one rule on every CPU (engine/gemm/blocks.rs).
    version: 3,
    about: "train one condition x seed (a checkpoint per epoch, losses.csv); resumes exactly",
    resumable: true,
    plan,
    decode: decode::<Train>,
    report,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Train {
    /// The phase parameters (the summary is prose and not part of the key).
    pub condition: Condition,
    pub seed: u64,
    pub epochs: usize,
    pub batch: usize,
    /// Train on the first N training images only.
    pub limit_train: Option<usize>,
    pub nf: usize,
    pub nz: usize,
}

fn plan(p: &mut Planner) {
    for d in p.of(&data::KIND) {
        let dataset = p.node(d).at.dataset.clone();
        for cond in &p.profile.conditions {
            for &seed in &p.profile.seeds {
                let pr = p.profile;
                let stage = Train {
                    condition: cond.clone(),
                    seed,
                    epochs: pr.epochs,
                    batch: pr.batch,
                    limit_train: pr.limit_train,
                    nf: crate::model::encoder::NF,
                    nz: crate::model::NZ,
                };
                let at = Coord {
                    dataset: dataset.clone(),
                    condition: Some(cond.name.clone()),
                    seed: Some(seed),
                    epoch: None,
                };
                p.add(stage, vec![d], at);
            }
        }
    }
}

impl Unit for Train {
    fn kind() -> &'static Kind {
        &KIND
    }

    fn compute(&self, inputs: &Inputs, work: &Path, env: &Env) -> Result<(), PipelineError> {
        let ds = data::dataset(inputs)?;
        let data_key = inputs.key(&data::KIND)?;
        let (all, _) = data::split(&ds, Split::Train)?;
        let n = self.limit_train.unwrap_or(all.n).min(all.n);
        let images = all.prefix(n);
        let spec = crate::train::RunSpec {
            condition: self.condition.clone(),
            seed: self.seed,
            epochs: self.epochs,
            batch: self.batch,
            // The data stage's key identifies the data; a limit takes a prefix of it.
            dataset_id: if n < all.n { format!("{data_key}[..{n}]") } else { data_key.to_string() },
            nf: self.nf,
            nz: self.nz,
        };
        crate::train::train(&spec, images, work, env.progress)?;
        Ok(())
    }
}

const LOSS_COLUMNS: [&str; 7] = ["L_img", "L_KL", "L_real", "L_NREM", "L_fake", "d_real", "d_fake"];

/// losses.csv (every run, every epoch trained so far) and the first seed's loss figures.
fn report(ctx: &ReportCtx, items: &[Item]) -> Result<Contribution, PipelineError> {
    let mut out = Contribution::default();
    let mut header = vec!["dataset", "condition", "seed", "epoch"];
    header.extend(LOSS_COLUMNS);
    let mut t = Table::new(&header);
    for it in items {
        let path = it.dir.join("losses.csv");
        if !it.complete && !path.is_file() {
            // A run that has not finished its first epoch yet.
            continue;
        }
        let (d, c, s) = (&it.node.at.dataset, it.node.at.condition_name(), it.node.at.seed.unwrap_or(0));
        if s == ctx.profile.seeds[0] {
            let text = std::fs::read_to_string(&path).at(&path)?;
            let svg = figures::losses_per_epoch(&text, &path)
                .map_err(|e| PipelineError::Format { path: path.clone(), msg: e.to_string() })?;
            out.files.push((format!("figures/losses_{d}_{c}_seed{s}.svg"), svg.into_bytes()));
        }
        for r in report::read_csv(&path)? {
            let mut row = vec![Cell::Text(d.clone()), Cell::Text(c.clone()), Cell::Int(s as i64)];
            row.push(Cell::Int(report::num(&r, "epoch") as i64));
            row.extend(LOSS_COLUMNS.iter().map(|k| Cell::Float(report::num(&r, k), 6)));
            t.push(row);
        }
    }
    out.table("losses.csv", t);
    Ok(out)
}
