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
