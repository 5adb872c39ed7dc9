//! `pad run | status | verify`: the pipeline of pipeline.toml over the content-addressed cache.
use super::threads::{ThreadsArg, MAX_THREADS};
use super::values::whole;
use clap::Args;
use pad::pipeline::Plan;
use std::path::PathBuf;

pub const RUN_LONG_ABOUT: &str = "\
Compute every missing stage of a profile, then write results/<profile>/.

Each stage (data, train, probe, ...) is cached under the hash of its parameters and inputs (in
.pad-cache/, or $PAD_CACHE): a stage whose key is in the cache is never computed again, so a second
run with nothing changed only rewrites the report. Naming stages computes those (and what they
need); `report` alone rewrites the tables and figures from the cache.";

#[derive(Args, Debug, Clone)]
pub struct PipelineArgs {
    /// The experiment file.
    #[arg(long, default_value = "pipeline.toml", value_name = "FILE")]
    pub config: PathBuf,
    /// Profile of the experiment file (e.g. demo, paper).
    #[arg(long, default_value = "demo")]
    pub profile: String,
}

impl PipelineArgs {
    fn plan(&self) -> Result<Plan, super::Error> {
        Ok(self.plan_and_claims(None)?.0)
    }

    /// The plan, and the claims file its report checks (`explicit`, else claims.toml beside the
    /// experiment file where there is one), loaded and checked before any work.
    pub fn plan_and_claims(
        &self,
        explicit: Option<&std::path::Path>,
    ) -> Result<(Plan, Option<pad::pipeline::claims::Claims>), super::Error> {
        let cfg = pad::pipeline::Config::load(&self.config)?;
        let plan = Plan::new(cfg.profile(&self.profile)?);
        let claims = match pad::pipeline::claims::locate(&self.config, explicit) {
            Some(path) => Some(pad::pipeline::claims::load(&path, &|c| cfg.knows_condition(c))?),
            None => None,
        };
        Ok((plan, claims))
    }
}

/// A stage kind's name, or `report`.
fn stage_name(s: &str) -> Result<String, String> {
    if s == "report" {
        return Ok(s.to_string());
    }
    Plan::kind(s).map(|_| s.to_string()).map_err(|e| e.to_string())
}

/// Where the stages of `pad run` are computed.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Executor {
    /// On this machine: one stage at a time, or --jobs at once.
    #[default]
    Local,
    /// One Slurm job per missing stage (`pad stage run KEY`), chained by afterok; the report last.
    Slurm,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Only these stages (and what they need): data, train, probe, occlusion, distances, pca,
    /// dreams, fid-real, fid, report [default: all]
    #[arg(value_name = "STAGE", value_parser = stage_name)]
    pub stages: Vec<String>,
    /// Where the report writes its tables and figures (in <RESULTS>/<profile>/).
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub results: PathBuf,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Stages computed at once on this machine (independent ones; longest chain first). Results
    /// are the same bytes for any number.
    #[arg(long, default_value_t = 1, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(1, MAX_THREADS, ""))]
    pub jobs: usize,
    /// Worker threads of each of the --jobs stages [default: the --threads count divided among
    /// the jobs, at least 1].
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = whole(1, MAX_THREADS, ""))]
    pub threads_per_job: Option<usize>,
    /// Where stages run: here, or as Slurm jobs (resources from the [slurm] table of the
    /// experiment file; see docs/slurm.md).
    #[arg(long, value_enum, default_value_t = Executor::Local)]
    pub executor: Executor,
    /// With --executor slurm: print the sbatch commands instead of submitting them.
    #[arg(long, requires = "executor")]
    pub dry_run: bool,
    /// The paper's claims and numbers the report checks the results against [default:
    /// claims.toml beside the experiment file, if there is one].
    #[arg(long, value_name = "FILE")]
    pub claims: Option<PathBuf>,
}

