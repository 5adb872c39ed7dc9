//! The report stage: gathers what the cache holds for a profile into results/<profile>/ as tidy
//! CSV tables, the paper's figures (SVG, dream grids as PNG) and a summary in the form of the
//! paper's tables (mean ± SEM over seeds). Only this stage writes into results/.
use super::cache::Cache;
use super::error::PipelineError;
use super::plan::{Node, Plan, StageKind};
use crate::eval::{Distances, PcaProjection, SweepRow};
use crate::files::At;
use crate::report::figures::{self, DistanceRatios, Projection, Runs};
use crate::report::tables::{mean_sem, pm, Cell, Table};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn report_err(path: &Path, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Stage { stage: "report".into(), msg: format!("{}: {e}", path.display()) }
}

fn read_csv(path: &Path) -> Result<Vec<BTreeMap<String, String>>, PipelineError> {
    let mut r = csv::Reader::from_path(path).map_err(|e| report_err(path, e))?;
    let header: Vec<String> = r.headers().map_err(|e| report_err(path, e))?.iter().map(String::from).collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| report_err(path, e))?;
        rows.push(header.iter().cloned().zip(rec.iter().map(String::from)).collect());
    }
    Ok(rows)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PipelineError> {
    let text = std::fs::read_to_string(path).at(path)?;
    serde_json::from_str(&text).map_err(|e| report_err(path, e))
}

fn num(row: &BTreeMap<String, String>, k: &str) -> f64 {
    row.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// (dataset, condition) with the values of its seeds, in first-seen order of conditions.
type BySeeds<T> = BTreeMap<String, Vec<(String, Vec<T>)>>;

fn push_seed<T>(map: &mut BySeeds<T>, dataset: &str, condition: &str, v: T) {
    let conds = map.entry(dataset.to_string()).or_default();
    match conds.iter_mut().find(|(c, _)| c == condition) {
        Some((_, vs)) => vs.push(v),
        None => conds.push((condition.to_string(), vec![v])),
    }
}

/// Everything the report collects while walking the cache.
#[derive(Default)]
struct Gathered {
    losses: Option<Table>,
    probe: Option<Table>,
    occlusion: Option<Table>,
    distances: Option<Table>,
    fid: Option<Table>,
    /// dataset -> condition -> seed -> (epoch, test accuracy): Fig. 4c,d.
    curves: BTreeMap<String, BTreeMap<String, BTreeMap<u64, Vec<(f64, f64)>>>>,
    /// dataset -> seed -> untrained probe accuracy (epoch 0 of every condition's curve).
    untrained_acc: BTreeMap<String, BTreeMap<u64, f64>>,
    finals: BySeeds<f64>,
    sweeps: BySeeds<Vec<SweepRow>>,
    dists: BySeeds<Distances>,
    /// dataset -> kind -> (condition, epoch, values over seeds).
    fids: BTreeMap<String, BTreeMap<String, Vec<(String, usize, Vec<f64>)>>>,
    /// Extra files (figures) by name.
    files: Vec<(String, Vec<u8>)>,
}

fn table<'a>(t: &'a mut Option<Table>, header: &[&str]) -> &'a mut Table {
    t.get_or_insert_with(|| Table::new(header))
}

fn head(node: &Node) -> Vec<Cell> {
    vec![
        Cell::Text(node.dataset.clone()),
        Cell::Text(node.condition_name()),
        Cell::Int(node.seed.unwrap_or(0) as i64),
        Cell::Int(node.epoch.unwrap_or(0) as i64),
    ]
}

