//! What can go wrong between pad and Slurm, with the key, file or command it concerns.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("{key}: {msg}")]
    Config { key: String, msg: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: unreadable Slurm record: {detail} (delete it; `pad run` then submits the stage again)")]
    Record { path: PathBuf, detail: String },
    #[error("cannot run {program}: {source} (is Slurm installed and on PATH?)")]
    Spawn { program: String, source: std::io::Error },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command { command: String, status: String, stderr: String },
    #[error("`{command}` printed {output:?}; expected {expected}")]
    Output { command: String, output: String, expected: String },
    #[error("{what}: {msg}")]
    Input { what: String, msg: String },
    #[error(
        "submitting {label}: {source} ({submitted} job(s) submitted before it stay queued; running again submits \
         the rest)"
    )]
    Submit { label: String, submitted: usize, source: Box<SlurmError> },
}
