//! What each stage computes, by calling the layer that knows how (data, train, eval). Every
//! function writes its files into the stage's work directory; `run` then commits the directory
//! under the stage's key. Evaluation stages find their networks either in the training stage's
//! checkpoint of their epoch or, for the untrained evaluations, by re-creating init_state(seed)
//! (bit-identical to every run's epoch-0000 checkpoint of that seed).
use super::config::Profile;
use super::error::PipelineError;
use super::plan::{Node, StageKind};
use crate::data::Images;
use crate::data::{load_artifact, Dataset, SourceSpec};
use crate::eval::dream_fid::{dream_stats, real_stats, DreamKind};
use crate::eval::fid::{frechet_distance, load_stats, save_stats, StatsInfo};
use crate::eval::inception::InceptionV3;
use crate::eval::probe::Linear;
use crate::eval::EvalError;
use crate::model::{Encoder, Generator};
use crate::train::run::epoch_file;
use crate::train::Networks;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The dataset artifact in a data stage's directory.
pub const ARTIFACT: &str = "dataset.safetensors";
/// The read-out a probe stage trains (weight [classes, 256], bias [classes]).
pub const CLASSIFIER: &str = "classifier.safetensors";
/// The real-image Inception statistics of a fid-real stage.
pub const REAL_STATS: &str = "real.fidstats.safetensors";

/// A node's inputs: each input stage's kind, cache directory and key.
pub struct Inputs(pub Vec<(StageKind, PathBuf, String)>);

impl Inputs {
    pub fn dir(&self, kind: StageKind) -> Option<&Path> {
        self.0.iter().find(|i| i.0 == kind).map(|i| i.1.as_path())
    }

    fn key(&self, kind: StageKind) -> Option<&str> {
        self.0.iter().find(|i| i.0 == kind).map(|i| i.2.as_str())
    }

    fn need(&self, kind: StageKind, node: &Node) -> Result<&Path, PipelineError> {
        self.dir(kind).ok_or_else(|| stage_err(node, format!("planned without a {} input", kind.name())))
    }
}

fn stage_err(node: &Node, msg: impl Into<String>) -> PipelineError {
    PipelineError::Stage { stage: node.label.clone(), msg: msg.into() }
}

fn write(path: PathBuf, bytes: &[u8]) -> Result<(), PipelineError> {
    Ok(crate::files::atomic::write_atomic(&path, bytes)?)
}

/// Computes `node` into `work`, on a pool worker (see engine::workers).
pub fn compute(
    profile: &Profile,
    node: &Node,
    inputs: &Inputs,
    work: &Path,
    progress: bool,
) -> Result<(), PipelineError> {
    crate::engine::workers::on_worker(|| match node.kind {
        StageKind::Data => compute_data(profile, node, work),
        StageKind::Train => compute_train(profile, node, inputs, work, progress),
        StageKind::Probe => compute_probe(profile, node, inputs, work),
        StageKind::Occlusion => compute_occlusion(profile, node, inputs, work),
        StageKind::Distances => compute_distances(profile, node, inputs, work),
        StageKind::Pca => compute_pca(profile, node, inputs, work),
        StageKind::Dreams => compute_dreams(profile, node, inputs, work),
        StageKind::FidReal => compute_fid_real(profile, node, inputs, work, progress),
        StageKind::Fid => compute_fid(profile, node, inputs, work, progress),
    })
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

fn dataset(node: &Node, inputs: &Inputs) -> Result<Dataset, PipelineError> {
    Ok(load_artifact(&inputs.need(StageKind::Data, node)?.join(ARTIFACT))?)
}

fn split<'a>(_node: &Node, ds: &'a Dataset, name: &str) -> Result<(Images<'a>, &'a [u8]), PipelineError> {
    let s = if name == "test" { &ds.test } else { &ds.train };
    Ok((Images::new(&s.images, ds.channels)?, &s.labels))
}

