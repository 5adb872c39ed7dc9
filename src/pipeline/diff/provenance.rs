//! What changed in the code that made the numbers: the report's stages.csv (stage kind, version,
//! stages planned and reported) of both sides, compared stage by stage.
use super::changes::KeyChange;
use super::table::Parsed;
use std::collections::BTreeMap;

/// "stage.column" -> value of a provenance table, in its row order.
fn entries(t: &Parsed) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in &t.rows {
        let stage = r.key.join("/");
        for (col, v) in t.values.iter().zip(&r.values) {
            out.push((format!("{stage}.{col}"), v.text.clone()));
        }
    }
    out
}

/// The entries that differ, in side b's order, then those only side a has.
pub fn compare(a: &Parsed, b: &Parsed) -> Vec<KeyChange> {
    let (ea, eb) = (entries(a), entries(b));
    let (ma, mb): (BTreeMap<_, _>, BTreeMap<_, _>) = (ea.iter().cloned().collect(), eb.iter().cloned().collect());
    let b_then_a = eb.iter().chain(ea.iter().filter(|(k, _)| !mb.contains_key(k)));
    b_then_a
        .filter(|(k, _)| ma.get(k) != mb.get(k))
        .map(|(k, _)| KeyChange { key: k.clone(), old: ma.get(k).cloned(), new: mb.get(k).cloned() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::table::parse;
    use super::*;

    #[test]
    fn a_bumped_version_and_a_new_stage_are_listed() {
        let a = parse(b"stage,version,planned,reported\ndata,1,1,1\nprobe,2,34,34\n", "a").unwrap();
        let b = parse(b"stage,version,planned,reported\ndata,1,1,1\nprobe,3,34,34\nfid,1,0,0\n", "b").unwrap();
        let c: Vec<(String, Option<String>, Option<String>)> =
            compare(&a, &b).into_iter().map(|c| (c.key, c.old, c.new)).collect();
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            c,
            [
                ("probe.version".into(), s("2"), s("3")),
                ("fid.version".into(), None, s("1")),
                ("fid.planned".into(), None, s("0")),
                ("fid.reported".into(), None, s("0")),
            ]
        );
    }
}
