//! The linear probe (Fig. 4, Appendix 1-Table 1): a linear read-out of the frozen z trained with
//! the authors' SGD settings, per probed epoch of every run and for each seed's untrained
//! networks; beside it, on the same features, the closed-form ridge read-out (eval/ridge.rs),
//! which gives one steady number where the SGD probe moves from one probe epoch to the next.
//! Also keeps both read-outs, which the occlusion sweep reuses.
use super::data::{self, Split};
use super::{trained_states, untrained_states, Networks};
use crate::eval::probe::Linear;
use crate::eval::Ridge;
use crate::pipeline::error::PipelineError;
use crate::pipeline::rows::{self as report, push_seed, BySeeds};
use crate::pipeline::stage::{decode, Contribution, Env, Inputs, Item, Kind, Planner, ReportCtx, Unit};
use crate::report::figures::{self, CurvePanel, Runs, UNTRAINED};
use crate::report::tables::{mean_sem, Cell, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The probe's table of every run and epoch, and its summary: the last epoch's means over
/// seeds (which `pad diff` therefore counts once, pipeline::diff::changes::RESTATED).
pub const PROBE_TABLE: &str = "linear_probe.csv";
pub const SUMMARY_TABLE: &str = "summary.csv";

/// The read-out a probe stage trains (weight [classes, nz], bias [classes]).
pub const CLASSIFIER: &str = "classifier.safetensors";
/// The ridge read-out it fits (eval::Ridge's file), and its accuracies (lambda,train_acc,test_acc).
pub const RIDGE: &str = "ridge.safetensors";
pub const RIDGE_CSV: &str = "ridge.csv";

pub static KIND: Kind = Kind {
    name: "probe",
    // 2: also writes the trained read-out (classifier.safetensors).
    // 3: also fits the ridge read-out (ridge.safetensors, ridge.csv).
    // 4: engine::direct computes the networks' middle layers (new summation order).
    // 5: every product of engine::gemm summed by one rule on every CPU (engine/gemm/blocks.rs).
    version: 5,
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
    /// Penalty of the ridge read-out beside the paper's probe.
    pub ridge_lambda: f64,
    #[serde(flatten)]
    pub net: Networks,
}

fn plan(p: &mut Planner) {
    let e = p.profile.eval.clone();
    let mut states = untrained_states(p);
    states.extend(trained_states(p, |pr| pr.probed_epochs().into_iter().filter(|&e| e > 0).collect()));
    for s in states {
        let stage = Probe {
            lr: e.probe_lr,
            batch: e.probe_batch,
            epochs: e.probe_epochs,
            seed: e.probe_seed,
            ridge_lambda: e.ridge_lambda,
            net: s.net,
        };
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
            .map_err(PipelineError::from)?;
        // The ridge read-out of the very same features: no second encoding.
        let classes = ds.classes.len();
        let (ridge, score) =
            crate::eval::ridge_readout((ftr.view(), ty), (fte.view(), vy), classes, self.ridge_lambda)?;
        let write = |name: &str, bytes: &[u8]| crate::files::atomic::write_atomic(&work.join(name), bytes);
        write(RIDGE, &ridge.to_bytes()).map_err(PipelineError::from)?;
        write(RIDGE_CSV, crate::eval::ridge::score_csv(&score).as_bytes()).map_err(PipelineError::from)
    }
}

/// The ridge read-out of a stage's probe input.
pub fn ridge(inputs: &Inputs) -> Result<Ridge, PipelineError> {
    Ok(Ridge::read(&inputs.need(&KIND)?.join(RIDGE))?)
}

/// How the two read-outs are named in tables and figures.
pub fn readout_names(p: &crate::pipeline::config::Profile) -> [String; 2] {
    let e = &p.eval;
    [
        format!("paper probe (SGD lr {}, {} epochs, raw z)", e.probe_lr, e.probe_epochs),
        format!("ridge read-out (standardised z, λ = {})", e.ridge_lambda),
    ]
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

/// One probed network state's accuracies (%): the paper probe's and the ridge read-out's.
#[derive(Clone, Copy, Debug)]
struct Accuracy {
    probe: f64,
    ridge: f64,
}

/// Per read-out: dataset -> condition -> seed -> (epoch, accuracy).
type Curves = [BTreeMap<String, BTreeMap<String, SeedCurves>>; 2];

/// linear_probe.csv, the accuracy-vs-epoch figures, summary.csv and the Fig. 4 section.
fn report(ctx: &ReportCtx, items: &[Item]) -> Result<Contribution, PipelineError> {
    let p = ctx.profile;
    let mut t = Table::new(&[
        "dataset",
        "condition",
        "seed",
        "epoch",
        "test_acc",
        "test_acc_ref",
        "train_acc",
        "test_loss",
        "ridge_acc",
        "ridge_train_acc",
    ]);
    let mut curves: Curves = Default::default();
    // dataset -> seed -> the untrained networks' accuracies.
    let mut untrained: BTreeMap<String, BTreeMap<u64, Accuracy>> = BTreeMap::new();
    let mut finals: BySeeds<Accuracy> = BTreeMap::new();
    for it in items {
        let rows = report::read_csv(&it.dir.join("probe.csv"))?;
        let Some(last) = rows.last() else { continue };
        let ridge = report::read_csv(&it.dir.join(RIDGE_CSV))?;
        let ridge = ridge.first();
        let at = &it.node.at;
        let (epoch, seed) = (at.epoch.unwrap_or(0), at.seed.unwrap_or(0));
        let ridge_num = |k| ridge.map_or(f64::NAN, |r| report::num(r, k));
        let acc = Accuracy { probe: report::num(last, "test_acc"), ridge: ridge_num("test_acc") };
        let mut row = report::head(at);
        row.extend([
            Cell::Float(acc.probe, 2),
            Cell::Float(report::num(last, "test_acc_ref"), 2),
            Cell::Float(report::num(last, "train_acc"), 2),
            Cell::Float(report::num(last, "test_loss"), 4),
            Cell::Float(acc.ridge, 2),
            Cell::Float(ridge_num("train_acc"), 2),
        ]);
        t.push(row);
        if at.is_untrained() {
            untrained.entry(at.dataset.clone()).or_default().insert(seed, acc);
            push_seed(&mut finals, &at.dataset, UNTRAINED, acc);
            continue;
        }
        for (k, a) in [acc.probe, acc.ridge].into_iter().enumerate() {
            let runs = curves[k].entry(at.dataset.clone()).or_default().entry(at.condition_name()).or_default();
            runs.entry(seed).or_default().push((epoch as f64, a));
        }
        if epoch == p.epochs {
            push_seed(&mut finals, &at.dataset, &at.condition_name(), acc);
        }
    }
    let mut out = Contribution::default();
    out.table(PROBE_TABLE, t);
    let names = readout_names(p);
    let order: Vec<String> = p.conditions.iter().map(|c| c.name.clone()).collect();
    let datasets: std::collections::BTreeSet<&String> = curves.iter().flat_map(|c| c.keys()).collect();
    for d in datasets {
        let u = untrained.get(d);
        let panels: Vec<CurvePanel> = [0, 1]
            .into_iter()
            .map(|k| {
                let pick = |a: &Accuracy| if k == 0 { a.probe } else { a.ridge };
                let conds = curves[k].get(d).map(|c| condition_runs(c, &order, u, pick)).unwrap_or_default();
                (format!("{d}: {}", names[k]), conds)
            })
            .collect();
        // The paper's numbers are its probe's: marked on that panel only.
        let marks = [crate::pipeline::claims::marks(ctx.claims, p, d, crate::report::claims::Metric::Probe)];
        out.files.push((
            format!("figures/accuracy_{d}.svg"),
            figures::accuracy_vs_epoch_with_paper(&panels, &marks, &ctx.colors()).into_bytes(),
        ));
    }
    // summary.csv is written even when nothing is probed yet: the file a script looks for first.
    let mut csv = Table::new(&[
        "dataset",
        "condition",
        "epoch",
        "seeds",
        "test_acc_mean",
        "test_acc_sem",
        "ridge_acc_mean",
        "ridge_acc_sem",
    ]);
    for (d, conds) in &finals {
        for (c, v) in conds {
            let (m, s) = mean_sem(&v.iter().map(|a| a.probe).collect::<Vec<_>>());
            let (rm, rs) = mean_sem(&v.iter().map(|a| a.ridge).collect::<Vec<_>>());
            let epoch = if c == UNTRAINED { 0 } else { p.epochs };
            csv.push(vec![
                Cell::Text(d.clone()),
                Cell::Text(c.clone()),
                Cell::Int(epoch as i64),
                Cell::Int(v.len() as i64),
                Cell::Float(m, 2),
                Cell::Float(s, 2),
                Cell::Float(rm, 2),
                Cell::Float(rs, 2),
            ]);
        }
    }
    out.tables.push((SUMMARY_TABLE.into(), csv));
    let cols: [report::Column<Accuracy>; 2] =
        [("paper probe (SGD), test %", |a| a.probe, 2), ("ridge read-out, test %", |a| a.ridge, 2)];
    out.summary = format!(
        "## Linear separability (Fig. 4, Appendix 1-Table 1)\n\nTest accuracy (%) of two linear read-outs of the same frozen z after the last epoch; \"untrained\" is every run's epoch 0. The {}, as the authors' fig4 script trains it (its last probe epoch), is the paper's number; it moves from one probe epoch to the next, and its level depends on the scale of z. The {} regresses one-hot targets on z standardised with the training set's mean and deviation, in closed form: one deterministic number per network, blind to the scale of each dimension. Curves of both: figures/accuracy_<dataset>.svg.\n\n{}\n",
        names[0],
        names[1],
        report::pm_rows(&finals, &cols).to_markdown()
    );
    Ok(out)
}

/// Each condition's runs for one read-out, every run starting at its seed's untrained networks
/// (epoch 0); the untrained networks first, as a condition of their own (one point per seed).
/// Conditions in `order` (the profile's).
fn condition_runs(
    by_cond: &BTreeMap<String, SeedCurves>,
    order: &[String],
    untrained: Option<&BTreeMap<u64, Accuracy>>,
    pick: impl Fn(&Accuracy) -> f64,
) -> Vec<Runs> {
    let start = |s: &u64| untrained.and_then(|u| u.get(s)).map(|a| (0.0, pick(a)));
    let mut runs: Vec<Runs> = Vec::new();
    if let Some(u) = untrained {
        runs.push((UNTRAINED.into(), u.values().map(|a| vec![(0.0, pick(a))]).collect()));
    }
    let rank = |c: &String| order.iter().position(|o| o == c).unwrap_or(order.len());
    let mut conds: Vec<(&String, &SeedCurves)> = by_cond.iter().collect();
    conds.sort_by_key(|(c, _)| rank(c));
    runs.extend(conds.into_iter().map(|(c, seeds)| {
        let curves = seeds.iter().map(|(s, pts)| start(s).into_iter().chain(pts.iter().copied()).collect());
        (c.clone(), curves.collect())
    }));
    runs
}
