//! A training run: the epoch loop, per-epoch checkpoints and loss table, and exact resume.
//!
//! Files in the run directory (all written atomically):
//!   epoch-0000.safetensors ...   weights of E and G after each epoch (0 = untrained), authors' names
//!   state.safetensors            everything needed to continue: weights, Adam moments and steps,
//!                                epochs done and the loss table so far
//!   losses.csv                   one row per epoch: epoch means of the losses and d outputs
//!
//! Randomness is derived per (seed, purpose, epoch) (engine::rng), and REM's memory of the previous
//! mini-batch restarts every epoch, so the state at an epoch boundary is exactly what
//! state.safetensors holds: a run resumed from it writes the same bytes as one never stopped.
use super::batches::epoch_order;
use super::conditions::Condition;
use super::error::TrainError;
use super::occlusion::{nrem_occlusion, NremOcclusion};
use super::phases::{IterationDraws, PadState, StepStats};
use crate::data::{Images, SIDE};
use crate::engine::rng::Stream;
use crate::engine::Shape4;
use crate::files::atomic::write_atomic;
use crate::files::At;
use crate::model::checkpoint::{put_adam, put_params, read_file, to_bytes};
use crate::model::{Encoder, Generator, Network, Param};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything that determines a run's bytes.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub condition: Condition,
    pub seed: u64,
    pub epochs: usize,
    pub batch: usize,
    /// Identity of the training data (the dataset artifact's sha256).
    pub dataset_id: String,
    pub nf: usize,
    pub nz: usize,
}