fn compute_train(
    profile: &Profile,
    node: &Node,
    inputs: &Inputs,
    work: &Path,
    progress: bool,
) -> Result<(), PipelineError> {
    let ds = dataset(node, inputs)?;
    let data_key = inputs.key(StageKind::Data).expect("train has a data input");
    let cond = profile
        .conditions
        .iter()
        .find(|c| Some(c.name.as_str()) == node.condition.as_deref())
        .expect("planned condition");
    let per = ds.channels * crate::data::PLANE;
    let n = profile.limit_train.unwrap_or(ds.train.n).min(ds.train.n);
    let images = Images::new(&ds.train.images[..n * per], ds.channels)?;
    let spec = crate::train::RunSpec {
        condition: cond.clone(),
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

/// The networks a node evaluates: its epoch's checkpoint, or the untrained init_state(seed).
fn networks(node: &Node, inputs: &Inputs, channels: usize) -> Result<(Encoder, Generator), PipelineError> {
    let path = inputs.dir(StageKind::Train).map(|dir| epoch_file(dir, node.epoch.expect("evaluation has an epoch")));
    let networks = match &path {
        Some(p) => Networks::Checkpoint(p),
        None => Networks::Untrained { seed: node.seed.expect("untrained has a seed") },
    };
    Ok(networks.both(channels)?)
}

fn compute_probe(profile: &Profile, node: &Node, inputs: &Inputs, work: &Path) -> Result<(), PipelineError> {
    let ds = dataset(node, inputs)?;
    let (enc, _) = networks(node, inputs, ds.channels)?;
    let ((train, ty), (test, vy)) = (split(node, &ds, "train")?, split(node, &ds, "test")?);
    let (ftr, fte) = (crate::eval::encode(&enc, train, None), crate::eval::encode(&enc, test, None));
    let e = &profile.eval;
    let cfg =
        crate::eval::ProbeConfig { lr: e.probe_lr, batch: e.probe_batch, epochs: e.probe_epochs, seed: e.probe_seed };
    let (clf, hist) = crate::eval::linear_probe(ftr.view(), ty, fte.view(), vy, ds.classes.len(), &cfg);
    let mut csv = String::from("probe_epoch,train_loss,train_acc,test_loss,test_acc,test_acc_ref\n");
    for h in &hist {
        csv.push_str(&format!(
            "{},{:.6},{:.4},{:.6},{:.4},{:.4}\n",
            h.epoch, h.train_loss, h.train_acc, h.test_loss, h.test_acc, h.test_acc_ref
        ));
    }
    write(work.join("probe.csv"), csv.as_bytes())?;
    let tensors = BTreeMap::from([
        ("weight".to_string(), (clf.w.shape().to_vec(), clf.w.iter().copied().collect())),
        ("bias".to_string(), (clf.b.shape().to_vec(), clf.b.to_vec())),
    ]);
    write(work.join(CLASSIFIER), &crate::model::checkpoint::to_bytes(&tensors, &BTreeMap::new()))
}

/// Reads a probe stage's read-out back.
pub fn read_classifier(path: &Path) -> Result<Linear, PipelineError> {
    let f = crate::model::checkpoint::read_file(path)?;
    let bad = |msg: String| PipelineError::Stage { stage: path.display().to_string(), msg };
    let get = |name: &str| f.tensors.get(name).ok_or_else(|| bad(format!("no tensor {name}")));
    let ((ws, w), (bs, b)) = (get("weight")?, get("bias")?);
    if ws.len() != 2 || bs.as_slice() != [ws[0]] {
        return Err(bad(format!("weight {ws:?} and bias {bs:?} are not a linear read-out")));
    }
    let w = ndarray::Array2::from_shape_vec((ws[0], ws[1]), w.clone()).map_err(|e| bad(e.to_string()))?;
    Ok(Linear { w, b: ndarray::Array1::from_vec(b.clone()) })
}

fn eval_seed(profile: &Profile) -> u64 {
    profile.eval.eval_seed
}

fn compute_occlusion(profile: &Profile, node: &Node, inputs: &Inputs, work: &Path) -> Result<(), PipelineError> {
    let ds = dataset(node, inputs)?;
    let (enc, _) = networks(node, inputs, ds.channels)?;
    let clf = read_classifier(&inputs.need(StageKind::Probe, node)?.join(CLASSIFIER))?;
    let (test, vy) = split(node, &ds, "test")?;
    let cfg = crate::eval::SweepConfig { seed: eval_seed(profile), ..Default::default() };
    let rows = crate::eval::occlusion_sweep(&enc, &clf, test, vy, profile.eval.probe_batch, &cfg);
    write(work.join("occlusion.csv"), crate::eval::occlusion::sweep_csv(&rows).as_bytes())
}

fn json(node: &Node, v: &impl serde::Serialize) -> Result<String, PipelineError> {
    Ok(serde_json::to_string_pretty(v).map_err(|e| stage_err(node, e.to_string()))? + "\n")
}

fn compute_distances(profile: &Profile, node: &Node, inputs: &Inputs, work: &Path) -> Result<(), PipelineError> {
    let ds = dataset(node, inputs)?;
    let (enc, _) = networks(node, inputs, ds.channels)?;
    let (imgs, labels) = split(node, &ds, "train")?;
    let cfg = crate::eval::DistanceConfig { seed: eval_seed(profile), ..Default::default() };
    let d = crate::eval::latent_distances(&enc, imgs, labels, ds.classes.len(), &cfg).map_err(eval_err(node))?;
    write(work.join("distances.json"), json(node, &d)?.as_bytes())
}

fn compute_pca(profile: &Profile, node: &Node, inputs: &Inputs, work: &Path) -> Result<(), PipelineError> {
    let ds = dataset(node, inputs)?;
    let (enc, _) = networks(node, inputs, ds.channels)?;
    let (imgs, labels) = split(node, &ds, "test")?;
    let cfg =
        crate::eval::PcaConfig { samples: profile.eval.pca_samples, seed: eval_seed(profile), ..Default::default() };
    let p = crate::eval::pca_projection(&enc, imgs, labels, &cfg).map_err(eval_err(node))?;
    write(work.join("pca.csv"), p.to_csv().as_bytes())?;
    write(work.join("pca.json"), json(node, &p)?.as_bytes())
}

fn compute_dreams(profile: &Profile, node: &Node, inputs: &Inputs, work: &Path) -> Result<(), PipelineError> {
    let ds = dataset(node, inputs)?;
    let (enc, gen) = networks(node, inputs, ds.channels)?;
    let (imgs, _) = split(node, &ds, "train")?;
    let d = crate::eval::dreams(&enc, &gen, imgs, &crate::eval::DreamConfig { n: 8, seed: eval_seed(profile) })
        .map_err(eval_err(node))?;
    crate::eval::dreams::write_dreams(&d, work).map_err(eval_err(node))?;
    Ok(())
}

/// An evaluation error, kept whole, with the stage it happened in.
fn eval_err(node: &Node) -> impl Fn(EvalError) -> PipelineError + '_ {
    move |source| PipelineError::Eval { stage: node.label.clone(), source: Box::new(source) }
}

fn inception(profile: &Profile, node: &Node) -> Result<InceptionV3, PipelineError> {
    let path = profile.eval.fid_weights.as_ref().ok_or_else(|| stage_err(node, "no [eval] fid_weights"))?;
    InceptionV3::load(Path::new(path), profile.eval.fid_layout).map_err(eval_err(node))
}

/// A progress bar with ETA over `total` images (hidden unless asked for).
fn images_bar(show: bool, total: usize, what: String) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {bar:25} {pos}/{len} images {per_sec} ETA {eta}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(what);
    bar
}

