//! The Slurm executor: one sbatch job per stage missing from the cache, each waiting
//! (`--dependency=afterok`) for the jobs of its inputs, plus an optional final job (the report)
//! after all of them. It decides where a stage runs, never what it computes: each job runs
//! `pad stage run ... KEY`, which checks its inputs and commits into the shared cache.
//!
//! Nothing here keeps state of its own besides `<cache>/<stage>/<key>.slurm` (the job last
//! submitted for a key), so `pad run` can be repeated at any time: fresh keys are skipped, keys
//! whose job is still queued or running keep that job, and only the rest are submitted again.
//! A failed job's dependants are cancelled by Slurm itself (`--kill-on-invalid-dep=yes`).
//!
//! The plain-data input (`Job`) is independent of the plan's types, and this module reads nothing
//! of the cache but completeness (`Cache::is_complete`).
mod claim;
pub mod command;
pub mod config;
pub mod ctl;
mod error;
pub mod record;
mod status;

pub use claim::claim_path;
pub use command::{job_name, shell_line};
pub use config::{Resources, SlurmConfig, StageResources, FINAL_STAGE};
pub use ctl::{cluster_info, QueueEntry, SlurmCli, SlurmCtl};
pub use error::SlurmError;
use record::{final_id, final_job_name};
pub use record::{final_record_path, record_path, SlurmRecord};
pub use status::{final_status, final_status_with, log_tail, status, statuses, statuses_with, JobStatus};

use super::cache::Cache;
use command::After;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One stage to compute, as the executor needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub key: String,
    /// The stage's cache directory name, e.g. "train".
    pub stage: String,
    /// For people, e.g. "train fashion-demo/pad/seed0".
    pub label: String,
    /// Indices (into the same slice, all smaller) of inputs that are not yet fresh.
    pub deps: Vec<usize>,
}

/// The job that runs after all the others (the report).
#[derive(Debug, Clone, Copy)]
pub struct FinalJob<'a> {
    /// What makes two submissions' final jobs the same one (`pad run`: the experiment file and
    /// the profile): at most one job per identity is kept queued, the others are cancelled.
    pub id: &'a str,
    /// Its command, e.g. `pad run --profile P report`.
    pub argv: &'a [String],
}

/// Everything one submission needs.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    /// In dependency order (inputs first); normally only stages missing from the cache (a job
    /// whose key is complete by the time it is looked at is skipped as fresh).
    pub jobs: &'a [Job],
    /// The argv that computes one stage, to which the key is appended, e.g.
    /// [/abs/pad, stage, run, --config, /abs/pipeline.toml, --profile, demo].
    pub command: &'a [String],
    /// The cache root: absolute, on storage every node sees.
    pub cache: &'a Path,
    pub config: &'a SlurmConfig,
    /// Run after every job submitted or still queued.
    pub final_job: Option<FinalJob<'a>>,
    /// Print the sbatch commands instead of running them; nothing is written.
    pub dry_run: bool,
}

/// What became of one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Complete in the cache: nothing to do.
    Fresh,
    /// Its earlier job is still queued or running: kept, not submitted twice.
    Reused {
        id: u64,
        state: String,
    },
    Submitted {
        id: u64,
        log: PathBuf,
    },
    /// Dry run: the sbatch command line that would run.
    Planned {
        command: String,
    },
}

impl Action {
    /// The Slurm job a dependant waits for, if there is one.
    pub fn id(&self) -> Option<u64> {
        match self {
            Action::Reused { id, .. } | Action::Submitted { id, .. } => Some(*id),
            Action::Fresh | Action::Planned { .. } => None,
        }
    }
}

/// The result of a submission: one action per job (same order), and the final job's.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub jobs: Vec<Action>,
    pub final_job: Option<Action>,
}

