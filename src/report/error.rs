use crate::files::PathIo;
use std::path::PathBuf;

/// Errors of the report layer: a table it cannot read, a file it cannot write.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Io(#[from] PathIo),
    #[error("{path}: {msg}")]
    Parse { path: PathBuf, msg: String },
}
