//! The report stage: gathers what the cache holds for a profile into results/<profile>/ as tidy
//! CSV tables and a summary in the form of the paper's Appendix 1-Table 1 (mean ± SEM over seeds,
//! dataset x condition). Only this stage writes into results/.
use super::cache::Cache;
use super::plan::{Plan, StageKind};
use super::run::PipelineError;
use crate::report::tables::{mean_sem, pm, Cell, Table};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn read_csv(path: &Path) -> Result<Vec<BTreeMap<String, String>>, PipelineError> {
    let mut r = csv::Reader::from_path(path).map_err(|e| PipelineError::Stage { stage: "report".into(), msg: format!("{}: {e}", path.display()) })?;
    let header: Vec<String> = r.headers().map_err(|e| PipelineError::Stage { stage: "report".into(), msg: format!("{}: {e}", path.display()) })?.iter().map(String::from).collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| PipelineError::Stage { stage: "report".into(), msg: format!("{}: {e}", path.display()) })?;
        rows.push(header.iter().cloned().zip(rec.iter().map(String::from)).collect());
    }
    Ok(rows)
}

fn num(row: &BTreeMap<String, String>, k: &str) -> f64 {
    row.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// Writes results/<profile>/{losses,linear_probe,summary}.csv and summary.md from every complete
/// stage of the plan. Returns the files written.
pub fn report(plan: &Plan, cache: &Cache, results: &Path) -> Result<Vec<PathBuf>, PipelineError> {
    let out = results.join(&plan.profile.name);
    let mut losses = Table::new(&["dataset", "condition", "seed", "epoch", "L_img", "L_KL", "L_real", "L_NREM", "L_fake", "d_real", "d_fake"]);
    let mut probe = Table::new(&["dataset", "condition", "seed", "epoch", "test_acc", "test_acc_ref", "train_acc", "test_loss"]);
    // (dataset, condition) -> final-epoch accuracies over seeds; plus the untrained baseline.
    let mut finals: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    // dataset -> condition -> seed -> (epoch, test accuracy): the curves of Fig. 4c,d.
    let mut curves: BTreeMap<String, BTreeMap<String, BTreeMap<i64, Vec<(f64, f64)>>>> = BTreeMap::new();
    let mut loss_figures: Vec<(String, String)> = Vec::new();
    let mut untrained: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let epochs = plan.profile.epochs;
    for node in &plan.nodes {
        let dir = cache.dir(node.kind.name(), &node.key);
        if !cache.is_complete(node.kind.name(), &node.key) {
            continue;
        }
        let (d, c, s) = (node.dataset.clone(), node.condition.clone().unwrap_or_default(), node.seed.unwrap_or(0) as i64);
        match node.kind {
            StageKind::Train => {
                if s == plan.profile.seeds[0] as i64 {
                    let path = dir.join("losses.csv");
                    let text = std::fs::read_to_string(&path).map_err(|source| PipelineError::Io { path: path.clone(), source })?;
                    let svg = crate::report::figures::losses_per_epoch(&text, &path).map_err(|e| PipelineError::Stage { stage: "report".into(), msg: e.to_string() })?;
                    loss_figures.push((format!("figures/losses_{d}_{c}_seed{s}.svg"), svg));
                }
                for r in read_csv(&dir.join("losses.csv"))? {
                    let f = |k| Cell::Float(num(&r, k), 6);
                    losses.push(vec![Cell::Text(d.clone()), Cell::Text(c.clone()), Cell::Int(s), Cell::Int(num(&r, "epoch") as i64), f("L_img"), f("L_KL"), f("L_real"), f("L_NREM"), f("L_fake"), f("d_real"), f("d_fake")]);
                }
            }
            StageKind::Probe => {
                let rows = read_csv(&dir.join("probe.csv"))?;
                let Some(last) = rows.last() else { continue };
                let epoch = node.epoch.unwrap_or(0);
                let acc = num(last, "test_acc");
                curves.entry(d.clone()).or_default().entry(c.clone()).or_default().entry(s).or_default().push((epoch as f64, acc));
                probe.push(vec![Cell::Text(d.clone()), Cell::Text(c.clone()), Cell::Int(s), Cell::Int(epoch as i64), Cell::Float(acc, 2), Cell::Float(num(last, "test_acc_ref"), 2), Cell::Float(num(last, "train_acc"), 2), Cell::Float(num(last, "test_loss"), 4)]);
                if epoch == epochs {
                    finals.entry((d.clone(), c.clone())).or_default().push(acc);
                }
                if epoch == 0 {
                    untrained.entry(d.clone()).or_default().push(acc);
                }
            }
            StageKind::Data => {}
        }
    }
    let mut summary = Table::new(&["dataset", "condition", "epoch", "seeds", "test_acc_mean", "test_acc_sem"]);
    let mut md = Table::new(&["dataset", "condition", &format!("linear separability after {epochs} epochs (%)"), "seeds"]);
    for ((d, c), v) in &finals {
        let (m, s) = mean_sem(v);
        summary.push(vec![Cell::Text(d.clone()), Cell::Text(c.clone()), Cell::Int(epochs as i64), Cell::Int(v.len() as i64), Cell::Float(m, 2), Cell::Float(s, 2)]);
        md.push(vec![Cell::Text(d.clone()), Cell::Text(c.clone()), Cell::Text(pm(m, s, 2)), Cell::Int(v.len() as i64)]);
    }
    for (d, v) in &untrained {
        let (m, s) = mean_sem(v);
        summary.push(vec![Cell::Text(d.clone()), Cell::Text("untrained".into()), Cell::Int(0), Cell::Int(v.len() as i64), Cell::Float(m, 2), Cell::Float(s, 2)]);
        md.push(vec![Cell::Text(d.clone()), Cell::Text("untrained encoder (epoch 0, all conditions)".into()), Cell::Text(pm(m, s, 2)), Cell::Int(v.len() as i64)]);
    }
    let mut written = Vec::new();
    let mut put = |name: &str, text: String| -> Result<(), PipelineError> {
        let p = out.join(name);
        crate::atomic::write_atomic(&p, text.as_bytes()).map_err(|source| PipelineError::Io { path: p.clone(), source })?;
        written.push(p);
        Ok(())
    };
    put("losses.csv", losses.to_csv())?;
    for (d, by_cond) in &curves {
        let runs: Vec<crate::report::figures::Runs> = by_cond.iter().map(|(c, seeds)| (c.clone(), seeds.values().cloned().collect())).collect();
        put(&format!("figures/accuracy_{d}.svg"), crate::report::figures::accuracy_vs_epoch(&format!("{d}: linear separability (mean ± SEM over seeds)"), &runs))?;
    }
    for (name, svg) in loss_figures {
        put(&name, svg)?;
    }
    put("linear_probe.csv", probe.to_csv())?;
    put("summary.csv", summary.to_csv())?;
    let p = &plan.profile;
    put(
        "summary.md",
        format!(
            "# {} profile: linear separability of the latent code\n\nTest accuracy of a linear read-out of z (SGD lr {}, batch {}, {} epochs) after {} training epochs, mean ± SEM over seeds {:?}. Appendix 1-Table 1 of the paper has this form.\n\n{}",
            p.name, p.eval.probe_lr, p.eval.probe_batch, p.eval.probe_epochs, p.epochs, p.seeds, md.to_markdown()
        ),
    )?;
    Ok(written)
}
