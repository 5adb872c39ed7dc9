//! The linear probe (Fig. 4, Appendix 1-Table 1): a linear read-out of the frozen z trained with
//! the authors' SGD settings, per probed epoch of every run and for each seed's untrained
//! networks. Also keeps the read-out, which the occlusion sweep reuses.
use super::data::{self, Split};
use super::{trained_states, untrained_states, Networks};
use crate::eval::probe::Linear;
use crate::pipeline::error::PipelineError;
use crate::pipeline::rows::{self as report, push_seed, BySeeds};
use crate::pipeline::stage::{decode, Contribution, Env, Inputs, Item, Kind, Planner, ReportCtx, Unit};
use crate::report::figures::{self, Runs};
use crate::report::tables::{mean_sem, Cell, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The read-out a probe stage trains (weight [classes, nz], bias [classes]).
pub const CLASSIFIER: &str = "classifier.safetensors";

pub static KIND: Kind = Kind {
    name: "probe",
    // 2: also writes the trained read-out (classifier.safetensors).
    version: 2,
    about: "linear read-out of z per probed epoch and for the untrained networks (Fig. 4)",
    resumable: false,
    plan,
    decode: decode::<Probe>,
    report,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub lr: f32,
    pub batch: usize,
    pub epochs: usize,
    pub seed: u64,
    #[serde(flatten)]
    pub net: Networks,
}

fn plan(p: &mut Planner) {
    let e = p.profile.eval.clone();
    let mut states = untrained_states(p);
    states.extend(trained_states(p, |pr| pr.probed_epochs().into_iter().filter(|&e| e > 0).collect()));
    for s in states {
        let stage =
            Probe { lr: e.probe_lr, batch: e.probe_batch, epochs: e.probe_epochs, seed: e.probe_seed, net: s.net };
        p.add(stage, s.inputs, s.at);
    }
}

impl Unit for Probe {
    fn kind() -> &'static Kind {
        &KIND
    }

    fn compute(&self, inputs: &Inputs, work: &Path, _: &Env) -> Result<(), PipelineError> {
        let ds = data::dataset(inputs)?;
        let (enc, _) = super::networks(&self.net, inputs, ds.channels)?;
        let ((train_x, ty), (test_x, vy)) = (data::split(&ds, Split::Train)?, data::split(&ds, Split::Test)?);
        let (ftr, fte) = (crate::eval::encode(&enc, train_x, None), crate::eval::encode(&enc, test_x, None));
        let cfg = crate::eval::ProbeConfig { lr: self.lr, batch: self.batch, epochs: self.epochs, seed: self.seed };
        let (clf, hist) = crate::eval::linear_probe(ftr.view(), ty, fte.view(), vy, ds.classes.len(), &cfg);
        let path = work.join("probe.csv");
        crate::files::atomic::write_atomic(&path, crate::eval::probe::history_csv(&hist).as_bytes())
            .map_err(PipelineError::from)?;
        let tensors = BTreeMap::from([
            ("weight".to_string(), (clf.w.shape().to_vec(), clf.w.iter().copied().collect())),
            ("bias".to_string(), (clf.b.shape().to_vec(), clf.b.to_vec())),
        ]);
        let path = work.join(CLASSIFIER);
        crate::files::atomic::write_atomic(&path, &crate::model::checkpoint::to_bytes(&tensors, &BTreeMap::new()))
            .map_err(PipelineError::from)
    }
}

/// The read-out of a stage's probe input.
pub fn classifier(inputs: &Inputs) -> Result<Linear, PipelineError> {
    let path = inputs.need(&KIND)?.join(CLASSIFIER);
    let f = crate::model::checkpoint::read_file(&path)?;
    let bad = |msg: String| PipelineError::Format { path: path.clone(), msg };
    let get = |name: &str| f.tensors.get(name).ok_or_else(|| bad(format!("no tensor {name}")));
    let ((ws, w), (bs, b)) = (get("weight")?, get("bias")?);
    if ws.len() != 2 || bs.as_slice() != [ws[0]] {
        return Err(bad(format!("weight {ws:?} and bias {bs:?} are not a linear read-out")));
    }
    let w = ndarray::Array2::from_shape_vec((ws[0], ws[1]), w.clone()).map_err(|e| bad(e.to_string()))?;
    Ok(Linear { w, b: ndarray::Array1::from_vec(b.clone()) })
}

