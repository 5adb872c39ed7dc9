//! What changed in the experiment file for one profile: its own table and the sections it uses
//! ([defaults], [eval], the [datasets.*] and [conditions.*] it names), key by key.
//!
//! Both sides are read as plain TOML rather than through the checked `Config`: an old commit's
//! file was valid for its own code, and may not be for today's (a key since renamed), yet its
//! values are exactly what the diff should show.
use super::changes::KeyChange;
use super::error::DiffError;
use std::collections::{BTreeMap, BTreeSet};
use toml::{Table, Value};

/// Parses an experiment file; `file` names it in errors.
pub fn parse(bytes: &[u8], file: &str) -> Result<Table, DiffError> {
    let bad = |msg: String| DiffError::Malformed { file: file.into(), msg };
    let text = std::str::from_utf8(bytes).map_err(|e| bad(e.to_string()))?;
    text.parse::<Table>().map_err(|e| bad(e.to_string().trim().to_string()))
}

/// Whether the file defines the profile.
pub fn has_profile(t: &Table, profile: &str) -> bool {
    section(t, "profiles").and_then(|p| p.get(profile)).is_some()
}

/// The changed keys of `profile` and of the sections it uses on either side, sorted by key.
pub fn compare(a: &Table, b: &Table, profile: &str) -> Vec<KeyChange> {
    let used = |list: &str| {
        let mut names = listed(a, profile, list);
        names.extend(listed(b, profile, list));
        names
    };
    let (datasets, conditions) = (used("datasets"), used("conditions"));
    let (fa, fb) = (flatten(a, profile, &datasets, &conditions), flatten(b, profile, &datasets, &conditions));
    let keys: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    keys.into_iter()
        .filter(|k| fa.get(*k) != fb.get(*k))
        .map(|k| KeyChange { key: k.clone(), old: fa.get(k).cloned(), new: fb.get(k).cloned() })
        .collect()
}

fn section<'a>(t: &'a Table, name: &str) -> Option<&'a Table> {
    t.get(name).and_then(Value::as_table)
}

/// The names a profile lists under `list` ("datasets", "conditions").
fn listed(t: &Table, profile: &str, list: &str) -> BTreeSet<String> {
    let items = section(t, "profiles").and_then(|p| p.get(profile)).and_then(|p| p.get(list));
    items.and_then(Value::as_array).into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect()
}

/// "section.key" -> value (TOML syntax) of every key the profile depends on.
fn flatten(
    t: &Table,
    profile: &str,
    datasets: &BTreeSet<String>,
    conditions: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in ["defaults", "eval"] {
        if let Some(v) = t.get(name) {
            walk(name, v, &mut out);
        }
    }
    let nested = |sec: &str, name: &str| section(t, sec).and_then(|s| s.get(name));
    if let Some(v) = nested("profiles", profile) {
        walk(&format!("profiles.{profile}"), v, &mut out);
    }
    for (sec, names) in [("datasets", datasets), ("conditions", conditions)] {
        for n in names {
            if let Some(v) = nested(sec, n) {
                walk(&format!("{sec}.{n}"), v, &mut out);
            }
        }
    }
    out
}

/// Tables become dotted keys; every other value is kept in TOML syntax.
fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Table(t) => {
            for (k, v) in t {
                walk(&format!("{prefix}.{k}"), v, out);
            }
        }
        v => {
            out.insert(prefix.to_string(), v.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"
[datasets.d]
source = "fashion-mnist"
[datasets.unused]
source = "svhn"
[conditions.half]
base = "pad"
n = 0.5
[eval]
probe_epochs = 20
[profiles.demo]
datasets = ["d"]
conditions = ["pad", "half"]
seeds = [0, 1]
[profiles.other]
seeds = [5]
"#;

    fn changes(a: &str, b: &str) -> Vec<(String, Option<String>, Option<String>)> {
        let (a, b) = (parse(a.as_bytes(), "a").unwrap(), parse(b.as_bytes(), "b").unwrap());
        compare(&a, &b, "demo").into_iter().map(|c| (c.key, c.old, c.new)).collect()
    }

    #[test]
    fn keys_of_the_profile_and_the_sections_it_uses_are_listed_and_others_are_not() {
        let b = A
            .replace("probe_epochs = 20", "probe_epochs = 30")
            .replace("n = 0.5", "n = 0.25")
            .replace("seeds = [0, 1]", "seeds = [0, 1, 2]\nepochs = 4")
            .replace("seeds = [5]", "seeds = [6]")
            .replace("source = \"svhn\"", "source = \"cifar10\"");
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            changes(A, &b),
            [
                ("conditions.half.n".into(), some("0.5"), some("0.25")),
                ("eval.probe_epochs".into(), some("20"), some("30")),
                ("profiles.demo.epochs".into(), None, some("4")),
                ("profiles.demo.seeds".into(), some("[0, 1]"), some("[0, 1, 2]")),
            ]
        );
        assert!(changes(A, A).is_empty());
    }

    #[test]
    fn a_malformed_file_is_an_error_naming_it() {
        let e = parse(b"[eval\nx = 1", "HEAD:pipeline.toml").unwrap_err().to_string();
        assert!(e.starts_with("HEAD:pipeline.toml: "), "{e}");
    }
}
