//! Recording a run for replay in PyTorch (scripts/replay/replay_pad.py): the very epoch loop of
//! `train` (run::run_epoch), watched by an observer that logs every random draw and snapshots the
//! parameters at chosen iterations. Training's arithmetic is not touched: the observer only reads.
//!
//! Files in the record directory (all written atomically):
//!   draws.safetensors    every random draw of the run, in PyTorch's layouts:
//!                          order.<epoch>   I64 [images]        the epoch's order of examples
//!                          wake_noise      F32 [T, B, nz]      only when epsilon != 0 (else unused)
//!                          rem_noise       F32 [T, B, nz]
//!                          mask            F32 [T, 32, 32]     NREM occlusion, 1 keep, 0 grey
//!                          drop, tile      F64 [T], I64 [T]    what each mask was drawn from
//!                          x.first         F32 [B, C, 32, 32]  the first mini-batch as pad's networks
//!                                                              saw it (checks the replay's input conversion)
//!                        and metadata: the condition, sizes, seed, dataset identity, Adam settings.
//!   init.safetensors     the initial weights (started from the seed: the same bytes as a `pad train`
//!                        run's epoch-0000)
//!   pad/iter-NNNN.safetensors   the parameters after iteration NNNN (counted from 1 over the run),
//!                        with the checkpoint's names
//!   pad/losses.csv       every iteration's losses and d outputs, exact (shortest round-trip decimals)
use super::error::TrainError;
use super::phases::{PadState, StepStats};
use super::run::{
    all_params, init_state, progress_bar, run_epoch, write_weights, EpochObserver, IterationEvent, RunSpec,
};
use crate::data::{Images, SIDE};
use crate::engine::swap_leading_axes;
use crate::files::atomic::write_atomic;
use crate::files::safetensors::{self, Dtype, HeaderLayout, Tensor};
use crate::files::At;
use crate::model::checkpoint::{put_params, read_file, to_bytes};
use crate::model::Network;
use std::collections::BTreeMap;
use std::path::Path;

pub const DRAWS_FORMAT: &str = "pad-replay-draws-v1";

/// Named f32 tensors, as checkpoints hold them.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Every random draw of a run, concatenated over its iterations.
#[derive(Default)]
pub struct DrawLog {
    /// (epoch, order of examples).
    pub orders: Vec<(usize, Vec<usize>)>,
    pub wake_noise: Vec<f32>,
    pub rem_noise: Vec<f32>,
    pub mask: Vec<f32>,
    pub drop: Vec<f64>,
    pub tile: Vec<i64>,
    /// The first mini-batch, NCHW.
    pub x_first: Vec<f32>,
}

/// A recorded run, in memory.
pub struct Recording {
    pub spec: RunSpec,
    pub channels: usize,
    pub images: usize,
    pub iterations_per_epoch: usize,
    pub snapshot_at: Vec<usize>,
    pub draws: DrawLog,
    /// The parameters after each iteration of `snapshot_at`.
    pub snapshots: Vec<(usize, Tensors)>,
    /// (epoch, stats) of every iteration.
    pub losses: Vec<(usize, StepStats)>,
    init: PadState,
}

struct Recorder<'a> {
    epsilon: f32,
    snapshot_at: &'a [usize],
    done: usize,
    draws: DrawLog,
    snapshots: Vec<(usize, Tensors)>,
    losses: Vec<(usize, StepStats)>,
}

