//! One table of side a against the same table of side b: rows matched by key, values compared
//! column by column, and every change judged against the noise of the seeds (noise.rs).
use super::changes::{Line, TableDiff, TableStatus, What};
use super::noise::{judge, judge_seeds, Judgement, Verdict};
use super::table::{Num, Parsed, Row};
use std::collections::{BTreeMap, BTreeSet};

/// The key column whose rows are repeats of one measurement.
const SEED: &str = "seed";

/// Compares a table present on at least one side.
pub fn table(name: &str, a: Option<&Parsed>, b: Option<&Parsed>) -> TableDiff {
    let empty = |status, keys: &[String]| TableDiff {
        table: name.into(),
        status,
        keys: keys.to_vec(),
        columns_added: Vec::new(),
        columns_removed: Vec::new(),
        lines: Vec::new(),
    };
    match (a, b) {
        (Some(a), Some(b)) if a.keys != b.keys => {
            empty(TableStatus::KeysDiffer { a: a.keys.clone(), b: b.keys.clone() }, &b.keys)
        }
        (Some(a), Some(b)) => compared(name, a, b),
        (None, Some(b)) => empty(TableStatus::Added { rows: b.rows.len() }, &b.keys),
        (Some(a), None) => empty(TableStatus::Removed { rows: a.rows.len() }, &a.keys),
        (None, None) => empty(TableStatus::Compared, &[]),
    }
}

/// Two tables with the same key columns.
fn compared(name: &str, a: &Parsed, b: &Parsed) -> TableDiff {
    let common: Vec<&str> = b.values.iter().filter(|c| a.values.contains(c)).map(String::as_str).collect();
    let mut lines = match b.keys.iter().position(|k| k == SEED) {
        Some(seed) => seed_lines(a, b, &common, seed),
        None => row_lines(a, b, &common),
    };
    let (ia, ib) = (a.index(), b.index());
    let presence = |t: &Parsed, other: &BTreeMap<&[String], usize>, what: What| {
        t.rows
            .iter()
            .filter(|r| !other.contains_key(r.key.as_slice()))
            .map(|r| bare(what, named(&t.keys, &r.key)))
            .collect::<Vec<_>>()
    };
    lines.extend(presence(b, &ia, What::RowAdded));
    lines.extend(presence(a, &ib, What::RowRemoved));
    TableDiff {
        table: name.into(),
        status: TableStatus::Compared,
        keys: b.keys.clone(),
        columns_added: b.values.iter().filter(|c| !a.values.contains(c)).cloned().collect(),
        columns_removed: a.values.iter().filter(|c| !b.values.contains(c)).cloned().collect(),
        lines,
    }
}

