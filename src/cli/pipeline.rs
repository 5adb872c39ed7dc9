//! `pad run | status | verify`: the pipeline of pipeline.toml over the content-addressed cache.
use super::threads::ThreadsArg;
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
        let cfg = pad::pipeline::Config::load(&self.config)?;
        Ok(Plan::new(cfg.profile(&self.profile)?))
    }
}

/// A stage kind's name, or `report`.
fn stage_name(s: &str) -> Result<String, String> {
    if s == "report" {
        return Ok(s.to_string());
    }
    Plan::kind(s).map(|_| s.to_string()).map_err(|e| e.to_string())
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
}

pub fn run(a: &RunArgs) -> Result<(), super::Error> {
    let plan = a.pipeline.plan()?;
    let kinds = a.stages.iter().filter(|s| *s != "report").map(|s| Plan::kind(s)).collect::<Result<Vec<_>, _>>()?;
    let want_report = a.stages.is_empty() || a.stages.iter().any(|s| s == "report");
    let cache = pad::pipeline::Cache::from_env();
    let t = std::time::Instant::now();
    if !kinds.is_empty() || a.stages.is_empty() {
        let nodes = plan.select(&kinds);
        let (computed, fresh) = pad::pipeline::run::run(&plan, &cache, &nodes, !a.quiet)?;
        eprintln!(
            "{computed} stage(s) computed, {fresh} already fresh, in {:.1} s (cache {})",
            t.elapsed().as_secs_f64(),
            cache.root.display()
        );
    }
    if want_report {
        for p in pad::pipeline::report::report(&plan, &cache, &a.results)? {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(())
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub fn status(a: &StatusArgs) -> Result<(), super::Error> {
    let plan = a.pipeline.plan()?;
    let cache = pad::pipeline::Cache::from_env();
    let mut missing = 0;
    for (n, st) in plan.nodes.iter().zip(pad::pipeline::status::states(&plan, &cache)) {
        missing += (st != pad::pipeline::status::State::Fresh) as usize;
        println!("{:<10} {:<9} {}  {}", n.kind().name, st.name(), &n.key[..16], n.label);
    }
    eprintln!(
        "{} stages, {} missing (profile {}, cache {})",
        plan.nodes.len(),
        missing,
        plan.profile.name,
        cache.root.display()
    );
    Ok(())
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
