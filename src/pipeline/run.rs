//! Running stages: each missing one computed once, in its own work directory, then committed
//! under its key. `compute_node` is the unit every executor calls (locally in order, in parallel
//! with --jobs, or as `pad stage run KEY` inside a Slurm job).
use super::cache::{Cache, Commit, Record};
use super::error::PipelineError;
use super::plan::Plan;
use super::stage::{Env, Inputs};
use crate::files::At;
use std::time::Instant;

/// What happened to one node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// Computed and committed by this worker, in that many seconds.
    Computed(f64),
    /// Already complete (possibly finished by another worker while this one waited).
    Fresh,
}

/// Runs the selected nodes that are missing from the cache, one at a time, in plan order.
/// Returns (computed, already fresh).
pub fn run(plan: &Plan, cache: &Cache, nodes: &[usize], progress: bool) -> Result<(usize, usize), PipelineError> {
    plan.check(nodes)?;
    let env = Env { progress };
    let (mut computed, mut fresh) = (0, 0);
    for (n, &i) in nodes.iter().enumerate() {
        let node = &plan.nodes[i];
        if cache.is_complete(node.kind().name, &node.key) {
            fresh += 1;
            continue;
        }
        if progress {
            eprintln!("[{}/{}] {} ({})", n + 1, nodes.len(), node.label, &node.key[..12]);
        }
        match compute_node(plan, cache, i, &env)? {
            Outcome::Computed(s) => {
                computed += 1;
                if progress {
                    eprintln!("      done in {s:.1} s");
                }
            }
            Outcome::Fresh => fresh += 1,
        }
    }
    Ok((computed, fresh))
}

/// Computes node `i` (its inputs must be complete) and commits it, on a worker of the current
/// thread pool. Holds the key's lock while computing, so two processes sharing a cache do not
/// compute one key twice; if the lock does not hold (e.g. flock over NFS), both compute in their
/// own directories and the first commit wins (see Cache::commit).
pub fn compute_node(plan: &Plan, cache: &Cache, i: usize, env: &Env) -> Result<Outcome, PipelineError> {
    let node = &plan.nodes[i];
    let kind = node.kind();
    if cache.is_complete(kind.name, &node.key) {
        return Ok(Outcome::Fresh);
    }
    for &j in &node.inputs {
        let input = &plan.nodes[j];
        if !cache.is_complete(input.kind().name, &input.key) {
            return Err(PipelineError::InputMissing {
                stage: node.label.clone(),
                input: input.label.clone(),
                dir: cache.dir(input.kind().name, &input.key),
            });
        }
    }
    let wrap = |e: PipelineError| PipelineError::Stage {
        stage: node.label.clone(),
        key: node.key.clone(),
        source: Box::new(e),
    };
    compute_locked(plan, cache, i, env).map_err(wrap)
}

/// `compute_node` once the inputs are known to be complete: lock, compute, commit.
fn compute_locked(plan: &Plan, cache: &Cache, i: usize, env: &Env) -> Result<Outcome, PipelineError> {
    let node = &plan.nodes[i];
    let kind = node.kind();
    let _guard = cache.lock(&node.key)?;
    if cache.is_complete(kind.name, &node.key) {
        // Another process finished it while we waited for the lock.
        return Ok(Outcome::Fresh);
    }
    let t = Instant::now();
    let work = if kind.resumable {
        cache.work_dir(kind.name, &node.key)
    } else {
        cache.private_work_dir(kind.name, &node.key)
    };
    if !kind.resumable {
        // Under the key's lock: leftovers of killed runs on this host go before new work starts.
        cache.remove_dead_private_dirs(kind.name, &node.key)?;
        if work.exists() {
            std::fs::remove_dir_all(&work).at(&work)?;
        }
    }
    std::fs::create_dir_all(&work).at(&work)?;
    let inputs = Inputs::of(&plan.nodes, node, cache);
    // On a pool worker: driving rayon from outside the pool costs a quarter of every kernel's speed.
    let result = rayon::scope(|_| node.stage.compute(&inputs, &work, env));
    if let Err(e) = result {
        if !kind.resumable {
            // Nothing in a fresh directory is worth keeping; a training run keeps its checkpoints.
            let _ = std::fs::remove_dir_all(&work);
        }
        return Err(e);
    }
    let input_keys: Vec<String> = node.inputs.iter().map(|&j| plan.nodes[j].key.clone()).collect();
    let params = node.stage.params();
    let record = Record {
        stage: kind.name,
        version: kind.version,
        key: &node.key,
        params: &params,
        inputs: &input_keys,
        pad_version: env!("CARGO_PKG_VERSION"),
        threads: rayon::current_num_threads(),
        seconds: t.elapsed().as_secs_f64(),
    };
    match cache.commit(kind.name, &node.key, &work, &record)? {
        Commit::Committed(_) => Ok(Outcome::Computed(t.elapsed().as_secs_f64())),
        Commit::AlreadyThere(_) => Ok(Outcome::Fresh),
    }
}

/// `pad stage run KEY`: computes one node by key in this process (what a cluster job runs).
pub fn run_key(plan: &Plan, cache: &Cache, key: &str, env: &Env) -> Result<Outcome, PipelineError> {
    let i = plan.find(key)?;
    plan.check(&[i])?;
    compute_node(plan, cache, i, env)
}
