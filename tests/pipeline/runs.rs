//! The pipeline on the shipped demo slice, tiny settings: caching by key, exact invalidation,
//! concurrent runs sharing one cache, verification, and the report's tables.
use crate::common;
use pad::pipeline::stages;
use pad::pipeline::{run::run, Cache, Config, Kind, Plan};
use std::collections::BTreeSet;
use std::path::Path;

fn config(extra_eval: &str, seeds: &str) -> String {
    let eval = format!("\n[eval]\nprobe_epochs = 2\n{extra_eval}\n");
    common::demo_dataset() + &eval + &common::tiny_profile(r#"["pad", "wo_rem"]"#, seeds)
}

fn plan(text: &str) -> Plan {
    let cfg = Config::parse(Path::new("pipeline.toml"), text.to_string()).unwrap();
    Plan::new(cfg.profile("tiny").unwrap())
}

fn keys(p: &Plan, kind: &Kind) -> BTreeSet<String> {
    p.nodes.iter().filter(|n| n.is(kind)).map(|n| n.key.clone()).collect()
}

/// A report with claims.toml beside the experiment file writes claims.csv and a summary section
/// with verdicts from its tables; `pad claims` on the written folder rewrites the same bytes.
fn claims_are_checked_by_the_report_and_by_pad_claims_alike(dir: &Path, plan: &Plan, cache: &Cache, results: &Path) {
    let claims_text = r#"
[[claim]]
id = "rem"
figure = "Fig. 4"
claim = "REM helps."
a = "pad"
relation = "greater"
b = "wo_rem"
metric = "ridge"

[[claim]]
id = "mix"
figure = "Fig. 4"
claim = "Mixed memories help."
a = "pad"
relation = "greater"
b = "wo_memory_mix"
metric = "probe"
"#;
    let (config_path, claims_path) = (dir.join("pipeline.toml"), dir.join("claims.toml"));
    std::fs::write(&config_path, config("", "[0, 1]")).unwrap();
    std::fs::write(&claims_path, claims_text).unwrap();
    let claims = pad::pipeline::claims::load(&claims_path, &|c| pad::train::condition(c).is_ok()).unwrap();
    pad::pipeline::report::report(plan, cache, results, Some(&claims)).unwrap();
    let out = results.join("tiny");
    let csv = std::fs::read_to_string(out.join("claims.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[1].starts_with("demo,NA,rem,ridge,pad,greater,wo_rem,1,NA,2,2,"), "{csv}");
    let verdict = rows[1].split(',').nth(19).unwrap();
    assert!(["holds", "consistent", "not seen", "contradicted"].contains(&verdict), "{csv}");
    assert!(rows[2].contains(",not evaluated,the profile has no condition wo_memory_mix"), "{csv}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert_eq!(summary.matches("## The paper's claims (claims.toml)").count(), 1, "{summary}");
    assert!(summary.contains("| rem | demo | pad > wo_rem, ridge |"), "{summary}");
    let before = [std::fs::read(out.join("claims.csv")).unwrap(), std::fs::read(out.join("summary.md")).unwrap()];
    let pad_claims = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pad"));
        cmd.args(["claims", "--profile", "tiny", "--config"]).arg(&config_path).arg("--results").arg(results);
        cmd.output().unwrap()
    };
    let st = pad_claims();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    assert!(String::from_utf8_lossy(&st.stdout).contains("rem "), "{}", String::from_utf8_lossy(&st.stdout));
    let after = [std::fs::read(out.join("claims.csv")).unwrap(), std::fs::read(out.join("summary.md")).unwrap()];
    assert_eq!(before, after, "pad claims rewrites what the report wrote");
    // A bad claims file stops the command with its line and key, before writing anything.
    std::fs::write(&claims_path, claims_text.replace("\"wo_rem\"", "\"wo_rme\"")).unwrap();
    let st = pad_claims();
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(!st.status.success() && err.contains("claims.toml:8: claim.rem.b: unknown condition 'wo_rme'"), "{err}");
    assert_eq!(std::fs::read(out.join("claims.csv")).unwrap(), before[0]);
}

#[test]
fn cached_stages_are_not_recomputed_and_a_parameter_invalidates_exactly_its_downstream() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache { root: tmp.path().join("cache") };
    let base = plan(&config("", "[0]"));
    let all: Vec<usize> = (0..base.nodes.len()).collect();
    // data; the untrained networks of seed 0: probe, occlusion, distances, PCA; per run (2):
    // train, epoch-1 probe, occlusion, distances, PCA, dreams (early epoch = last epoch = 1).
    assert_eq!(run(&base, &cache, &all, false).unwrap(), (17, 0));
    assert_eq!(run(&base, &cache, &all, false).unwrap(), (0, 17));

    // A probe parameter: same data and train keys, all probe keys new, and the occlusion sweeps
    // (which reuse the probe's read-out) with them; distances, PCA and dreams stay.
    let lr = plan(&config("probe_lr = 0.1", "[0]"));
    assert_eq!(keys(&lr, &stages::data::KIND), keys(&base, &stages::data::KIND));
    assert_eq!(keys(&lr, &stages::train::KIND), keys(&base, &stages::train::KIND));
    assert_eq!(keys(&lr, &stages::distances::KIND), keys(&base, &stages::distances::KIND));
    assert!(keys(&lr, &stages::probe::KIND).is_disjoint(&keys(&base, &stages::probe::KIND)));
    assert!(keys(&lr, &stages::occlusion::KIND).is_disjoint(&keys(&base, &stages::occlusion::KIND)));
    assert_eq!(run(&lr, &cache, &all, false).unwrap(), (6, 11));

    // One more seed: only that seed's untrained evaluations and runs are new.
    let seeds = plan(&config("", "[0, 1]"));
    let all2: Vec<usize> = (0..seeds.nodes.len()).collect();
    assert_eq!(run(&seeds, &cache, &all2, false).unwrap(), (16, 17));

    // The untrained evaluations re-create init_state(seed): the same networks as every run's
    // epoch-0000 checkpoint of that seed.
    let train = seeds.nodes.iter().find(|n| n.is(&stages::train::KIND) && n.at.seed == Some(1)).unwrap();
    let ckpt = pad::train::run::epoch_file(&cache.dir("train", &train.key), 0);
    let enc = pad::model::checkpoint::read_file(&ckpt).unwrap().encoder(&ckpt).unwrap();
    let init = pad::train::run::init_state(1, 1, pad::model::encoder::NF, pad::model::NZ).enc;
    use pad::model::Network;
    let values = |e: &pad::model::Encoder| e.params().iter().map(|p| p.value.clone()).collect::<Vec<_>>();
    assert_eq!(values(&enc), values(&init));

    // Report: tidy tables with one row per network state (and level), and the figures.
    let results = tmp.path().join("results");
    pad::pipeline::report::report(&seeds, &cache, &results, None).unwrap();
    let out = results.join("tiny");
    assert!(!out.join("claims.csv").exists(), "no claims file, no claims table");
    let probe = std::fs::read_to_string(out.join("linear_probe.csv")).unwrap();
    // 2 seeds x (untrained + 2 runs at epoch 1)
    assert_eq!(probe.lines().count(), 1 + 6, "{probe}");
    assert!(probe.starts_with("dataset,condition,seed,epoch,test_acc"));
    assert_eq!(probe.matches(",untrained,").count(), 2, "{probe}");
    let occ = std::fs::read_to_string(out.join("occlusion.csv")).unwrap();
    assert_eq!(occ.lines().count(), 1 + 6 * 11, "{occ}");
    let dist = std::fs::read_to_string(out.join("distances.csv")).unwrap();
    assert_eq!(dist.lines().count(), 1 + 6, "{dist}");
    assert!(dist.contains("paper-4.4.4"));
    // The provenance `pad diff` compares: every kind with its version, stages planned and reported.
    let prov = std::fs::read_to_string(out.join("stages.csv")).unwrap();
    assert!(prov.starts_with("stage,version,planned,reported\n"), "{prov}");
    assert_eq!(prov.lines().count(), 1 + stages::KINDS.len(), "{prov}");
    assert!(prov.contains(&format!("\nprobe,{},6,6\n", stages::probe::KIND.version)), "{prov}");
    assert!(prov.contains(&format!("\nfid,{},0,0\n", stages::fid::KIND.version)), "{prov}");
    for f in [
        "accuracy_demo.svg",
        "occlusion_demo.svg",
        "distances_demo.svg",
        "pca_demo_pad_seed0.svg",
        "pca_demo_untrained_seed0.svg",
        "losses_demo_pad_seed0.svg",
    ] {
        let svg = std::fs::read_to_string(out.join("figures").join(f)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("class=\"series\""), "{f}");
    }
    // One series per condition (pad, wo_rem, untrained) in each read-out's panel of the occlusion
    // figure, and in each panel of the distance figure.
    assert_eq!(
        pad::report::svg::count_series(&std::fs::read_to_string(out.join("figures/occlusion_demo.svg")).unwrap()),
        6
    );
    assert_eq!(
        pad::report::svg::count_series(&std::fs::read_to_string(out.join("figures/distances_demo.svg")).unwrap()),
        6
    );
    // Dream grids: rows labelled, each an embedded PNG, at least 800 px of images.
    let dreams = std::fs::read_to_string(out.join("figures/dreams_demo_pad_seed0_epoch1.svg")).unwrap();
    for label in [">real</text>", ">NREM dream</text>", ">REM dream</text>"] {
        assert!(dreams.contains(label), "{label}");
    }
    assert_eq!(dreams.matches("data:image/png;base64,").count(), 3);
    // Both read-outs, named, in the tables, the summary and the figures.
    assert!(probe.lines().next().unwrap().ends_with(",ridge_acc,ridge_train_acc"), "{probe}");
    assert!(occ.lines().next().unwrap().ends_with(",ridge_acc"), "{occ}");
    let summary_csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(summary_csv
        .starts_with("dataset,condition,epoch,seeds,test_acc_mean,test_acc_sem,ridge_acc_mean,ridge_acc_sem\n"));
    for f in ["accuracy_demo.svg", "occlusion_demo.svg"] {
        let svg = std::fs::read_to_string(out.join("figures").join(f)).unwrap();
        assert!(svg.contains("paper probe (SGD") && svg.contains("ridge read-out (standardised z"), "{f}");
        // untrained is in the legend of both panels.
        assert_eq!(svg.matches(">untrained</text>").count(), 2, "{f}");
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("| demo | pad |") && summary.contains("±"), "{summary}");
    assert!(summary.contains("| paper probe (SGD), test % | ridge read-out, test % |"), "{summary}");
    assert!(
        summary.contains("Robustness to occlusion")
            && summary.contains("Latent organisation")
            && summary.contains("| demo | untrained |"),
        "{summary}"
    );
    // The report is a function of the cache: a second one writes the same bytes.
    let first: Vec<Vec<u8>> = ["summary.md", "occlusion.csv", "figures/occlusion_demo.svg"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    pad::pipeline::report::report(&seeds, &cache, &results, None).unwrap();
    let second: Vec<Vec<u8>> = ["summary.md", "occlusion.csv", "figures/occlusion_demo.svg"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    assert_eq!(first, second);
    claims_are_checked_by_the_report_and_by_pad_claims_alike(tmp.path(), &seeds, &cache, &results);

    // Verification finds nothing, then names a file changed behind the cache's back.
    let (checked, bad) = cache.verify().unwrap();
    assert_eq!((checked, bad.len()), (17 + 6 + 16, 0));
    let losses = cache.dir("train", &train.key).join("losses.csv");
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
                    run(&p, &Cache { root }, &p.select(&[&stages::probe::KIND]), false).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // data, 2 trains, the untrained probe and 2 epoch-1 probes
    let computed: usize = counts.iter().map(|c| c.0).sum();
    assert_eq!(computed, 6, "{counts:?}");
    let cache = Cache { root };
    assert_eq!(cache.verify().unwrap().0, 6);
}

#[test]
fn bad_conditions_and_absurd_profiles_are_refused_at_load_naming_key_line_and_size() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("pipeline.toml");
    let cache = tmp.path().join("cache");
    let status = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let t = std::time::Instant::now();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_pad"))
            .args(["status", "--profile", "tiny", "--config"])
            .arg(&path)
            .env("PAD_CACHE", &cache)
            .output()
            .unwrap();
        assert!(t.elapsed() < std::time::Duration::from_secs(20), "{:?}", t.elapsed());
        assert_eq!(o.status.code(), Some(1));
        assert!(!cache.exists());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let base = config("", "[0]");
    let line_of = |text: &str, needle: &str| text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    // A condition defined in the file, with a parameter no training can use: named with its line,
    // whether a profile uses it or not.
    for (value, why) in [("n = nan", "NaN is not a loss weight"), ("epsilon = -0.5", "-0.5 is not a noise std")] {
        let text = format!("{base}\n[conditions.odd]\nbase = \"pad\"\n{value}\n");
        let key = value.split(' ').next().unwrap();
        let want = format!("pad: error: {}:{}: conditions.odd.{key}: {why}", path.display(), line_of(&text, key));
        assert!(status(&text).starts_with(&want), "{want}");
    }
    // An absurd epoch count, and a plan that would be too large, answer at once.
    let text = base.replace("epochs = 1", "epochs = 1000000000000");
    let want = format!(
        "{}:{}: profiles.tiny.epochs: 1000000000000 is more than 10000",
        path.display(),
        line_of(&text, "epochs")
    );
    let e = status(&text);
    assert!(e.contains(&want), "{e}");
    let seeds: Vec<String> = (0..12).map(|s| s.to_string()).collect();
    let text =
        base.replace("epochs = 1", "epochs = 10000").replace("seeds = [0]", &format!("seeds = [{}]", seeds.join(", ")));
    let e = status(&text);
    assert!(e.contains("profiles.tiny: its plan would have 240193 stages (1 dataset(s) x 2 condition(s) x 12 seed(s), 10001 probed epochs each), more than the 100000 pad plans at once"), "{e}");
}

fn fid_config(weights: &Path) -> String {
    config(&format!("fid_samples = 12\nfid_weights = \"{}\"", weights.display()), "[0]")
        .replace("limit_train = 128", "limit_train = 128\nfid_conditions = [\"pad\"]")
}

#[test]
fn dream_fid_stages_give_sample_counted_values_and_real_statistics_are_shared() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = common::synthetic_inception(tmp.path());
    let cache = Cache { root: tmp.path().join("cache") };
    let p = plan(&fid_config(&weights));
    // One fid-real for the dataset; FID only for the listed condition (early = last epoch).
    assert_eq!(p.nodes.iter().filter(|n| n.is(&stages::fid_real::KIND)).count(), 1);
    let fids: Vec<_> = p.nodes.iter().filter(|n| n.is(&stages::fid::KIND)).collect();
    assert_eq!(fids.len(), 1);
    assert_eq!(fids[0].at.condition.as_deref(), Some("pad"));
    // data, train pad, fid-real, fid
    assert_eq!(run(&p, &cache, &p.select(&[&stages::fid::KIND]), false).unwrap(), (4, 0));
    let csv = std::fs::read_to_string(cache.dir("fid", &fids[0].key).join("fid.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.splitn(5, ',').collect()).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    for (row, kind) in rows.iter().zip(["nrem", "rem"]) {
        assert_eq!(&row[..3], &[kind, "12", "12"], "{csv}");
        let fid: f64 = row[3].parse().unwrap();
        assert!(fid.is_finite() && fid > 0.0, "{csv}");
        // (shortest round-trip digits: the synthetic network sees little difference)
        // 12 samples in 2048 dimensions: the value comes with the rank warning.
        assert!(row[4].contains("2048"), "{csv}");
    }
    assert_ne!(rows[0][3], rows[1][3]);

    // The report: a table with the sample counts, a figure, a summary section.
    let results = tmp.path().join("results");
    pad::pipeline::report::report(&p, &cache, &results, None).unwrap();
    let table = std::fs::read_to_string(results.join("tiny/fid.csv")).unwrap();
    assert!(table.starts_with("dataset,condition,seed,epoch,kind,fid,samples_real,samples_dreams\n"), "{table}");
    assert_eq!(table.lines().count(), 3);
    assert!(std::fs::read_to_string(results.join("tiny/figures/fid_demo.svg")).unwrap().contains("class=\"series\""));
    assert!(std::fs::read_to_string(results.join("tiny/summary.md")).unwrap().contains("Realism of dreams"));

    // Other weights: the real statistics and the FID are new keys (the weights' hash is in them).
    let mut other = pad::eval::inception::synthetic::state_dict();
    other.get_mut("Conv2d_1a_3x3.conv.weight").unwrap().1[0] += 0.5;
    let w2 = tmp.path().join("other.safetensors");
    common::write_tensors(&w2, &other);
    let p2 = plan(&fid_config(&w2));
    assert!(keys(&p2, &stages::fid_real::KIND).is_disjoint(&keys(&p, &stages::fid_real::KIND)));
    assert_eq!(keys(&p2, &stages::train::KIND), keys(&p, &stages::train::KIND));
}

#[test]
fn fid_without_usable_weights_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-inception.safetensors");
    let p = plan(&fid_config(&missing));
    let cache = Cache { root: tmp.path().join("cache") };
    let all: Vec<usize> = (0..p.nodes.len()).collect();
    let e = run(&p, &cache, &all, false).unwrap_err().to_string();
    assert!(e.contains("no-such-inception.safetensors") && e.contains("docs/fid.md"), "{e}");
    assert!(!cache.root.join("data").exists(), "nothing computed");
    // Stages that do not need the network still run.
    assert!(p.check(&p.select(&[&stages::train::KIND])).is_ok());
    // fid_conditions without fid_weights is a config error naming the key.
    let text = config("", "[0]").replace("limit_train = 128", "limit_train = 128\nfid_conditions = [\"pad\"]");
    let e = Config::parse(Path::new("pipeline.toml"), text).err().unwrap().to_string();
    assert!(e.contains("profiles.tiny.fid_conditions") && e.contains("fid_weights"), "{e}");
    let text = config("", "[0]").replace("limit_train = 128", "limit_train = 128\nfid_conditions = [\"wake_only\"]");
    let e = Config::parse(Path::new("pipeline.toml"), text).err().unwrap().to_string();
    assert!(e.contains("wake_only") && e.contains("not one of this profile's conditions"), "{e}");
}

/// Every file of every complete entry, by stage/key/file, except the record (seconds, threads).
fn cache_bytes(cache: &Cache) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![cache.root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(&cache.root).unwrap().to_string_lossy().into_owned();
            if rel.starts_with("locks") || rel.ends_with("record.json") || rel.ends_with("manifest.json") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn parallel_jobs_write_the_same_bytes_as_one_job_and_skip_only_what_a_failure_feeds() {
    use pad::pipeline::jobs::{run_parallel, Jobs};
    use pad::pipeline::stage::Env;
    let tmp = tempfile::tempdir().unwrap();
    let p = plan(&config("", "[0]"));
    let all: Vec<usize> = (0..p.nodes.len()).collect();
    let one = Cache { root: tmp.path().join("one") };
    assert_eq!(run(&p, &one, &all, false).unwrap(), (17, 0));
    let many = Cache { root: tmp.path().join("many") };
    let jobs = Jobs { jobs: 3, threads_per_job: 1 };
    let started = std::sync::atomic::AtomicUsize::new(0);
    let s = run_parallel(&p, &many, &all, jobs, &Env::default(), &|e| {
        if let pad::pipeline::jobs::Event::Started { .. } = e {
            started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    })
    .unwrap();
    assert_eq!((s.computed, s.fresh, s.failed.len(), s.skipped), (17, 0, 0, 0));
    assert_eq!(started.into_inner(), 17);
    let (a, b) = (cache_bytes(&one), cache_bytes(&many));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(v == &b[k], "{k} differs between 1 and 3 jobs");
    }
    // Nothing left to do: all fresh.
    let s = run_parallel(&p, &many, &all, jobs, &Env::default(), &|_| {}).unwrap();
    assert_eq!((s.computed, s.fresh), (0, 17));

    // A training run that cannot start (its run directory is a file) fails; what reads it is
    // skipped, everything else is computed, and the error names the stage.
    let broken = Cache { root: tmp.path().join("broken") };
    let train =
        p.nodes.iter().find(|n| n.is(&stages::train::KIND) && n.at.condition.as_deref() == Some("pad")).unwrap();
    std::fs::create_dir_all(broken.root.join("train")).unwrap();
    std::fs::write(broken.work_dir("train", &train.key), "not a directory").unwrap();
    let s = run_parallel(&p, &broken, &all, jobs, &Env::default(), &|_| {}).unwrap();
    // pad's run feeds its epoch-1 probe, occlusion, distances, PCA and dreams.
    assert_eq!((s.failed.len(), s.skipped, s.computed), (1, 5, 17 - 6), "{:?}", s.failed);
    let msg = s.failed[0].to_string();
    assert!(msg.contains("train demo/pad/seed0") && msg.contains(&train.key), "{msg}");
}

#[test]
fn parallel_dispatch_trains_every_condition_at_seed_0_before_any_seed_1() {
    use pad::pipeline::jobs::{run_parallel, Event, Jobs};
    use pad::pipeline::stage::Env;
    let tmp = tempfile::tempdir().unwrap();
    let p = plan(&config("", "[0, 1]"));
    let all: Vec<usize> = (0..p.nodes.len()).collect();
    let cache = Cache { root: tmp.path().to_path_buf() };
    let started = std::sync::Mutex::new(Vec::new());
    let jobs = Jobs { jobs: 1, threads_per_job: 1 };
    run_parallel(&p, &cache, &all, jobs, &Env::default(), &|e| {
        if let Event::Started { label, .. } = e {
            started.lock().unwrap().push(label.to_string());
        }
    })
    .unwrap();
    // Plan order is condition-major (pad/seed0, pad/seed1, wo_rem/seed0, ...): a grid stopped
    // halfway would then lack whole conditions.
    let trains: Vec<String> = started.into_inner().unwrap().into_iter().filter(|l| l.starts_with("train ")).collect();
    assert_eq!(
        trains,
        ["train demo/pad/seed0", "train demo/wo_rem/seed0", "train demo/pad/seed1", "train demo/wo_rem/seed1"]
    );
}

#[test]
fn the_report_of_a_study_under_way_keeps_the_losses_so_far_and_says_how_far_each_run_got() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache { root: tmp.path().join("cache") };
    let p = plan(&config("", "[0]"));
    // pad's training has one epoch in its partial directory; wo_rem's has started without one.
    let train = |c: &str| p.nodes.iter().find(|n| n.is(&stages::train::KIND) && n.at.condition.as_deref() == Some(c));
    let pad_dir = cache.work_dir("train", &train("pad").unwrap().key);
    std::fs::create_dir_all(&pad_dir).unwrap();
    std::fs::write(
        pad_dir.join("losses.csv"),
        "epoch,iterations,L_img,L_KL,L_real,L_NREM,L_fake,d_real,d_fake\n1,31,0.2,0.08,0.69,0.25,0.67,0.51,0.48\n",
    )
    .unwrap();
    std::fs::create_dir_all(cache.work_dir("train", &train("wo_rem").unwrap().key)).unwrap();
    let results = tmp.path().join("results");
    pad::pipeline::report::report(&p, &cache, &results, None).unwrap();
    let out = results.join("tiny");
    let losses = std::fs::read_to_string(out.join("losses.csv")).unwrap();
    assert_eq!(
        losses.lines().nth(1),
        Some("demo,pad,0,1,0.200000,0.080000,0.690000,0.250000,0.670000,0.510000,0.480000")
    );
    assert_eq!(losses.lines().count(), 2, "{losses}");
    assert!(out.join("figures/losses_demo_pad_seed0.svg").is_file());
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("## Training in progress"), "{summary}");
    assert!(summary.contains("| demo/pad/seed0 | 1 of 1 |\n| demo/wo_rem/seed0 | 0 of 1 |"), "{summary}");
    // Provenance counts complete stages only: no training is reported as done.
    let prov = std::fs::read_to_string(out.join("stages.csv")).unwrap();
    assert!(prov.contains(&format!("\ntrain,{},2,0\n", stages::train::KIND.version)), "{prov}");
}

#[test]
fn a_resumed_training_records_the_seconds_of_its_earlier_runs_and_commits_without_them() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache { root: tmp.path().join("cache") };
    let p = plan(&config("", "[0]"));
    let train = p.nodes.iter().position(|n| n.is(&stages::train::KIND)).unwrap();
    let key = &p.nodes[train].key;
    // What an earlier run, killed before its first epoch, left beside its checkpoints.
    let work = cache.work_dir("train", key);
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("seconds-so-far.txt"), "5000.0\n").unwrap();
    let data = p.nodes[train].inputs.clone();
    run(&p, &cache, &[data, vec![train]].concat(), false).unwrap();
    let done = cache.dir("train", key);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(done.join("record.json")).unwrap()).unwrap();
    let seconds = record["seconds"].as_f64().unwrap();
    assert!((5000.0..5000.0 + 600.0).contains(&seconds), "{seconds}");
    let names: Vec<String> =
        std::fs::read_dir(&done).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.starts_with("seconds-so-far")), "{names:?}");
    let (checked, bad) = cache.verify().unwrap();
    assert!(checked >= 2 && bad.is_empty(), "{bad:?}");
}
