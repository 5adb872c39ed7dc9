//! The Slurm executor on a real cluster (`bash ../shared/slurm/start-slurm.sh`), with a fake
//! stage runner: a shell script that checks its inputs are in the cache, then commits its key
//! (temp dir + rename) or fails on purpose. Without a cluster every test prints
//! "SKIPPED: slurm not available: ..." and passes, unless PAD_REQUIRE_SLURM=1 (CI), which makes
//! that a failure.
//!
//! Tests share the one cluster and never restart it; each has its own cache and control
//! directory, and keys unique to the run (job ids restart after a clean cluster start).
mod common;
use common::slurm_or_skip;
use pad::pipeline::slurm::{
    final_status, job_name, log_tail, record_path, statuses, submit, Action, FinalJob, Job, JobStatus, SlurmConfig,
    SlurmRecord, Submission,
};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Stands in for `pad stage run --config .. --profile .. KEY`: argv CTL KEY; CTL/KEY.job says
/// "stage S", "input STAGE/KEY" and "sleep SECONDS" lines; CTL/KEY.fail makes it fail,
/// CTL/KEY.kill makes it kill itself (SIGKILL) mid-run, CTL/KEY.gate makes it wait until the
/// file is removed.
const FAKE_PAD: &str = r#"#!/bin/sh
ctl=$1; key=$2
stage=$(sed -n 's/^stage //p' "$ctl/$key.job")
echo "start $key" >> "$ctl/events"
printf '%s\n%s\n' "$PAD_CACHE" "$RAYON_NUM_THREADS" > "$ctl/$key.env"
for input in $(sed -n 's/^input //p' "$ctl/$key.job"); do
  [ -f "$PAD_CACHE/$input/manifest.json" ] || { echo "input $input is missing"; exit 2; }
