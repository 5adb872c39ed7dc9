use crate::files::safetensors::{FormatError, ReadError};
use crate::files::PathIo;
use std::path::PathBuf;

/// The one error type of the evaluation layer (FID included); each names the file, tensor or
/// input at fault.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Io(#[from] PathIo),
    #[error("{path}: not a valid safetensors file: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: FormatError,
    },
    #[error("{path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error("bad evaluation input: {0}")]
    Input(String),
    /// `network`: which Inception-v3 the file was read as (inception::Layout's name).
    #[error("{path}: not a {network} Inception-v3 state dict: {problems}")]
    Tensors { path: PathBuf, network: &'static str, problems: String },
    #[error("{what}: {msg}")]
    Stats { what: String, msg: String },
    /// A linear-algebra step that failed, and on which matrix.
    #[error("{0}")]
    Linalg(String),
}

impl From<ReadError> for EvalError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => EvalError::Io(e),
            ReadError::Format { path, source } => EvalError::Format { path, source },
        }
    }
}
