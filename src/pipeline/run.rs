//! Running a plan: each missing stage computed once (under its key's lock), in dependency order,
//! by calling the layer that knows how (data, train, eval); then the report.
use super::cache::{Cache, CacheError, Record};
use super::config::Profile;
use super::plan::{Node, Plan, StageKind};
use crate::data::{DataError, SourceSpec};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
    #[error("{stage}: {msg}")]
    Stage { stage: String, msg: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

pub const ARTIFACT: &str = "dataset.safetensors";

/// Runs the selected nodes that are missing from the cache. Returns (computed, already fresh).
pub fn run(plan: &Plan, cache: &Cache, nodes: &[usize], progress: bool) -> Result<(usize, usize), PipelineError> {
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
            std::fs::remove_dir_all(&work).map_err(|source| PipelineError::Io { path: work.clone(), source })?;
        }
        std::fs::create_dir_all(&work).map_err(|source| PipelineError::Io { path: work.clone(), source })?;
        let inputs: Vec<PathBuf> = node.inputs.iter().map(|&j| cache.dir(plan.nodes[j].kind.name(), &plan.nodes[j].key)).collect();
        let input_keys: Vec<String> = node.inputs.iter().map(|&j| plan.nodes[j].key.clone()).collect();
        compute(&plan.profile, node, &inputs, &input_keys, &work, progress)?;
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

fn compute(profile: &Profile, node: &Node, inputs: &[PathBuf], input_keys: &[String], work: &Path, progress: bool) -> Result<(), PipelineError> {
    match node.kind {
        StageKind::Data => compute_data(profile, node, work),
        StageKind::Train => compute_train(profile, node, &inputs[0], &input_keys[0], work, progress),
        StageKind::Probe => compute_probe(profile, node, &inputs[0], &inputs[1], work),
    }
}

fn compute_data(profile: &Profile, node: &Node, work: &Path) -> Result<(), PipelineError> {
    let (_, spec) = profile.datasets.iter().find(|(n, _)| *n == node.dataset).expect("planned dataset");
    let source = SourceSpec {
        dataset: spec.source.clone(),
        mirror: spec.mirror.clone(),
        path: spec.path.clone().map(PathBuf::from),
        name: Some(node.dataset.clone()),
        lock: spec.lock.clone().map(PathBuf::from),
        allow_unpublished: spec.allow_unpublished,
    };
    let download = spec.download_dir.clone().map(PathBuf::from).unwrap_or_else(|| profile.data_dir.clone());
    let (ds, sources) = crate::data::sources::build_with_sources(&source, &download)?;
    crate::data::artifact::write_artifact_with_sources(&ds, &sources, &work.join(ARTIFACT))?;
    Ok(())
}

fn compute_train(profile: &Profile, node: &Node, data_dir: &Path, data_key: &str, work: &Path, progress: bool) -> Result<(), PipelineError> {
    let ds = crate::data::load_artifact(&data_dir.join(ARTIFACT))?;
    let cond = *profile.conditions.iter().find(|c| Some(c.name) == node.condition.as_deref()).expect("planned condition");
    let per = ds.channels * 32 * 32;
    let n = profile.limit_train.unwrap_or(ds.train.n).min(ds.train.n);
    let images = crate::train::Images::new(&ds.train.images[..n * per], ds.channels).map_err(|msg| PipelineError::Stage { stage: node.label.clone(), msg })?;
    let leaked: &'static crate::train::Condition = Box::leak(Box::new(cond));
    let spec = crate::train::RunSpec {
        condition: leaked,
        seed: node.seed.expect("train has a seed"),
        epochs: profile.epochs,
        batch: profile.batch,
        // The data stage's key identifies the data; a limit takes a prefix of it.
        dataset_id: if n < ds.train.n { format!("{data_key}[..{n}]") } else { data_key.to_string() },
        nf: crate::model::encoder::NF,
        nz: crate::model::NZ,
    };
    crate::train::train(&spec, images, work, progress)?;
    Ok(())
}

fn compute_probe(profile: &Profile, node: &Node, train_dir: &Path, data_dir: &Path, work: &Path) -> Result<(), PipelineError> {
    let ds = crate::data::load_artifact(&data_dir.join(ARTIFACT))?;
    let epoch = node.epoch.expect("probe has an epoch");
    let ckpt = crate::train::run::epoch_file(train_dir, epoch);
    let enc = crate::model::checkpoint::read_file(&ckpt)?.encoder(&ckpt)?;
    let stage_err = |msg: String| PipelineError::Stage { stage: node.label.clone(), msg };
    let train = crate::train::Images::new(&ds.train.images, ds.channels).map_err(stage_err)?;
    let test = crate::train::Images::new(&ds.test.images, ds.channels).map_err(stage_err)?;
    let (ftr, fte) = (crate::eval::encode(&enc, train, None), crate::eval::encode(&enc, test, None));
    let e = &profile.eval;
    let cfg = crate::eval::ProbeConfig { lr: e.probe_lr, batch: e.probe_batch, epochs: e.probe_epochs, seed: e.probe_seed };
    let (_, hist) = crate::eval::linear_probe(ftr.view(), &ds.train.labels, fte.view(), &ds.test.labels, ds.classes.len(), &cfg);
    let mut csv = String::from("probe_epoch,train_loss,train_acc,test_loss,test_acc,test_acc_ref\n");
    for h in &hist {
        csv.push_str(&format!("{},{:.6},{:.4},{:.6},{:.4},{:.4}\n", h.epoch, h.train_loss, h.train_acc, h.test_loss, h.test_acc, h.test_acc_ref));
    }
    let p = work.join("probe.csv");
    crate::atomic::write_atomic(&p, csv.as_bytes()).map_err(|source| PipelineError::Io { path: p, source })
}