/// A table of seeds: per group (the key without the seed) and column, the change of the mean over
/// seeds with its verdict, then each seed whose value changed, with the same verdict.
fn seed_lines(a: &Parsed, b: &Parsed, common: &[&str], seed: usize) -> Vec<Line> {
    let group_of = |r: &Row| [&r.key[..seed], &r.key[seed + 1..]].concat();
    // Groups in side b's order, then those only side a has.
    let mut order: Vec<Vec<String>> = Vec::new();
    let mut members: BTreeMap<Vec<String>, [Vec<usize>; 2]> = BTreeMap::new();
    for (side, t) in [(1, b), (0, a)] {
        for (i, r) in t.rows.iter().enumerate() {
            let g = group_of(r);
            let m = members.entry(g.clone()).or_insert_with(|| {
                order.push(g);
                [Vec::new(), Vec::new()]
            });
            m[side].push(i);
        }
    }
    let ia = a.index();
    let mut lines = Vec::new();
    for g in &order {
        let [ma, mb] = &members[g];
        if ma.is_empty() || mb.is_empty() {
            continue; // a group on one side only: its rows are listed as added or removed
        }
        let keys_of = |t: &Parsed, m: &[usize]| m.iter().map(|&i| t.rows[i].key.clone()).collect::<BTreeSet<_>>();
        let same_seeds = keys_of(a, ma) == keys_of(b, mb);
        for col in common {
            let (ca, cb) = (a.value_index(col).unwrap_or(0), b.value_index(col).unwrap_or(0));
            // Seeds present on both sides whose value changed: (row of a, row of b).
            let changed: Vec<(usize, usize)> = mb
                .iter()
                .filter_map(|&j| ia.get(b.rows[j].key.as_slice()).map(|&i| (i, j)))
                .filter(|&(i, j)| a.rows[i].values[ca].differs(&b.rows[j].values[cb]))
                .collect();
            if changed.is_empty() && same_seeds {
                continue;
            }
            let vals = |t: &Parsed, m: &[usize], c: usize| -> Vec<f64> {
                m.iter().map(|&i| t.rows[i].values[c].value.unwrap_or(f64::NAN)).collect()
            };
            let (j, means, n) = judge_seeds(&vals(a, ma, ca), &vals(b, mb, cb));
            if changed.is_empty() && means[0] == means[1] {
                continue; // seeds added or removed without moving the mean: listed as rows
            }
            let cells = ma.iter().map(|&i| &a.rows[i].values[ca]).chain(mb.iter().map(|&i| &b.rows[i].values[cb]));
            let d = cells.map(Num::decimals).max().unwrap_or(0) + 1;
            let mean_num = |m: Option<f64>| m.map(|x| Num { text: format!("{x:.d$}"), value: Some(x) });
            let mut key = named(&b.keys, &b.rows[mb[0]].key);
            key[seed].1 = "mean".into();
            lines.push(Line {
                what: What::Mean,
                key,
                seeds: Some(n),
                column: col.to_string(),
                old: mean_num(means[0]),
                new: mean_num(means[1]),
                delta: means[0].zip(means[1]).map(|(x, y)| y - x),
                two_se: j.two_se,
                verdict: Some(j.verdict),
                decimals: d,
            });
            for (i, k) in changed {
                let (old, new) = (&a.rows[i].values[ca], &b.rows[k].values[cb]);
                lines.push(value_line(What::Seed, named(&b.keys, &b.rows[k].key), col, old, new, j));
            }
        }
    }
    lines
}

/// A table without seeds: each changed value, judged by its SEM column where it has one
/// (`x_mean` or `x` beside `x_sem`).
fn row_lines(a: &Parsed, b: &Parsed, common: &[&str]) -> Vec<Line> {
    let ia = a.index();
    let has_sem = common.iter().any(|c| c.ends_with("_sem"));
    let mut lines = Vec::new();
    for rb in &b.rows {
        let Some(&i) = ia.get(rb.key.as_slice()) else { continue };
        let ra = &a.rows[i];
        for col in common {
            let (ca, cb) = (a.value_index(col).unwrap_or(0), b.value_index(col).unwrap_or(0));
            let (old, new) = (&ra.values[ca], &rb.values[cb]);
            if !old.differs(new) {
                continue;
            }
            let delta = old.value.zip(new.value).map(|(x, y)| y - x);
            let j = match sem_column(col, common) {
                Some(s) => {
                    let sem = |t: &Parsed, r: &Row| t.value_index(s).and_then(|c| r.values[c].value);
                    judge(delta, sem(a, ra), sem(b, rb))
                }
                None if has_sem => Judgement { two_se: None, verdict: Verdict::NotJudged },
                None => Judgement { two_se: None, verdict: Verdict::NoSeeds },
            };
            lines.push(value_line(What::Row, named(&b.keys, &rb.key), col, old, new, j));
        }
    }
    lines
}

/// The SEM column that goes with `col`, if both sides have it: x_mean -> x_sem, x -> x_sem.
fn sem_column<'a>(col: &str, common: &[&'a str]) -> Option<&'a str> {
    if col.ends_with("_sem") {
        return None;
    }
    let stem = col.strip_suffix("_mean").unwrap_or(col);
    let want = format!("{stem}_sem");
    common.iter().copied().find(|c| *c == want)
}

