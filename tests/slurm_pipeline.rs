//! `pad run --executor slurm` end to end on a real one-node Slurm (`../shared/slurm/start-slurm.sh`,
//! which .ci/run starts): a tiny profile gives byte for byte the results of a local run; a second
//! submission while jobs wait submits nothing; a failing stage takes only its dependants down,
//! `pad status` names it with its log, and once the cause is gone a second submission computes
//! only what is missing. Without a cluster it prints "SKIPPED: ..." and passes, unless
//! PAD_REQUIRE_SLURM=1 (CI), which makes that a failure.
mod common;
use pad::pipeline::{stages, Cache, Config, Plan};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PAD: &str = env!("CARGO_BIN_EXE_pad");

fn experiment(dir: &Path) -> PathBuf {
    let rest = "\n[eval]\nprobe_epochs = 2\npca_samples = 300\n\n[slurm]\ncpus_per_task = 1\ntime = \"00:20:00\"\n";
    let text = common::demo_dataset() + rest + &common::tiny_profile(r#"["pad", "wo_rem"]"#, "[0]");
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `pad ARGS` with the cache at `cache`; (success, stdout, stderr).
fn pad(cache: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(PAD).args(args).env("PAD_CACHE", cache).env("RAYON_NUM_THREADS", "1").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Waits until `pad status` shows no stage queued or running and the report job has left the
/// queue; returns the last status listing.
fn settle(cache: &Path, config: &str) -> String {
    let t = Instant::now();
    loop {
        let (_, out, err) = pad(cache, &["status", "--config", config, "--profile", "tiny"]);
        let busy = out.lines().any(|l| l.contains("queued") || l.contains("running"));
        let queue = Command::new("squeue").args(["-h", "-o", "%j"]).output().unwrap();
        let final_waiting = String::from_utf8_lossy(&queue.stdout).lines().any(|l| l.starts_with("pad-final"));
        if !busy && !final_waiting {
            return out;
        }
        assert!(t.elapsed() < Duration::from_secs(900), "jobs did not settle:\n{out}{err}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn read_tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path().strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_profile_on_slurm_gives_the_local_results_and_a_failure_costs_only_its_dependants() {
    if !common::slurm_or_skip("slurm_pipeline") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = experiment(tmp.path());
    let config = config.to_str().unwrap();
    let results = |name: &str| tmp.path().join(name).to_string_lossy().into_owned();

    // The reference: the same profile computed here.
    let local = tmp.path().join("local-cache");
    let (ok, _, err) =
        pad(&local, &["run", "--config", config, "--profile", "tiny", "--quiet", "--results", &results("local")]);
    assert!(ok, "{err}");

    // On Slurm: 17 stage jobs and the report; submitting again at once keeps them all.
    let cluster = tmp.path().join("cluster-cache");
    let run = ["run", "--config", config, "--profile", "tiny", "--executor", "slurm", "--results", &results("slurm")];
    let (ok, out, err) = pad(&cluster, &run);
    assert!(ok, "{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("submitted")).count(), 18, "{out}");
    // A train job waits for the data job; a probe of epoch 1 for data and its training.
    let (ok, again, err) = pad(&cluster, &run);
    assert!(ok, "{err}");
    assert!(err.contains("0 job(s) submitted"), "{again}{err}");
    let status = settle(&cluster, config);
    assert!(status.lines().all(|l| l.contains(" fresh ")), "{status}");
    assert_eq!(read_tree(&tmp.path().join("slurm")), read_tree(&tmp.path().join("local")), "slurm vs local results");

    // A training run that cannot start (its run directory is a file): it fails, its 5 dependants
    // and the report are cancelled, the other run is computed.
    let plan = Plan::new(Config::load(Path::new(config)).unwrap().profile("tiny").unwrap());
    let train =
        plan.nodes.iter().find(|n| n.is(&stages::train::KIND) && n.at.condition.as_deref() == Some("pad")).unwrap();
    let broken = tmp.path().join("broken-cache");
    let blocker = Cache { root: broken.clone() }.work_dir("train", &train.key);
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, "not a directory").unwrap();
    let run_b =
        ["run", "--config", config, "--profile", "tiny", "--executor", "slurm", "--results", &results("broken")];
    let (ok, _, err) = pad(&broken, &run_b);
    assert!(ok, "{err}");
    let status = settle(&broken, config);
    let line = status.lines().find(|l| l.contains(&train.key[..16])).unwrap();
    assert!(line.contains("failed") && line.contains(".log"), "{status}");
    let log = line
        .split_whitespace()
        .find(|w| w.ends_with(".log"))
        .unwrap()
        .trim_matches(|c| c == '(' || c == ')' || c == ',');
    let log_text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(log_text.contains("train demo/pad/seed0"), "{log}: {log_text}");
    assert_eq!(status.lines().filter(|l| l.contains(" fresh ")).count(), 17 - 6, "{status}");

    // The cause removed, a second submission computes exactly the 6 missing stages (and the
    // report); nothing fresh is submitted again.
    std::fs::remove_file(&blocker).unwrap();
    let fresh_before =
        std::fs::metadata(Cache { root: broken.clone() }.dir("data", &plan.nodes[0].key)).unwrap().modified().unwrap();
    let (ok, out, err) = pad(&broken, &run_b);
    assert!(ok, "{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("submitted")).count(), 6 + 1, "{out}");
    let status = settle(&broken, config);
    assert!(status.lines().all(|l| l.contains(" fresh ")), "{status}");
    let data_dir = Cache { root: broken }.dir("data", &plan.nodes[0].key);
    assert_eq!(std::fs::metadata(data_dir).unwrap().modified().unwrap(), fresh_before, "fresh data not recomputed");
    assert_eq!(read_tree(&tmp.path().join("broken")), read_tree(&tmp.path().join("local")), "resumed vs local results");
}
