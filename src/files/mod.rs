//! Files, below every layer that reads or writes them: atomic writes, I/O errors that name
//! their file, the sha256 of a file, and the safetensors format of pad's tensor files.
pub mod atomic;
pub mod safetensors;

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

/// Feeds the bytes of a file, in order, to `consume` (streamed: archives have hundreds of MB).
pub fn stream_file(path: &Path, mut consume: impl FnMut(&[u8])) -> Result<(), PathIo> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).at(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let k = match f.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => r.at(path)?,
        };
        if k == 0 {
            return Ok(());
        }
        consume(&buf[..k]);
    }
}

/// sha256 (lower-case hex) of a file: the identity of artifacts, weights and cached outputs.
pub fn sha256_file(path: &Path) -> Result<String, PathIo> {
    use sha2::Digest;
    let mut sha = sha2::Sha256::new();
    stream_file(path, |b| sha.update(b))?;
    Ok(hex::encode(sha.finalize()))
}

/// sha256 (lower-case hex) of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