impl Outcome {
    /// One line per job, for the terminal.
    pub fn describe(&self, jobs: &[Job]) -> Vec<String> {
        let line = |label: &str, a: &Action| match a {
            Action::Fresh => format!("fresh      {label}"),
            Action::Reused { id, state } => format!("queued     {label}: job {id} ({state}) kept"),
            Action::Submitted { id, log } => format!("submitted  {label}: job {id}, log {}", log.display()),
            Action::Planned { command } => format!("# {label}\n{command}"),
        };
        let mut out: Vec<String> = jobs.iter().zip(&self.jobs).map(|(j, a)| line(&j.label, a)).collect();
        if let Some(a) = &self.final_job {
            out.push(line("final job", a));
        }
        out
    }
}

/// Submits what is missing (see the module docs) with the Slurm command-line tools.
pub fn submit(sub: &Submission) -> Result<Outcome, SlurmError> {
    submit_with(sub, &SlurmCli)
}

/// Keys and stage names become paths and job names: letters, digits, '-', '_' only.
fn check_name(what: &str, label: &str, s: &str) -> Result<(), SlurmError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(SlurmError::Input {
            what: format!("job {label}"),
            msg: format!("{what} {s:?} is not a name (letters, digits, '-', '_')"),
        });
    }
    Ok(())
}

/// The cache root as the UTF-8 text that goes into --output and PAD_CACHE.
pub(crate) fn cache_text(cache: &Path) -> Result<&str, SlurmError> {
    let what = || format!("cache {}", cache.display());
    let text = cache.to_str().ok_or_else(|| SlurmError::Input { what: what(), msg: "path is not UTF-8".into() })?;
    if !cache.is_absolute() {
        return Err(SlurmError::Input { what: what(), msg: "must be absolute (jobs start elsewhere)".into() });
    }
    if text.contains('\\') {
        // sbatch reads a backslash in --output as "expand no % sequence", so %j would stay
        // literal and the log would not be where status looks.
        return Err(SlurmError::Input {
            what: what(),
            msg: "contains a backslash, which sbatch's --output reads as an escape".into(),
        });
    }
    Ok(text)
}

fn check_input(sub: &Submission) -> Result<(), SlurmError> {
    if sub.command.is_empty() {
        return Err(SlurmError::Input { what: "stage command".into(), msg: "is empty".into() });
    }
    if sub.final_job.is_some_and(|f| f.argv.is_empty()) {
        return Err(SlurmError::Input { what: "final job".into(), msg: "command is empty".into() });
    }
    cache_text(sub.cache)?;
    for (i, job) in sub.jobs.iter().enumerate() {
        check_name("key", &job.label, &job.key)?;
        check_name("stage", &job.label, &job.stage)?;
        if let Some(d) = job.deps.iter().find(|&&d| d >= i) {
            return Err(SlurmError::Input {
                what: format!("job {}", job.label),
                msg: format!("input #{d} does not come before it (#{i}): jobs must be in dependency order"),
            });
        }
    }
    Ok(())
}

/// A record whose job squeue still shows queued or running, under the same name.
fn live<'a>(rec: &Option<SlurmRecord>, queue: &'a BTreeMap<u64, QueueEntry>) -> Option<(u64, &'a QueueEntry)> {
    let rec = rec.as_ref()?;
    queue.get(&rec.job_id).filter(|q| q.name == rec.job_name && q.is_active()).map(|q| (rec.job_id, q))
}

/// A job queued or running under `name` that writes its log where this cache's job would: one
/// whose record is missing (deleted, or its submitter was killed before writing it). The same
/// name with another output path is another cache's job (keys do not depend on the cache).
fn by_name<'a>(found: &'a BTreeMap<u64, QueueEntry>, name: &str, pattern: &str) -> Vec<(u64, &'a QueueEntry)> {
    found
        .iter()
        .filter(|(_, q)| q.name == name && q.stdout == pattern && q.is_active())
        .map(|(id, q)| (*id, q))
        .collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The ids of the jobs a record names: its own and those it waits for.
fn record_ids(rec: &Option<SlurmRecord>) -> impl Iterator<Item = u64> + '_ {
    rec.iter().flat_map(|r| std::iter::once(r.job_id).chain(r.after.iter().copied()))
}

fn squeue_ids(slurm: &dyn SlurmCtl, ids: impl Iterator<Item = u64>) -> Result<BTreeMap<u64, QueueEntry>, SlurmError> {
    let mut ids: Vec<u64> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        Ok(BTreeMap::new())
    } else {
        slurm.squeue(&ids)
    }
}