impl RunSpec {
    /// The keys a resumed run must agree on, as stored in the checkpoint metadata.
    pub(super) fn identity(&self, channels: usize) -> BTreeMap<String, String> {
        [
            ("condition", self.condition.name.clone()),
            ("seed", self.seed.to_string()),
            ("batch", self.batch.to_string()),
            ("dataset", self.dataset_id.clone()),
            ("channels", channels.to_string()),
            ("nf", self.nf.to_string()),
            ("nz", self.nz.to_string()),
            ("format", "pad-checkpoint-v1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

pub const CSV_HEADER: &str = "epoch,iterations,L_img,L_KL,L_real,L_NREM,L_fake,d_real,d_fake";

/// What a finished (or already complete) run reports.
#[derive(Debug)]
pub struct RunReport {
    pub epochs_done: usize,
    pub resumed_from: usize,
    pub seconds_per_epoch: Vec<f64>,
}

pub fn epoch_file(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(format!("epoch-{epoch:04}.safetensors"))
}

/// Untrained networks for a run: G is initialised first, then E, from the "init" stream
/// (the authors' order).
pub fn init_state(seed: u64, channels: usize, nf: usize, nz: usize) -> PadState {
    let mut rng = Stream::derive(seed, "init", 0);
    let mut gen = Generator::with_size(channels, nf, nz);
    gen.init(&mut rng);
    let mut enc = Encoder::with_size(channels, nf, nz);
    enc.init(&mut rng);
    PadState::new(enc, gen)
}

/// The random draws of one epoch: per iteration, the Wake noise and REM noise from the epoch's
/// "noise" stream, and the NREM mask from its "occlusion" stream.
pub struct EpochDraws {
    noise: Stream,
    occlusion: Stream,
    batch: usize,
    nz: usize,
}

impl EpochDraws {
    pub fn new(seed: u64, epoch: usize, batch: usize, nz: usize) -> Self {
        EpochDraws {
            noise: Stream::derive(seed, "noise", epoch as u64),
            occlusion: Stream::derive(seed, "occlusion", epoch as u64),
            batch,
            nz,
        }
    }
    /// The next iteration's draws (never ends: not an Iterator, whose Option would only be unwrapped).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> IterationDraws {
        self.next_with_occlusion().0
    }

    /// The next iteration's draws, with the drop rate and tile size its mask was made from.
    pub fn next_with_occlusion(&mut self) -> (IterationDraws, OcclusionDraw) {
        let mut wake_noise = vec![0.0; self.batch * self.nz];
        self.noise.fill_normal(&mut wake_noise, 0.0, 1.0);
        let mut rem_noise = vec![0.0; self.batch * self.nz];
        self.noise.fill_normal(&mut rem_noise, 0.0, 1.0);
        let NremOcclusion { drop, tile, mask } = nrem_occlusion(SIDE, SIDE, &mut self.occlusion);
        (IterationDraws { wake_noise, rem_noise, mask }, OcclusionDraw { drop, tile })
    }
}

/// The two numbers an NREM mask is drawn from (before its per-tile draws).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OcclusionDraw {
    pub drop: f64,
    pub tile: usize,
}

/// One finished iteration, as an observer of the epoch loop sees it (see `EpochObserver`).
pub struct IterationEvent<'a> {
    pub epoch: usize,
    /// Index of the iteration within its epoch (0-based).
    pub index: usize,
    /// The mini-batch, CNHW, as the networks saw it.
    pub x: &'a [f32],
    pub xs: Shape4,
    pub draws: &'a IterationDraws,
    pub occlusion: OcclusionDraw,
    pub stats: &'a StepStats,
    /// The state after the iteration's last optimizer step.
    pub state: &'a PadState,
}

/// Watches the epoch loop without changing it: the replay recorder (train::record) logs every
/// random draw and snapshots the parameters through it; plain training passes `Unobserved`.
pub trait EpochObserver {
    /// The epoch's order of examples, before its first iteration.
    fn epoch_order(&mut self, epoch: usize, order: &[usize]);
    /// After each iteration.
    fn iteration(&mut self, event: &IterationEvent<'_>);
}

/// The observer of plain training: sees nothing.
pub struct Unobserved;

impl EpochObserver for Unobserved {
    fn epoch_order(&mut self, _: usize, _: &[usize]) {}
    fn iteration(&mut self, _: &IterationEvent<'_>) {}
}

/// Trains (or resumes) the run described by `spec` in `dir`, on a worker of the current rayon
/// pool (see engine::workers).
pub fn train(spec: &RunSpec, images: Images, dir: &Path, progress: bool) -> Result<RunReport, TrainError> {
    crate::engine::workers::on_worker(|| train_here(spec, images, dir, progress))
}

fn train_here(spec: &RunSpec, images: Images, dir: &Path, progress: bool) -> Result<RunReport, TrainError> {
    let iters = images.n / spec.batch;
    if iters == 0 {
        return Err(TrainError::NoBatch { images: images.n, batch: spec.batch });
    }
    std::fs::create_dir_all(dir).at(dir)?;
    let identity = spec.identity(images.channels);
    let state_path = dir.join("state.safetensors");
    let (mut state, mut done, mut history) = if state_path.exists() {
        resume(&state_path, &identity, images.channels, spec)?
    } else {
        let s = init_state(spec.seed, images.channels, spec.nf, spec.nz);
        write_weights(&epoch_file(dir, 0), &s, &identity, 0)?;
        (s, 0, Vec::new())
    };
    let resumed_from = done;
    let bar = progress_bar(progress, (spec.epochs.saturating_sub(done) * iters) as u64, spec);
    let mut seconds = Vec::new();
    while done < spec.epochs {
        let epoch = done + 1;
        let t0 = std::time::Instant::now();
        let means =
            run_epoch(&mut state, spec, images, epoch, &bar, &mut Unobserved).map_err(|(iteration, loss, value)| {
                TrainError::NonFinite { epoch, iteration, loss, value, last_good: done, dir: dir.into() }
            })?;
        history.push(csv_row(epoch, iters, &means));
        write_weights(&epoch_file(dir, epoch), &state, &identity, epoch)?;
        write_state(&state_path, &state, &identity, epoch, &history)?;
        write_csv(&dir.join("losses.csv"), &history)?;
        done = epoch;
        seconds.push(t0.elapsed().as_secs_f64());
        bar.println(format!(
            "epoch {epoch}/{}: {} ({:.1} s)",
            spec.epochs,
            history.last().unwrap(),
            seconds.last().unwrap()
        ));
    }
    bar.finish_and_clear();
    // A run that was already complete still guarantees its table exists.
    write_csv(&dir.join("losses.csv"), &history)?;
    Ok(RunReport { epochs_done: done, resumed_from, seconds_per_epoch: seconds })
}

/// One epoch; returns the epoch means, or (iteration, loss name, value) of the first non-finite loss.
pub(super) fn run_epoch(
    state: &mut PadState,
    spec: &RunSpec,
    images: Images,
    epoch: usize,
    bar: &ProgressBar,
    observer: &mut dyn EpochObserver,
) -> Result<[f64; 7], (usize, &'static str, f32)> {
    let order = epoch_order(spec.seed, epoch, images.n);
    observer.epoch_order(epoch, &order);
    let mut draws = EpochDraws::new(spec.seed, epoch, spec.batch, spec.nz);
    let iters = images.n / spec.batch;
    let mut sums = [0.0f64; 7];
    state.z_old = None;
    for it in 0..iters {
        let (x, xs) = images.batch(&order[it * spec.batch..(it + 1) * spec.batch]);
        let (d, occlusion) = draws.next_with_occlusion();
        let st = state.step(&spec.condition, &x, xs, &d, it == 0);
        observer.iteration(&IterationEvent { epoch, index: it, x: &x, xs, draws: &d, occlusion, stats: &st, state });
        for ((name, v), s) in StepStats::NAMES.iter().zip(st.values()).zip(sums.iter_mut()) {
            if !v.is_finite() {
                return Err((it, name, v));
            }
            *s += v as f64;
        }
        bar.inc(1);
        if it % 20 == 0 || it + 1 == iters {
            let n = (it + 1) as f64;
            bar.set_message(format!(
                "epoch {epoch} rec {:.4} kl {:.3} nrem {:.4} d(x) {:.2} d(dream) {:.2}",
                sums[0] / n,
                sums[1] / n,
                sums[3] / n,
                sums[5] / n,
                sums[6] / n
            ));
        }
    }
    Ok(sums.map(|s| s / iters as f64))
}

pub(super) fn progress_bar(show: bool, total: u64, spec: &RunSpec) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{elapsed_precise}] {bar:25} {pos}/{len} it {per_sec} ETA {eta} {msg}")
            .expect("valid template"),
    );
    bar.set_prefix(format!("train {} seed {}", spec.condition.name, spec.seed));
    bar
}

