//! `pad diff` end to end: resolve the two sides, read and compare every table of
//! results/<profile>/, the experiment file and the stages' provenance.
use super::changes::{Diff, Section};
use super::compare;
use super::error::DiffError;
use super::source::{Layout, Source};
use super::table::{self, Parsed};
use crate::pipeline::claims::TABLE as CLAIMS;
use crate::pipeline::error::PipelineError;
use crate::pipeline::report::PROVENANCE;
use std::path::Path;

/// What to compare.
#[derive(Debug, Clone)]
pub struct Options {
    /// Side a: a revision or a directory (default HEAD).
    pub a: Option<String>,
    /// Side b: a revision or a directory (default the working tree).
    pub b: Option<String>,
    pub layout: Layout,
    /// Only these tables (file names, ".csv" optional); each must exist on both sides.
    pub tables: Vec<String>,
}

pub fn diff(o: &Options) -> Result<Diff, PipelineError> {
    let a = Source::resolve(o.a.as_deref().unwrap_or("HEAD"), &o.layout)?;
    let b = match &o.b {
        Some(arg) => Source::resolve(arg, &o.layout)?,
        None => Source::work_tree(&o.layout),
    };
    let want_claims = o.tables.is_empty() || o.tables.iter().any(|t| t == CLAIMS || format!("{t}.csv") == CLAIMS);
    let verdicts = if want_claims { verdicts(&a, &b)? } else { Default::default() };
    let mut tables = Vec::new();
    for name in table_names(&a, &b, o)? {
        let (ta, tb) = (read_table(&a, &name)?, read_table(&b, &name)?);
        tables.push(compare::table(&name, ta.as_ref(), tb.as_ref()));
    }
    Ok(Diff {
        config: config(&a, &b, &o.layout.profile)?,
        stages: stages(&a, &b)?,
        a: a.label,
        b: b.label,
        profile: o.layout.profile.clone(),
        verdicts,
        tables,
    })
}

/// claims.csv of both sides, compared by verdict.
fn verdicts(a: &Source, b: &Source) -> Result<super::verdicts::Verdicts, DiffError> {
    let read = |s: &Source| -> Result<Option<(Vec<u8>, String)>, DiffError> {
        let path = s.results.join(CLAIMS);
        Ok(s.read(&path)?.map(|bytes| (bytes, s.name(&path))))
    };
    let (ra, rb) = (read(a)?, read(b)?);
    fn side(r: &Option<(Vec<u8>, String)>) -> Option<(&[u8], &str)> {
        r.as_ref().map(|(b, n)| (b.as_slice(), n.as_str()))
    }
    super::verdicts::compare(side(&ra), side(&rb))
}

/// The tables to compare: those asked for (which both sides must have), else every table either
/// side has, the provenance table and the claims' verdicts (compared by verdict) aside.
fn table_names(a: &Source, b: &Source, o: &Options) -> Result<Vec<String>, DiffError> {
    let list = |s: &Source| {
        s.tables()?.ok_or_else(|| DiffError::NoResults {
            side: s.label.clone(),
            profile: o.layout.profile.clone(),
            path: s.results.display().to_string(),
        })
    };
    let (la, lb) = (list(a)?, list(b)?);
    if o.tables.is_empty() {
        let mut all: Vec<String> = la.iter().chain(&lb).filter(|n| *n != PROVENANCE && *n != CLAIMS).cloned().collect();
        all.sort();
        all.dedup();
        return Ok(all);
    }
    let mut names = Vec::new();
    for t in &o.tables {
        let name = if t.ends_with(".csv") { t.clone() } else { format!("{t}.csv") };
        if name == CLAIMS {
            continue;
        }
        for (s, l) in [(a, &la), (b, &lb)] {
            if !l.contains(&name) {
                return Err(DiffError::MissingTable {
                    side: s.label.clone(),
                    path: s.name(&s.results.join(&name)),
                    known: l.join(", "),
                });
            }
        }
        names.push(name);
    }
    Ok(names)
}

fn read_table(s: &Source, name: &str) -> Result<Option<Parsed>, DiffError> {
    let path = s.results.join(name);
    s.read(&path)?.map(|bytes| table::parse(&bytes, &s.name(&path))).transpose()
}

/// The experiment file's changes for the profile, or why they could not be compared.
fn config(a: &Source, b: &Source, profile: &str) -> Result<Section, DiffError> {
    let mut sec = Section::default();
    let mut read = |s: &Source| -> Result<Option<toml::Table>, DiffError> {
        let Some(bytes) = s.read(&s.config)? else {
            sec.notes.push(format!("{}: not found at {}", s.config.display(), s.label));
            return Ok(None);
        };
        let t = super::config::parse(&bytes, &s.name(&s.config))?;
        if !super::config::has_profile(&t, profile) {
            sec.notes.push(format!("{}: profile {profile} is not defined at {}", s.config.display(), s.label));
        }
        Ok(Some(t))
    };
    let (ta, tb) = (read(a)?, read(b)?);
    if let (Some(ta), Some(tb)) = (ta, tb) {
        sec.changes = super::config::compare(&ta, &tb, profile);
    }
    Ok(sec)
}

/// Stage versions and counts from both sides' provenance tables, or where they are not recorded.
fn stages(a: &Source, b: &Source) -> Result<Section, DiffError> {
    let mut sec = Section::default();
    let mut read = |s: &Source| -> Result<Option<Parsed>, DiffError> {
        let t = read_table(s, PROVENANCE)?;
        if t.is_none() {
            let path = s.results.join(PROVENANCE);
            sec.notes.push(format!("not recorded at {} (no {})", s.label, Path::new(&path).display()));
        }
        Ok(t)
    };
    let (ta, tb) = (read(a)?, read(b)?);
    if let (Some(ta), Some(tb)) = (ta, tb) {
        sec.changes = super::provenance::compare(&ta, &tb);
    }
    Ok(sec)
}
