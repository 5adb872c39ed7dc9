//! The one error type of the data layer. Every variant names the file (or URL, tar member, MAT
//! variable) it is about, so a failed `pad fetch` says what to look at.

use crate::files::PathIo;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Io(#[from] PathIo),
    #[error("{path}: truncated or corrupt archive ({detail})")]
    Truncated { path: PathBuf, detail: String },
    #[error("{url}: HTTP download failed: {detail}")]
    Http { url: String, detail: String },
    #[error("{file}: wrong size from {from}: expected {expected} bytes, got {actual}")]
    SizeMismatch { file: String, from: String, expected: u64, actual: u64 },
    #[error("{file}: {algo} mismatch (from {from}): expected {expected}, actual {actual}")]
    HashMismatch { file: String, algo: &'static str, from: String, expected: String, actual: String },
    #[error("{path}: bad IDX file at byte {offset}: {detail}")]
    Idx { path: PathBuf, offset: usize, detail: String },
    #[error("{path}: member {member}: {len} bytes is not a whole number of {record}-byte records")]
    RecordLength { path: PathBuf, member: String, len: usize, record: usize },
    #[error("{path}: {key}: label {label} of item {index} is out of range (there are {classes} classes)")]
    LabelOutOfRange { path: PathBuf, key: String, index: usize, label: i64, classes: usize },
    #[error("{path}: required member {member} not found in the archive")]
    MissingMember { path: PathBuf, member: String },
    #[error("{path}: tar entry {entry:?} tries to leave its folder")]
    UnsafeTarPath { path: PathBuf, entry: String },
    #[error("{path}: bad MAT file at byte {offset}: {detail}")]
    Mat { path: PathBuf, offset: usize, detail: String },
    #[error("{path}: MAT variable {var:?} not found")]
    MatMissing { path: PathBuf, var: String },
    #[error("{path}: MAT variable {var:?}: {detail}")]
    MatVariable { path: PathBuf, var: String, detail: String },
    #[error("{path}: unreadable image: {detail}")]
    Image { path: PathBuf, detail: String },
    #[error("{path}: bad image folder layout: {detail}")]
    Layout { path: PathBuf, detail: String },
    #[error("{len} bytes is not a whole number of {channels}x32x32 images")]
    ImageBytes { len: usize, channels: usize },
    #[error("{path}: bad artifact: {problem}")]
    Artifact {
        path: PathBuf,
        #[source]
        problem: ArtifactProblem,
    },
    #[error("{path}: bad lock file: {detail}")]
    Lock { path: PathBuf, detail: String },
    #[error("{key}: {detail}")]
    Config { key: String, detail: String },
    /// A size the file declares (or its inflated length) over one of `limits`' bounds.
    #[error("{path}: {what} is larger than pad reads (at most {limit})")]
    TooLarge { path: PathBuf, what: String, limit: String },
}

/// What is wrong with an artifact: its bytes are not safetensors, or its content is not a
/// dataset.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactProblem {
    #[error(transparent)]
    Format(#[from] crate::files::safetensors::FormatError),
    #[error("{0}")]
    Content(String),
}