impl Gathered {
    fn train(&mut self, plan: &Plan, node: &Node, dir: &Path) -> Result<(), PipelineError> {
        let path = dir.join("losses.csv");
        let (d, c, s) = (&node.dataset, node.condition_name(), node.seed.unwrap_or(0));
        if s == plan.profile.seeds[0] {
            let text = std::fs::read_to_string(&path).at(&path)?;
            let svg = figures::losses_per_epoch(&text, &path).map_err(|e| report_err(&path, e))?;
            self.files.push((format!("figures/losses_{d}_{c}_seed{s}.svg"), svg.into_bytes()));
        }
        let t = table(
            &mut self.losses,
            &[
                "dataset",
                "condition",
                "seed",
                "epoch",
                "L_img",
                "L_KL",
                "L_real",
                "L_NREM",
                "L_fake",
                "d_real",
                "d_fake",
            ],
        );
        for r in read_csv(&path)? {
            let f = |k| Cell::Float(num(&r, k), 6);
            t.push(vec![
                Cell::Text(d.clone()),
                Cell::Text(c.clone()),
                Cell::Int(s as i64),
                Cell::Int(num(&r, "epoch") as i64),
                f("L_img"),
                f("L_KL"),
                f("L_real"),
                f("L_NREM"),
                f("L_fake"),
                f("d_real"),
                f("d_fake"),
            ]);
        }
        Ok(())
    }

    fn probe(&mut self, plan: &Plan, node: &Node, dir: &Path) -> Result<(), PipelineError> {
        let rows = read_csv(&dir.join("probe.csv"))?;
        let Some(last) = rows.last() else { return Ok(()) };
        let (epoch, acc, seed) = (node.epoch.unwrap_or(0), num(last, "test_acc"), node.seed.unwrap_or(0));
        let mut row = head(node);
        row.extend([
            Cell::Float(acc, 2),
            Cell::Float(num(last, "test_acc_ref"), 2),
            Cell::Float(num(last, "train_acc"), 2),
            Cell::Float(num(last, "test_loss"), 4),
        ]);
        table(
            &mut self.probe,
            &["dataset", "condition", "seed", "epoch", "test_acc", "test_acc_ref", "train_acc", "test_loss"],
        )
        .push(row);
        if node.is_untrained() {
            self.untrained_acc.entry(node.dataset.clone()).or_default().insert(seed, acc);
            push_seed(&mut self.finals, &node.dataset, "untrained", acc);
            return Ok(());
        }
        self.curves
            .entry(node.dataset.clone())
            .or_default()
            .entry(node.condition_name())
            .or_default()
            .entry(seed)
            .or_default()
            .push((epoch as f64, acc));
        if epoch == plan.profile.epochs {
            push_seed(&mut self.finals, &node.dataset, &node.condition_name(), acc);
        }
        Ok(())
    }

    fn occlusion(&mut self, node: &Node, dir: &Path) -> Result<(), PipelineError> {
        let mut sweep = Vec::new();
        let t = table(
            &mut self.occlusion,
            &["dataset", "condition", "seed", "epoch", "p", "test_acc", "test_acc_ref", "test_loss"],
        );
        for r in read_csv(&dir.join("occlusion.csv"))? {
            let row = SweepRow {
                p: num(&r, "p"),
                test_loss: num(&r, "test_loss"),
                test_acc: num(&r, "test_acc"),
                test_acc_ref: num(&r, "test_acc_ref"),
            };
            let mut cells = head(node);
            cells.extend([
                Cell::Float(row.p, 1),
                Cell::Float(row.test_acc, 2),
                Cell::Float(row.test_acc_ref, 2),
                Cell::Float(row.test_loss, 4),
            ]);
            t.push(cells);
            sweep.push(row);
        }
        push_seed(&mut self.sweeps, &node.dataset, &node.condition_name(), sweep);
        Ok(())
    }

    fn distances(&mut self, node: &Node, dir: &Path) -> Result<(), PipelineError> {
        let d: Distances = read_json(&dir.join("distances.json"))?;
        let mut cells = head(node);
        let f = |v| Cell::Float(v, 6);
        cells.extend([
            Cell::Text(d.definition.clone()),
            f(d.intra),
            f(d.inter),
            f(d.clean_occluded),
            f(d.ratio_intra_inter),
            f(d.ratio_occluded_inter),
        ]);
        table(
            &mut self.distances,
            &[
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
            ],
        )
        .push(cells);
        push_seed(&mut self.dists, &node.dataset, &node.condition_name(), d);
        Ok(())
    }

