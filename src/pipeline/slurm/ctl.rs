//! Talking to Slurm: sbatch, squeue, sinfo and the job-completion log. Behind a trait so the
//! submission logic can be tested without a cluster.
//!
//! This cluster has no slurmdbd, so `sacct` does not work: a job is visible to squeue while it is
//! queued or running and for MinJobAge (300 s) after it ends; after that only its log and the
//! jobcomp/filetxt line (JobState, ExitCode) remain.
use super::command::shell_line;
use super::error::SlurmError;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;
use std::process::Command;

/// What squeue says about one job.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    /// PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
    pub state: String,
    /// Why it waits or ended: Dependency, Priority, DependencyNeverSatisfied, NonZeroExitCode, None.
    pub reason: String,
    pub name: String,
    /// "EXIT:SIGNAL" as the jobcomp log writes it ("0:9": killed by SIGKILL), once it ended.
    pub exit_code: Option<String>,
    /// The --output pattern it was submitted with (%j not filled in): which cache it writes to.
    pub stdout: String,
}

/// The part of Slurm the executor uses.
pub trait SlurmCtl {
    /// Runs `sbatch ARGS` and returns the new job's id (`--parsable` is among ARGS).
    fn sbatch(&self, args: &[String]) -> Result<u64, SlurmError>;
    /// The jobs among `ids` that Slurm still knows (queued, running, or ended within MinJobAge).
    /// Unknown ids are simply absent.
    fn squeue(&self, ids: &[u64]) -> Result<BTreeMap<u64, QueueEntry>, SlurmError>;
    /// The jobs still queued or running under any of these names (whatever their id).
    fn squeue_names(&self, names: &[String]) -> Result<BTreeMap<u64, QueueEntry>, SlurmError>;
    /// Cancels a job (one that is not needed any more).
    fn scancel(&self, id: u64) -> Result<(), SlurmError>;
}

/// Job states after which a job will not run again: everything else is still active.
const ENDED: &[&str] = &[
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "OUT_OF_MEMORY",
    "SPECIAL_EXIT",
    "REVOKED",
];
/// Active states in which the job has not started (yet, or again).
const WAITING: &[&str] = &["PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD"];

impl QueueEntry {
    /// Still queued or running (RUNNING, COMPLETING, CONFIGURING, SUSPENDED, ... count): a job
    /// that will yet run or finish, whose id a dependant may wait for.
    pub fn is_active(&self) -> bool {
        !ENDED.contains(&self.state.as_str())
    }
    pub fn is_waiting(&self) -> bool {
        WAITING.contains(&self.state.as_str())
    }
}

/// The Slurm command-line tools on PATH.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlurmCli;

/// More ids (or names) per squeue call would make a very long command line.
const SQUEUE_CHUNK: usize = 500;

/// squeue's fields: the name and the output path last, as they are the only ones that may hold
/// a '|' (the name cannot in pad's jobs, so the path is the rest of the line).
const SQUEUE_FORMAT: &str = "JobID:|,State:|,Reason:|,exit_code:|,Name:|,StdOut:|";

fn run(program: &str, args: &[String]) -> Result<(String, String), SlurmError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| SlurmError::Spawn { program: program.to_string(), source })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        let mut command = vec![program.to_string()];
        command.extend(args.iter().cloned());
        return Err(SlurmError::Command { command: shell_line(&command), status: out.status.to_string(), stderr });
    }
    Ok((stdout, stderr))
}

impl SlurmCtl for SlurmCli {
    fn sbatch(&self, args: &[String]) -> Result<u64, SlurmError> {
        let (stdout, _) = run("sbatch", args)?;
        parse_sbatch(&stdout)
    }

