//! What `pad diff` fails with: a side it cannot read, or a table it cannot trust. Every message
//! names the revision or directory and the file.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("git is not installed or not on PATH; it is needed to read revision '{rev}' (or compare two directories)")]
    GitMissing { rev: String },
    #[error("'{rev}' is neither a directory nor a revision of this git repository{why}")]
    UnknownRevision { rev: String, why: String },
    #[error("git {args}: {msg}")]
    Git { args: String, msg: String },
    #[error("{side}: no results of profile {profile}: {path} does not exist")]
    NoResults { side: String, profile: String, path: String },
    #[error("{side}: table {path} does not exist (tables there: {known})")]
    MissingTable { side: String, path: String, known: String },
    #[error("{dir}: {msg}")]
    Directory { dir: PathBuf, msg: String },
    /// A table or configuration file that cannot be read as what it should be.
    #[error("{file}: {msg}")]
    Malformed { file: String, msg: String },
    #[error(transparent)]
    File(#[from] crate::files::PathIo),
}
