//! The pipeline on the shipped demo slice, tiny settings: caching by key, exact invalidation,
//! concurrent runs sharing one cache, verification, and the report's tables.
use pad::pipeline::{run::run, Cache, Config, Plan, StageKind};
use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn config(extra_eval: &str, seeds: &str) -> String {
    format!(
        r#"
[datasets.demo]
source = "fashion-mnist"
mirror = "{ROOT}/data/demo"
download_dir = "{ROOT}/data/demo"
lock = "{ROOT}/data/demo/datasets.lock"
allow_unpublished = true

[eval]
probe_epochs = 2
{extra_eval}

[profiles.tiny]
datasets = ["demo"]
conditions = ["pad", "wo_rem"]
seeds = {seeds}
epochs = 1
limit_train = 128
"#
    )
}

fn plan(text: &str) -> Plan {
    let cfg = Config::parse(Path::new("pipeline.toml"), text.to_string()).unwrap();
    Plan::new(cfg.profile("tiny").unwrap())
}

fn keys(p: &Plan, kind: StageKind) -> BTreeSet<String> {
    p.nodes.iter().filter(|n| n.kind == kind).map(|n| n.key.clone()).collect()
}

#[test]
fn cached_stages_are_not_recomputed_and_a_parameter_invalidates_exactly_its_downstream() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache { root: tmp.path().join("cache") };
    let base = plan(&config("", "[0]"));
    let all: Vec<usize> = (0..base.nodes.len()).collect();
    // data, 2 trains, 2 x (epoch 0, epoch 1) probes
    assert_eq!(run(&base, &cache, &all, false).unwrap(), (7, 0));
    assert_eq!(run(&base, &cache, &all, false).unwrap(), (0, 7));

    // A probe parameter: same data and train keys, all probe keys new.
    let lr = plan(&config("probe_lr = 0.1", "[0]"));
    assert_eq!(keys(&lr, StageKind::Data), keys(&base, StageKind::Data));
    assert_eq!(keys(&lr, StageKind::Train), keys(&base, StageKind::Train));
    assert!(keys(&lr, StageKind::Probe).is_disjoint(&keys(&base, StageKind::Probe)));
    assert_eq!(run(&lr, &cache, &all, false).unwrap(), (4, 3));

    // One more seed: only that seed's runs and probes are new.
    let seeds = plan(&config("", "[0, 1]"));
    let all2: Vec<usize> = (0..seeds.nodes.len()).collect();
    assert_eq!(run(&seeds, &cache, &all2, false).unwrap(), (6, 7));

    // Report: tidy tables with one row per run and probed epoch.
    let results = tmp.path().join("results");
    pad::pipeline::collect::report(&seeds, &cache, &results).unwrap();
    let probe = std::fs::read_to_string(results.join("tiny/linear_probe.csv")).unwrap();
    assert_eq!(probe.lines().count(), 1 + 8, "{probe}");
    assert!(probe.starts_with("dataset,condition,seed,epoch,test_acc"));
    let summary = std::fs::read_to_string(results.join("tiny/summary.md")).unwrap();
    assert!(summary.contains("| demo | pad |") && summary.contains("±"), "{summary}");

    // Verification finds nothing, then names a file changed behind the cache's back.
    let (checked, bad) = cache.verify().unwrap();
    assert_eq!((checked, bad.len()), (17, 0));
    let train = &seeds.nodes.iter().find(|n| n.kind == StageKind::Train).unwrap().key;
    let losses = cache.dir("train", train).join("losses.csv");
    std::fs::write(&losses, "tampered\n").unwrap();
    let (_, bad) = cache.verify().unwrap();
    assert_eq!(bad.len(), 1);
    assert!(bad[0].to_string().contains("losses.csv"), "{}", bad[0]);
}

#[test]
fn two_runs_sharing_a_cache_compute_each_key_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cache");
    let text = config("", "[0]");
    let counts: Vec<(usize, usize)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (root, text) = (root.clone(), text.clone());
                s.spawn(move || {
                    let p = plan(&text);
                    let all: Vec<usize> = (0..p.nodes.len()).collect();
                    run(&p, &Cache { root }, &all, false).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let computed: usize = counts.iter().map(|c| c.0).sum();
    assert_eq!(computed, 7, "{counts:?}");
    let cache = Cache { root };
    assert_eq!(cache.verify().unwrap().0, 7);
}
