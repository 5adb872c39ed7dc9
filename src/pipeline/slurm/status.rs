//! Where a key's job stands: from the cache (complete = fresh, whatever Slurm says), the key's
//! .slurm record, squeue (while queued or running, and MinJobAge after), and once the job has left
//! squeue its log file and the jobcomp log. There is no sacct on this cluster.
use super::config::SlurmConfig;
use super::ctl::{read_jobcomp, JobCompEntry, QueueEntry, SlurmCli, SlurmCtl};
use super::record::{final_record_path, record_path, SlurmRecord};
use crate::pipeline::cache::Cache;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// How far a jobcomp SubmitTime may precede the record's own time (taken just before sbatch)
/// and still be the same job: clock skew between the submitting host and the controller. An
/// older line with the same id and name is a job from before a cluster restart.
const SKEW_SECS: i64 = 120;

#[derive(Debug, Clone, PartialEq)]
pub enum JobStatus {
    /// Complete in the cache.
    Fresh,
    /// Missing, and no job was ever submitted for it (no .slurm record).
    NotSubmitted,
    Queued {
        id: u64,
    },
    Running {
        id: u64,
    },
    /// Only for the final job, which has no cache entry: it ended with COMPLETED.
    Completed {
        id: u64,
    },
    /// The job ended and the key is still missing. `state` (FAILED, CANCELLED, TIMEOUT, ...) and
    /// `exit_code` when Slurm still says; `log` when the file exists (a job cancelled before it
    /// started has none).
    Failed {
        id: u64,
        state: Option<String>,
        reason: Option<String>,
        exit_code: Option<String>,
        log: Option<PathBuf>,
    },
    /// Slurm cannot be asked, or no longer knows the job and it left no trace.
    Unknown {
        id: Option<u64>,
        reason: String,
    },
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobStatus::Fresh => write!(f, "fresh"),
            JobStatus::NotSubmitted => write!(f, "missing (not submitted)"),
            JobStatus::Queued { id } => write!(f, "queued (job {id})"),
            JobStatus::Running { id } => write!(f, "running (job {id})"),
            JobStatus::Completed { id } => write!(f, "completed (job {id})"),
            JobStatus::Failed { id, state, reason, exit_code, log } => {
                write!(f, "failed (job {id}")?;
                if let Some(s) = state {
                    write!(f, ": {s}")?;
                }
                let signal = exit_code.as_deref().and_then(signal_of);
                match (signal, exit_code.as_deref().filter(|c| *c != "0:0")) {
                    (Some(sig), _) => write!(f, ", killed by signal {sig} ({})", signal_name(sig))?,
                    (None, Some(c)) => write!(f, ", exit code {c}")?,
                    (None, None) => {}
                }
                match reason.as_deref() {
                    Some("DependencyNeverSatisfied") => write!(f, ", an input's job failed")?,
                    // Slurm's reason for a batch step that ended by a signal, though it ran.
                    Some("JobLaunchFailure") if signal.is_some() => {}
                    Some("JobLaunchFailure") if log.is_none() => write!(
                        f,
                        ", could not start (JobLaunchFailure: is the log directory reachable from the node?)"
                    )?,
                    Some(r) => write!(f, ", {r}")?,
                    None => {}
                }
                match log {
                    Some(l) => write!(f, "); log: {}", l.display()),
                    None => write!(f, "; no log)"),
                }
            }
            JobStatus::Unknown { id: Some(id), reason } => write!(f, "unknown (job {id}: {reason})"),
            JobStatus::Unknown { id: None, reason } => write!(f, "unknown ({reason})"),
        }
    }
}

/// The signal that ended a job, from its "EXIT:SIGNAL" code, when it is one of the standard
/// signals (Slurm writes codes of its own, e.g. 53, for a job that could not start).
fn signal_of(code: &str) -> Option<u32> {
    let (_, sig) = code.split_once(':')?;
    sig.trim().parse().ok().filter(|s| (1..=31).contains(s))
}

