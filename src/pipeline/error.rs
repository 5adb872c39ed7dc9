//! The pipeline layer's one error type. Lower layers' errors are wrapped, not flattened, so a
//! stage failure keeps its whole chain ("stage probe demo/pad/seed0/epoch4 (3f2a…): <cause>").
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Cache(#[from] super::cache::CacheError),
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error(transparent)]
    Diff(#[from] super::diff::DiffError),
    #[error(transparent)]
    Slurm(#[from] super::slurm::SlurmError),
    #[error(transparent)]
    File(#[from] crate::files::PathIo),
    /// A computation failed: which stage, under which key, and why.
    #[error("stage {stage} ({key}): {source}")]
    Stage { stage: String, key: String, source: Box<PipelineError> },
    /// The plan did not give a stage an input it reads (a wiring bug, said plainly).
    #[error("stage {stage}: planned without a {missing} input")]
    Planned { stage: String, missing: &'static str },
    /// A stage's parameters are unusable (e.g. an image set too small for the samples asked).
    #[error("stage {stage}: {msg}")]
    Params { stage: String, msg: String },
    /// A file a stage reads is not what it should be.
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    /// A run that would fail hours in is refused before any work (e.g. FID without weights).
    #[error("profile {profile}: {msg}")]
    Refused { profile: String, msg: String },
    #[error("no stage with key {key} in profile {profile} (is the key complete and the profile right? `pad status` lists the keys)")]
    NoSuchKey { key: String, profile: String },
    #[error("stage {stage}: its input {input} is not complete in the cache ({dir}); compute it first")]
    InputMissing { stage: String, input: String, dir: PathBuf },
    #[error("unknown stage '{name}'; stages: {known}")]
    UnknownStage { name: String, known: String },
}
