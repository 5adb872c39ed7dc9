use crate::files::PathIo;
use std::path::PathBuf;

/// Errors of the report layer: a table it cannot read, a file it cannot write.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Io(#[from] PathIo),
    #[error("{path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    /// An image of a figure (named by its label or title) that cannot be drawn.
    #[error("image {what}: {msg}")]
    Image { what: String, msg: String },
}
