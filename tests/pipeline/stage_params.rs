//! The parameters that are hashed are the parameters that are used. For one node of every shape
//! of every stage kind, each field of its parameters is changed, one at a time:
//! - the stage rebuilt from the changed JSON carries the change (nothing hashed is dropped on the
//!   way to the computation),
//! - its key changes,
//! - and, for every kind whose computation is cheap here, its output files change: the
//!   computation really reads the field.
//!
//! A new field without a rule below fails the test, so it cannot be forgotten.
use crate::common;
use pad::pipeline::stage::{Env, Inputs, Node};
use pad::pipeline::stages;
use pad::pipeline::{run::run, Cache, Config, Plan};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn tiny_plan() -> Plan {
    let eval = "\n[eval]\nprobe_epochs = 2\npca_samples = 300\n";
    let text = common::demo_dataset() + eval + &common::tiny_profile(r#"["pad"]"#, "[0]");
    Plan::new(Config::parse(Path::new("pipeline.toml"), text).unwrap().profile("tiny").unwrap())
}

/// The changed value of the field at `path` (dot-separated), or None if no rule knows it.
fn perturb(path: &str, v: &Value) -> Option<Value> {
    let last = path.rsplit('.').next().unwrap_or(path);
    Some(match (last, v) {
        // Enumerations: another valid member.
        ("split", Value::String(s)) => Value::from(if s == "train" { "test" } else { "train" }),
        ("nrem_source", _) => Value::from("RemMixture"),
        ("order", _) => Value::from("WakeRemNrem"),
        ("layout", Value::String(s)) => Value::from(if s == "fid" { "torchvision" } else { "fid" }),
        ("kinds", Value::Array(a)) => Value::Array(a[..a.len() - 1].to_vec()),
        // R is a switch in the reference (on when > 0): change it, not its size.
        ("r", Value::Number(n)) => Value::from(if n.as_f64()? > 0.0 { 0.0 } else { 1.0 }),
        // Occluder sides must tile the image; earlier checkpoints exist, later ones may not.
        ("tile", Value::Number(n)) => Value::from(n.as_u64()? * 2),
        ("epoch", Value::Number(n)) => Value::from(n.as_u64()?.checked_sub(1).unwrap_or(1)),
        ("levels", Value::Array(a)) => Value::Array(a[..a.len() - 1].to_vec()),
        (_, Value::Bool(b)) => Value::from(!b),
        (_, Value::String(s)) => Value::from(format!("{s}-x")),
        (_, Value::Null) => Value::from("x"),
        (_, Value::Number(n)) if n.is_u64() => Value::from(n.as_u64()? + 1),
        // Doubling is exact in binary, so an f32 field keeps the very value (0 becomes 0.5).
        (_, Value::Number(n)) => Value::from(if n.as_f64()? == 0.0 { 0.5 } else { 2.0 * n.as_f64()? }),
        _ => return None,
    })
}

/// Every leaf of `v` (arrays count as one leaf), with its dot path.
fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaves(x, &p, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

fn set(v: &mut Value, path: &str, x: Value) {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get_mut(part).unwrap();
    }
    *cur = x;
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |cur, part| &cur[part])
}

/// sha256 of every file a computation wrote, by name.
fn outputs(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_file() {
            out.insert(e.file_name().to_string_lossy().into_owned(), pad::files::sha256_file(&e.path()).unwrap());
        }
    }
    out
}

fn compute(
    node: &Node,
    stage: &dyn pad::pipeline::stage::Stage,
    plan: &Plan,
    cache: &Cache,
    work: &Path,
) -> Result<BTreeMap<String, String>, String> {
    std::fs::create_dir_all(work).unwrap();
    let inputs = Inputs::of(&plan.nodes, node, cache);
    stage.compute(&inputs, work, &Env::default()).map_err(|e| e.to_string())?;
    Ok(outputs(work))
}

#[test]
fn every_parameter_field_changes_the_key_and_what_the_stage_computes() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache { root: tmp.path().join("cache") };
    let plan = tiny_plan();
    let all: Vec<usize> = (0..plan.nodes.len()).collect();
    run(&plan, &cache, &all, false).unwrap();

    // One node of each parameter shape: per kind, its first untrained and first trained node.
    let mut picked: Vec<&Node> = Vec::new();
    for n in &plan.nodes {
        let shape = |m: &Node| (m.kind().name, m.at.is_untrained());
        if !picked.iter().any(|p| shape(p) == shape(n)) {
            picked.push(n);
        }
    }
    // FID stages need Inception weights (runs.rs covers them), so plan them too.
    let weights = common::synthetic_inception(tmp.path());
    let fid_plan = {
        let mut profile = plan.profile.clone();
        profile.fid_conditions = vec!["pad".into()];
        profile.eval.fid_weights = Some(weights.display().to_string());
        Plan::new(profile)
    };
    let fid_nodes: Vec<&Node> =
        fid_plan.nodes.iter().filter(|n| n.is(&stages::fid::KIND) || n.is(&stages::fid_real::KIND)).collect();
    assert_eq!(fid_nodes.len(), 2);

    let mut kinds_checked = std::collections::BTreeSet::new();
    let mut computed = 0;
    for (node, this_plan) in picked.iter().map(|n| (*n, &plan)).chain(fid_nodes.iter().map(|n| (*n, &fid_plan))) {
        let kind = node.kind();
        kinds_checked.insert(kind.name);
        let params = node.stage.params();
        let input_keys: Vec<String> = node.inputs.iter().map(|&j| this_plan.nodes[j].key.clone()).collect();
        // Cheap here: everything but the data stage (one source offline) and FID (Inception).
        let computes = !matches!(kind.name, "data" | "fid" | "fid-real");
        let base = computes.then(|| {
            compute(node, node.stage.as_ref(), this_plan, &cache, &tmp.path().join(format!("base-{}", node.key)))
                .unwrap()
        });
        let mut fields = Vec::new();
        leaves(&params, "", &mut fields);
        assert!(!fields.is_empty(), "{}", node.label);
        for field in fields {
            let new = perturb(&field, get(&params, &field))
                .unwrap_or_else(|| panic!("{}: no rule to change field {field}; add one to perturb()", node.label));
            let mut changed = params.clone();
            set(&mut changed, &field, new);
            let stage = (kind.decode)(changed.clone())
                .unwrap_or_else(|e| panic!("{}: {field} changed to an invalid value: {e}", node.label));
            assert_eq!(stage.params(), changed, "{}: field {field} is lost on the way to the computation", node.label);
            let other = Node::new(stage, node.inputs.clone(), &input_keys, node.at.clone());
            assert_ne!(other.key, node.key, "{}: field {field} does not change the key", node.label);
            if let Some(base) = &base {
                let work = tmp.path().join(format!("{}-{field}", node.key));
                match compute(node, other.stage.as_ref(), this_plan, &cache, &work) {
                    Ok(got) => assert_ne!(&got, base, "{}: changing {field} does not change the output", node.label),
                    // The one change that makes an input unusable: a sweep of 257-d codes cannot
                    // use its probe's read-out of 256-d ones, and says so.
                    Err(e) if kind.name == "occlusion" && field == "nz" => {
                        assert!(e.contains("256-d") && e.contains("257-d"), "{e}")
                    }
                    Err(e) => panic!("{}: with {field} changed: {e}", node.label),
                }
                computed += 1;
            }
        }
    }
    let all_kinds: std::collections::BTreeSet<&str> = stages::KINDS.iter().map(|k| k.name).collect();
    assert_eq!(kinds_checked, all_kinds, "every registered kind is checked");
    assert!(computed > 40, "{computed} computations");
}
