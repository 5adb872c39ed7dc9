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

/// The jobs squeue knows (any state) that write their logs into `cache`, by name.
fn job_names_of(cache: &Path) -> Vec<String> {
    let out = Command::new("squeue").args(["-h", "-t", "all", "-O", "Name:|,StdOut:|"]).output().unwrap();
    let logs = format!("{}/logs/", cache.display().to_string().replace('%', "%%"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('|').filter(|(_, out)| out.starts_with(&logs)).map(|(n, _)| n.to_string()))
        .collect()
}

/// Waits until no stage is queued or running and the report job has ended; returns `pad
/// status`'s (stdout, stderr).
fn settle_with_report(cache: &Path, config: &str) -> (String, String) {
    let t = Instant::now();
    loop {
        let (_, out, err) = pad(cache, &["status", "--config", config, "--profile", "tiny"]);
        let busy = out.lines().any(|l| l.contains("queued") || l.contains("running"));
        let report = err.lines().find(|l| l.starts_with("report job: ")).unwrap_or_default();
        if !busy && (report.contains("failed") || report.contains("completed")) {
            return (out, err);
        }
        assert!(t.elapsed() < Duration::from_secs(900), "jobs did not settle:\n{out}{err}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn two_runs_at_once_submit_each_stage_once_and_a_failed_report_is_shown_until_rewritten() {
    if !common::slurm_or_skip("slurm_pipeline concurrent") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // One condition and one seed: 11 stages.
    let rest = "\n[eval]\nprobe_epochs = 2\npca_samples = 300\n\n[slurm]\ncpus_per_task = 1\ntime = \"00:20:00\"\n";
    let config = tmp.path().join("pipeline.toml");
    std::fs::write(&config, common::demo_dataset() + rest + &common::tiny_profile(r#"["pad"]"#, "[0]")).unwrap();
    let config = config.to_str().unwrap();
    let stages = Plan::new(Config::load(Path::new(config)).unwrap().profile("tiny").unwrap()).nodes.len();
    assert_eq!(stages, 11);
    // The results "directory" is a file, so the report job fails.
    let results = tmp.path().join("results");
    std::fs::write(&results, "not a directory").unwrap();
    let cache = tmp.path().join("cache");
    let run =
        ["run", "--config", config, "--profile", "tiny", "--executor", "slurm", "--results", results.to_str().unwrap()];

    // Two `pad run`s started at the same moment on one cache.
    let start = std::sync::Barrier::new(2);
    let outs: Vec<(bool, String, String)> = std::thread::scope(|s| {
        let go = || {
            start.wait();
            pad(&cache, &run)
        };
        let (a, b) = (s.spawn(go), s.spawn(go));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    for (ok, _, err) in &outs {
        assert!(ok, "{err}");
    }
    let submitted: usize =
        outs.iter().map(|(_, out, _)| out.lines().filter(|l| l.starts_with("submitted")).count()).sum();
    let mut names = job_names_of(&cache);
    assert_eq!((submitted, names.len()), (stages + 1, stages + 1), "{outs:?}\n{names:?}");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), stages + 1, "a job name twice");

    // Every stage fresh, yet the results are not written: status says so, with the log's end.
    let (out, err) = settle_with_report(&cache, config);
    assert!(out.lines().all(|l| l.contains(" fresh ")), "{out}");
    let report = err.lines().find(|l| l.starts_with("report job: ")).unwrap();
    assert!(
        report.starts_with("report job: failed (job ")
            && report.contains(": FAILED, exit code 1:0, NonZeroExitCode); log: ")
            && report.ends_with(": the results are not written; fix the cause, then `pad run --executor slurm` submits the report again"),
        "{err}"
    );
    assert!(err.lines().any(|l| l.starts_with("  | pad: error: ") && l.contains("results")), "{err}");

    // Fixed: the next run submits the report alone, and status then says the results are written.
    std::fs::remove_file(&results).unwrap();
    let (ok, out, err) = pad(&cache, &run);
    assert!(ok, "{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("submitted")).collect::<Vec<_>>().len(), 1, "{out}");
    assert!(out.lines().any(|l| l.starts_with("submitted  final job")), "{out}");
    let (_, err) = settle_with_report(&cache, config);
    assert!(err.contains("report job: completed (job ") && err.contains("): the results are written"), "{err}");
    assert!(results.join("tiny/summary.md").is_file());
}