    /// The PCA scatter of the first seed's networks (Fig. 6b-d).
    fn pca(&mut self, plan: &Plan, node: &Node, dir: &Path, class_names: &[String]) -> Result<(), PipelineError> {
        let s = node.seed.unwrap_or(0);
        if s != plan.profile.seeds[0] {
            return Ok(());
        }
        let p: PcaProjection = read_json(&dir.join("pca.json"))?;
        let (d, c, e) = (&node.dataset, node.condition_name(), node.epoch.unwrap_or(0));
        let title = format!("{d} {c} seed {s} epoch {e}: clean (dots), 30% occluded (circles)");
        self.files.push((
            format!("figures/pca_{d}_{c}_seed{s}.svg"),
            figures::pca_scatter(&title, &projection(&p), class_names, 4).into_bytes(),
        ));
        Ok(())
    }

    /// The first seed's dream grids (Fig. 3): rows real, NREM, REM.
    fn dreams(&mut self, plan: &Plan, node: &Node, dir: &Path) -> Result<(), PipelineError> {
        let s = node.seed.unwrap_or(0);
        if s != plan.profile.seeds[0] {
            return Ok(());
        }
        let path = dir.join("dreams.png");
        let png = std::fs::read(&path).at(&path)?;
        self.files.push((
            format!(
                "figures/dreams_{}_{}_seed{s}_epoch{}.png",
                node.dataset,
                node.condition_name(),
                node.epoch.unwrap_or(0)
            ),
            png,
        ));
        Ok(())
    }

    fn fid(&mut self, node: &Node, dir: &Path) -> Result<(), PipelineError> {
        let t = table(
            &mut self.fid,
            &["dataset", "condition", "seed", "epoch", "kind", "fid", "samples_real", "samples_dreams"],
        );
        for r in read_csv(&dir.join("fid.csv"))? {
            let kind = r.get("kind").cloned().unwrap_or_default();
            let mut cells = head(node);
            cells.extend([
                Cell::Text(kind.clone()),
                Cell::Float(num(&r, "fid"), 3),
                Cell::Int(num(&r, "samples_real") as i64),
                Cell::Int(num(&r, "samples_dreams") as i64),
            ]);
            t.push(cells);
            let bars = self.fids.entry(node.dataset.clone()).or_default().entry(kind.to_uppercase()).or_default();
            let (c, e) = (node.condition_name(), node.epoch.unwrap_or(0));
            match bars.iter_mut().find(|b| b.0 == c && b.1 == e) {
                Some(b) => b.2.push(num(&r, "fid")),
                None => bars.push((c, e, vec![num(&r, "fid")])),
            }
        }
        Ok(())
    }
}

/// Writes results/<profile>/: tables (CSV), figures (SVG, PNG) and summary.md, from every
/// complete stage of the plan. Returns the files written.
pub fn report(plan: &Plan, cache: &Cache, results: &Path) -> Result<Vec<PathBuf>, PipelineError> {
    let mut g = Gathered::default();
    let mut class_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in &plan.nodes {
        if !cache.is_complete(node.kind.name(), &node.key) {
            continue;
        }
        let dir = cache.dir(node.kind.name(), &node.key);
        match node.kind {
            StageKind::Data => {
                let ds = crate::data::load_artifact(&dir.join(super::run::ARTIFACT))?;
                class_names.insert(node.dataset.clone(), ds.classes.clone());
            }
            StageKind::Train => g.train(plan, node, &dir)?,
            StageKind::Probe => g.probe(plan, node, &dir)?,
            StageKind::Occlusion => g.occlusion(node, &dir)?,
            StageKind::Distances => g.distances(node, &dir)?,
            StageKind::Pca => {
                g.pca(plan, node, &dir, class_names.get(&node.dataset).map(Vec::as_slice).unwrap_or(&[]))?
            }
            StageKind::Dreams => g.dreams(plan, node, &dir)?,
            StageKind::FidReal => {}
            StageKind::Fid => g.fid(node, &dir)?,
        }
    }
    write_all(plan, g, &results.join(&plan.profile.name))
}

/// The report's plain inputs from evaluation results.
fn projection(p: &PcaProjection) -> Projection<'_> {
    Projection { labels: &p.labels, clean: &p.clean, occluded: &p.occluded, explained: p.explained }
}