impl EpochObserver for Recorder<'_> {
    fn epoch_order(&mut self, epoch: usize, order: &[usize]) {
        self.draws.orders.push((epoch, order.to_vec()));
    }

    fn iteration(&mut self, e: &IterationEvent<'_>) {
        self.done += 1;
        let d = &mut self.draws;
        // With epsilon = 0 the Wake noise is drawn (keeping the stream's positions) but multiplied
        // by 0: it cannot change anything, so it is not worth 50 MB an epoch.
        if self.epsilon != 0.0 {
            d.wake_noise.extend_from_slice(&e.draws.wake_noise);
        }
        d.rem_noise.extend_from_slice(&e.draws.rem_noise);
        d.mask.extend_from_slice(&e.draws.mask);
        d.drop.push(e.occlusion.drop);
        d.tile.push(e.occlusion.tile as i64);
        if self.done == 1 {
            d.x_first = swap_leading_axes(e.x, e.xs.c, e.xs.n, e.xs.h * e.xs.w);
        }
        self.losses.push((e.epoch, *e.stats));
        if self.snapshot_at.contains(&self.done) {
            let mut t = Tensors::new();
            put_params(&mut t, &all_params(e.state));
            self.snapshots.push((self.done, t));
        }
    }
}

/// The networks a record starts from: `init_state` of the spec's seed (what `pad train` starts
/// from), or the weights of a file (by the checkpoint's names; e.g. a test's well-conditioned
/// initialisation), with fresh optimizers either way.
pub fn start_state(spec: &RunSpec, channels: usize, weights: Option<&Path>) -> Result<PadState, TrainError> {
    let mut s = init_state(spec.seed, channels, spec.nf, spec.nz);
    if let Some(path) = weights {
        let f = read_file(path)?;
        f.load_params(path, "the encoder", s.enc.params_mut())?;
        f.load_params(path, "the generator", s.gen.params_mut())?;
    }
    Ok(s)
}

/// Trains `spec` from `init` on `images` (on a worker of the current pool, as `train`), recording
/// every draw and the parameters after each iteration in `snapshot_at` (1-based over the run).
pub fn record(
    spec: &RunSpec,
    images: Images,
    init: PadState,
    snapshot_at: &[usize],
    progress: bool,
) -> Result<Recording, TrainError> {
    crate::engine::workers::on_worker(|| record_here(spec, images, init, snapshot_at, progress))
}

fn record_here(
    spec: &RunSpec,
    images: Images,
    init: PadState,
    snapshot_at: &[usize],
    progress: bool,
) -> Result<Recording, TrainError> {
    let iters = images.n / spec.batch;
    if iters == 0 {
        return Err(TrainError::NoBatch { images: images.n, batch: spec.batch });
    }
    let total = iters * spec.epochs;
    if let Some(&bad) = snapshot_at.iter().find(|&&i| i == 0 || i > total) {
        return Err(TrainError::SnapshotOutOfRange { iteration: bad, total });
    }
    let mut state = init.clone();
    let mut rec = Recorder {
        epsilon: spec.condition.epsilon,
        snapshot_at,
        done: 0,
        draws: DrawLog::default(),
        snapshots: Vec::new(),
        losses: Vec::new(),
    };
    let bar = progress_bar(progress, total as u64, spec);
    for epoch in 1..=spec.epochs {
        run_epoch(&mut state, spec, images, epoch, &bar, &mut rec)
            .map_err(|(iteration, loss, value)| TrainError::NonFiniteRecord { epoch, iteration, loss, value })?;
    }
    bar.finish_and_clear();
    let mut snapshot_at = snapshot_at.to_vec();
    snapshot_at.sort_unstable();
    snapshot_at.dedup();
    Ok(Recording {
        spec: spec.clone(),
        channels: images.channels,
        images: images.n,
        iterations_per_epoch: iters,
        snapshot_at,
        draws: rec.draws,
        snapshots: rec.snapshots,
        losses: rec.losses,
        init,
    })
}

pub const LOSSES_HEADER: &str = "iteration,epoch,L_img,L_KL,L_real,L_NREM,L_fake,d_real,d_fake";