/// The ids among `after` that are real jobs (a dry run's placeholders are not), sorted.
fn job_ids(after: &[After]) -> Vec<u64> {
    let mut ids: Vec<u64> =
        after.iter().filter_map(|a| if let After::Job(id) = a { Some(*id) } else { None }).collect();
    ids.sort_unstable();
    ids
}

/// One key's job, or the final job, as the submission handles it.
struct Target<'a> {
    label: &'a str,
    name: String,
    /// Its log directory under `<cache>/logs/` and its file name there (before `.%j.log`).
    log_dir: &'a str,
    log_file: String,
    /// The --output pattern, as squeue shows it back.
    pattern: String,
    record: PathBuf,
    /// The stage's cache entry (None for the final job, which has none).
    entry: Option<(&'a str, &'a str)>,
    argv: Vec<String>,
}

/// What to do about a target, given its record and what Slurm says.
enum Decision {
    Fresh,
    Keep {
        id: u64,
        state: String,
    },
    /// Keep a job found by name (its record is missing) and record it.
    Adopt {
        id: u64,
        state: String,
    },
    /// Submit it; then cancel these jobs (a final job's predecessors still waiting).
    Submit {
        cancel: Vec<u64>,
    },
}

/// The state of things a decision reads: the target's record, squeue's entries for the jobs it
/// names, and the jobs queued under the target's name. Read again, under the claim, when the
/// record changed since the submission started.
struct Seen<'a> {
    record: Option<SlurmRecord>,
    queue: &'a BTreeMap<u64, QueueEntry>,
    named: &'a BTreeMap<u64, QueueEntry>,
}