/// seed -> (epoch, test accuracy) of one condition.
type SeedCurves = BTreeMap<u64, Vec<(f64, f64)>>;

/// linear_probe.csv, the accuracy-vs-epoch figures, summary.csv and the Fig. 4 section.
fn report(ctx: &ReportCtx, items: &[Item]) -> Result<Contribution, PipelineError> {
    let p = ctx.profile;
    let mut t =
        Table::new(&["dataset", "condition", "seed", "epoch", "test_acc", "test_acc_ref", "train_acc", "test_loss"]);
    // dataset -> condition -> seed -> (epoch, test accuracy); dataset -> seed -> untrained accuracy.
    let mut curves: BTreeMap<String, BTreeMap<String, SeedCurves>> = BTreeMap::new();
    let mut untrained: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    let mut finals: BySeeds<f64> = BTreeMap::new();
    for it in items {
        let rows = report::read_csv(&it.dir.join("probe.csv"))?;
        let Some(last) = rows.last() else { continue };
        let at = &it.node.at;
        let (epoch, acc, seed) = (at.epoch.unwrap_or(0), report::num(last, "test_acc"), at.seed.unwrap_or(0));
        let mut row = report::head(at);
        row.extend([
            Cell::Float(acc, 2),
            Cell::Float(report::num(last, "test_acc_ref"), 2),
            Cell::Float(report::num(last, "train_acc"), 2),
            Cell::Float(report::num(last, "test_loss"), 4),
        ]);
        t.push(row);
        if at.is_untrained() {
            untrained.entry(at.dataset.clone()).or_default().insert(seed, acc);
            push_seed(&mut finals, &at.dataset, "untrained", acc);
            continue;
        }
        let runs = curves.entry(at.dataset.clone()).or_default().entry(at.condition_name()).or_default();
        runs.entry(seed).or_default().push((epoch as f64, acc));
        if epoch == p.epochs {
            push_seed(&mut finals, &at.dataset, &at.condition_name(), acc);
        }
    }
    let mut out = Contribution::default();
    out.table("linear_probe.csv", t);
    for (d, by_cond) in &curves {
        let u = untrained.get(d);
        let runs: Vec<Runs> = by_cond
            .iter()
            .map(|(c, seeds)| {
                // Every condition's curve starts at its seed's untrained network (epoch 0).
                let start = |s: &u64| u.and_then(|u| u.get(s)).map(|&a| (0.0, a));
                let curves = seeds.iter().map(|(s, pts)| start(s).into_iter().chain(pts.iter().copied()).collect());
                (c.clone(), curves.collect())
            })
            .collect();
        let title = format!("{d}: linear separability (mean ± SEM over seeds)");
        out.files.push((format!("figures/accuracy_{d}.svg"), figures::accuracy_vs_epoch(&title, &runs).into_bytes()));
    }
    // summary.csv is written even when nothing is probed yet: the file a script looks for first.
    let mut csv = Table::new(&["dataset", "condition", "epoch", "seeds", "test_acc_mean", "test_acc_sem"]);
    for (d, conds) in &finals {
        for (c, v) in conds {
            let (m, s) = mean_sem(v);
            let epoch = if c == "untrained" { 0 } else { p.epochs };
            csv.push(vec![
                Cell::Text(d.clone()),
                Cell::Text(c.clone()),
                Cell::Int(epoch as i64),
                Cell::Int(v.len() as i64),
                Cell::Float(m, 2),
                Cell::Float(s, 2),
            ]);
        }
    }
    out.tables.push(("summary.csv".into(), csv));
    out.summary = format!(
        "## Linear separability (Fig. 4, Appendix 1-Table 1)\n\nTest accuracy (%) of a linear read-out of z (SGD lr {}, batch {}, {} epochs) after the last epoch; \"untrained\" is every run's epoch 0. Curves: figures/accuracy_<dataset>.svg.\n\n{}\n",
        p.eval.probe_lr,
        p.eval.probe_batch,
        p.eval.probe_epochs,
        report::pm_rows(&finals, &[("test accuracy (%)", |v: &f64| *v, 2)]).to_markdown()
    );
    Ok(out)
}