done
s=$(sed -n 's/^sleep //p' "$ctl/$key.job")
[ -z "$s" ] || sleep "$s"
n=0
while [ -e "$ctl/$key.gate" ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done
if [ -e "$ctl/$key.fail" ]; then echo "failing on purpose: $key"; exit 1; fi
if [ -e "$ctl/$key.kill" ]; then echo "epoch 1 of 50"; echo "killed mid-run: $key"; kill -9 $$; fi
tmp="$PAD_CACHE/$stage/.$key.$$"
mkdir -p "$tmp" && echo '{}' > "$tmp/manifest.json" && mv "$tmp" "$PAD_CACHE/$stage/$key" || exit 3
echo "computed $key"
echo "done $key" >> "$ctl/events"
"#;

struct World {
    _dir: tempfile::TempDir,
    ctl: PathBuf,
    cache: PathBuf,
    command: Vec<String>,
    report: Vec<String>,
    config: SlurmConfig,
}

fn world(test: &str) -> World {
    // A blank and a '%' in every path: the job's argv, PAD_CACHE and --output must survive them.
    let dir = tempfile::Builder::new().prefix(&format!("pad slurm {test} 5%j ")).tempdir().unwrap();
    let ctl = dir.path().join("ctl dir");
    let cache = dir.path().join("cache dir");
    std::fs::create_dir_all(&ctl).unwrap();
    let script = ctl.join("fake pad.sh");
    std::fs::write(&script, FAKE_PAD).unwrap();
    let sh = |extra: &str| {
        let mut v = vec!["/bin/sh".to_string(), script.to_str().unwrap().into(), ctl.to_str().unwrap().into()];
        if !extra.is_empty() {
            v.push(extra.into());
        }
        v
    };
    // One CPU per stage job, so that on the 2-CPU test node jobs without afterok would overlap;
    // the final job gets 2 (and so 2 threads).
    let config: SlurmConfig = toml::from_str("time = \"00:10:00\"\n[stages.final]\ncpus_per_task = 2\n").unwrap();
    World { command: sh(""), report: sh("FINAL"), _dir: dir, ctl, cache, config }
}

impl World {
    /// Jobs (stage, label, inputs as indices of earlier ones, seconds to sleep) with keys unique
    /// to this run, and their specs for the fake runner.
    fn jobs(&self, specs: &[(&str, &str, &[usize], f64)]) -> Vec<Job> {
        let mut all: Vec<Job> = Vec::new();
        for &(stage, label, inputs, sleep) in specs {
            let key = hex::encode(Sha256::digest(format!("{} {label}", self.ctl.display())));
            let mut spec = format!("stage {stage}\nsleep {sleep}\n");
            for &i in inputs {
                spec += &format!("input {}/{}\n", all[i].stage, all[i].key);
            }
            std::fs::write(self.ctl.join(format!("{key}.job")), spec).unwrap();
            all.push(Job { key, stage: stage.into(), label: label.into(), deps: inputs.to_vec() });
        }
        all
    }
    /// The final job: checks every job's output is in the cache, then commits its own.
    fn final_needs(&self, all: &[Job]) {
        let spec: String = std::iter::once("stage final-out\n".to_string())
            .chain(all.iter().map(|j| format!("input {}/{}\n", j.stage, j.key)))
            .collect();
        std::fs::write(self.ctl.join("FINAL.job"), spec).unwrap();
    }
    fn flag(&self, key: &str, what: &str, on: bool) {
        let p = self.ctl.join(format!("{key}.{what}"));
        if on {
            std::fs::write(p, "").unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
    }
    fn submit(&self, jobs: &[Job], final_job: bool, dry_run: bool) -> pad::pipeline::slurm::Outcome {
        let sub = Submission {
            jobs,
            command: &self.command,
            cache: &self.cache,
            config: &self.config,
            final_job: final_job.then_some(FinalJob { id: "report", argv: &self.report }),
            dry_run,
        };
        submit(&sub).unwrap()
    }
    fn statuses(&self, jobs: &[Job]) -> Vec<JobStatus> {
        let keys: Vec<(&str, &str)> = jobs.iter().map(|j| (j.stage.as_str(), j.key.as_str())).collect();
        statuses(&self.cache, &keys, &self.config)
    }
    /// Polls until no job (nor the final job) is queued or running.
    fn settle(&self, jobs: &[Job]) -> Vec<JobStatus> {
        let t = Instant::now();
        loop {
            let st = self.statuses(jobs);
            let fin = final_status(&self.cache, "report", &self.config);
            let busy = |s: &JobStatus| matches!(s, JobStatus::Queued { .. } | JobStatus::Running { .. });
            if !st.iter().any(busy) && !busy(&fin) {
                return st;
            }
            assert!(t.elapsed() < Duration::from_secs(300), "jobs still busy after 300 s: {st:?} {fin:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    fn events(&self) -> Vec<String> {
        std::fs::read_to_string(self.ctl.join("events")).unwrap_or_default().lines().map(String::from).collect()
    }
    fn pos(&self, event: &str) -> usize {
        let ev = self.events();
        ev.iter().position(|e| e == event).unwrap_or_else(|| panic!("no event {event:?} in {ev:?}"))
    }
    fn count(&self, event: &str) -> usize {
        self.events().iter().filter(|e| *e == event).count()
    }
}

fn id(a: &Action) -> u64 {
    a.id().unwrap_or_else(|| panic!("no job id: {a:?}"))
}

/// Names of every job squeue knows (queued, running or recently ended), for double submissions.
fn queue_names() -> Vec<String> {
    let out = std::process::Command::new("squeue").args(["-h", "-t", "all", "-o", "%j"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

#[test]
fn chain_runs_in_dependency_order_and_the_final_job_last() {
    if !slurm_or_skip("chain") {
        return;
    }
    let w = world("chain");
    // data takes a second: without afterok, train would start meanwhile and find it missing.
    let js = w.jobs(&[
        ("data", "data d", &[], 1.0),
        ("train", "train d/pad/seed0", &[0], 0.5),
        ("probe", "probe d/pad/seed0", &[1], 0.0),
        ("dreams", "dreams d/pad/seed0", &[1, 0], 0.0),
    ]);
    w.final_needs(&js);
    let t = Instant::now();
    let out = w.submit(&js, true, false);
    assert!(out.jobs.iter().all(|a| matches!(a, Action::Submitted { .. })), "{out:?}");
    let st = w.settle(&js);
    eprintln!("chain of 4 jobs (3 afterok hops) + final job: {:.1} s", t.elapsed().as_secs_f64());
    assert_eq!(st, vec![JobStatus::Fresh; 4]);
    let Some(fin) = &out.final_job else { panic!() };
    assert_eq!(final_status(&w.cache, "report", &w.config), JobStatus::Completed { id: id(fin) });
    assert!(w.cache.join("final-out/FINAL/manifest.json").is_file());
    // Each stage started only after its inputs were committed; the final job after everything.
    assert!(w.pos(&format!("done {}", js[0].key)) < w.pos(&format!("start {}", js[1].key)));
    assert!(w.pos(&format!("done {}", js[1].key)) < w.pos(&format!("start {}", js[2].key)));
    assert!(w.pos(&format!("done {}", js[1].key)) < w.pos(&format!("start {}", js[3].key)));
    for j in &js {
        assert!(w.pos(&format!("done {}", j.key)) < w.pos("start FINAL"));
    }
    // The job's environment: this cache, and as many threads as CPUs (final: 2, others: 1).
    let env = |k: &str| std::fs::read_to_string(w.ctl.join(format!("{k}.env"))).unwrap();
    assert_eq!(env(&js[1].key), format!("{}\n1\n", w.cache.display()));
    assert_eq!(env("FINAL"), format!("{}\n2\n", w.cache.display()));
    // The log is where the record says, with the job's output.
    let rec = SlurmRecord::read(&record_path(&w.cache, "train", &js[1].key)).unwrap().unwrap();
    assert_eq!(rec.job_id, id(&out.jobs[1]));
    assert_eq!(std::fs::read_to_string(&rec.log).unwrap(), format!("computed {}\n", js[1].key));
}

#[test]
fn failure_cancels_dependants_and_a_rerun_submits_only_what_is_missing() {
    if !slurm_or_skip("failure") {
        return;
    }
    let w = world("failure");
    let js = w.jobs(&[
        ("data", "data d", &[], 0.0),
        ("train", "train d/pad/seed0", &[0], 0.0),
        ("probe", "probe d/pad/seed0", &[1], 0.0),
        ("dreams", "dreams d/pad/seed0", &[2], 0.0),
        ("data", "data other", &[], 0.0),
    ]);
    w.final_needs(&js);
    w.flag(&js[1].key, "fail", true);
    let t = Instant::now();
    let first = w.submit(&js, true, false);
    let st = w.settle(&js);
    eprintln!("failure and the cancellation of 2 dependants + final job: {:.1} s", t.elapsed().as_secs_f64());
    assert_eq!((&st[0], &st[4]), (&JobStatus::Fresh, &JobStatus::Fresh));
    let JobStatus::Failed { id: fid, state, log: Some(log), .. } = &st[1] else { panic!("{:?}", st[1]) };
    assert_eq!((*fid, state.as_deref()), (id(&first.jobs[1]), Some("FAILED")));
    assert_eq!(std::fs::read_to_string(log).unwrap(), format!("failing on purpose: {}\n", js[1].key));
    assert!(st[1].to_string().contains("exit code 1:0"), "{}", st[1]);
    for (s, a) in st[2..4].iter().zip(&first.jobs[2..4]) {
        let want = JobStatus::Failed {
            id: id(a),
            state: Some("CANCELLED".into()),
            reason: Some("DependencyNeverSatisfied".into()),
            exit_code: Some("0:0".into()),
            log: None,
        };
        assert_eq!(s, &want);
    }
    assert!(matches!(final_status(&w.cache, "report", &w.config), JobStatus::Failed { .. }));

    // Fixed; the caller passes what is missing (deps re-indexed), as `pad run` would.
    w.flag(&js[1].key, "fail", false);
    let missing: Vec<Job> = vec![
        Job { deps: vec![], ..js[1].clone() },
        Job { deps: vec![0], ..js[2].clone() },
        Job { deps: vec![1], ..js[3].clone() },
    ];
    let second = w.submit(&missing, true, false);
    for (a, old) in second.jobs.iter().zip(&first.jobs[1..4]) {
        assert!(matches!(a, Action::Submitted { .. }) && id(a) != id(old), "{a:?} vs {old:?}");
    }
    assert_eq!(w.settle(&js), vec![JobStatus::Fresh; 5]);
    assert!(matches!(final_status(&w.cache, "report", &w.config), JobStatus::Completed { .. }));
    assert_eq!(w.count(&format!("start {}", js[0].key)), 1);
    assert_eq!(w.count(&format!("start {}", js[4].key)), 1);
    assert_eq!(w.count(&format!("start {}", js[1].key)), 2);
    assert_eq!(w.count(&format!("start {}", js[2].key)), 1, "cancelled, so it ran only once");
}

#[test]
fn queued_and_running_jobs_are_never_submitted_twice() {
    if !slurm_or_skip("twice") {
        return;
    }
    let w = world("twice");
    let js = w.jobs(&[("data", "data d", &[], 0.0), ("probe", "probe d", &[0], 0.0)]);
    w.flag(&js[0].key, "gate", true);
    let first = w.submit(&js, false, false);
    let t = Instant::now();
    while w.statuses(&js)[0] != (JobStatus::Running { id: id(&first.jobs[0]) }) {
        assert!(t.elapsed() < Duration::from_secs(120), "{:?}", w.statuses(&js));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(w.statuses(&js)[1], JobStatus::Queued { id: id(&first.jobs[1]) });
    for dry_run in [true, false] {
        let again = w.submit(&js, false, dry_run);
        assert_eq!(again.jobs[0], Action::Reused { id: id(&first.jobs[0]), state: "RUNNING".into() });
        assert_eq!(again.jobs[1], Action::Reused { id: id(&first.jobs[1]), state: "PENDING".into() });
    }
    let names = queue_names();
    for j in &js {
        let n = pad::pipeline::slurm::job_name(&j.stage, &j.key);
        assert_eq!(names.iter().filter(|x| **x == n).count(), 1, "{n} in {names:?}");
    }
    w.flag(&js[0].key, "gate", false);
    assert_eq!(w.settle(&js), vec![JobStatus::Fresh; 2]);
    assert_eq!(w.count(&format!("start {}", js[0].key)), 1);
    assert_eq!(w.count(&format!("start {}", js[1].key)), 1);
}

#[test]
fn a_record_of_a_job_slurm_no_longer_knows_is_resubmitted() {
    if !slurm_or_skip("stale") {
        return;
    }
    let w = world("stale");
    let js = w.jobs(&[("data", "data d", &[], 0.0)]);
    // As after a clean cluster restart: the recorded id is unknown (squeue fails for a single
    // unknown id), and the job left no log.
    let rec = SlurmRecord {
        job_id: 987_654_321,
        job_name: pad::pipeline::slurm::job_name("data", &js[0].key),
        submitted: 0,
        log: w.cache.join("logs/data/none.log"),
        after: vec![],
    };
    rec.write(&record_path(&w.cache, "data", &js[0].key)).unwrap();
    assert!(
        matches!(&w.statuses(&js)[0], JobStatus::Unknown { id: Some(987_654_321), reason } if reason.contains("no longer known")),
        "{:?}",
        w.statuses(&js)
    );
    let out = w.submit(&js, false, false);
    assert!(matches!(out.jobs[0], Action::Submitted { .. }), "{out:?}");
    assert_eq!(w.settle(&js), vec![JobStatus::Fresh]);
}

/// The jobs squeue knows (any state) that write their logs into `cache`: (name, id).
fn jobs_of(cache: &std::path::Path) -> Vec<(String, u64)> {
    let out = std::process::Command::new("squeue")
        .args(["-h", "-t", "all", "-O", "JobID:|,Name:|,StdOut:|"])
        .output()
        .unwrap();
    let logs = format!("{}/logs/", cache.display().to_string().replace('%', "%%"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(3, '|').collect();
            (f.len() == 3 && f[2].starts_with(&logs)).then(|| (f[1].to_string(), f[0].trim().parse().unwrap()))
        })
        .collect()
}

#[test]
fn two_submitters_at_once_submit_each_key_once() {
    if !slurm_or_skip("concurrent") {
        return;
    }
    let w = world("concurrent");
    let js = w.jobs(&[
        ("data", "data d", &[], 0.0),
        ("train", "train d/pad/seed0", &[0], 0.0),
        ("probe", "probe d/pad/seed0", &[1], 0.0),
        ("dreams", "dreams d/pad/seed0", &[1, 0], 0.0),
        ("data", "data e", &[], 0.0),
    ]);
    w.final_needs(&js);
    // The first job waits, so nothing completes while the two submit.
    w.flag(&js[0].key, "gate", true);
    let start = std::sync::Barrier::new(2);
    let outs: Vec<_> = std::thread::scope(|s| {
        let run = || {
            start.wait();
            w.submit(&js, true, false)
        };
        let a = s.spawn(run);
        let b = s.spawn(run);
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let submitted: usize = outs
        .iter()
        .map(|o| o.jobs.iter().chain(&o.final_job).filter(|a| matches!(a, Action::Submitted { .. })).count())
        .sum();
    assert_eq!(submitted, js.len() + 1, "{outs:?}");
    for (a, b) in outs[0].jobs.iter().chain(&outs[0].final_job).zip(outs[1].jobs.iter().chain(&outs[1].final_job)) {
        assert_eq!(id(a), id(b), "both submitters wait for the same jobs");
    }
    let mut names: Vec<String> = jobs_of(&w.cache).into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(names.len(), js.len() + 1, "{names:?}");
    names.dedup();
    assert_eq!(names.len(), js.len() + 1, "no job name twice");
    w.flag(&js[0].key, "gate", false);
    assert_eq!(w.settle(&js), vec![JobStatus::Fresh; js.len()]);
    assert!(matches!(final_status(&w.cache, "report", &w.config), JobStatus::Completed { .. }));
    for j in &js {
        assert_eq!(w.count(&format!("start {}", j.key)), 1);
    }
    assert_eq!(w.count("start FINAL"), 1);
}

#[test]
fn a_job_whose_record_is_lost_and_reruns_in_flight_keep_one_job_per_key_and_one_report() {
    if !slurm_or_skip("lost") {
        return;
    }
    let w = world("lost");
    let js = w.jobs(&[("data", "data d", &[], 0.0), ("probe", "probe d", &[0], 0.0), ("data", "data e", &[], 0.0)]);
    w.final_needs(&js);
    w.flag(&js[0].key, "gate", true);
    let first = w.submit(&js, true, false);
    // data e completes while data d waits: the rerun's final job waits for a subset of the jobs
    // the first one waits for, so it is kept, not doubled.
    let t = Instant::now();
    while w.statuses(&js)[2] != JobStatus::Fresh {
        assert!(t.elapsed() < Duration::from_secs(120), "{:?}", w.statuses(&js));
        std::thread::sleep(Duration::from_millis(100));
    }
    // The probe's record is deleted (what the "unreadable record" error tells the user to do)
    // while its job waits.
    std::fs::remove_file(record_path(&w.cache, "probe", &js[1].key)).unwrap();
    for _ in 0..2 {
        let again = w.submit(&js, true, false);
        assert_eq!(again.jobs[1], Action::Reused { id: id(&first.jobs[1]), state: "PENDING".into() });
        assert_eq!(again.jobs[2], Action::Fresh);
        let (Some(a), Some(f)) = (&again.final_job, &first.final_job) else { panic!() };
        assert_eq!(id(a), id(f), "{again:?}");
    }
    let rec = SlurmRecord::read(&record_path(&w.cache, "probe", &js[1].key)).unwrap().unwrap();
    assert_eq!((rec.job_id, rec.job_name.as_str()), (id(&first.jobs[1]), job_name("probe", &js[1].key).as_str()));
    assert_eq!(jobs_of(&w.cache).len(), js.len() + 1, "{:?}", jobs_of(&w.cache));
    w.flag(&js[0].key, "gate", false);
    assert_eq!(w.settle(&js), vec![JobStatus::Fresh; 3]);
    assert_eq!(w.count(&format!("start {}", js[1].key)), 1);
    assert_eq!(w.count("start FINAL"), 1);
}

#[test]
fn a_killed_stage_and_a_failed_report_say_why_with_their_logs() {
    if !slurm_or_skip("killed") {
        return;
    }
    let w = world("killed");
    let js = w.jobs(&[("data", "data d", &[], 0.0), ("train", "train d/pad/seed0", &[0], 0.0)]);
    w.final_needs(&js);
    w.flag(&js[1].key, "kill", true);
    w.submit(&js, true, false);
    let st = w.settle(&js);
    let JobStatus::Failed { log: Some(log), .. } = &st[1] else { panic!("{st:?}") };
    let line = st[1].to_string();
    assert!(line.contains(": FAILED, killed by signal 9 (SIGKILL)); log: "), "{line}");
    assert!(!line.contains("JobLaunchFailure"), "{line}");
    assert_eq!(log_tail(log, 2), ["epoch 1 of 50", format!("killed mid-run: {}", js[1].key).as_str()]);
    let fin = final_status(&w.cache, "report", &w.config);
    assert!(matches!(fin, JobStatus::Failed { log: None, .. }), "cancelled, as its input failed: {fin}");

    // The stages fixed, the report itself fails: it is shown failed, with its log.
    w.flag(&js[1].key, "kill", false);
    w.flag("FINAL", "fail", true);
    w.submit(&js[1..2].iter().map(|j| Job { deps: vec![], ..j.clone() }).collect::<Vec<_>>(), true, false);
    assert_eq!(w.settle(&js), vec![JobStatus::Fresh; 2]);
    let fin = final_status(&w.cache, "report", &w.config);
    let JobStatus::Failed { log: Some(log), .. } = &fin else { panic!("{fin:?}") };
    assert!(fin.to_string().contains(": FAILED, exit code 1:0, NonZeroExitCode); log: "), "{fin}");
    assert_eq!(log_tail(log, 5), ["failing on purpose: FINAL"]);
}