impl Submission<'_> {
    fn decide(&self, t: &Target, seen: &Seen, cache: &Cache, after: &[After]) -> Decision {
        let found = by_name(seen.named, &t.name, &t.pattern);
        let Some((stage, key)) = t.entry else {
            return self.decide_final(seen, &found, after);
        };
        // squeue was asked before the cache is looked at: a job that ends in between commits
        // before it ends, so it is seen either active or fresh, never as gone-but-missing.
        if cache.is_complete(stage, key) {
            return Decision::Fresh;
        }
        if let Some((id, q)) = live(&seen.record, seen.queue) {
            return Decision::Keep { id, state: q.state.clone() };
        }
        match found.first() {
            Some((id, q)) => Decision::Adopt { id: *id, state: q.state.clone() },
            None => Decision::Submit { cancel: vec![] },
        }
    }

    /// The final job is kept while it waits for no job this submission does not (a subset: the
    /// jobs it also waits for have completed since, or belong to stages not selected this time)
    /// and none of those failed. Otherwise a new one is submitted and the old ones still waiting
    /// are cancelled, so at most one waits; one already running is left to finish.
    fn decide_final(&self, seen: &Seen, found: &[(u64, &QueueEntry)], after: &[After]) -> Decision {
        let ids = job_ids(after);
        let failed = |id: &u64| seen.queue.get(id).is_some_and(|q| !q.is_active() && q.state != "COMPLETED");
        if let (Some((id, q)), Some(rec)) = (live(&seen.record, seen.queue), &seen.record) {
            if ids.len() == after.len() && ids.iter().all(|i| rec.after.contains(i)) && !rec.after.iter().any(failed) {
                return Decision::Keep { id, state: q.state.clone() };
            }
        }
        let mut cancel: Vec<u64> = live(&seen.record, seen.queue)
            .filter(|(_, q)| q.is_waiting())
            .map(|(id, _)| id)
            .into_iter()
            .chain(found.iter().filter(|(_, q)| q.is_waiting()).map(|(id, _)| *id))
            .collect();
        cancel.sort_unstable();
        cancel.dedup();
        Decision::Submit { cancel }
    }

    /// Decides, and carries out, what to do about one target.
    fn settle(
        &self,
        slurm: &dyn SlurmCtl,
        cache: &Cache,
        t: &Target,
        seen: &Seen,
        after: &[After],
    ) -> Result<Action, SlurmError> {
        let first = self.decide(t, seen, cache, after);
        match first {
            Decision::Fresh => return Ok(Action::Fresh),
            Decision::Keep { id, state } => return Ok(Action::Reused { id, state }),
            Decision::Adopt { id, state } if self.dry_run => return Ok(Action::Reused { id, state }),
            _ if self.dry_run => return self.sbatch(slurm, t, after, first),
            _ => {}
        }
        // Adopting or submitting writes the record: under the claim, so that of two `pad run`s
        // reaching this key at once, one submits and the other sees its record.
        let claim = claim::acquire(&t.record)?;
        let record = SlurmRecord::read(&t.record)?;
        let decision = if record != seen.record || claim.took_over {
            // Another submitter got here first (or was killed while it held the claim): what it
            // did is read afresh, squeue first, then the cache; by name only if still needed.
            let queue = squeue_ids(slurm, record_ids(&record))?;
            let none = BTreeMap::new();
            match self.decide(t, &Seen { record: record.clone(), queue: &queue, named: &none }, cache, after) {
                Decision::Adopt { .. } | Decision::Submit { .. } => {
                    let named = slurm.squeue_names(std::slice::from_ref(&t.name))?;
                    self.decide(t, &Seen { record, queue: &queue, named: &named }, cache, after)
                }
                d => d,
            }
        } else {
            first
        };
        match decision {
            Decision::Fresh => Ok(Action::Fresh),
            Decision::Keep { id, state } => Ok(Action::Reused { id, state }),
            Decision::Adopt { id, state } => {
                // Its submission time is unknown: 0 lets status match it in the jobcomp log by id
                // and name alone.
                let log = command::log_path(self.cache, t.log_dir, &t.log_file, id);
                let rec = SlurmRecord { job_id: id, job_name: t.name.clone(), submitted: 0, log, after: vec![] };
                rec.write(&t.record)?;
                drop(claim);
                Ok(Action::Reused { id, state })
            }
            d @ Decision::Submit { .. } => {
                let action = self.sbatch(slurm, t, after, d);
                drop(claim);
                action
            }
        }
    }

    /// Submits one job (or, in a dry run, describes it), records its id, then cancels what the
    /// decision says it replaces.
    fn sbatch(&self, slurm: &dyn SlurmCtl, t: &Target, after: &[After], d: Decision) -> Result<Action, SlurmError> {
        let cache_str = cache_text(self.cache)?;
        // The log directory is the stage's name, or FINAL_STAGE: the name of its resources too.
        let res = self.config.resources(t.log_dir);
        let wrap = command::wrap_command(cache_str, res.cpus_per_task, &t.argv);
        let args = command::sbatch_args(&t.name, &t.pattern, &res, after, &wrap);
        if self.dry_run {
            let mut line = vec!["sbatch".to_string()];
            line.extend(args);
            return Ok(Action::Planned { command: shell_line(&line) });
        }
        // sbatch does not create the --output directory: without it the job fails at launch
        // (JobLaunchFailure) and leaves no log at all. Directories made for a submission that
        // then fails are removed again.
        let logs = self.cache.join("logs");
        let dir = logs.join(t.log_dir);
        let made: Vec<&Path> = [logs.as_path(), dir.as_path()].into_iter().filter(|d| !d.exists()).collect();
        std::fs::create_dir_all(&dir).map_err(|source| SlurmError::Io { path: dir.clone(), source })?;
        let submitted = unix_now();
        let id = match slurm.sbatch(&args) {
            Ok(id) => id,
            Err(e) => {
                for d in made.iter().rev() {
                    let _ = std::fs::remove_dir(d); // only if still empty
                }
                return Err(e);
            }
        };
        let log = command::log_path(self.cache, t.log_dir, &t.log_file, id);
        let rec =
            SlurmRecord { job_id: id, job_name: t.name.clone(), submitted, log: log.clone(), after: job_ids(after) };
        rec.write(&t.record).map_err(|e| SlurmError::Input {
            what: format!("job {id} ({})", t.name),
            msg: format!("submitted, but its record was not written ({e}); `scancel {id}` before running again"),
        })?;
        if let Decision::Submit { cancel } = d {
            for old in cancel.into_iter().filter(|&old| old != id) {
                // Best effort: one that cannot be cancelled runs the same command once more.
                let _ = slurm.scancel(old);
            }
        }
        Ok(Action::Submitted { id, log })
    }
}

