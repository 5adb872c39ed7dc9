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
pub mod command;
pub mod config;
pub mod ctl;
mod error;
pub mod record;
mod status;

pub use command::{job_name, shell_line};
pub use config::{Resources, SlurmConfig, StageResources, FINAL_STAGE};
pub use ctl::{cluster_info, QueueEntry, SlurmCli, SlurmCtl};
pub use error::SlurmError;
use record::{final_id, final_job_name};
pub use record::{final_record_path, record_path, SlurmRecord};
pub use status::{final_status, final_status_with, status, statuses, statuses_with, JobStatus};

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
    /// Run after every job submitted or still queued (e.g. `pad run --profile P report`).
    pub final_job: Option<&'a [String]>,
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
    if sub.final_job.is_some_and(|f| f.is_empty()) {
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

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `submit` with any implementation of the Slurm commands (tests use a fake).
pub fn submit_with(sub: &Submission, slurm: &dyn SlurmCtl) -> Result<Outcome, SlurmError> {
    check_input(sub)?;
    let cache_str = cache_text(sub.cache)?;
    let cache = Cache { root: sub.cache.to_path_buf() };

    let records: Vec<Option<SlurmRecord>> = sub
        .jobs
        .iter()
        .map(|j| SlurmRecord::read(&record_path(sub.cache, &j.stage, &j.key)))
        .collect::<Result<_, _>>()?;
    let final_path = sub.final_job.map(|argv| final_record_path(sub.cache, argv));
    let final_record = final_path.as_deref().map(SlurmRecord::read).transpose()?.flatten();
    let mut ids: Vec<u64> = records.iter().flatten().chain(&final_record).map(|r| r.job_id).collect();
    ids.sort_unstable();
    ids.dedup();
    // One squeue call for every recorded job, *before* looking at the cache: a job that ends
    // between the two commits first, so it is seen either as still active or as fresh, never
    // as gone-but-missing (which would submit it again).
    let queue = if ids.is_empty() { BTreeMap::new() } else { slurm.squeue(&ids)? };

    let mut actions: Vec<Action> = Vec::with_capacity(sub.jobs.len());
    let mut submitted = 0;
    for (job, rec) in sub.jobs.iter().zip(&records) {
        if cache.is_complete(&job.stage, &job.key) {
            actions.push(Action::Fresh);
            continue;
        }
        if let Some((id, q)) = live(rec, &queue) {
            actions.push(Action::Reused { id, state: q.state.clone() });
            continue;
        }
        let after: Vec<After> = job
            .deps
            .iter()
            .filter_map(|&d| match &actions[d] {
                Action::Fresh => None,
                Action::Reused { id, .. } | Action::Submitted { id, .. } => Some(After::Job(*id)),
                Action::Planned { .. } => Some(After::Planned(sub.jobs[d].label.clone())),
            })
            .collect();
        let res = sub.config.resources(&job.stage);
        let mut argv = sub.command.to_vec();
        argv.push(job.key.clone());
        let wrap = command::wrap_command(cache_str, res.cpus_per_task, &argv);
        let name = job_name(&job.stage, &job.key);
        let args =
            command::sbatch_args(&name, &command::log_pattern(cache_str, &job.stage, &job.key), &res, &after, &wrap);
        let log_of = |id| command::log_path(sub.cache, &job.stage, &job.key, id);
        let rec_path = record_path(sub.cache, &job.stage, &job.key);
        let action = run_sbatch(sub, slurm, args, &name, &job.stage, &rec_path, log_of, &after)
            .map_err(|e| SlurmError::Submit { label: job.label.clone(), submitted, source: Box::new(e) })?;
        submitted += usize::from(matches!(action, Action::Submitted { .. }));
        actions.push(action);
    }

    let final_job = match (sub.final_job, final_path) {
        (Some(argv), Some(rec_path)) => {
            let after: Vec<After> = sub
                .jobs
                .iter()
                .zip(&actions)
                .filter_map(|(j, a)| match a {
                    Action::Fresh => None,
                    Action::Reused { id, .. } | Action::Submitted { id, .. } => Some(After::Job(*id)),
                    Action::Planned { .. } => Some(After::Planned(j.label.clone())),
                })
                .collect();
            let mut after_ids: Vec<u64> =
                after.iter().filter_map(|a| if let After::Job(id) = a { Some(*id) } else { None }).collect();
            after_ids.sort_unstable();
            let all_known = after_ids.len() == after.len();
            // Kept only if it waits for exactly these jobs: after a failure its old dependencies
            // include the failed job (so Slurm cancels it), and a new one must wait for the
            // resubmitted jobs.
            let reuse = live(&final_record, &queue)
                .filter(|_| all_known && final_record.as_ref().is_some_and(|r| r.after == after_ids));
            Some(match reuse {
                Some((id, q)) => Action::Reused { id, state: q.state.clone() },
                None => {
                    let res = sub.config.resources(FINAL_STAGE);
                    let fid = final_id(argv);
                    let wrap = command::wrap_command(cache_str, res.cpus_per_task, argv);
                    let name = final_job_name(argv);
                    let args = command::sbatch_args(
                        &name,
                        &command::log_pattern(cache_str, FINAL_STAGE, &fid),
                        &res,
                        &after,
                        &wrap,
                    );
                    let log_of = |id| command::log_path(sub.cache, FINAL_STAGE, &fid, id);
                    run_sbatch(sub, slurm, args, &name, FINAL_STAGE, &rec_path, log_of, &after).map_err(|e| {
                        SlurmError::Submit { label: "the final job".into(), submitted, source: Box::new(e) }
                    })?
                }
            })
        }
        _ => None,
    };
    Ok(Outcome { jobs: actions, final_job })
}

/// Submits one job (or, in a dry run, describes it) and records its id.
#[allow(clippy::too_many_arguments)]
fn run_sbatch(
    sub: &Submission,
    slurm: &dyn SlurmCtl,
    args: Vec<String>,
    name: &str,
    log_dir: &str,
    rec_path: &Path,
    log_of: impl Fn(u64) -> PathBuf,
    after: &[After],
) -> Result<Action, SlurmError> {
    if sub.dry_run {
        let mut line = vec!["sbatch".to_string()];
        line.extend(args);
        return Ok(Action::Planned { command: shell_line(&line) });
    }
    // sbatch does not create the --output directory: without it the job fails at launch
    // (JobLaunchFailure) and leaves no log at all.
    let dir = sub.cache.join("logs").join(log_dir);
    std::fs::create_dir_all(&dir).map_err(|source| SlurmError::Io { path: dir, source })?;
    let submitted = unix_now();
    let id = slurm.sbatch(&args)?;
    let log = log_of(id);
    let mut after_ids: Vec<u64> =
        after.iter().filter_map(|a| if let After::Job(id) = a { Some(*id) } else { None }).collect();
    after_ids.sort_unstable();
    let rec = SlurmRecord { job_id: id, job_name: name.to_string(), submitted, log: log.clone(), after: after_ids };
    rec.write(rec_path).map_err(|e| SlurmError::Input {
        what: format!("job {id} ({name})"),
        msg: format!("submitted, but its record was not written ({e}); `scancel {id}` before running again"),
    })?;
    Ok(Action::Submitted { id, log })
}

#[cfg(test)]
mod tests;