fn value_line(what: What, key: Vec<(String, String)>, col: &str, old: &Num, new: &Num, j: Judgement) -> Line {
    Line {
        what,
        key,
        seeds: None,
        column: col.into(),
        old: Some(old.clone()),
        new: Some(new.clone()),
        delta: old.value.zip(new.value).map(|(x, y)| y - x),
        two_se: j.two_se,
        verdict: Some(j.verdict),
        decimals: old.decimals().max(new.decimals()),
    }
}

/// A row added or removed.
fn bare(what: What, key: Vec<(String, String)>) -> Line {
    Line {
        what,
        key,
        seeds: None,
        column: String::new(),
        old: None,
        new: None,
        delta: None,
        two_se: None,
        verdict: None,
        decimals: 0,
    }
}

fn named(keys: &[String], values: &[String]) -> Vec<(String, String)> {
    keys.iter().cloned().zip(values.iter().cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::super::table::parse;
    use super::*;

    const A: &str = "dataset,condition,seed,epoch,acc,loss\n\
        d,pad,0,4,50.00,1.0\nd,pad,1,4,52.00,1.0\nd,pad,2,4,54.00,1.0\n\
        d,wo,0,4,40.00,2.0\nd,wo,1,4,42.00,2.0\nd,wo,2,4,44.00,2.0\n\
        d,one,0,4,30.00,3.0\n";

    fn diff(a: &str, b: &str) -> TableDiff {
        table("t.csv", Some(&parse(a.as_bytes(), "a").unwrap()), Some(&parse(b.as_bytes(), "b").unwrap()))
    }

    #[test]
    fn a_shifted_group_is_beyond_noise_a_jittered_one_within_and_unchanged_rows_are_silent() {
        // pad moves by +10 on every seed (SEM 1.155 each side: 2 SE = 3.27); wo's seed 0 by +1.
        let b = A.replace("50.00", "60.00").replace("52.00", "62.00").replace("54.00", "64.00");
        let b = b.replace("d,wo,0,4,40.00", "d,wo,0,4,41.00");
        let t = diff(A, &b);
        let means: Vec<&Line> = t.lines.iter().filter(|l| l.what == What::Mean).collect();
        assert_eq!(means.len(), 2, "{:#?}", t.lines);
        assert_eq!(means[0].key[1].1, "pad");
        assert_eq!(means[0].key[2], ("seed".into(), "mean".into()));
        assert_eq!(means[0].verdict, Some(Verdict::BeyondNoise));
        assert!((means[0].delta.unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(means[1].key[1].1, "wo");
        assert_eq!(means[1].verdict, Some(Verdict::WithinNoise));
        let seeds: Vec<&Line> = t.lines.iter().filter(|l| l.what == What::Seed).collect();
        assert_eq!(seeds.len(), 4);
        assert!(seeds.iter().all(|l| l.column == "acc"));
        assert_eq!(seeds[3].verdict, Some(Verdict::WithinNoise));
        // The unchanged loss column and the unchanged "one" condition say nothing.
        assert!(t.lines.iter().all(|l| l.column != "loss" && l.key[1].1 != "one"));
    }

    #[test]
    fn a_single_seed_is_not_judged_and_rows_and_columns_added_or_removed_are_listed() {
        let b = A.replace("d,one,0,4,30.00", "d,one,0,4,90.00").replace("d,pad,2,4,54.00,1.0\n", "");
        let b = b.replace("acc,loss", "acc,loss,ridge").replace(",1.0\n", ",1.0,5\n").replace(",2.0\n", ",2.0,5\n");
        let b = b.replace(",3.0\n", ",3.0,5\nd,new,0,4,1.00,1.0,5\n");
        let t = diff(A, &b);
        assert_eq!(t.columns_added, ["ridge"]);
        let one = t.lines.iter().find(|l| l.what == What::Mean && l.key[1].1 == "one").unwrap();
        assert_eq!(one.verdict, Some(Verdict::OneSeed));
        // pad lost seed 2: its mean moved (52 -> 51) and the row is listed as removed.
        let pad = t.lines.iter().find(|l| l.what == What::Mean && l.key[1].1 == "pad").unwrap();
        assert_eq!(pad.seeds, Some([3, 2]));
        let kinds: Vec<(What, String)> = t
            .lines
            .iter()
            .filter(|l| matches!(l.what, What::RowAdded | What::RowRemoved))
            .map(|l| (l.what, format!("{}/{}", l.key[1].1, l.key[2].1)))
            .collect();
        assert_eq!(kinds, [(What::RowAdded, "new/0".into()), (What::RowRemoved, "pad/2".into())]);
    }

    #[test]
    fn summary_tables_are_judged_by_their_sem_column() {
        let a = "dataset,condition,epoch,seeds,acc_mean,acc_sem\nd,pad,4,2,57.60,2.90\nd,wo,4,2,56.40,0.20\n";
        let b = "dataset,condition,epoch,seeds,acc_mean,acc_sem\nd,pad,4,2,59.60,2.90\nd,wo,4,3,58.40,0.30\n";
        let t = diff(a, b);
        let v: Vec<(String, String, Verdict)> =
            t.lines.iter().map(|l| (l.key[1].1.clone(), l.column.clone(), l.verdict.unwrap())).collect();
        assert_eq!(
            v,
            [
                ("pad".into(), "acc_mean".into(), Verdict::WithinNoise),
                ("wo".into(), "seeds".into(), Verdict::NotJudged),
                ("wo".into(), "acc_mean".into(), Verdict::BeyondNoise),
                ("wo".into(), "acc_sem".into(), Verdict::NotJudged),
            ]
        );
    }

    /// A probe value that moved shows in linear_probe.csv and again in summary.csv, which restates
    /// its means; the totals count it once, unless summary.csv is compared alone.
    #[test]
    fn a_restated_table_is_listed_but_not_counted_twice() {
        use super::super::changes::{Diff, Section};
        let probe_b = A.replace("50.00", "60.00").replace("52.00", "62.00").replace("54.00", "64.00");
        let (sa, sb) = (
            "dataset,condition,epoch,seeds,acc_mean,acc_sem\nd,pad,4,3,52.00,1.15\n",
            "dataset,condition,epoch,seeds,acc_mean,acc_sem\nd,pad,4,3,62.00,1.15\n",
        );
        let parsed = |text: &str| parse(text.as_bytes(), "x").unwrap();
        let probe = table("linear_probe.csv", Some(&parsed(A)), Some(&parsed(&probe_b)));
        let summary = || table("summary.csv", Some(&parsed(sa)), Some(&parsed(sb)));
        let of = |tables| Diff {
            a: "a".into(),
            b: "b".into(),
            profile: "demo".into(),
            verdicts: Default::default(),
            config: Section::default(),
            stages: Section::default(),
            tables,
        };
        let both = of(vec![probe, summary()]);
        assert_eq!(both.tables[1].lines.len(), 1, "summary.csv's change is still listed");
        assert_eq!((both.changed_values(), both.beyond_noise()), (3, 1));
        assert_eq!(both.restatements(), [("summary.csv", "linear_probe.csv")]);
        let alone = of(vec![summary()]);
        assert_eq!((alone.changed_values(), alone.beyond_noise()), (1, 1));
        assert!(alone.restatements().is_empty());
    }

    #[test]
    fn different_key_columns_are_reported_not_matched() {
        let b = "dataset,condition,epoch,readout,acc\nd,pad,4,ridge,1.0\n";
        let t = diff("dataset,condition,epoch,acc\nd,pad,4,1.0\n", b);
        assert!(matches!(t.status, TableStatus::KeysDiffer { .. }));
        assert!(t.lines.is_empty());
    }
}