fn occlusion_curves(conds: &[(String, Vec<Vec<SweepRow>>)]) -> Vec<Runs> {
    conds
        .iter()
        .map(|(c, runs)| (c.clone(), runs.iter().map(|r| r.iter().map(|x| (x.p, x.test_acc)).collect()).collect()))
        .collect()
}

fn distance_ratios(conds: &[(String, Vec<Distances>)]) -> Vec<(String, Vec<DistanceRatios>)> {
    let ratios =
        |d: &Distances| DistanceRatios { intra_inter: d.ratio_intra_inter, occluded_inter: d.ratio_occluded_inter };
    conds.iter().map(|(c, ds)| (c.clone(), ds.iter().map(ratios).collect())).collect()
}

fn figures_of(g: &mut Gathered) {
    for (d, by_cond) in &g.curves {
        let untrained = g.untrained_acc.get(d);
        let runs: Vec<Runs> = by_cond
            .iter()
            .map(|(c, seeds)| {
                // Every condition's curve starts at its seed's untrained network (epoch 0).
                let curves = seeds
                    .iter()
                    .map(|(s, pts)| {
                        untrained
                            .and_then(|u| u.get(s))
                            .map(|&a| (0.0, a))
                            .into_iter()
                            .chain(pts.iter().copied())
                            .collect()
                    })
                    .collect();
                (c.clone(), curves)
            })
            .collect();
        g.files.push((
            format!("figures/accuracy_{d}.svg"),
            figures::accuracy_vs_epoch(&format!("{d}: linear separability (mean ± SEM over seeds)"), &runs)
                .into_bytes(),
        ));
    }
    for (d, conds) in &g.sweeps {
        g.files.push((
            format!("figures/occlusion_{d}.svg"),
            figures::accuracy_vs_occlusion(
                &format!("{d}: robustness to occlusion (last epoch; mean ± SEM)"),
                &occlusion_curves(conds),
            )
            .into_bytes(),
        ));
    }
    for (d, conds) in &g.dists {
        g.files.push((
            format!("figures/distances_{d}.svg"),
            figures::distance_ratio_bars(&distance_ratios(conds)).into_bytes(),
        ));
    }
    for (d, kinds) in &g.fids {
        let panels: Vec<(String, Vec<(String, usize, Vec<f64>)>)> =
            kinds.iter().map(|(k, b)| (k.clone(), b.clone())).collect();
        g.files.push((format!("figures/fid_{d}.svg"), figures::fid_bars(d, &panels).into_bytes()));
    }
}

fn write_all(plan: &Plan, mut g: Gathered, out: &Path) -> Result<Vec<PathBuf>, PipelineError> {
    figures_of(&mut g);
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), PipelineError> {
        let p = out.join(name);
        crate::files::atomic::write_atomic(&p, bytes)?;
        written.push(p);
        Ok(())
    };
    let tables = [
        ("losses.csv", &g.losses),
        ("linear_probe.csv", &g.probe),
        ("occlusion.csv", &g.occlusion),
        ("distances.csv", &g.distances),
        ("fid.csv", &g.fid),
    ];
    for (name, t) in tables {
        if let Some(t) = t {
            put(name, t.to_csv().as_bytes())?;
        }
    }
    for (name, bytes) in &g.files {
        put(name, bytes)?;
    }
    let (summary, md) = summary(plan, &g);
    put("summary.csv", summary.as_bytes())?;
    put("summary.md", md.as_bytes())?;
    Ok(written)
}

/// Mean ± SEM cells of `pick` over each (dataset, condition)'s seeds.
fn pm_rows<T>(by: &BySeeds<T>, cols: &[(&str, fn(&T) -> f64, usize)]) -> Table {
    let mut header = vec!["dataset", "condition"];
    header.extend(cols.iter().map(|c| c.0));
    header.push("seeds");
    let mut t = Table::new(&header);
    for (d, conds) in by {
        for (c, vs) in conds {
            let mut row = vec![Cell::Text(d.clone()), Cell::Text(c.clone())];
            for (_, pick, digits) in cols {
                let (m, s) = mean_sem(&vs.iter().map(pick).collect::<Vec<_>>());
                row.push(Cell::Text(pm(m, s, *digits)));
            }
            row.push(Cell::Int(vs.len() as i64));
            t.push(row);
        }
    }
    t
}

