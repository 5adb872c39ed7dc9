//! Reading what stages wrote and turning it into report rows: shared by the kinds' reports.
use super::error::PipelineError;
use super::stage::Coord;
use crate::files::At;
use crate::report::tables::{mean_sem, pm, Cell, Table};
use std::collections::BTreeMap;
use std::path::Path;

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

/// A summary column: its header, the value it picks from one seed's result, and its decimals.
pub type Column<T> = (&'static str, fn(&T) -> f64, usize);

/// A summary table: mean ± SEM of each picked value over each (dataset, condition)'s seeds.
pub fn pm_rows<T>(by: &BySeeds<T>, cols: &[Column<T>]) -> Table {
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
