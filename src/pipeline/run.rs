//! Running a plan: each missing stage computed once (under its key's lock), in dependency order,
//! by calling the layer that knows how (data, train, eval); then the report.
use super::cache::{Cache, Record};
use super::plan::{Plan, StageKind};
use super::stages::{compute, Inputs};
use crate::files::At;
use std::time::Instant;

pub use super::error::PipelineError;
pub use super::stages::ARTIFACT;

/// Runs the selected nodes that are missing from the cache. Returns (computed, already fresh).
pub fn run(plan: &Plan, cache: &Cache, nodes: &[usize], progress: bool) -> Result<(usize, usize), PipelineError> {
    plan.check(nodes).map_err(|msg| PipelineError::Stage { stage: format!("profile {}", plan.profile.name), msg })?;
    let (mut computed, mut fresh) = (0, 0);
    for (n, &i) in nodes.iter().enumerate() {
        let node = &plan.nodes[i];
        let stage = node.kind.name();
        if cache.is_complete(stage, &node.key) {
            fresh += 1;
            continue;
        }
        let _guard = cache.lock(&node.key)?;
        if cache.is_complete(stage, &node.key) {
            // Another process finished it while we waited for the lock.
            fresh += 1;
            continue;
        }
        eprintln!("[{}/{}] {} ({})", n + 1, nodes.len(), node.label, &node.key[..12]);
        let t = Instant::now();
        let work = cache.work_dir(stage, &node.key);
        if node.kind != StageKind::Train && work.exists() {
            // Only training resumes from a partial directory; other stages start clean.
            std::fs::remove_dir_all(&work).at(&work)?;
        }
        std::fs::create_dir_all(&work).at(&work)?;
        let input_keys: Vec<String> = node.inputs.iter().map(|&j| plan.nodes[j].key.clone()).collect();
        let inputs = Inputs(
            node.inputs
                .iter()
                .map(|&j| {
                    (
                        plan.nodes[j].kind,
                        cache.dir(plan.nodes[j].kind.name(), &plan.nodes[j].key),
                        plan.nodes[j].key.clone(),
                    )
                })
                .collect(),
        );
        compute(&plan.profile, node, &inputs, &work, progress)?;
        let record = Record {
            stage,
            version: node.kind.version(),
            key: &node.key,
            params: &node.params,
            inputs: &input_keys,
            pad_version: env!("CARGO_PKG_VERSION"),
            threads: rayon::current_num_threads(),
            seconds: t.elapsed().as_secs_f64(),
        };
        cache.commit(stage, &node.key, &work, &record)?;
        eprintln!("      done in {:.1} s", t.elapsed().as_secs_f64());
        computed += 1;
    }
    Ok((computed, fresh))
}
