use crate::files::safetensors::{FormatError, ReadError};
use std::path::PathBuf;

/// Errors of the model layer; each names the file and, where there is one, the tensor.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Io(#[from] crate::files::PathIo),
    #[error("{path}: not a valid safetensors file: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: FormatError,
    },
    #[error("{path}: missing tensor(s) {names:?} (is this a pad/PAD checkpoint for {what}?)")]
    Missing { path: PathBuf, what: String, names: Vec<String> },
    #[error("{path}: tensor {name} has shape {found:?}, expected {expected:?} (a checkpoint of another image size or channel count?)")]
    Shape { path: PathBuf, name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("{path}: tensor {name} has dtype {found}, expected F32")]
    DType { path: PathBuf, name: String, found: String },
    #[error("{path}: metadata key {key}: {msg}")]
    Metadata { path: PathBuf, key: String, msg: String },
}

impl From<ReadError> for ModelError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => ModelError::Io(e),
            ReadError::Format { path, source } => ModelError::Format { path, source },
        }
    }
}
