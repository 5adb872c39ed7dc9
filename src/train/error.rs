use crate::model::ModelError;
use std::path::PathBuf;

/// Errors of a training run; each says where, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Io(#[from] crate::files::PathIo),
    #[error("non-finite loss at epoch {epoch}, iteration {iteration}: {loss} = {value}; the last good checkpoint (epoch {last_good}) is kept in {dir}")]
    NonFinite { epoch: usize, iteration: usize, loss: &'static str, value: f32, last_good: usize, dir: PathBuf },
    #[error("{path} belongs to another run ({key} is {found}, this run has {expected}); use another --out directory or delete it")]
    Mismatch { path: PathBuf, key: String, found: String, expected: String },
    #[error("{images} images make no mini-batch of {batch}")]
    NoBatch { images: usize, batch: usize },
    #[error("non-finite loss at epoch {epoch}, iteration {iteration} of the recorded run: {loss} = {value}")]
    NonFiniteRecord { epoch: usize, iteration: usize, loss: &'static str, value: f32 },
    #[error("snapshot at iteration {iteration}: the run has iterations 1 to {total}")]
    SnapshotOutOfRange { iteration: usize, total: usize },
    #[error("unknown condition '{name}'; known: {known}")]
    UnknownCondition { name: String, known: String },
}
