//! Submission and status against a fake Slurm (no cluster needed): what is submitted, in which
//! order, waiting for what, and what is kept, refused or reported.
use super::ctl::{QueueEntry, SlurmCtl};
use super::*;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Something another submitter does while this one runs (see `Fake::meanwhile`).
type Meanwhile = Box<dyn FnOnce(&Fake)>;

/// Records sbatch calls, gives ids 1, 2, ... and keeps each new job PENDING in its queue.
#[derive(Default)]
struct Fake {
    calls: RefCell<Vec<Vec<String>>>,
    queue: RefCell<BTreeMap<u64, QueueEntry>>,
    next: RefCell<u64>,
    cancelled: RefCell<Vec<u64>>,
    /// Run once, right after the first squeue by name has answered: another `pad run` acting
    /// between this one's first look and its submissions.
    meanwhile: RefCell<Option<Meanwhile>>,
    /// sbatch fails on this call (0-based), as a controller that stops answering would.
    fail_call: Option<usize>,
    squeue_down: bool,
}

impl SlurmCtl for Fake {
    fn sbatch(&self, args: &[String]) -> Result<u64, SlurmError> {
        if self.fail_call == Some(self.calls.borrow().len()) {
            return Err(SlurmError::Command {
                command: "sbatch".into(),
                status: "exit status: 1".into(),
                stderr: "Socket timed out".into(),
            });
        }
        self.calls.borrow_mut().push(args.to_vec());
        let mut next = self.next.borrow_mut();
        *next += 1;
        let name = args.iter().find_map(|a| a.strip_prefix("--job-name=")).unwrap().to_string();
        let stdout = args.iter().find_map(|a| a.strip_prefix("--output=")).unwrap().to_string();
        let entry = QueueEntry { state: "PENDING".into(), reason: "None".into(), name, exit_code: None, stdout };
        self.queue.borrow_mut().insert(*next, entry);
        Ok(*next)
    }
    fn squeue_names(&self, names: &[String]) -> Result<BTreeMap<u64, QueueEntry>, SlurmError> {
        let all = self.squeue(&self.queue.borrow().keys().copied().collect::<Vec<_>>())?;
        let found = all.into_iter().filter(|(_, q)| names.contains(&q.name) && q.is_active()).collect();
        let hook = self.meanwhile.borrow_mut().take();
        if let Some(f) = hook {
            f(self);
        }
        Ok(found)
    }
    fn scancel(&self, id: u64) -> Result<(), SlurmError> {
        self.cancelled.borrow_mut().push(id);
        self.set(id, "CANCELLED", "None");
        Ok(())
    }
    fn squeue(&self, ids: &[u64]) -> Result<BTreeMap<u64, QueueEntry>, SlurmError> {
        if self.squeue_down {
            return Err(SlurmError::Command {
                command: "squeue".into(),
                status: "exit status: 1".into(),
                stderr: "Unable to contact slurm controller".into(),
            });
        }
        Ok(self.queue.borrow().iter().filter(|(id, _)| ids.contains(id)).map(|(k, v)| (*k, v.clone())).collect())
    }
}

impl Fake {
    fn set(&self, id: u64, state: &str, reason: &str) {
        let mut q = self.queue.borrow_mut();
        let e = q.get_mut(&id).unwrap();
        e.state = state.into();
        e.reason = reason.into();
    }
    fn arg(&self, call: usize, prefix: &str) -> Option<String> {
        self.calls.borrow()[call].iter().find_map(|a| a.strip_prefix(prefix)).map(String::from)
    }
}

fn key(i: usize) -> String {
    format!("{:x}{}", 0xabc00 + i, "0123456789abcdef".repeat(4))[..64].to_string()
}

/// data -> train -> probe, and dreams after train and data.
fn jobs() -> Vec<Job> {
    let j = |i: usize, stage: &str, label: &str, deps: Vec<usize>| Job {
        key: key(i),
        stage: stage.into(),
        label: label.into(),
        deps,
    };
    vec![
        j(0, "data", "data fashion-demo", vec![]),
        j(1, "train", "train fashion-demo/pad/seed0", vec![0]),
        j(2, "probe", "probe fashion-demo/pad/seed0 e2", vec![1]),
        j(3, "dreams", "dreams fashion-demo/pad/seed0 e2", vec![1, 0]),
    ]
}