/// SIGKILL, SIGTERM, ...: Linux's numbering.
fn signal_name(sig: u32) -> String {
    const NAMES: &str = "HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP \
                         TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS";
    NAMES.split_whitespace().nth(sig as usize - 1).map_or("?".into(), |n| format!("SIG{n}"))
}

/// The last `n` lines of a job's log (read from its last 8 KiB only, whatever its size), for
/// showing why it failed. Progress bars' carriage returns split lines too; blank lines are left
/// out. Nothing when the file cannot be read.
pub fn log_tail(path: &Path, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 8 << 10;
    let Ok(mut f) = std::fs::File::open(path) else { return vec![] };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(len.saturating_sub(TAIL))).is_err() || f.take(TAIL).read_to_end(&mut buf).is_err() {
        return vec![];
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.split(['\n', '\r']).map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    if len > TAIL && !lines.is_empty() {
        lines.remove(0); // cut in the middle
    }
    lines[lines.len().saturating_sub(n)..].iter().map(|l| l.to_string()).collect()
}

/// The status of one key; see `statuses`.
pub fn status(cache: &Path, stage: &str, key: &str, config: &SlurmConfig) -> JobStatus {
    statuses_with(cache, &[(stage, key)], config, &SlurmCli).pop().unwrap_or(JobStatus::NotSubmitted)
}

/// The status of each `(stage, key)`, with one squeue call for all of them. Never fails: what
/// cannot be known (no cluster, unreadable record) is `Unknown` with the reason.
pub fn statuses(cache: &Path, keys: &[(&str, &str)], config: &SlurmConfig) -> Vec<JobStatus> {
    statuses_with(cache, keys, config, &SlurmCli)
}

/// The status of the final job of this identity (`FinalJob::id`): `Completed` once it
/// succeeded, `NotSubmitted` when there never was one.
pub fn final_status(cache: &Path, id: &str, config: &SlurmConfig) -> JobStatus {
    final_status_with(cache, id, config, &SlurmCli)
}

enum Kind {
    Stage,
    Final,
}

pub fn statuses_with(
    cache: &Path,
    keys: &[(&str, &str)],
    config: &SlurmConfig,
    slurm: &dyn SlurmCtl,
) -> Vec<JobStatus> {
    let paths: Vec<PathBuf> = keys.iter().map(|(s, k)| record_path(cache, s, k)).collect();
    let c = Cache { root: cache.to_path_buf() };
    classify_all(&paths, config, slurm, |i| c.is_complete(keys[i].0, keys[i].1), Kind::Stage)
}

pub fn final_status_with(cache: &Path, id: &str, config: &SlurmConfig, slurm: &dyn SlurmCtl) -> JobStatus {
    classify_all(&[final_record_path(cache, id)], config, slurm, |_| false, Kind::Final)
        .pop()
        .unwrap_or(JobStatus::NotSubmitted)
}

