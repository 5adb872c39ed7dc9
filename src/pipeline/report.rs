//! The report: gathers what the cache holds for a profile into results/<profile>/. A generic
//! loop: every registered kind turns its complete nodes (in report order) into tables, figures
//! and a summary section (its `Kind::report`); this file writes them. Only the report writes
//! into results/.
//!
//! Besides the kinds' tables it writes `stages.csv`, the provenance of the numbers: every stage
//! kind with its version, how many stages of it the profile plans and how many the report found
//! complete. Old commits' code is not at hand when results are compared (`pad diff`), so this is
//! how a change in numbers is shown next to a change in the code that made them.
use super::cache::Cache;
use super::claims::Claims;
use super::config::Profile;
use super::error::PipelineError;
use super::plan::Plan;
use super::stage::{Coord, Item, ReportCtx};
use super::stages::KINDS;
use crate::report::tables::{Cell, Table};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Writes results/<profile>/ from every complete stage of the plan, with the verdicts of the
/// paper's claims where a claims file is given. Returns the files written.
pub fn report(
    plan: &Plan,
    cache: &Cache,
    results: &Path,
    claims: Option<&Claims>,
) -> Result<Vec<PathBuf>, PipelineError> {
    let ctx = ReportCtx { profile: &plan.profile, nodes: &plan.nodes, cache, claims };
    let p = &plan.profile;
    let mut md = format!(
        "# {} profile\n\nMean ± SEM over seeds {:?}; {} training epochs. Tables in CSV next to this file, figures in figures/.\n\n",
        p.name, p.seeds, p.epochs
    );
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for kind in KINDS {
        // A resumable stage (training) reports what its partial directory holds so far: the
        // curves of a run still training are kept in the tables as it goes.
        let mut items: Vec<Item> = plan
            .of(kind)
            .filter_map(|n| {
                if cache.is_complete(kind.name, &n.key) {
                    return Some(Item { node: n, dir: cache.dir(kind.name, &n.key), complete: true });
                }
                let work = cache.work_dir(kind.name, &n.key);
                (kind.resumable && work.is_dir()).then_some(Item { node: n, dir: work, complete: false })
            })
            .collect();
        items.sort_by(|a, b| report_order(p, &a.node.at, &b.node.at));
        let c = (kind.report)(&ctx, &items)?;
        files.extend(c.tables.into_iter().map(|(name, t)| (name, t.to_csv().into_bytes())));
        files.extend(c.files);
        md += &c.summary;
    }
    md += &in_progress(plan, cache);
    if let Some(c) = claims {
        let (csv, section) = super::claims::write(c, p, &csv_tables(&files))?;
        files.push((super::claims::TABLE.into(), csv.into_bytes()));
        md = super::claims::replace_section(&md, &section);
    }
    files.push((PROVENANCE.into(), provenance(plan, cache).to_csv().into_bytes()));
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

/// The summary section of trainings not yet complete, with the epochs their partial directory
/// holds (empty when every training is complete, so a finished study's report has none).
fn in_progress(plan: &Plan, cache: &Cache) -> String {
    let kind = &super::stages::train::KIND;
    let mut rows = Vec::new();
    for n in plan.of(kind).filter(|n| !cache.is_complete(kind.name, &n.key)) {
        let work = cache.work_dir(kind.name, &n.key);
        let done = super::rows::read_csv(&work.join("losses.csv")).map_or(0, |r| r.len());
        rows.push(format!("| {} | {done} of {} |\n", n.at.label(), plan.profile.epochs));
    }
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "## Training in progress\n\nRuns not yet complete, with the epochs trained so far (their losses are in losses.csv; read-outs and other evaluations follow each run's last epoch).\n\n| run | epochs |\n|---|---|\n{}\n",
        rows.concat()
    )
}

/// The CSV tables among a report's files, by name.
fn csv_tables(files: &[(String, Vec<u8>)]) -> BTreeMap<String, String> {
    files
        .iter()
        .filter(|(name, _)| name.ends_with(".csv"))
        .map(|(name, bytes)| (name.clone(), String::from_utf8_lossy(bytes).into_owned()))
        .collect()
}

/// The provenance table's file name in results/<profile>/.
pub const PROVENANCE: &str = "stages.csv";

/// One row per registered kind (registration order): stage, version, planned, reported.
fn provenance(plan: &Plan, cache: &Cache) -> Table {
    let mut t = Table::new(&["stage", "version", "planned", "reported"]);
    for kind in KINDS {
        let planned = plan.of(kind).count();
        let reported = plan.of(kind).filter(|n| cache.is_complete(kind.name, &n.key)).count();
        t.push(vec![
            Cell::Text(kind.name.into()),
            Cell::Int(kind.version as i64),
            Cell::Int(planned as i64),
            Cell::Int(reported as i64),
        ]);
    }
    t
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
