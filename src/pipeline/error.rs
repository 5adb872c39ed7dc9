use super::cache::CacheError;
use crate::data::DataError;

/// Errors of running a plan.
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
    #[error("{stage}: {source}")]
    Eval {
        stage: String,
        // Boxed: evaluation errors are large, and every pipeline result carries this type.
        #[source]
        source: Box<crate::eval::EvalError>,
    },
    #[error(transparent)]
    Io(#[from] crate::files::PathIo),
}
