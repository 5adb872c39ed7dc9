//! One checkpoint evaluated outside the pipeline (`pad probe | occlusion | distances | pca |
//! dreams`): load the dataset artifact and the networks (a checkpoint, or the untrained networks
//! of a seed), run one evaluation, return its result. The pipeline's stages call the same
//! evaluation functions with their own inputs.
use super::error::EvalError;
use crate::data::{load_artifact, Dataset, Images};
use crate::model::{Encoder, Generator};
use std::path::{Path, PathBuf};

/// The dataset and the networks evaluated.
#[derive(Clone, Debug)]
pub struct Subject {
    /// Dataset artifact (.safetensors) written by `pad fetch`.
    pub data: PathBuf,
    /// Checkpoint (pad's epoch-NNNN.safetensors or the PyTorch peer's); None: the untrained
    /// networks of `seed`.
    pub ckpt: Option<PathBuf>,
    /// Seed of the untrained networks and of every random draw of the evaluation.
    pub seed: u64,
}

impl Subject {
    fn dataset(&self) -> Result<Dataset, EvalError> {
        Ok(load_artifact(&self.data)?)
    }

    /// The encoder, from the checkpoint or untrained.
    fn encoder(&self, channels: usize) -> Result<Encoder, EvalError> {
        match &self.ckpt {
            Some(p) => Ok(crate::model::checkpoint::read_file(p)?.encoder(p)?),
            None => Ok(self.untrained_state(channels).enc),
        }
    }

    /// Both networks (dreams need the generator too).
    fn networks(&self, channels: usize) -> Result<(Encoder, Generator), EvalError> {
        match &self.ckpt {
            Some(p) => {
                let f = crate::model::checkpoint::read_file(p)?;
                Ok((f.encoder(p)?, f.generator(p)?))
            }
            None => {
                let s = self.untrained_state(channels);
                Ok((s.enc, s.gen))
            }
        }
    }

    fn untrained_state(&self, channels: usize) -> crate::train::PadState {
        crate::train::run::init_state(self.seed, channels, crate::model::encoder::NF, crate::model::NZ)
    }
}

/// A split's images and labels by name ("train" or "test").
fn images<'a>(ds: &'a Dataset, split: &str) -> Result<(Images<'a>, &'a [u8]), EvalError> {
    let s = match split {
        "train" => &ds.train,
        "test" => &ds.test,
        other => return Err(EvalError::Input(format!("split must be train or test, not {other}"))),
    };
    Ok((Images::new(&s.images, ds.channels)?, &s.labels))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    crate::files::atomic::write_atomic(path, bytes).map_err(EvalError::from)
}

/// A linear read-out trained on the frozen train features (`probe`, and the clean probe of `occlusion`).
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    pub subject: Subject,
    /// Classifier epochs.
    pub epochs: usize,
    /// SGD learning rate.
    pub lr: f32,
    /// Penalty of the ridge read-out fitted beside the probe.
    pub ridge_lambda: f64,
}

impl ProbeOptions {
    fn config(&self) -> super::ProbeConfig {
        super::ProbeConfig { lr: self.lr, epochs: self.epochs, seed: self.subject.seed, ..Default::default() }
    }
}

/// Fig. 4 for one checkpoint: the probe's history on the test set, one entry per probe epoch, and
/// the ridge read-out's accuracies on the same features.
pub fn probe(o: &ProbeOptions) -> Result<(Vec<super::ProbeEpoch>, super::RidgeScore), EvalError> {
    let ds = o.subject.dataset()?;
    let enc = o.subject.encoder(ds.channels)?;
    let ((train, ty), (test, vy)) = (images(&ds, "train")?, images(&ds, "test")?);
    let (ftr, fte) = (super::encode(&enc, train, None), super::encode(&enc, test, None));
    let history = super::linear_probe(ftr.view(), ty, fte.view(), vy, ds.classes.len(), &o.config()).1;
    let (_, score) = super::ridge_readout((ftr.view(), ty), (fte.view(), vy), ds.classes.len(), o.ridge_lambda)?;
    Ok((history, score))
}

/// Fig. 5 for one checkpoint: the accuracy of the read-outs fitted on clean features (the paper's
/// probe and the ridge read-out), per occlusion level.
pub fn occlusion(o: &ProbeOptions) -> Result<Vec<super::SweepRow>, EvalError> {
    let ds = o.subject.dataset()?;
    let enc = o.subject.encoder(ds.channels)?;
    let (train, test) = (images(&ds, "train")?, images(&ds, "test")?);
    let sweep = super::SweepConfig { seed: o.subject.seed, ..Default::default() };
    let readout = (&o.config(), o.ridge_lambda);
    Ok(super::occlusion_curve(&enc, train, test, ds.classes.len(), readout, &sweep)?.1)
}

/// Images of one split of the subject's dataset.
#[derive(Clone, Debug)]
pub struct SplitOptions {
    pub subject: Subject,
    /// "train" or "test".
    pub split: String,
}

/// Fig. 6e,f for one checkpoint (or the untrained encoder): distances and their ratios.
pub fn distances(o: &SplitOptions) -> Result<super::Distances, EvalError> {
    let ds = o.subject.dataset()?;
    let enc = o.subject.encoder(ds.channels)?;
    let (imgs, labels) = images(&ds, &o.split)?;
    let cfg = super::DistanceConfig { seed: o.subject.seed, ..Default::default() };
    super::latent_distances(&enc, imgs, labels, ds.classes.len(), &cfg)
}

/// Fig. 6b-d: the 2-D PCA projection of `samples` images, written to `out`/pca.csv; returned with
/// the dataset's name and class names (for the scatter plot the caller draws).
pub fn pca_files(
    o: &SplitOptions,
    samples: usize,
    out: &Path,
) -> Result<(super::PcaProjection, String, Vec<String>), EvalError> {
    let ds = o.subject.dataset()?;
    let enc = o.subject.encoder(ds.channels)?;
    let (imgs, labels) = images(&ds, &o.split)?;
    let cfg = super::PcaConfig { samples, seed: o.subject.seed, ..Default::default() };
    let p = super::pca_projection(&enc, imgs, labels, &cfg)?;
    write(&out.join("pca.csv"), p.to_csv().as_bytes())?;
    Ok((p, ds.name, ds.classes))
}

/// Fig. 3: `n` real images with their NREM and REM dreams as PNG grids in `out` (real.png,
/// nrem.png, rem.png: a row each; dreams.png: the three rows); returns the files.
pub fn dream_files(o: &SplitOptions, n: usize, out: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let ds = o.subject.dataset()?;
    let (enc, gen) = o.subject.networks(ds.channels)?;
    let (imgs, _) = images(&ds, &o.split)?;
    let d = super::dreams(&enc, &gen, imgs, &super::DreamConfig { n, seed: o.subject.seed })?;
    super::dreams::write_dreams(&d, out)
}
