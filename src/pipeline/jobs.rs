//! The local parallel executor (`pad run --jobs N`): independent stages at once, each on its own
//! thread pool of `threads_per_job` workers. Where a stage runs never changes what it computes
//! (every stage is deterministic for any thread count), so the cache gets the same bytes as with
//! one job.
//!
//! Dispatch follows the graph: a stage is ready when its inputs are complete, and among ready
//! stages the one with the longest chain of dependants goes first, so trainings start early and
//! evaluations fill the gaps. Among equals the lower seed goes first, so a grid stopped halfway
//! has every condition at seed 0 rather than every seed of the first conditions. A failed stage's
//! dependants are skipped; everything independent of it still runs (as `make -k`), and the
//! failures are reported together at the end.
use super::cache::Cache;
use super::error::PipelineError;
use super::plan::Plan;
use super::run::{compute_node, Outcome};
use super::stage::Env;
use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex};

/// How to spread the work.
#[derive(Clone, Copy, Debug)]
pub struct Jobs {
    /// Stages computed at once.
    pub jobs: usize,
    /// Worker threads of each stage.
    pub threads_per_job: usize,
}

/// What a run did: (computed, fresh) and the failures, by stage label.
#[derive(Debug, Default)]
pub struct Summary {
    pub computed: usize,
    pub fresh: usize,
    pub failed: Vec<PipelineError>,
    /// Stages not run because an input failed.
    pub skipped: usize,
}

/// The longest chain of dependants below each node (0 for a node nothing depends on), within
/// `pending`: the dispatch priority.
pub fn chain_lengths(plan: &Plan, pending: &[bool]) -> Vec<usize> {
    let mut len = vec![0usize; plan.nodes.len()];
    // Inputs always come before their dependants in the plan, so one backward pass suffices.
    for i in (0..plan.nodes.len()).rev() {
        if !pending[i] {
            continue;
        }
        for &j in &plan.nodes[i].inputs {
            len[j] = len[j].max(len[i] + 1);
        }
    }
    len
}

/// Dispatch order of ready nodes, smallest first: longest chain, then lowest seed (stages
/// without one count as seed 0), then plan order.
type Priority = (std::cmp::Reverse<usize>, u64, usize);

fn priority(plan: &Plan, chain: &[usize], i: usize) -> Priority {
    (std::cmp::Reverse(chain[i]), plan.nodes[i].at.seed.unwrap_or(0), i)
}

struct Board {
    /// Nodes not yet started whose inputs are all complete.
    ready: BTreeSet<Priority>,
    /// Per node: inputs still to complete (among the pending).
    waiting: Vec<usize>,
    running: Vec<usize>,
    summary: Summary,
    /// Pending nodes not yet finished, failed or skipped.
    left: usize,
}

/// Runs the selected missing nodes on `jobs.jobs` workers. `on_event` hears of every start and
/// finish (to draw progress).
pub fn run_parallel(
    plan: &Plan,
    cache: &Cache,
    nodes: &[usize],
    jobs: Jobs,
    env: &Env,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Summary, PipelineError> {
    plan.check(nodes)?;
    let mut pending = vec![false; plan.nodes.len()];
    let mut fresh = 0;
    for &i in nodes {
        let n = &plan.nodes[i];
        if cache.is_complete(n.kind().name, &n.key) {
            fresh += 1;
        } else {
            pending[i] = true;
        }
    }
    let chain = chain_lengths(plan, &pending);
    let mut waiting = vec![0; plan.nodes.len()];
    let mut ready = BTreeSet::new();
    for i in (0..plan.nodes.len()).filter(|&i| pending[i]) {
        waiting[i] = plan.nodes[i].inputs.iter().filter(|&&j| pending[j]).count();
        if waiting[i] == 0 {
            ready.insert(priority(plan, &chain, i));
        }
    }
    let left = pending.iter().filter(|&&p| p).count();
    let board = Mutex::new(Board {
        ready,
        waiting,
        running: Vec::new(),
        summary: Summary { fresh, ..Summary::default() },
        left,
    });
    let wake = Condvar::new();
    let total = left;
    let dependants = dependants(plan, &pending);
    let pools: Vec<rayon::ThreadPool> =
        (0..jobs.jobs.max(1)).map(|_| crate::engine::fpmode::thread_pool(Some(jobs.threads_per_job.max(1)))).collect();

    std::thread::scope(|s| {
        for pool in &pools {
            s.spawn(|| loop {
                // Take the most urgent ready node, or finish when nothing is left.
                let i = {
                    let mut b = board.lock().unwrap_or_else(|p| p.into_inner());
                    loop {
                        if let Some((.., first)) = b.ready.pop_first() {
                            b.running.push(first);
                            on_event(Event::Started {
                                kind: plan.nodes[first].kind().name,
                                label: &plan.nodes[first].label,
                                total,
                            });
                            break Some(first);
                        }
                        if b.left == 0 {
                            break None;
                        }
                        b = wake.wait(b).unwrap_or_else(|p| p.into_inner());
                    }
                };
                let Some(i) = i else { return };
                let result = pool.install(|| compute_node(plan, cache, i, env));
                let mut b = board.lock().unwrap_or_else(|p| p.into_inner());
                b.running.retain(|&r| r != i);
                let (mut ok, skipped_before) = (true, b.summary.skipped);
                b.left -= 1;
                match result {
                    Ok(Outcome::Computed(_)) => b.summary.computed += 1,
                    Ok(Outcome::Fresh) => b.summary.fresh += 1,
                    Err(e) => {
                        b.summary.failed.push(e);
                        ok = false;
                        // Everything downstream of a failure is skipped.
                        let mut stack = dependants[i].clone();
                        let mut seen = BTreeSet::new();
                        while let Some(j) = stack.pop() {
                            if seen.insert(j) {
                                stack.extend(dependants[j].iter().copied());
                            }
                        }
                        b.left -= seen.len();
                        b.summary.skipped += seen.len();
                        for j in seen {
                            b.waiting[j] = usize::MAX;
                        }
                    }
                }
                if b.waiting[i] != usize::MAX {
                    for &j in &dependants[i] {
                        if b.waiting[j] != usize::MAX {
                            b.waiting[j] -= 1;
                            if b.waiting[j] == 0 {
                                b.ready.insert(priority(plan, &chain, j));
                            }
                        }
                    }
                }
                let skipped = b.summary.skipped - skipped_before;
                on_event(Event::Finished { kind: plan.nodes[i].kind().name, label: &plan.nodes[i].label, ok, skipped });
                wake.notify_all();
            });
        }
    });
    Ok(board.into_inner().unwrap_or_else(|p| p.into_inner()).summary)
}

/// For each pending node, the pending nodes that read it.
fn dependants(plan: &Plan, pending: &[bool]) -> Vec<Vec<usize>> {
    let mut d = vec![Vec::new(); plan.nodes.len()];
    for (i, n) in plan.nodes.iter().enumerate().filter(|(i, _)| pending[*i]) {
        for &j in &n.inputs {
            if pending[j] {
                d[j].push(i);
            }
        }
    }
    d
}

/// What the progress display is told.
pub enum Event<'a> {
    Started { kind: &'static str, label: &'a str, total: usize },
    Finished { kind: &'static str, label: &'a str, ok: bool, skipped: usize },
}