fn compute_fid_real(
    profile: &Profile,
    node: &Node,
    inputs: &Inputs,
    work: &Path,
    progress: bool,
) -> Result<(), PipelineError> {
    let ds = dataset(node, inputs)?;
    let net = inception(profile, node)?;
    let (imgs, _) = split(node, &ds, "train")?;
    let n = profile.eval.fid_samples;
    let bar = images_bar(progress, n, format!("fid real {}", node.dataset));
    let s =
        real_stats(&net, imgs, n, eval_seed(profile), &|done| bar.set_position(done as u64)).map_err(eval_err(node))?;
    bar.finish_and_clear();
    let info = StatsInfo {
        n: s.n,
        layout: profile.eval.fid_layout,
        source: format!(
            "{} train, {} images of the eval-fid-real shuffle (seed {})",
            node.dataset,
            s.n,
            eval_seed(profile)
        ),
    };
    save_stats(&work.join(REAL_STATS), &s, &info).map_err(eval_err(node))
}

fn compute_fid(
    profile: &Profile,
    node: &Node,
    inputs: &Inputs,
    work: &Path,
    progress: bool,
) -> Result<(), PipelineError> {
    let ds = dataset(node, inputs)?;
    let (enc, gen) = networks(node, inputs, ds.channels)?;
    let net = inception(profile, node)?;
    let (real, _) = load_stats(&inputs.need(StageKind::FidReal, node)?.join(REAL_STATS)).map_err(eval_err(node))?;
    let (imgs, _) = split(node, &ds, "train")?;
    let n = profile.eval.fid_samples;
    let mut csv = String::from("kind,samples_real,samples_dreams,fid,warning\n");
    for kind in DreamKind::ALL {
        let bar = images_bar(progress, n, format!("fid {} {}", kind.name(), node.label.trim_start_matches("fid ")));
        let s = dream_stats(&net, &enc, &gen, imgs, kind, n, eval_seed(profile), &|done| bar.set_position(done as u64))
            .map_err(eval_err(node))?;
        bar.finish_and_clear();
        let f = frechet_distance(&real, &s).map_err(eval_err(node))?;
        if let Some(w) = &f.warning {
            eprintln!("warning: {}: {w}", node.label);
        }
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            kind.name(),
            f.n1,
            f.n2,
            f.fid,
            f.warning.as_deref().map(|w| format!("\"{}\"", w.replace('"', "'"))).unwrap_or_default()
        ));
    }
    write(work.join("fid.csv"), csv.as_bytes())
}