/// `submit` with any implementation of the Slurm commands (tests use a fake).
pub fn submit_with(sub: &Submission, slurm: &dyn SlurmCtl) -> Result<Outcome, SlurmError> {
    check_input(sub)?;
    let cache_str = cache_text(sub.cache)?;
    let cache = Cache { root: sub.cache.to_path_buf() };

    let targets: Vec<Target> = sub
        .jobs
        .iter()
        .map(|j| {
            let mut argv = sub.command.to_vec();
            argv.push(j.key.clone());
            Target {
                label: &j.label,
                name: job_name(&j.stage, &j.key),
                log_dir: &j.stage,
                log_file: j.key.clone(),
                pattern: command::log_pattern(cache_str, &j.stage, &j.key),
                record: record_path(sub.cache, &j.stage, &j.key),
                entry: Some((&j.stage, &j.key)),
                argv,
            }
        })
        .collect();
    let final_target = sub.final_job.map(|f| {
        let fid = final_id(f.id);
        Target {
            label: "the final job",
            name: final_job_name(f.id),
            log_dir: FINAL_STAGE,
            pattern: command::log_pattern(cache_str, FINAL_STAGE, &fid),
            log_file: fid,
            record: final_record_path(sub.cache, f.id),
            entry: None,
            argv: f.argv.to_vec(),
        }
    });
    let records: Vec<Option<SlurmRecord>> =
        targets.iter().chain(&final_target).map(|t| SlurmRecord::read(&t.record)).collect::<Result<_, _>>()?;
    // One squeue call for every recorded job (and those the final job waits for), *before*
    // looking at the cache (see `Submission::decide`).
    let queue = squeue_ids(slurm, records.iter().flat_map(record_ids))?;
    // And one by name for every target whose record names no live job: a job may be queued
    // without a record (deleted after it was found unreadable; its submitter killed before
    // writing it). Then such a key is kept, not submitted twice.
    let names: Vec<String> = targets
        .iter()
        .chain(&final_target)
        .zip(&records)
        .filter(|(_, r)| live(r, &queue).is_none())
        .map(|(t, _)| t.name.clone())
        .collect();
    let named = if names.is_empty() { BTreeMap::new() } else { slurm.squeue_names(&names)? };

    let mut actions: Vec<Action> = Vec::with_capacity(sub.jobs.len());
    let mut submitted = 0;
    let mut records = records.into_iter();
    let wait_for = |actions: &[Action], j: usize| match &actions[j] {
        Action::Fresh => None,
        Action::Reused { id, .. } | Action::Submitted { id, .. } => Some(After::Job(*id)),
        Action::Planned { .. } => Some(After::Planned(sub.jobs[j].label.clone())),
    };
    for (job, t) in sub.jobs.iter().zip(&targets) {
        let after: Vec<After> = job.deps.iter().filter_map(|&d| wait_for(&actions, d)).collect();
        let seen = Seen { record: records.next().flatten(), queue: &queue, named: &named };
        let action = sub.settle(slurm, &cache, t, &seen, &after).map_err(|e| SlurmError::Submit {
            label: t.label.to_string(),
            submitted,
            source: Box::new(e),
        })?;
        submitted += usize::from(matches!(action, Action::Submitted { .. }));
        actions.push(action);
    }
    let final_job = match &final_target {
        Some(t) => {
            let after: Vec<After> = (0..actions.len()).filter_map(|j| wait_for(&actions, j)).collect();
            let seen = Seen { record: records.next().flatten(), queue: &queue, named: &named };
            Some(sub.settle(slurm, &cache, t, &seen, &after).map_err(|e| SlurmError::Submit {
                label: t.label.to_string(),
                submitted,
                source: Box::new(e),
            })?)
        }
        None => None,
    };
    Ok(Outcome { jobs: actions, final_job })
}

#[cfg(test)]
mod tests;
