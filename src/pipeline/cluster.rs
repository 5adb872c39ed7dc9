//! The Slurm executor from the plan's side: the missing stages of a selection become one job each
//! (`pad stage run KEY`), waiting for the jobs of their missing inputs; the report runs last.
//! slurm.rs knows sbatch and squeue; this file knows the plan.
use super::cache::Cache;
use super::error::PipelineError;
use super::plan::Plan;
use super::slurm::{self, FinalJob, Job, JobStatus, Outcome, Submission};
use crate::files::At;
use std::path::{Path, PathBuf};

/// Where the jobs find pad and the experiment (absolute paths, seen alike by every node).
pub struct Launch {
    pub pad: PathBuf,
    pub config: PathBuf,
    pub results: PathBuf,
    /// Print the sbatch lines instead of submitting.
    pub dry_run: bool,
    /// Submit the report as a last job.
    pub report: bool,
    /// The claims file the report job checks (None: claims.toml beside the experiment file).
    pub claims: Option<PathBuf>,
}

/// The selected nodes missing from the cache, as jobs in plan order (inputs first), with the
/// node index of each job.
pub fn jobs(plan: &Plan, cache: &Cache, nodes: &[usize]) -> (Vec<Job>, Vec<usize>) {
    let missing: Vec<usize> =
        nodes.iter().copied().filter(|&i| !cache.is_complete(plan.nodes[i].kind().name, &plan.nodes[i].key)).collect();
    let job_of = |node: usize| missing.iter().position(|&m| m == node);
    let jobs = missing
        .iter()
        .map(|&i| {
            let n = &plan.nodes[i];
            Job {
                key: n.key.clone(),
                stage: n.kind().name.into(),
                label: n.label.clone(),
                deps: n.inputs.iter().filter_map(|&j| job_of(j)).collect(),
            }
        })
        .collect();
    (jobs, missing)
}

/// An absolute path for a job to use (the file must exist, except the results directory).
fn absolute(p: &Path) -> Result<PathBuf, PipelineError> {
    if p.exists() {
        return Ok(p.canonicalize().at(p)?);
    }
    Ok(std::env::current_dir().at(Path::new("."))?.join(p))
}

/// Submits the missing stages of `nodes` (and the report) to Slurm.
pub fn submit(
    plan: &Plan,
    cache: &Cache,
    nodes: &[usize],
    launch: &Launch,
) -> Result<(Vec<Job>, Outcome), PipelineError> {
    plan.check(nodes)?;
    check_config(plan)?;
    std::fs::create_dir_all(&cache.root).at(&cache.root)?;
    let root = absolute(&cache.root)?;
    let (jobs, _) = jobs(plan, cache, nodes);
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    let (pad, config) = (s(absolute(&launch.pad)?), s(absolute(&launch.config)?));
    let profile = plan.profile.name.clone();
    let id = report_id(Path::new(&config), &profile);
    let command: Vec<String> =
        ["stage", "run", "--config", &config, "--profile", &profile].iter().map(|a| a.to_string()).collect();
    let command: Vec<String> = std::iter::once(pad.clone()).chain(command).collect();
    let claims = match &launch.claims {
        Some(c) => vec!["--claims".to_string(), s(absolute(c)?)],
        None => Vec::new(),
    };
    let report: Vec<String> = [pad, "run".into(), "--config".into(), config, "--profile".into(), profile]
        .into_iter()
        .chain(["--results".to_string(), s(absolute(&launch.results)?), "--quiet".into()])
        .chain(claims)
        .chain(["report".to_string()])
        .collect();
    let sub = Submission {
        jobs: &jobs,
        command: &command,
        cache: &root,
        config: &plan.profile.slurm,
        final_job: launch.report.then_some(FinalJob { id: &id, argv: &report }),
        dry_run: launch.dry_run,
    };
    let outcome = slurm::submit(&sub)?;
    Ok((jobs, outcome))
}

/// The [slurm] table, checked against the registered stage names (a misspelt stage table would
/// silently leave the defaults in force).
pub fn check_config(plan: &Plan) -> Result<(), PipelineError> {
    let kinds: Vec<&str> = super::stages::KINDS.iter().map(|k| k.name).collect();
    Ok(plan.profile.slurm.validate(&kinds)?)
}

/// The identity of a profile's report job: one per experiment file (absolute) and profile, so a
/// second `pad run` keeps it or replaces it, and `pad status` finds it.
fn report_id(config: &Path, profile: &str) -> String {
    format!("report\0{}\0{profile}", config.display())
}

/// The report job of this experiment file and profile, if one was ever submitted to this cache.
pub fn report_status(plan: &Plan, cache: &Cache, config: &Path) -> Result<Option<JobStatus>, PipelineError> {
    let id = report_id(&absolute(config)?, &plan.profile.name);
    if !slurm::final_record_path(&cache.root, &id).exists() {
        return Ok(None);
    }
    Ok(Some(slurm::final_status(&cache.root, &id, &plan.profile.slurm)))
}

/// Every node's Slurm state (fresh, not submitted, queued, running, failed with its log).
pub fn statuses(plan: &Plan, cache: &Cache) -> Vec<JobStatus> {
    let keys: Vec<(&str, &str)> = plan.nodes.iter().map(|n| (n.kind().name, n.key.as_str())).collect();
    slurm::statuses(&cache.root, &keys, &plan.profile.slurm)
}