    fn squeue(&self, ids: &[u64]) -> Result<BTreeMap<u64, QueueEntry>, SlurmError> {
        let mut all = BTreeMap::new();
        for chunk in ids.chunks(SQUEUE_CHUNK) {
            let list: Vec<String> = chunk.iter().map(u64::to_string).collect();
            // -t all: also jobs that ended within MinJobAge. One id that Slurm no longer knows
            // makes squeue fail ("Invalid job id specified"); several, of which some are unknown,
            // just leave those out.
            let args: Vec<String> =
                ["-h", "-t", "all", "-O", SQUEUE_FORMAT, "-j", &list.join(",")].map(String::from).to_vec();
            match run("squeue", &args) {
                Ok((stdout, _)) => all.extend(parse_squeue(&stdout)?),
                Err(SlurmError::Command { stderr, .. }) if chunk.len() == 1 && stderr.contains("Invalid job id") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(all)
    }

    fn squeue_names(&self, names: &[String]) -> Result<BTreeMap<u64, QueueEntry>, SlurmError> {
        let mut all = BTreeMap::new();
        for chunk in names.chunks(SQUEUE_CHUNK) {
            // Without -t: the jobs that are queued or running (or completing) only.
            let args: Vec<String> = ["-h", "-O", SQUEUE_FORMAT, "-n", &chunk.join(",")].map(String::from).to_vec();
            let (stdout, _) = run("squeue", &args)?;
            all.extend(parse_squeue(&stdout)?.into_iter().filter(|(_, q)| chunk.contains(&q.name)));
        }
        Ok(all)
    }

    fn scancel(&self, id: u64) -> Result<(), SlurmError> {
        run("scancel", &[id.to_string()]).map(|_| ())
    }
}

/// `sbatch --parsable` prints "ID" or "ID;CLUSTER".
pub fn parse_sbatch(stdout: &str) -> Result<u64, SlurmError> {
    let first = stdout.trim().split(';').next().unwrap_or_default();
    first.parse().map_err(|_| SlurmError::Output {
        command: "sbatch --parsable".into(),
        output: stdout.trim().to_string(),
        expected: "a job id".into(),
    })
}

/// Lines of `squeue -O JobID:|,State:|,Reason:|,exit_code:|,Name:|,StdOut:|`. squeue's exit code
/// is the raw wait status (768: exit 3; 9: killed by signal 9), given here as "3:0" and "0:9".
pub fn parse_squeue(stdout: &str) -> Result<BTreeMap<u64, QueueEntry>, SlurmError> {
    let mut out = BTreeMap::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.splitn(6, '|').collect();
        let id = f.first().and_then(|s| s.trim().parse::<u64>().ok());
        let status = f.get(3).and_then(|s| s.trim().parse::<u32>().ok());
        let (Some(id), Some(status), [_, state, reason, _, name, stdout]) = (id, status, f.as_slice()) else {
            return Err(SlurmError::Output {
                command: format!("squeue -O {SQUEUE_FORMAT}"),
                output: line.to_string(),
                expected: "ID|STATE|REASON|EXIT|NAME|STDOUT|".into(),
            });
        };
        let state = state.trim().to_string();
        let ended = ENDED.contains(&state.as_str());
        out.insert(
            id,
            QueueEntry {
                state,
                reason: reason.trim().into(),
                name: name.trim().to_string(),
                exit_code: ended.then(|| format!("{}:{}", (status >> 8) & 0xff, status & 0x7f)),
                stdout: stdout.strip_suffix('|').unwrap_or(stdout).to_string(),
            },
        );
    }
    Ok(out)
}

/// `sinfo`'s one-line summary of the partitions, or why the cluster does not answer.
pub fn cluster_info() -> Result<String, SlurmError> {
    let (stdout, _) = run("sinfo", &["-h".into(), "-o".into(), "%P %a %D %T".into()])?;
    let text = stdout.trim().to_string();
    if text.is_empty() {
        return Err(SlurmError::Output { command: "sinfo".into(), output: text, expected: "a partition".into() });
    }
    Ok(text)
}

/// One line of the jobcomp/filetxt log.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCompEntry {
    pub name: String,
    pub state: String,
    pub exit_code: Option<String>,
    /// SubmitTime as Unix seconds (the log has local time without a zone).
    pub submitted: Option<i64>,
}

/// The lines of the jobcomp log about `ids`, oldest first. An unreadable log gives nothing: it is
/// extra detail, and often readable only by the Slurm user.
pub fn read_jobcomp(path: &Path, ids: &BTreeSet<u64>) -> BTreeMap<u64, Vec<JobCompEntry>> {
    let mut out: BTreeMap<u64, Vec<JobCompEntry>> = BTreeMap::new();
    if ids.is_empty() {
        return out;
    }
    let Ok(file) = std::fs::File::open(path) else { return out };
    for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
        if let Some((id, entry)) = parse_jobcomp_line(&line).filter(|(id, _)| ids.contains(id)) {
            out.entry(id).or_default().push(entry);
        }
    }
    out
}

/// "JobId=2 UserId=root(0) ... Name=x JobState=FAILED ... SubmitTime=2026-11-28T22:02:36 ...
/// ExitCode=3:0". Fields are separated by blanks; the first occurrence of a field wins, so a blank
/// inside a later value (WorkDir) cannot shadow it.
pub fn parse_jobcomp_line(line: &str) -> Option<(u64, JobCompEntry)> {
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    for tok in line.split_whitespace() {
        if let Some((k, v)) = tok.split_once('=') {
            fields.entry(k).or_insert(v);
        }
    }
    let id = fields.get("JobId")?.parse().ok()?;
    Some((
        id,
        JobCompEntry {
            name: fields.get("Name")?.to_string(),
            state: fields.get("JobState")?.to_string(),
            exit_code: fields.get("ExitCode").map(|s| s.to_string()),
            submitted: fields.get("SubmitTime").and_then(|s| local_time_to_unix(s)),
        },
    ))
}

