//! claims.csv of both sides: the claims whose verdict changed, listed before any number. The
//! table restates other tables' means, so its numbers are not compared cell by cell; what a
//! reader needs first is which of the paper's findings now reads otherwise.
use super::error::DiffError;
use serde::Serialize;
use std::collections::BTreeMap;

/// A claim on a dataset whose verdict differs between the sides (None: no row on that side).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictChange {
    pub dataset: String,
    pub claim: String,
    pub old: Option<String>,
    pub new: Option<String>,
    /// Our difference a - b on each side, as written (empty where not evaluated).
    pub old_effect: String,
    pub new_effect: String,
}

/// The verdicts' comparison, or why it was not made.
#[derive(Debug, Default, Serialize)]
pub struct Verdicts {
    /// Whether either side has a claims table.
    pub compared: bool,
    pub notes: Vec<String>,
    pub changes: Vec<VerdictChange>,
}

/// One side's claims.csv: (dataset, claim) -> (verdict, effect), in file order.
type Rows = Vec<((String, String), (String, String))>;

fn rows(bytes: &[u8], file: &str) -> Result<Rows, DiffError> {
    let bad = |msg: String| DiffError::Malformed { file: file.into(), msg };
    let mut r = csv::Reader::from_reader(bytes);
    let header: Vec<String> = r.headers().map_err(|e| bad(e.to_string()))?.iter().map(String::from).collect();
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| bad(format!("no column {name}")));
    let (d, c, v, e) = (col("dataset")?, col("claim")?, col("verdict")?, col("effect")?);
    let mut out: Rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        let key = (rec[d].to_string(), rec[c].to_string());
        if out.iter().any(|(k, _)| *k == key) {
            let line = rec.position().map_or(0, |p| p.line());
            return Err(bad(format!("line {line} repeats dataset {} claim {}", key.0, key.1)));
        }
        let effect = if &rec[e] == "NA" { String::new() } else { rec[e].to_string() };
        out.push((key, (rec[v].to_string(), effect)));
    }
    Ok(out)
}

/// Compares the two sides' claims.csv (None: the side has none).
pub fn compare(a: Option<(&[u8], &str)>, b: Option<(&[u8], &str)>) -> Result<Verdicts, DiffError> {
    let mut out = Verdicts { compared: a.is_some() || b.is_some(), ..Verdicts::default() };
    let (ra, rb) = match (a, b) {
        (None, None) => return Ok(out),
        (Some((bytes, file)), None) => {
            out.notes.push(format!("{file} exists on side a only"));
            (rows(bytes, file)?, Vec::new())
        }
        (None, Some((bytes, file))) => {
            out.notes.push(format!("{file} is new on side b"));
            (Vec::new(), rows(bytes, file)?)
        }
        (Some((x, fx)), Some((y, fy))) => (rows(x, fx)?, rows(y, fy)?),
    };
    let old: BTreeMap<&(String, String), &(String, String)> = ra.iter().map(|(k, v)| (k, v)).collect();
    let new: BTreeMap<&(String, String), &(String, String)> = rb.iter().map(|(k, v)| (k, v)).collect();
    // Side b's order, then the rows only side a has.
    let keys = rb.iter().map(|(k, _)| k).chain(ra.iter().map(|(k, _)| k).filter(|k| !new.contains_key(k)));
    for k in keys {
        let (o, n) = (old.get(k), new.get(k));
        if o.map(|v| &v.0) == n.map(|v| &v.0) {
            continue;
        }
        let effect = |v: Option<&&(String, String)>| v.map(|v| v.1.clone()).unwrap_or_default();
        out.changes.push(VerdictChange {
            dataset: k.0.clone(),
            claim: k.1.clone(),
            old: o.map(|v| v.0.clone()),
            new: n.map(|v| v.0.clone()),
            old_effect: effect(o),
            new_effect: effect(n),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str =
        "dataset,claim,effect,verdict,note\nd,rem,3.59,consistent,x\nd,mix,NA,not evaluated,y\nd,gone,1.00,holds,\n";

    #[test]
    fn only_changed_verdicts_are_listed_with_both_effects() {
        let b = A.replace("3.59,consistent", "-1.20,not seen").replace("d,gone,1.00,holds,\n", "d,new,2.00,holds,\n");
        let v = compare(Some((A.as_bytes(), "a")), Some((b.as_bytes(), "b"))).unwrap();
        let got: Vec<_> = v.changes.iter().map(|c| (c.claim.as_str(), c.old.as_deref(), c.new.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("rem", Some("consistent"), Some("not seen")),
                ("new", None, Some("holds")),
                ("gone", Some("holds"), None)
            ]
        );
        assert_eq!((v.changes[0].old_effect.as_str(), v.changes[0].new_effect.as_str()), ("3.59", "-1.20"));
        // The same verdict with another effect is no verdict change.
        let moved = A.replace("3.59,consistent", "4.00,consistent");
        assert!(compare(Some((A.as_bytes(), "a")), Some((moved.as_bytes(), "b"))).unwrap().changes.is_empty());
    }

    #[test]
    fn a_table_without_its_columns_or_with_a_repeated_row_is_an_error_naming_it() {
        let e = compare(Some((b"dataset,claim\nd,x\n", "HEAD:claims.csv")), None).unwrap_err().to_string();
        assert!(e.contains("HEAD:claims.csv") && e.contains("no column verdict"), "{e}");
        let twice = format!("{A}d,rem,1.00,holds,\n");
        let e = compare(None, Some((twice.as_bytes(), "claims.csv"))).unwrap_err().to_string();
        assert!(e.contains("line 5 repeats dataset d claim rem"), "{e}");
    }
}