fn csv_row(epoch: usize, iters: usize, means: &[f64; 7]) -> String {
    let vals: Vec<String> = means.iter().map(|v| format!("{v:.6}")).collect();
    format!("{epoch},{iters},{}", vals.join(","))
}

fn write_csv(path: &Path, rows: &[String]) -> Result<(), TrainError> {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    Ok(write_atomic(path, s.as_bytes())?)
}

pub(super) fn all_params(s: &PadState) -> Vec<&Param> {
    s.enc.params().into_iter().chain(s.gen.params()).collect()
}

pub(super) fn write_weights(
    path: &Path,
    s: &PadState,
    identity: &BTreeMap<String, String>,
    epoch: usize,
) -> Result<(), TrainError> {
    let mut tensors = BTreeMap::new();
    put_params(&mut tensors, &all_params(s));
    let mut meta = identity.clone();
    meta.insert("epoch".into(), epoch.to_string());
    Ok(write_atomic(path, &to_bytes(&tensors, &meta))?)
}

fn write_state(
    path: &Path,
    s: &PadState,
    identity: &BTreeMap<String, String>,
    epoch: usize,
    history: &[String],
) -> Result<(), TrainError> {
    let mut tensors = BTreeMap::new();
    let mut meta = identity.clone();
    put_params(&mut tensors, &all_params(s));
    put_adam(&mut tensors, &mut meta, "E", &s.enc.params(), &s.opt_e);
    put_adam(&mut tensors, &mut meta, "G", &s.gen.params(), &s.opt_g);
    meta.insert("epoch".into(), epoch.to_string());
    meta.insert("history".into(), history.join("\n"));
    Ok(write_atomic(path, &to_bytes(&tensors, &meta))?)
}

fn resume(
    path: &Path,
    identity: &BTreeMap<String, String>,
    channels: usize,
    spec: &RunSpec,
) -> Result<(PadState, usize, Vec<String>), TrainError> {
    let f = read_file(path)?;
    for (k, v) in identity {
        let found = f.metadata.get(k).cloned().unwrap_or_else(|| "missing".into());
        if &found != v {
            return Err(TrainError::Mismatch { path: path.into(), key: k.clone(), found, expected: v.clone() });
        }
    }
    let meta_err =
        |key: &str, msg: String| crate::model::ModelError::Metadata { path: path.into(), key: key.into(), msg };
    let epoch: usize = f
        .metadata
        .get("epoch")
        .ok_or_else(|| meta_err("epoch", "missing".into()))?
        .parse()
        .map_err(|e| meta_err("epoch", format!("{e}")))?;
    let history: Vec<String> = f
        .metadata
        .get("history")
        .map(|h| h.lines().map(String::from).filter(|l| !l.is_empty()).collect())
        .unwrap_or_default();
    if history.len() != epoch {
        return Err(meta_err("history", format!("{} rows for {epoch} epochs", history.len())).into());
    }
    let mut s = init_state(spec.seed, channels, spec.nf, spec.nz);
    f.load_params(path, "the encoder", s.enc.params_mut())?;
    f.load_params(path, "the generator", s.gen.params_mut())?;
    f.load_adam(path, "E", &s.enc.params(), &mut s.opt_e)?;
    f.load_adam(path, "G", &s.gen.params(), &mut s.opt_g)?;
    // A parameter has a gradient buffer exactly when its optimizer has stepped it (at an epoch
    // boundary every backward pass has been followed by its step).
    for (p, slot) in s.enc.params_mut().into_iter().zip(&s.opt_e).chain(s.gen.params_mut().into_iter().zip(&s.opt_g)) {
        p.has_grad = slot.step > 0;
    }
    Ok((s, epoch, history))
}