fn classify_all(
    paths: &[PathBuf],
    config: &SlurmConfig,
    slurm: &dyn SlurmCtl,
    complete: impl Fn(usize) -> bool,
    kind: Kind,
) -> Vec<JobStatus> {
    let records: Vec<Result<Option<SlurmRecord>, String>> =
        paths.iter().map(|p| SlurmRecord::read(p).map_err(|e| e.to_string())).collect();
    let mut ids: Vec<u64> = records.iter().flatten().flatten().map(|r| r.job_id).collect();
    ids.sort_unstable();
    ids.dedup();
    // squeue before the cache, as in submission: a job that ends in between is then seen fresh.
    let queue = if ids.is_empty() { Ok(BTreeMap::new()) } else { slurm.squeue(&ids).map_err(|e| e.to_string()) };
    let done: Vec<bool> = (0..paths.len()).map(&complete).collect();

    // The jobcomp log is read once, and only for jobs that ended.
    let ended: BTreeSet<u64> = match &queue {
        Ok(q) => records
            .iter()
            .zip(&done)
            .filter(|(_, &d)| !d)
            .filter_map(|(r, _)| r.as_ref().ok()?.as_ref())
            .filter(|r| own_entry(r, q).is_none_or(|e| !e.is_active()))
            .map(|r| r.job_id)
            .collect(),
        Err(_) => BTreeSet::new(),
    };
    let jobcomp = read_jobcomp(Path::new(config.jobcomp_log()), &ended);

    records
        .into_iter()
        .zip(done)
        .map(|(rec, done)| {
            if done {
                return JobStatus::Fresh;
            }
            let rec = match rec {
                Ok(Some(r)) => r,
                Ok(None) => return JobStatus::NotSubmitted,
                Err(reason) => return JobStatus::Unknown { id: None, reason },
            };
            match &queue {
                Ok(q) => {
                    let comp = jobcomp.get(&rec.job_id).map(Vec::as_slice).unwrap_or_default();
                    classify(&rec, own_entry(&rec, q), comp, &kind)
                }
                Err(e) => JobStatus::Unknown { id: Some(rec.job_id), reason: format!("cannot ask Slurm: {e}") },
            }
        })
        .collect()
}

/// squeue's entry for the record's job, if it is that job (same name: ids restart after a clean
/// cluster restart).
fn own_entry<'a>(rec: &SlurmRecord, queue: &'a BTreeMap<u64, QueueEntry>) -> Option<&'a QueueEntry> {
    queue.get(&rec.job_id).filter(|q| q.name == rec.job_name)
}

/// The newest jobcomp line that is this record's job.
fn own_jobcomp<'a>(rec: &SlurmRecord, lines: &'a [JobCompEntry]) -> Option<&'a JobCompEntry> {
    let since = i64::try_from(rec.submitted).unwrap_or(i64::MAX) - SKEW_SECS;
    lines.iter().rev().find(|e| e.name == rec.job_name && e.submitted.is_none_or(|t| t >= since))
}

/// The status of a key that is not complete, from its record and what Slurm says.
fn classify(rec: &SlurmRecord, entry: Option<&QueueEntry>, jobcomp: &[JobCompEntry], kind: &Kind) -> JobStatus {
    let id = rec.job_id;
    let log = rec.log.is_file().then(|| rec.log.clone());
    let comp = own_jobcomp(rec, jobcomp);
    let (state, reason) = match entry {
        Some(q) if q.is_waiting() => return JobStatus::Queued { id },
        Some(q) if q.is_active() => return JobStatus::Running { id },
        Some(q) => (q.state.clone(), Some(q.reason.clone()).filter(|r| r != "None")),
        None => match comp {
            Some(c) => (c.state.clone(), None),
            None if log.is_some() && matches!(kind, Kind::Stage) => {
                // Gone from squeue and jobcomp, yet it ran (there is a log) and the key is missing.
                return JobStatus::Failed {
                    id,
                    state: None,
                    reason: Some("no longer known to Slurm".into()),
                    exit_code: None,
                    log,
                };
            }
            None => {
                let why = if log.is_some() {
                    "no longer known to Slurm; see its log".to_string()
                } else {
                    "no longer known to Slurm and left no log (cancelled before it started, or the cluster was \
                     restarted)"
                        .to_string()
                };
                return JobStatus::Unknown { id: Some(id), reason: why };
            }
        },
    };
    let exit_code = entry.and_then(|q| q.exit_code.clone()).or_else(|| comp.and_then(|c| c.exit_code.clone()));
    match kind {
        Kind::Final if state == "COMPLETED" => JobStatus::Completed { id },
        Kind::Stage if state == "COMPLETED" => JobStatus::Failed {
            id,
            state: Some(state),
            reason: Some("exited 0 without committing its cache entry".into()),
            exit_code,
            log,
        },
        _ => JobStatus::Failed { id, state: Some(state), reason, exit_code, log },
    }
}
