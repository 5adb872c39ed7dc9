//! What `pad diff` found, as plain data: every output format prints this.
use super::noise::Verdict;
use super::table::Num;
use crate::pipeline::stages::probe::{PROBE_TABLE, SUMMARY_TABLE};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// The whole comparison of side a (old) with side b (new).
#[derive(Debug, Serialize)]
pub struct Diff {
    pub a: String,
    pub b: String,
    pub profile: String,
    /// The paper's claims whose verdict changed (claims.csv), shown before any number.
    pub verdicts: super::verdicts::Verdicts,
    /// pipeline.toml: the profile and the sections it uses.
    pub config: Section,
    /// Stage versions and counts (stages.csv of the report).
    pub stages: Section,
    pub tables: Vec<TableDiff>,
}

/// Tables that restate another table's numbers, with the table they restate: summary.csv holds
/// linear_probe.csv's last-epoch means over seeds (pipeline::stages::probe). A changed probe value
/// shows in both; the totals count it once.
pub const RESTATED: &[(&str, &str)] = &[(SUMMARY_TABLE, PROBE_TABLE)];

impl Diff {
    /// Judged changes (means over seeds, rows of mean ± SEM tables) beyond noise.
    pub fn beyond_noise(&self) -> usize {
        self.judged().filter(|l| l.verdict == Some(Verdict::BeyondNoise)).count()
    }

    /// Changed values, per seed and per row (means not counted twice).
    pub fn changed_values(&self) -> usize {
        self.counted_lines().filter(|l| matches!(l.what, What::Seed | What::Row)).count()
    }

    /// The tables left out of the totals: those whose source table is in the comparison too.
    pub fn restatements(&self) -> Vec<(&str, &'static str)> {
        let present = |name: &str| self.tables.iter().any(|t| t.table == name);
        RESTATED.iter().filter(|(t, of)| present(t) && present(of)).map(|(t, of)| (*t, *of)).collect()
    }

    fn counted_lines(&self) -> impl Iterator<Item = &Line> {
        let skip = self.restatements();
        self.tables.iter().filter(move |t| !skip.iter().any(|(name, _)| *name == t.table)).flat_map(|t| &t.lines)
    }

    fn judged(&self) -> impl Iterator<Item = &Line> {
        self.counted_lines().filter(|l| matches!(l.what, What::Mean | What::Row))
    }
}

/// Key-by-key changes of a file, with what could not be compared.
#[derive(Debug, Default, Serialize)]
pub struct Section {
    /// Why something was not compared (e.g. "not recorded at HEAD~3").
    pub notes: Vec<String>,
    pub changes: Vec<KeyChange>,
}

/// One key whose value differs (None: not set on that side).
#[derive(Debug, Serialize)]
pub struct KeyChange {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// How a table appears on the two sides.
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum TableStatus {
    Compared,
    Added {
        rows: usize,
    },
    Removed {
        rows: usize,
    },
    /// Rows are identified by different columns: they cannot be matched.
    KeysDiffer {
        a: Vec<String>,
        b: Vec<String>,
    },
}

/// One table's changes.
#[derive(Debug, Serialize)]
pub struct TableDiff {
    pub table: String,
    #[serde(flatten)]
    pub status: TableStatus,
    /// The key columns (of side b where it has the table).
    pub keys: Vec<String>,
    pub columns_added: Vec<String>,
    pub columns_removed: Vec<String>,
    pub lines: Vec<Line>,
}

impl TableDiff {
    pub fn is_unchanged(&self) -> bool {
        self.status == TableStatus::Compared
            && self.lines.is_empty()
            && self.columns_added.is_empty()
            && self.columns_removed.is_empty()
    }
}

/// What a line of a table's changes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum What {
    /// One seed's value (a table with a seed column); carries its group's verdict.
    Seed,
    /// The mean over the seeds of a group (the key without the seed).
    Mean,
    /// A row of a table without seeds.
    Row,
    RowAdded,
    RowRemoved,
}

/// One changed value, mean, or added/removed row.
#[derive(Debug, Serialize)]
pub struct Line {
    pub what: What,
    /// (key column, value); a mean's seed is "mean".
    #[serde(serialize_with = "as_map")]
    pub key: Vec<(String, String)>,
    /// Seeds averaged on sides a and b (means only).
    pub seeds: Option<[usize; 2]>,
    /// The value column ("" for added and removed rows).
    pub column: String,
    pub old: Option<Num>,
    pub new: Option<Num>,
    pub delta: Option<f64>,
    /// 2 SE of the change (the threshold of "beyond noise").
    pub two_se: Option<f64>,
    pub verdict: Option<Verdict>,
    /// Decimals to print computed numbers with (the table's precision, one more for means).
    #[serde(skip)]
    pub decimals: usize,
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

/// Pairs as a JSON object in their order.
fn as_map<S: Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        m.serialize_entry(k, v)?;
    }
    m.end()
}
