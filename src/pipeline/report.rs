//! The report: gathers what the cache holds for a profile into results/<profile>/. A generic
//! loop: every registered kind turns its complete nodes (in report order) into tables, figures
//! and a summary section (its `Kind::report`); this file writes them. Only the report writes
//! into results/.
use super::cache::Cache;
use super::config::Profile;
use super::error::PipelineError;
use super::plan::Plan;
use super::stage::{Coord, Item, Node};
use super::stages::KINDS;
use crate::files::At;
use crate::report::tables::{mean_sem, pm, Cell, Table};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a kind's report sees besides its own nodes.
pub struct ReportCtx<'a> {
    pub profile: &'a Profile,
    pub plan: &'a Plan,
    pub cache: &'a Cache,
}

impl ReportCtx<'_> {
    /// The committed directory of `node`'s input of `kind` (e.g. a PCA's dataset).
    pub fn input_dir(&self, node: &Node, kind: &super::stage::Kind) -> Option<PathBuf> {
        node.inputs.iter().map(|&j| &self.plan.nodes[j]).find(|n| n.is(kind)).map(|n| self.cache.dir(kind.name, &n.key))
    }
}

/// One kind's share of the report.
#[derive(Default)]
pub struct Contribution {
    /// CSV tables by file name.
    pub tables: Vec<(String, Table)>,
    /// Other files (figures) by path under results/<profile>/.
    pub files: Vec<(String, Vec<u8>)>,
    /// Its section of summary.md (Markdown; empty for none).
    pub summary: String,
}

impl Contribution {
    /// Adds a table, unless it has no rows (a table of nothing is not written).
    pub fn table(&mut self, name: &str, t: Table) {
        if !t.is_empty() {
            self.tables.push((name.into(), t));
        }
    }
}

/// Writes results/<profile>/ from every complete stage of the plan. Returns the files written.
pub fn report(plan: &Plan, cache: &Cache, results: &Path) -> Result<Vec<PathBuf>, PipelineError> {
    let ctx = ReportCtx { profile: &plan.profile, plan, cache };
    let p = &plan.profile;
    let mut md = format!(
        "# {} profile\n\nMean ± SEM over seeds {:?}; {} training epochs. Tables in CSV next to this file, figures in figures/.\n\n",
        p.name, p.seeds, p.epochs
    );
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for kind in KINDS {
        let mut items: Vec<Item> = plan
            .of(kind)
            .filter(|n| cache.is_complete(kind.name, &n.key))
            .map(|n| Item { node: n, dir: cache.dir(kind.name, &n.key) })
            .collect();
        items.sort_by(|a, b| report_order(p, &a.node.at, &b.node.at));
        let c = (kind.report)(&ctx, &items)?;
        files.extend(c.tables.into_iter().map(|(name, t)| (name, t.to_csv().into_bytes())));
        files.extend(c.files);
        md += &c.summary;
    }
    files.push(("summary.md".into(), md.into_bytes()));
    let out = results.join(&p.name);
    let mut written = Vec::new();
    for (name, bytes) in &files {
        let path = out.join(name);
        crate::files::atomic::write_atomic(&path, bytes).map_err(PipelineError::from)?;
        written.push(path);
    }
    Ok(written)
}

/// Rows appear by dataset (profile order), then the untrained networks before the conditions
/// (profile order), then seed (profile order), then epoch: the order of the paper's tables.
fn report_order(p: &Profile, a: &Coord, b: &Coord) -> Ordering {
    let rank = |c: &Coord| {
        let d = p.datasets.iter().position(|(n, _)| *n == c.dataset).unwrap_or(usize::MAX);
        let cond = match &c.condition {
            None => 0,
            Some(name) => 1 + p.conditions.iter().position(|k| k.name == *name).unwrap_or(usize::MAX - 1),
        };
        let seed = c.seed.map(|s| p.seeds.iter().position(|&x| x == s).unwrap_or(usize::MAX)).unwrap_or(0);
        (d, cond, seed, c.epoch.unwrap_or(0))
    };
    rank(a).cmp(&rank(b))
}

/// A CSV file as rows of column -> value.
pub fn read_csv(path: &Path) -> Result<Vec<BTreeMap<String, String>>, PipelineError> {
    let bad = |e: csv::Error| PipelineError::Format { path: path.into(), msg: e.to_string() };
    let mut r = csv::Reader::from_path(path).map_err(bad)?;
    let header: Vec<String> = r.headers().map_err(bad)?.iter().map(String::from).collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(bad)?;
        rows.push(header.iter().cloned().zip(rec.iter().map(String::from)).collect());
    }
    Ok(rows)
}

/// A JSON file as `T`.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PipelineError> {
    let text = std::fs::read_to_string(path).at(path)?;
    serde_json::from_str(&text).map_err(|e| PipelineError::Format { path: path.into(), msg: e.to_string() })
}

/// A numeric column of a CSV row (NaN where absent or not a number: printed as NA).
pub fn num(row: &BTreeMap<String, String>, k: &str) -> f64 {
    row.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// The leading cells of every tidy table: dataset, condition, seed, epoch.
pub fn head(at: &Coord) -> Vec<Cell> {
    vec![
        Cell::Text(at.dataset.clone()),
        Cell::Text(at.condition_name()),
        Cell::Int(at.seed.unwrap_or(0) as i64),
        Cell::Int(at.epoch.unwrap_or(0) as i64),
    ]
}

/// dataset -> (condition, values of its seeds), conditions in first-seen order.
pub type BySeeds<T> = BTreeMap<String, Vec<(String, Vec<T>)>>;

pub fn push_seed<T>(map: &mut BySeeds<T>, dataset: &str, condition: &str, v: T) {
    let conds = map.entry(dataset.to_string()).or_default();
    match conds.iter_mut().find(|(c, _)| c == condition) {
        Some((_, vs)) => vs.push(v),
        None => conds.push((condition.to_string(), vec![v])),
    }
}

/// A summary table: mean ± SEM of each picked value over each (dataset, condition)'s seeds.
pub fn pm_rows<T>(by: &BySeeds<T>, cols: &[(&str, fn(&T) -> f64, usize)]) -> Table {
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

/// Pretty JSON with a final newline: how stages store small results.
pub fn to_json(v: &impl serde::Serialize) -> String {
    // Plain structs of numbers and strings always serialise.
    serde_json::to_string_pretty(v).expect("a result serialises to JSON") + "\n"
}
