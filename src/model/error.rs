use std::path::PathBuf;

/// Errors of the model layer; each names the file and, where there is one, the tensor.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Io(#[from] crate::files::PathIo),
    #[error("{path}: not a valid safetensors file: {msg}")]
    Format { path: PathBuf, msg: String },
    #[error("{path}: missing tensor(s) {names:?} (is this a pad/PAD checkpoint for {what}?)")]
    Missing { path: PathBuf, what: String, names: Vec<String> },
    #[error("{path}: tensor {name} has shape {found:?}, expected {expected:?} (a checkpoint of another image size or channel count?)")]
    Shape { path: PathBuf, name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("{path}: tensor {name} has dtype {found}, expected F32")]
    DType { path: PathBuf, name: String, found: String },
    #[error("{path}: metadata key {key}: {msg}")]
    Metadata { path: PathBuf, key: String, msg: String },
}