impl Recording {
    /// Writes draws.safetensors, init.safetensors and pad/ (snapshots and losses.csv) into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), TrainError> {
        let own = dir.join("pad");
        std::fs::create_dir_all(&own).at(&own)?;
        let identity = self.spec.identity(self.channels);
        write_weights(&dir.join("init.safetensors"), &self.init, &identity, 0)?;
        write_atomic(&dir.join("draws.safetensors"), &self.draws_bytes())?;
        for (it, t) in &self.snapshots {
            let mut meta = identity.clone();
            meta.insert("iteration".into(), it.to_string());
            write_atomic(&own.join(snapshot_name(*it)), &to_bytes(t, &meta))?;
        }
        write_atomic(&own.join("losses.csv"), self.losses_csv().as_bytes())?;
        Ok(())
    }

    /// The bytes of draws.safetensors (its sha256 identifies the draws a PyTorch replay used).
    pub fn draws_bytes(&self) -> Vec<u8> {
        let d = &self.draws;
        let (t, b, nz) = (self.losses.len(), self.spec.batch, self.spec.nz);
        let orders: Vec<(String, Vec<u8>)> = d
            .orders
            .iter()
            .map(|(e, o)| (format!("order.{e}"), o.iter().flat_map(|&i| (i as i64).to_le_bytes()).collect()))
            .collect();
        let owned = [
            ("wake_noise", Dtype::F32, vec![t, b, nz], safetensors::f32_bytes(&d.wake_noise)),
            ("rem_noise", Dtype::F32, vec![t, b, nz], safetensors::f32_bytes(&d.rem_noise)),
            ("mask", Dtype::F32, vec![t, SIDE, SIDE], safetensors::f32_bytes(&d.mask)),
            ("drop", Dtype::F64, vec![t], safetensors::f64_bytes(&d.drop)),
            ("tile", Dtype::I64, vec![t], d.tile.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ("x.first", Dtype::F32, vec![b, self.channels, SIDE, SIDE], safetensors::f32_bytes(&d.x_first)),
        ];
        let mut list: Vec<Tensor> = owned
            .iter()
            .filter(|(name, ..)| *name != "wake_noise" || !d.wake_noise.is_empty())
            .map(|(name, dtype, shape, data)| Tensor { name, dtype: *dtype, shape: shape.clone(), data })
            .collect();
        for (name, data) in &orders {
            list.push(Tensor { name, dtype: Dtype::I64, shape: vec![self.images], data });
        }
        safetensors::to_bytes(&list, &self.draws_metadata(), HeaderLayout::Sorted)
    }

    fn draws_metadata(&self) -> BTreeMap<String, String> {
        let s = &self.spec;
        let adam = self.init.adam;
        let json = |v: serde_json::Value| v.to_string();
        BTreeMap::from([
            ("format".to_string(), DRAWS_FORMAT.to_string()),
            ("condition".to_string(), serde_json::to_string(&s.condition).expect("plain data")),
            ("seed".to_string(), s.seed.to_string()),
            ("epochs".to_string(), s.epochs.to_string()),
            ("batch".to_string(), s.batch.to_string()),
            ("iterations_per_epoch".to_string(), self.iterations_per_epoch.to_string()),
            ("images".to_string(), self.images.to_string()),
            ("channels".to_string(), self.channels.to_string()),
            ("nf".to_string(), s.nf.to_string()),
            ("nz".to_string(), s.nz.to_string()),
            ("dataset".to_string(), s.dataset_id.clone()),
            ("snapshot_at".to_string(), json(serde_json::json!(self.snapshot_at))),
            (
                "adam".to_string(),
                json(serde_json::json!({"lr": adam.lr, "beta1": adam.beta1, "beta2": adam.beta2, "eps": adam.eps})),
            ),
        ])
    }

    /// One row per iteration, values as shortest round-trip decimals (exact f32).
    pub fn losses_csv(&self) -> String {
        let mut s = String::from(LOSSES_HEADER);
        s.push('\n');
        for (i, (epoch, st)) in self.losses.iter().enumerate() {
            let vals: Vec<String> = st.values().iter().map(|v| v.to_string()).collect();
            s.push_str(&format!("{},{epoch},{}\n", i + 1, vals.join(",")));
        }
        s
    }
}

/// iter-NNNN.safetensors
pub fn snapshot_name(iteration: usize) -> String {
    format!("iter-{iteration:04}.safetensors")
}