/// "YYYY-MM-DDTHH:MM:SS" in the local time zone, as Unix seconds.
fn local_time_to_unix(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let d: Vec<i32> = date.split('-').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let t: Vec<i32> = time.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let ([y, mo, da], [h, mi, se]) = (d.as_slice(), t.as_slice()) else { return None };
    // SAFETY: libc::tm is plain data, so all-zero is a valid value; mktime reads the fields set
    // below (tm_isdst = -1: let the zone rules decide) and normalises them in place.
    let secs = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = *da;
        tm.tm_hour = *h;
        tm.tm_min = *mi;
        tm.tm_sec = *se;
        tm.tm_isdst = -1;
        libc::mktime(&mut tm)
    };
    (secs != -1).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sbatch_squeue_and_jobcomp_output() {
        assert_eq!(parse_sbatch("17\n").unwrap(), 17);
        assert_eq!(parse_sbatch("18;cluster\n").unwrap(), 18);
        assert!(parse_sbatch("Submitted batch job 19").unwrap_err().to_string().contains("expected a job id"));

        // Real lines of this cluster's squeue (a path with blanks, '%' and '|').
        let q = parse_squeue(
            "3|CANCELLED|DependencyNeverSatisfied|0|pad-a|/c 1/50%%/logs/a/k.%j.log|\n\
             1|PENDING|Priority|0|pad-x|/c|x/o.%j.log|\n\n\
             4|FAILED|JobLaunchFailure|9|t-three|/tmp/hx/o.%j.log|\n\
             5|FAILED|NonZeroExitCode|768|t-ex3|/tmp/hx/o.%j.log|\n",
        )
        .unwrap();
        assert_eq!(
            q[&3],
            QueueEntry {
                state: "CANCELLED".into(),
                reason: "DependencyNeverSatisfied".into(),
                name: "pad-a".into(),
                exit_code: Some("0:0".into()),
                stdout: "/c 1/50%%/logs/a/k.%j.log".into(),
            }
        );
        assert_eq!((q[&1].exit_code.as_deref(), q[&1].stdout.as_str()), (None, "/c|x/o.%j.log"));
        assert_eq!((q[&4].exit_code.as_deref(), q[&5].exit_code.as_deref()), (Some("0:9"), Some("3:0")));
        assert!(!q[&3].is_active() && q[&1].is_active() && q[&1].is_waiting());
        let completing = QueueEntry { state: "COMPLETING".into(), ..q[&1].clone() };
        assert!(completing.is_active() && !completing.is_waiting());
        assert!(parse_squeue("garbage\n").is_err());
        assert!(parse_squeue("12_3|PENDING|None|0|x|o|\n").is_err());
        assert!(parse_squeue("12|PENDING|None|x|o|\n").is_err());

        // A real line of this cluster's /var/log/slurm/jobcomp.log (WorkDir with a blank added).
        let line = "JobId=2 UserId=root(0) GroupId=root(0) Name=t-fail JobState=FAILED Partition=debug \
            TimeLimit=525600 StartTime=2026-11-28T22:02:36 EndTime=2026-11-28T22:02:37 NodeList=localhost \
            NodeCnt=1 ProcCnt=1 WorkDir=/tmp/a JobState=X ReservationName= Tres=cpu=1,mem=22899M,node=1,billing=1 \
            Account= QOS= WcKey= Cluster=unknown SubmitTime=2026-11-28T22:02:36 EligibleTime=2026-11-28T22:02:36 \
            DerivedExitCode=0:0 ExitCode=3:0 ";
        let (id, e) = parse_jobcomp_line(line).unwrap();
        assert_eq!(
            (id, e.name.as_str(), e.state.as_str(), e.exit_code.as_deref()),
            (2, "t-fail", "FAILED", Some("3:0"))
        );
        let later =
            parse_jobcomp_line(&line.replace("SubmitTime=2026-11-28T22:02:36", "SubmitTime=2026-11-28T22:03:40"))
                .unwrap()
                .1;
        assert_eq!(later.submitted.unwrap() - e.submitted.unwrap(), 64);
        assert_eq!(parse_jobcomp_line("no fields here"), None);
    }

    #[test]
    fn jobcomp_reader_keeps_only_asked_ids_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("jobcomp.log");
        std::fs::write(
            &p,
            "JobId=5 Name=a JobState=FAILED ExitCode=1:0\nJobId=6 Name=b JobState=COMPLETED ExitCode=0:0\n\
             JobId=5 Name=a JobState=CANCELLED ExitCode=0:0\n",
        )
        .unwrap();
        let got = read_jobcomp(&p, &[5].into());
        assert_eq!(got.len(), 1);
        assert_eq!(got[&5].iter().map(|e| e.state.as_str()).collect::<Vec<_>>(), ["FAILED", "CANCELLED"]);
        assert!(read_jobcomp(&dir.path().join("absent"), &[5].into()).is_empty());
    }
}
