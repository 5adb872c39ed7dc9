//! What the cache holds of a plan: each node fresh, partial (a resumable run was interrupted) or
//! missing. Executors add what they know (queued, running, failed).
use super::cache::Cache;
use super::plan::Plan;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Fresh,
    /// A resumable stage's partial directory exists: `pad run` continues it.
    Partial,
    Missing,
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Fresh => "fresh",
            State::Partial => "partial",
            State::Missing => "missing",
        }
    }
}

/// The state of every node of the plan, in plan order.
pub fn states(plan: &Plan, cache: &Cache) -> Vec<State> {
    plan.nodes
        .iter()
        .map(|n| {
            let name = n.kind().name;
            if cache.is_complete(name, &n.key) {
                State::Fresh
            } else if n.kind().resumable && cache.work_dir(name, &n.key).exists() {
                State::Partial
            } else {
                State::Missing
            }
        })
        .collect()
}

/// What the records of complete entries say about the cost of a plan: the seconds each took, the
/// total, and the longest chain of dependent stages (no number of jobs can finish sooner).
#[derive(Debug)]
pub struct Costs {
    /// Per node, the seconds its record.json gives (None for nodes not complete).
    pub seconds: Vec<Option<f64>>,
    pub total: f64,
    pub critical: f64,
    /// The critical chain, first stage first (node indices).
    pub chain: Vec<usize>,
}

impl Costs {
    /// The best possible wall time on `jobs` workers of equal speed: no shorter than the critical
    /// chain, nor than the total work shared evenly.
    pub fn lower_bound(&self, jobs: usize) -> f64 {
        self.critical.max(self.total / jobs.max(1) as f64)
    }
}

/// Reads every complete node's record.json and finds the critical chain.
pub fn costs(plan: &Plan, cache: &Cache) -> Costs {
    let seconds: Vec<Option<f64>> = plan
        .nodes
        .iter()
        .map(|n| {
            let path = cache.dir(n.kind().name, &n.key).join("record.json");
            let text = std::fs::read_to_string(path).ok()?;
            serde_json::from_str::<serde_json::Value>(&text).ok()?["seconds"].as_f64()
        })
        .collect();
    // Longest path ending at each node; inputs come before their dependants in the plan.
    let mut end = vec![0.0f64; plan.nodes.len()];
    let mut prev: Vec<Option<usize>> = vec![None; plan.nodes.len()];
    for (i, n) in plan.nodes.iter().enumerate() {
        let best = n.inputs.iter().copied().max_by(|&a, &b| end[a].total_cmp(&end[b]));
        end[i] = seconds[i].unwrap_or(0.0) + best.map_or(0.0, |j| end[j]);
        prev[i] = best;
    }
    let last = (0..plan.nodes.len()).max_by(|&a, &b| end[a].total_cmp(&end[b]));
    let mut chain = Vec::new();
    let mut at = last;
    while let Some(i) = at {
        chain.push(i);
        at = prev[i];
    }
    chain.reverse();
    Costs { total: seconds.iter().flatten().sum(), critical: last.map_or(0.0, |i| end[i]), chain, seconds }
}