struct Env {
    _dir: tempfile::TempDir,
    cache: PathBuf,
    command: Vec<String>,
    config: SlurmConfig,
    report: Vec<String>,
    report_id: String,
}

fn env() -> Env {
    // A blank and a '%' in the cache path: both must survive --output and --wrap.
    let dir = tempfile::Builder::new().prefix("pad slurm %u ").tempdir().unwrap();
    let cache = dir.path().join("cache");
    let config: SlurmConfig =
        toml::from_str("mem = \"2G\"\ntime = \"00:30:00\"\n[stages.train]\ncpus_per_task = 4\ntime = \"1-00:00:00\"\n")
            .unwrap();
    let command = ["/opt/pad dir/pad", "stage", "run", "--config", "/w/pipeline.toml", "--profile", "demo"]
        .map(String::from)
        .to_vec();
    let report = ["/opt/pad dir/pad", "run", "--profile", "demo", "report"].map(String::from).to_vec();
    Env { _dir: dir, cache, command, config, report, report_id: "report of demo".into() }
}

impl Env {
    fn sub<'a>(&'a self, jobs: &'a [Job], dry_run: bool) -> Submission<'a> {
        Submission {
            jobs,
            command: &self.command,
            cache: &self.cache,
            config: &self.config,
            final_job: Some(FinalJob { id: &self.report_id, argv: &self.report }),
            dry_run,
        }
    }
    fn complete(&self, job: &Job) {
        let d = self.cache.join(&job.stage).join(&job.key);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("manifest.json"), "{}").unwrap();
    }
    fn record(&self, job: &Job) -> Option<SlurmRecord> {
        SlurmRecord::read(&record_path(&self.cache, &job.stage, &job.key)).unwrap()
    }
}

fn ids(o: &Outcome) -> Vec<Option<u64>> {
    o.jobs.iter().map(Action::id).collect()
}