pub fn run(a: &RunArgs) -> Result<(), super::Error> {
    let (plan, claims) = a.pipeline.plan_and_claims(a.claims.as_deref())?;
    let kinds = a.stages.iter().filter(|s| *s != "report").map(|s| Plan::kind(s)).collect::<Result<Vec<_>, _>>()?;
    let want_report = a.stages.is_empty() || a.stages.iter().any(|s| s == "report");
    let cache = pad::pipeline::Cache::from_env();
    let t = std::time::Instant::now();
    let nodes = plan.select(&kinds);
    if a.executor == Executor::Slurm {
        return submit(a, &plan, &cache, &nodes, want_report);
    }
    if a.dry_run {
        return Err("--dry-run goes with --executor slurm (it prints the sbatch commands)".into());
    }
    if !kinds.is_empty() || a.stages.is_empty() {
        let (computed, fresh) = if a.jobs > 1 {
            run_jobs(a, &plan, &cache, &nodes)?
        } else {
            pad::pipeline::run::run(&plan, &cache, &nodes, !a.quiet)?
        };
        eprintln!(
            "{computed} stage(s) computed, {fresh} already fresh, in {:.1} s (cache {})",
            t.elapsed().as_secs_f64(),
            cache.root.display()
        );
    }
    if want_report {
        for p in pad::pipeline::report::report(&plan, &cache, &a.results, claims.as_ref())? {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(())
}

/// `--jobs N`: the stages at once, each on its share of the cores, one display for all.
fn run_jobs(
    a: &RunArgs,
    plan: &Plan,
    cache: &pad::pipeline::Cache,
    nodes: &[usize],
) -> Result<(usize, usize), super::Error> {
    let threads = super::threads::count(a.threads.threads)?;
    let jobs = pad::pipeline::jobs::Jobs {
        jobs: a.jobs,
        threads_per_job: a.threads_per_job.unwrap_or((threads / a.jobs).max(1)),
    };
    let missing: Vec<&'static str> = nodes
        .iter()
        .map(|&i| &plan.nodes[i])
        .filter(|n| !cache.is_complete(n.kind().name, &n.key))
        .map(|n| n.kind().name)
        .collect();
    eprintln!("{} stage(s) to compute: {} at once, {} thread(s) each", missing.len(), jobs.jobs, jobs.threads_per_job);
    // Stages computed before (their records say how long each took) time the kinds this run
    // has not finished one of yet.
    let costs = pad::pipeline::status::costs(plan, cache);
    let before = plan.nodes.iter().zip(&costs.seconds).filter_map(|(n, s)| Some((n.kind().name, (*s)?)));
    let display = pad::pipeline::progress::Display::new(!a.quiet, missing, before);
    // Stages draw no bars of their own here: one display shows them all.
    let env = pad::pipeline::stage::Env { progress: false };
    let s = pad::pipeline::jobs::run_parallel(plan, cache, nodes, jobs, &env, &|e| display.event(e))?;
    display.finish();
    if s.failed.is_empty() {
        return Ok((s.computed, s.fresh));
    }
    for e in &s.failed {
        eprintln!("pad: error: {e}");
    }
    Err(format!(
        "{} stage(s) failed and {} depending on them were not run; {} computed. Fix the cause and run again: \
         what is complete stays",
        s.failed.len(),
        s.skipped,
        s.computed
    )
    .into())
}

/// `--executor slurm`: one job per missing stage, the report last.
fn submit(
    a: &RunArgs,
    plan: &Plan,
    cache: &pad::pipeline::Cache,
    nodes: &[usize],
    report: bool,
) -> Result<(), super::Error> {
    let launch = pad::pipeline::cluster::Launch {
        pad: std::env::current_exe()?,
        config: a.pipeline.config.clone(),
        results: a.results.clone(),
        dry_run: a.dry_run,
        report,
        claims: a.claims.clone(),
    };
    let (jobs, outcome) = pad::pipeline::cluster::submit(plan, cache, nodes, &launch)?;
    for line in outcome.describe(&jobs) {
        println!("{line}");
    }
    let submitted = outcome.jobs.iter().filter(|j| matches!(j, pad::pipeline::slurm::Action::Submitted { .. })).count();
    let kept = outcome.jobs.iter().filter(|j| matches!(j, pad::pipeline::slurm::Action::Reused { .. })).count();
    if !a.dry_run {
        eprintln!(
            "{submitted} job(s) submitted, {kept} already queued or running, {} fresh; `pad status --profile {}` follows them (logs in {}/logs/)",
            nodes.len() - jobs.len(),
            plan.profile.name,
            cache.root.display()
        );
    }
    Ok(())
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Also list the longest chain of dependent stages with their recorded seconds.
    #[arg(long)]
    pub critical_path: bool,
}

#[derive(Args, Debug, Clone)]
pub struct StageArgs {
    #[command(subcommand)]
    pub command: StageCmd,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum StageCmd {
    /// Compute one stage by key (its inputs must be complete), commit it, exit: what a cluster job
    /// runs. A stage already complete is left alone.
    Run(StageKeyArgs),
    /// Print one stage's kind, label, parameters (the JSON its key is made of) and inputs.
    Show(StageKeyArgs),
}

#[derive(Args, Debug, Clone)]
pub struct StageKeyArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The stage's key (`pad status` lists them), or a unique prefix of at least 8 characters.
    pub key: String,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn stage(a: &StageArgs) -> Result<(), super::Error> {
    let cache = pad::pipeline::Cache::from_env();
    match &a.command {
        StageCmd::Run(k) => {
            let plan = k.pipeline.plan()?;
            let i = plan.find(&k.key)?;
            let node = &plan.nodes[i];
            eprintln!("{} ({})", node.label, node.key);
            let env = pad::pipeline::stage::Env { progress: !k.quiet };
            match pad::pipeline::run::run_key(&plan, &cache, &k.key, &env)? {
                pad::pipeline::run::Outcome::Computed(s) => eprintln!("computed in {s:.1} s"),
                pad::pipeline::run::Outcome::Fresh => eprintln!("already complete"),
            }
            Ok(())
        }
        StageCmd::Show(k) => {
            let plan = k.pipeline.plan()?;
            let node = &plan.nodes[plan.find(&k.key)?];
            let inputs: Vec<String> =
                node.inputs.iter().map(|&j| format!("{} {}", plan.nodes[j].key, plan.nodes[j].label)).collect();
            let kind = node.kind();
            let show = serde_json::json!({
                "stage": kind.name, "version": kind.version, "key": node.key, "label": node.label,
                "params": node.stage.params(), "inputs": inputs,
                "dir": cache.dir(kind.name, &node.key), "complete": cache.is_complete(kind.name, &node.key),
            });
            println!("{}", serde_json::to_string_pretty(&show)?);
            Ok(())
        }
    }
}

pub fn status(a: &StatusArgs) -> Result<(), super::Error> {
    let plan = a.pipeline.plan()?;
    let cache = pad::pipeline::Cache::from_env();
    let states = pad::pipeline::status::states(&plan, &cache);
    // Ask Slurm only about a cache that has jobs recorded (squeue is not everywhere).
    let on_slurm =
        plan.nodes.iter().any(|n| pad::pipeline::slurm::record_path(&cache.root, n.kind().name, &n.key).exists());
    let jobs = on_slurm.then(|| pad::pipeline::cluster::statuses(&plan, &cache));
    let mut missing = 0;
    for (i, (n, st)) in plan.nodes.iter().zip(&states).enumerate() {
        missing += (*st != pad::pipeline::status::State::Fresh) as usize;
        let word = match (&jobs, st) {
            (Some(j), pad::pipeline::status::State::Missing | pad::pipeline::status::State::Partial) => {
                j[i].to_string()
            }
            _ => st.name().to_string(),
        };
        println!("{:<10} {:<24} {}  {}", n.kind().name, word, &n.key[..16], n.label);
        if let Some(pad::pipeline::slurm::JobStatus::Failed { log: Some(log), .. }) = jobs.as_ref().map(|j| &j[i]) {
            print_tail(log);
        }
    }
    eprintln!(
        "{} stages, {} missing (profile {}, cache {})",
        plan.nodes.len(),
        missing,
        plan.profile.name,
        cache.root.display()
    );
    // The report job, when `pad run --executor slurm` submitted one: "all fresh" alone does not
    // say the results were written.
    if let Some(report) = pad::pipeline::cluster::report_status(&plan, &cache, &a.pipeline.config)? {
        use pad::pipeline::slurm::JobStatus;
        let what = match &report {
            JobStatus::Completed { .. } => "the results are written",
            JobStatus::Queued { .. } => "the results are not yet written (it runs once every stage is fresh)",
            JobStatus::Running { .. } => "the results are being written",
            JobStatus::Failed { .. } => {
                "the results are not written; fix the cause, then `pad run --executor slurm` submits the report again"
            }
            _ => "whether the results are written is not known",
        };
        eprintln!("report job: {report}: {what}");
        if let JobStatus::Failed { log: Some(log), .. } = &report {
            for line in pad::pipeline::slurm::log_tail(log, TAIL_LINES) {
                eprintln!("  | {line}");
            }
        }
    }
    let c = pad::pipeline::status::costs(&plan, &cache);
    if c.total > 0.0 {
        eprintln!(
            "recorded stage time {:.0} s; longest chain {:.0} s ({} stages); so at best {:.0} s on 2 jobs, {:.0} s on 4",
            c.total,
            c.critical,
            c.chain.len(),
            c.lower_bound(2),
            c.lower_bound(4)
        );
        if a.critical_path {
            for &i in &c.chain {
                eprintln!("  {:>8.1} s  {}", c.seconds[i].unwrap_or(0.0), plan.nodes[i].label);
            }
        }
    }
    Ok(())
}

/// Lines of a failed job's log shown under its status.
const TAIL_LINES: usize = 3;

/// The last lines of a failed job's log, indented under its line.
fn print_tail(log: &std::path::Path) {
    for line in pad::pipeline::slurm::log_tail(log, TAIL_LINES) {
        println!("{:<10} | {line}", "");
    }
}

pub fn verify() -> Result<(), super::Error> {
    let cache = pad::pipeline::Cache::from_env();
    let (n, bad) = cache.verify()?;
    for e in &bad {
        eprintln!("{e}");
    }
    if bad.is_empty() {
        eprintln!("{n} cache entries verified in {}", cache.root.display());
        Ok(())
    } else {
        Err(format!("{} of {n} cache entries are corrupted", bad.len()).into())
    }
}
