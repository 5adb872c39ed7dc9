//! Files, below every layer that reads or writes them: atomic writes, I/O errors that name
//! their file, the sha256 of a file, and the safetensors format of pad's tensor files.
pub mod atomic;

use std::path::{Path, PathBuf};

/// An I/O error with the file it happened on: every layer's error wraps it, so the path is
/// attached once, where the file is known.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct PathIo {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// `.at(path)`: names the file an I/O result is about.
pub trait At<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, PathIo>;
}

impl<T> At<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, PathIo> {
        self.map_err(|source| PathIo { path: path.as_ref().to_path_buf(), source })
    }
}