#[test]
fn submits_in_dependency_order_with_afterok_resources_names_and_logs() {
    let (e, js, fake) = (env(), jobs(), Fake::default());
    let out = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(ids(&out), [Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(fake.arg(0, "--dependency="), None);
    assert_eq!(fake.arg(1, "--dependency=").as_deref(), Some("afterok:1"));
    assert_eq!(fake.arg(2, "--dependency=").as_deref(), Some("afterok:2"));
    assert_eq!(fake.arg(3, "--dependency=").as_deref(), Some("afterok:2:1"));
    assert_eq!(fake.arg(4, "--dependency=").as_deref(), Some("afterok:1:2:3:4"), "final job waits for all");
    for call in 0..5 {
        assert_eq!(fake.arg(call, "--kill-on-invalid-dep=").as_deref(), Some("yes"));
        assert_eq!(fake.arg(call, "--mem=").as_deref(), Some("2G"));
    }
    // Per-stage override: train gets 4 CPUs, 4 threads and a day; others 1, 1 and 30 min.
    assert_eq!(fake.arg(1, "--cpus-per-task=").as_deref(), Some("4"));
    assert_eq!(fake.arg(1, "--time=").as_deref(), Some("1-00:00:00"));
    assert!(fake.arg(1, "--wrap=").unwrap().contains("RAYON_NUM_THREADS=4;"));
    assert_eq!(fake.arg(2, "--cpus-per-task=").as_deref(), Some("1"));
    assert_eq!(fake.arg(2, "--time=").as_deref(), Some("00:30:00"));
    assert!(fake.arg(2, "--wrap=").unwrap().contains("RAYON_NUM_THREADS=1;"));

    let cache = e.cache.to_str().unwrap();
    assert_eq!(fake.arg(1, "--job-name=").unwrap(), format!("pad-train-{}", &js[1].key[..12]));
    assert_eq!(
        fake.arg(1, "--output=").unwrap(),
        format!("{}/logs/train/{}.%j.log", cache.replace('%', "%%"), js[1].key)
    );
    let wrap = fake.arg(1, "--wrap=").unwrap();
    assert_eq!(
        wrap,
        format!(
            "export PAD_CACHE='{cache}' RAYON_NUM_THREADS=4; exec '/opt/pad dir/pad' stage run --config \
             /w/pipeline.toml --profile demo {}",
            js[1].key
        )
    );
    assert!(fake.arg(4, "--wrap=").unwrap().ends_with("exec '/opt/pad dir/pad' run --profile demo report"));
    assert!(fake.arg(4, "--job-name=").unwrap().starts_with("pad-final-"));

    // Records: id, name, log path with the id filled in; the log directories exist for sbatch.
    let rec = e.record(&js[1]).unwrap();
    assert_eq!((rec.job_id, rec.after.as_slice()), (2, &[1][..]));
    assert_eq!(rec.job_name, "pad-train-abc010123456");
    assert_eq!(rec.log, e.cache.join("logs/train").join(format!("{}.2.log", js[1].key)));
    assert!(e.cache.join("logs/train").is_dir() && e.cache.join("logs/final").is_dir());
    assert_eq!(out.final_job.as_ref().and_then(Action::id), Some(5));
    let lines = out.describe(&js);
    assert!(lines[1].starts_with("submitted  train fashion-demo/pad/seed0: job 2, log "), "{lines:?}");
}

#[test]
fn second_submission_keeps_queued_and_running_jobs() {
    let (e, js, fake) = (env(), jobs(), Fake::default());
    submit_with(&e.sub(&js, false), &fake).unwrap();
    fake.set(1, "RUNNING", "None");
    let again = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(fake.calls.borrow().len(), 5, "nothing submitted twice");
    assert_eq!(again.jobs[0], Action::Reused { id: 1, state: "RUNNING".into() });
    assert_eq!(again.jobs[3], Action::Reused { id: 4, state: "PENDING".into() });
    assert_eq!(again.final_job, Some(Action::Reused { id: 5, state: "PENDING".into() }));
    assert!(again.describe(&js)[0].contains("job 1 (RUNNING) kept"));
}

#[test]
fn after_a_failure_only_what_is_missing_is_resubmitted_and_waits_for_the_new_ids() {
    let (e, js, fake) = (env(), jobs(), Fake::default());
    submit_with(&e.sub(&js, false), &fake).unwrap();
    // data succeeded, train failed, its dependants and the final job were cancelled by Slurm.
    fake.set(1, "COMPLETED", "None");
    e.complete(&js[0]);
    fake.set(2, "FAILED", "NonZeroExitCode");
    for id in [3, 4, 5] {
        fake.set(id, "CANCELLED", "DependencyNeverSatisfied");
    }
    let out = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(ids(&out), [None, Some(6), Some(7), Some(8)]);
    assert_eq!(out.jobs[0], Action::Fresh);
    assert_eq!(fake.arg(5, "--dependency="), None, "train's only input is fresh");
    assert_eq!(fake.arg(6, "--dependency=").as_deref(), Some("afterok:6"));
    assert_eq!(fake.arg(7, "--dependency=").as_deref(), Some("afterok:6"), "fresh data dropped");
    assert_eq!(fake.arg(8, "--dependency=").as_deref(), Some("afterok:6:7:8"));
    assert_eq!(out.final_job.as_ref().and_then(Action::id), Some(9));
    assert_eq!(e.record(&js[1]).unwrap().job_id, 6);
}

#[test]
fn final_job_is_resubmitted_when_what_it_waits_for_changed() {
    let (e, js, fake) = (env(), jobs(), Fake::default());
    submit_with(&e.sub(&js, false), &fake).unwrap();
    // probe's job vanished (e.g. scancel and MinJobAge) while the old final job still pends on it.
    fake.queue.borrow_mut().remove(&3);
    let out = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(ids(&out), [Some(1), Some(2), Some(6), Some(4)]);
    assert_eq!(fake.arg(5, "--dependency=").as_deref(), Some("afterok:2"));
    assert_eq!(out.final_job.as_ref().and_then(Action::id), Some(7));
    assert_eq!(fake.arg(6, "--dependency=").as_deref(), Some("afterok:1:2:6:4"));
    assert_eq!(*fake.cancelled.borrow(), [5], "the old final job, still waiting, is cancelled");
}

#[test]
fn a_second_submitter_that_got_there_first_is_seen_under_the_claim() {
    let (e, js) = (env(), jobs());
    let fake = Fake::default();
    // Between this submission's first look (no records, nothing queued under the names) and its
    // first sbatch, another one submits every key and the final job.
    let (cache, command, config, report, report_id) =
        (e.cache.clone(), e.command.clone(), e.config.clone(), e.report.clone(), e.report_id.clone());
    let others = js.clone();
    *fake.meanwhile.borrow_mut() = Some(Box::new(move |f: &Fake| {
        let sub = Submission {
            jobs: &others,
            command: &command,
            cache: &cache,
            config: &config,
            final_job: Some(FinalJob { id: &report_id, argv: &report }),
            dry_run: false,
        };
        let out = submit_with(&sub, f).unwrap();
        assert_eq!(ids(&out), [Some(1), Some(2), Some(3), Some(4)]);
    }));
    let out = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(fake.calls.borrow().len(), 5, "each key and the final job submitted once in all");
    assert_eq!(out.jobs, (1..=4).map(|id| Action::Reused { id, state: "PENDING".into() }).collect::<Vec<_>>());
    assert_eq!(out.final_job, Some(Action::Reused { id: 5, state: "PENDING".into() }));
    assert!(fake.cancelled.borrow().is_empty());
    let names: Vec<_> = std::fs::read_dir(e.cache.join("train")).unwrap().map(|d| d.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "the record only, no claim left: {names:?}");
}

#[test]
fn a_job_queued_without_its_record_is_found_by_name_and_kept() {
    let (e, js, fake) = (env(), jobs(), Fake::default());
    submit_with(&e.sub(&js, false), &fake).unwrap();
    // The train record is deleted (as its "unreadable record" error says) while the job waits.
    let rec = record_path(&e.cache, "train", &js[1].key);
    let before = SlurmRecord::read(&rec).unwrap().unwrap();
    std::fs::remove_file(&rec).unwrap();
    let dry = submit_with(&e.sub(&js, true), &fake).unwrap();
    assert_eq!(dry.jobs[1], Action::Reused { id: 2, state: "PENDING".into() });
    assert!(!rec.exists(), "a dry run writes nothing");
    let out = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(out.jobs[1], Action::Reused { id: 2, state: "PENDING".into() });
    assert_eq!(fake.calls.borrow().len(), 5, "nothing submitted twice");
    let after = SlurmRecord::read(&rec).unwrap().unwrap();
    assert_eq!((after.job_id, after.job_name, after.log), (2, before.job_name, before.log));
    assert_eq!(out.final_job, Some(Action::Reused { id: 5, state: "PENDING".into() }));

    // The same name from another cache (keys do not depend on the cache) is not ours.
    std::fs::remove_file(&rec).unwrap();
    fake.queue.borrow_mut().get_mut(&2).unwrap().stdout = "/elsewhere/logs/train/x.%j.log".into();
    let out = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(out.jobs[1], Action::Submitted { id: 6, log: e.cache.join(format!("logs/train/{}.6.log", js[1].key)) });
}

#[test]
fn one_final_job_waits_at_a_time() {
    let (e, js, fake) = (env(), jobs(), Fake::default());
    submit_with(&e.sub(&js, false), &fake).unwrap();
    // data completed; rerun while the rest is in flight: the final job waits for a subset of
    // what it already waits for, and is kept.
    fake.set(1, "COMPLETED", "None");
    e.complete(&js[0]);
    let out = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(out.final_job, Some(Action::Reused { id: 5, state: "PENDING".into() }));
    assert_eq!(fake.calls.borrow().len(), 5);
    // probe failed; Slurm has not yet cancelled the final job: a new one is submitted (after the
    // resubmitted probe) and the old one cancelled at once.
    fake.set(3, "FAILED", "NonZeroExitCode");
    let out = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(ids(&out), [None, Some(2), Some(6), Some(4)]);
    assert_eq!(out.final_job.as_ref().and_then(Action::id), Some(7));
    assert_eq!(fake.arg(6, "--dependency=").as_deref(), Some("afterok:2:6:4"));
    assert_eq!(*fake.cancelled.borrow(), [5]);
    let active =
        |f: &Fake| f.queue.borrow().values().filter(|q| q.name.starts_with("pad-final") && q.is_active()).count();
    assert_eq!(active(&fake), 1);
    // A final job already running is left to finish, whatever replaces it.
    fake.set(7, "RUNNING", "None");
    fake.set(6, "FAILED", "NonZeroExitCode");
    let out = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(out.final_job.as_ref().and_then(Action::id), Some(9));
    assert_eq!(*fake.cancelled.borrow(), [5]);
}

#[test]
fn an_id_recycled_by_another_job_is_not_mistaken_for_ours() {
    let (e, js, fake) = (env(), jobs(), Fake::default());
    submit_with(&e.sub(&js[..1], false), &fake).unwrap();
    // After a clean cluster restart, id 1 belongs to someone else's running job.
    let other = QueueEntry { state: "RUNNING".into(), name: "other".into(), ..fake.queue.borrow()[&1].clone() };
    fake.queue.borrow_mut().insert(1, other);
    let out = submit_with(&e.sub(&js[..1], false), &fake).unwrap();
    assert_eq!(ids(&out), [Some(3)]);
}

#[test]
fn complete_keys_are_fresh_whatever_their_record_says() {
    let (e, js, fake) = (env(), jobs(), Fake::default());
    submit_with(&e.sub(&js, false), &fake).unwrap();
    for (i, j) in js.iter().enumerate() {
        fake.set(i as u64 + 1, "FAILED", "NonZeroExitCode");
        e.complete(j);
    }
    let out = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(out.jobs, vec![Action::Fresh; 4]);
    // Nothing is missing, so the final job runs at once: no dependency.
    assert_eq!(out.final_job.as_ref().and_then(Action::id), Some(6));
    assert_eq!(fake.arg(5, "--dependency="), None);
    let sub = Submission { final_job: None, ..e.sub(&js, false) };
    assert_eq!(submit_with(&sub, &fake).unwrap().final_job, None);
    assert_eq!(fake.calls.borrow().len(), 6);
}

#[test]
fn dry_run_prints_commands_with_placeholders_and_writes_nothing() {
    let (e, js, fake) = (env(), jobs(), Fake::default());
    let out = submit_with(&e.sub(&js, true), &fake).unwrap();
    assert!(fake.calls.borrow().is_empty());
    assert!(!e.cache.exists(), "a dry run creates no directory, record or log");
    let Action::Planned { command } = &out.jobs[3] else { panic!("{:?}", out.jobs[3]) };
    assert!(command.starts_with("sbatch --parsable --job-name=pad-dreams-"), "{command}");
    assert!(command.contains("'--dependency=afterok:{train fashion-demo/pad/seed0}:{data fashion-demo}'"), "{command}");
    let Some(Action::Planned { command: fin }) = &out.final_job else { panic!() };
    assert!(fin.contains("{probe fashion-demo/pad/seed0 e2}:{dreams fashion-demo/pad/seed0 e2}"), "{fin}");

    // With data already queued, its real id appears instead of a placeholder.
    submit_with(&Submission { final_job: None, ..e.sub(&js[..1], false) }, &fake).unwrap();
    let out = submit_with(&e.sub(&js, true), &fake).unwrap();
    assert_eq!(out.jobs[0], Action::Reused { id: 1, state: "PENDING".into() });
    let Action::Planned { command } = &out.jobs[1] else { panic!() };
    assert!(command.contains(" --dependency=afterok:1 "), "{command}");
    assert_eq!(fake.calls.borrow().len(), 1);
    // The printed line is a valid shell command that gives back sbatch's exact arguments.
    let echoed = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("printf '%s\\0' {}", command.strip_prefix("sbatch ").unwrap()))
        .output()
        .unwrap();
    let words: Vec<&str> = std::str::from_utf8(&echoed.stdout).unwrap().split_terminator('\0').collect();
    assert_eq!(
        words.last().unwrap(),
        &format!(
            "--wrap={}",
            command::wrap_command(e.cache.to_str().unwrap(), 4, &{
                let mut a = e.command.clone();
                a.push(js[1].key.clone());
                a
            })
        )
    );
}

#[test]
fn failed_sbatch_stops_with_the_job_named_and_a_rerun_submits_only_the_rest() {
    let (e, js) = (env(), jobs());
    let fake = Fake { fail_call: Some(2), ..Fake::default() };
    let err = submit_with(&e.sub(&js, false), &fake).unwrap_err().to_string();
    assert!(err.contains("submitting probe fashion-demo/pad/seed0 e2") && err.contains("2 job(s) submitted"), "{err}");
    assert!(err.contains("Socket timed out"), "{err}");
    assert!(e.record(&js[1]).is_some() && e.record(&js[2]).is_none());
    assert!(e.cache.join("logs/train").is_dir());
    assert!(!e.cache.join("logs/probe").exists(), "no empty log directory left by the failed submission");
    let fake = Fake { fail_call: None, ..fake };
    let out = submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(
        out.jobs[..2],
        [Action::Reused { id: 1, state: "PENDING".into() }, Action::Reused { id: 2, state: "PENDING".into() }]
    );
    assert_eq!(ids(&out)[2..], [Some(3), Some(4)]);
    assert_eq!(fake.arg(2, "--dependency=").as_deref(), Some("afterok:2"));
}

#[test]
fn no_submission_when_squeue_cannot_say_what_is_queued() {
    let (e, js, fake) = (env(), jobs(), Fake::default());
    submit_with(&e.sub(&js, false), &fake).unwrap();
    let down = Fake { squeue_down: true, ..Fake::default() };
    let err = submit_with(&e.sub(&js, false), &down).unwrap_err().to_string();
    assert!(err.contains("Unable to contact slurm controller"), "{err}");
    assert!(down.calls.borrow().is_empty(), "submitting blind could run every key twice");
}

#[test]
fn bad_input_is_refused_before_anything_is_submitted() {
    let (e, fake) = (env(), Fake::default());
    let mut js = jobs();
    js[1].deps = vec![2];
    let err = submit_with(&e.sub(&js, false), &fake).unwrap_err().to_string();
    assert!(err.contains("job train fashion-demo/pad/seed0: input #2 does not come before it (#1)"), "{err}");
    let mut js = jobs();
    js[2].key = "../x".into();
    let err = submit_with(&e.sub(&js, false), &fake).unwrap_err().to_string();
    assert!(err.contains("job probe fashion-demo/pad/seed0 e2: key \"../x\" is not a name"), "{err}");
    let js = jobs();
    let empty: Vec<String> = vec![];
    let err = submit_with(&Submission { command: &empty, ..e.sub(&js, false) }, &fake).unwrap_err().to_string();
    assert!(err.contains("stage command: is empty"), "{err}");
    let fin = FinalJob { id: "x", argv: &empty };
    let err = submit_with(&Submission { final_job: Some(fin), ..e.sub(&js, false) }, &fake).unwrap_err().to_string();
    assert!(err.contains("final job: command is empty"), "{err}");
    let rel = PathBuf::from("rel/cache");
    let err = submit_with(&Submission { cache: &rel, ..e.sub(&js, false) }, &fake).unwrap_err().to_string();
    assert!(err.contains("cache rel/cache: must be absolute"), "{err}");
    let bs = PathBuf::from("/a\\b");
    let err = submit_with(&Submission { cache: &bs, ..e.sub(&js, false) }, &fake).unwrap_err().to_string();
    assert!(err.contains("backslash"), "{err}");
    assert!(fake.calls.borrow().is_empty());
}

/// A jobcomp line for `id`, submitted at `when` (local time, as the log writes it).
fn jobcomp_line(id: u64, name: &str, state: &str, exit: &str, when: &str) -> String {
    format!("JobId={id} UserId=u(1) Name={name} JobState={state} Partition=debug SubmitTime={when} ExitCode={exit}\n")
}

#[test]
fn status_follows_cache_then_queue_then_logs() {
    let (mut e, js, fake) = (env(), jobs(), Fake::default());
    let jc = e.cache.join("jobcomp.log");
    e.config.jobcomp_log = Some(jc.to_str().unwrap().into());
    let more: Vec<Job> = (4..10)
        .map(|i| Job { key: key(i), stage: "probe".into(), label: format!("probe {i}"), deps: vec![] })
        .collect();
    let all: Vec<Job> = js.iter().chain(&more).cloned().collect();
    let sub = Submission { final_job: None, ..e.sub(&all[..9], false) };
    submit_with(&sub, &fake).unwrap(); // ids 1..=9; all[9] never submitted

    let when = "2026-11-28T22:02:36";
    let t = ctl::parse_jobcomp_line(&jobcomp_line(1, "x", "X", "0:0", when)).unwrap().1.submitted.unwrap() as u64;
    // Records as if submitted at `when`, so the jobcomp times below are comparable.
    for j in &all[..9] {
        let p = record_path(&e.cache, &j.stage, &j.key);
        let mut r = SlurmRecord::read(&p).unwrap().unwrap();
        r.submitted = t;
        r.write(&p).unwrap();
    }
    let rec = |i: usize| e.record(&all[i]).unwrap();
    e.complete(&all[0]); // fresh, though its job is still "pending"
    fake.set(3, "RUNNING", "None");
    fake.set(4, "FAILED", "NonZeroExitCode");
    std::fs::write(&rec(3).log, "Error: boom\n").unwrap();
    fake.set(5, "CANCELLED", "DependencyNeverSatisfied");
    // 6: left squeue; jobcomp says TIMEOUT. 7: left squeue; only an older job of that id and name
    // in jobcomp (before a cluster restart), no log. 8: left squeue, no jobcomp, a log.
    // 9: COMPLETED but the key is missing.
    for id in [6, 7, 8] {
        fake.queue.borrow_mut().remove(&id);
    }
    fake.set(9, "COMPLETED", "None");
    std::fs::write(&rec(7).log, "partial\n").unwrap();
    std::fs::write(
        &jc,
        [
            jobcomp_line(4, &rec(3).job_name, "FAILED", "1:0", when),
            jobcomp_line(6, &rec(5).job_name, "TIMEOUT", "0:15", "2026-11-28T22:05:00"),
            jobcomp_line(7, &rec(6).job_name, "FAILED", "2:0", "2026-11-28T20:00:00"),
        ]
        .concat(),
    )
    .unwrap();

    let keys: Vec<(&str, &str)> = all.iter().map(|j| (j.stage.as_str(), j.key.as_str())).collect();
    let st = statuses_with(&e.cache, &keys, &e.config, &fake);
    assert_eq!(st[0], JobStatus::Fresh);
    assert_eq!(st[1], JobStatus::Queued { id: 2 });
    assert_eq!(st[2], JobStatus::Running { id: 3 });
    assert_eq!(
        st[3],
        JobStatus::Failed {
            id: 4,
            state: Some("FAILED".into()),
            reason: Some("NonZeroExitCode".into()),
            exit_code: Some("1:0".into()),
            log: Some(rec(3).log)
        }
    );
    assert_eq!(
        st[3].to_string(),
        format!("failed (job 4: FAILED, exit code 1:0, NonZeroExitCode); log: {}", rec(3).log.display())
    );
    assert_eq!(st[4].to_string(), "failed (job 5: CANCELLED, an input's job failed; no log)");
    assert_eq!(
        st[5],
        JobStatus::Failed {
            id: 6,
            state: Some("TIMEOUT".into()),
            reason: None,
            exit_code: Some("0:15".into()),
            log: None
        }
    );
    assert!(
        matches!(&st[6], JobStatus::Unknown { id: Some(7), reason } if reason.contains("left no log")),
        "{:?}",
        st[6]
    );
    assert_eq!(
        st[7],
        JobStatus::Failed {
            id: 8,
            state: None,
            reason: Some("no longer known to Slurm".into()),
            exit_code: None,
            log: Some(rec(7).log)
        }
    );
    assert!(st[8].to_string().contains("COMPLETED, exited 0 without committing its cache entry"), "{}", st[8]);
    assert_eq!(st[9], JobStatus::NotSubmitted);

    // Without a controller: what the cache knows is still known, the rest is Unknown with why.
    let down = Fake { squeue_down: true, ..Fake::default() };
    let st = statuses_with(&e.cache, &keys[..3], &e.config, &down);
    assert_eq!(st[0], JobStatus::Fresh);
    assert!(
        matches!(&st[1], JobStatus::Unknown { id: Some(2), reason } if reason.contains("Unable to contact")),
        "{:?}",
        st[1]
    );
    // A corrupt record is named, not a panic.
    std::fs::write(record_path(&e.cache, &all[1].stage, &all[1].key), "{").unwrap();
    let st = statuses_with(&e.cache, &keys[1..2], &e.config, &fake);
    assert!(matches!(&st[0], JobStatus::Unknown { id: None, reason } if reason.contains(".slurm")), "{:?}", st[0]);
}

#[test]
fn final_status_is_completed_once_its_job_succeeded() {
    let (e, js, fake) = (env(), jobs(), Fake::default());
    assert_eq!(final_status_with(&e.cache, &e.report_id, &e.config, &fake), JobStatus::NotSubmitted);
    submit_with(&e.sub(&js, false), &fake).unwrap();
    assert_eq!(final_status_with(&e.cache, &e.report_id, &e.config, &fake), JobStatus::Queued { id: 5 });
    fake.set(5, "COMPLETED", "None");
    assert_eq!(final_status_with(&e.cache, &e.report_id, &e.config, &fake), JobStatus::Completed { id: 5 });
    fake.set(5, "CANCELLED", "DependencyNeverSatisfied");
    assert!(matches!(final_status_with(&e.cache, &e.report_id, &e.config, &fake), JobStatus::Failed { id: 5, .. }));
}

#[test]
fn a_job_killed_by_a_signal_is_shown_with_it_and_its_log_ends() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("k.9.log");
    // Progress bars redraw with carriage returns; only the last 8 KiB are read.
    let text = format!("{}\nepoch 1/50 [==>   ]\repoch 2/50 [====> ]\n\nlast words\n", "x".repeat(20_000));
    std::fs::write(&log, text).unwrap();
    assert_eq!(log_tail(&log, 3), ["epoch 1/50 [==>   ]", "epoch 2/50 [====> ]", "last words"]);
    assert_eq!(log_tail(&log, 9).len(), 3, "the cut first line is dropped");
    assert!(log_tail(&dir.path().join("absent.log"), 3).is_empty());

    let failed = |exit: &str, reason: &str, log: Option<PathBuf>| JobStatus::Failed {
        id: 9,
        state: Some("FAILED".into()),
        reason: Some(reason.into()),
        exit_code: Some(exit.into()),
        log,
    };
    let shown = failed("0:9", "JobLaunchFailure", Some(log.clone())).to_string();
    assert_eq!(shown, format!("failed (job 9: FAILED, killed by signal 9 (SIGKILL)); log: {}", log.display()));
    assert!(failed("0:15", "None", None).to_string().contains("killed by signal 15 (SIGTERM)"));
    // A job that never started: Slurm's own code, no log.
    let shown = failed("0:53", "JobLaunchFailure", None).to_string();
    assert!(shown.contains("exit code 0:53, could not start (JobLaunchFailure"), "{shown}");
    assert!(failed("1:0", "NonZeroExitCode", None).to_string().contains("exit code 1:0, NonZeroExitCode"));
}