fn acc_at(rows: &[SweepRow], p: f64) -> f64 {
    rows.iter().find(|r| (r.p - p).abs() < 1e-9).map(|r| r.test_acc).unwrap_or(f64::NAN)
}

/// summary.csv (final linear separability per dataset x condition) and summary.md (every table).
fn summary(plan: &Plan, g: &Gathered) -> (String, String) {
    let p = &plan.profile;
    let mut csv = Table::new(&["dataset", "condition", "epoch", "seeds", "test_acc_mean", "test_acc_sem"]);
    for (d, conds) in &g.finals {
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
    let mut md = format!("# {} profile\n\nMean ± SEM over seeds {:?}; {} training epochs. Tables in CSV next to this file, figures in figures/.\n\n", p.name, p.seeds, p.epochs);
    md += &format!(
        "## Linear separability (Fig. 4, Appendix 1-Table 1)\n\nTest accuracy (%) of a linear read-out of z (SGD lr {}, batch {}, {} epochs) after the last epoch; \"untrained\" is every run's epoch 0. Curves: figures/accuracy_<dataset>.svg.\n\n{}\n",
        p.eval.probe_lr, p.eval.probe_batch, p.eval.probe_epochs,
        pm_rows(&g.finals, &[("test accuracy (%)", |v: &f64| *v, 2)]).to_markdown()
    );
    if !g.sweeps.is_empty() {
        md += &format!(
            "## Robustness to occlusion (Fig. 5)\n\nThe clean read-out on test images occluded with probability p (tile 4, grey), last epoch. Curves: figures/occlusion_<dataset>.svg.\n\n{}\n",
            pm_rows(&g.sweeps, &[("p = 0", |r: &Vec<SweepRow>| acc_at(r, 0.0), 2), ("p = 0.2", |r| acc_at(r, 0.2), 2), ("p = 0.4", |r| acc_at(r, 0.4), 2), ("p = 0.6", |r| acc_at(r, 0.6), 2), ("p = 0.8", |r| acc_at(r, 0.8), 2)]).to_markdown()
        );
    }
    if !g.dists.is_empty() {
        md += &format!(
            "## Latent organisation (Fig. 6e,f)\n\nMean Euclidean distances of z as Methods 4.4.4 defines them (definition \"{}\"; the authors' fig6 script uses batch MSEs instead): intra-class / inter-class, and clean / 30%-occluded pairs over inter-class. Last epoch; bars: figures/distances_<dataset>.svg; PCA: figures/pca_*.svg.\n\n{}\n",
            crate::eval::distances::DEFINITION,
            pm_rows(&g.dists, &[("intra / inter", |d: &Distances| d.ratio_intra_inter, 3), ("clean-occluded / inter", |d| d.ratio_occluded_inter, 3)]).to_markdown()
        );
    }
    if !g.fids.is_empty() {
        let mut t = Table::new(&["dataset", "dreams", "condition", "epoch", "FID", "seeds"]);
        for (d, kinds) in &g.fids {
            for (k, bars) in kinds {
                for (c, e, v) in bars {
                    let (m, s) = mean_sem(v);
                    t.push(vec![
                        Cell::Text(d.clone()),
                        Cell::Text(k.clone()),
                        Cell::Text(c.clone()),
                        Cell::Int(*e as i64),
                        Cell::Text(pm(m, s, 2)),
                        Cell::Int(v.len() as i64),
                    ]);
                }
            }
        }
        md += &format!(
            "## Realism of dreams (Fig. 3d)\n\nFID between {} real training images and {} dreams ({} Inception-v3 weights); fid.csv has the sample counts of every value. Bars: figures/fid_<dataset>.svg; dream grids: figures/dreams_*.png.\n\n{}\n",
            p.eval.fid_samples, p.eval.fid_samples, p.eval.fid_layout, t.to_markdown()
        );
    }
    (csv.to_csv(), md)
}
