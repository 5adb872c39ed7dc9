//! Dataset layer: fetch official archives, verify them, decode them, and store one canonical
//! artifact per dataset (u8 images [N, C, 32, 32] CHW RGB + u8 labels in a safetensors file whose
//! sha256 is the dataset's identity).

pub mod artifact;
pub mod cifar;
pub mod error;
pub mod fetch;
pub mod fetch_artifact;
pub mod idx;
pub mod image_folder;
pub mod images;
pub mod limits;
pub mod lock;
pub mod resize;
pub mod sources;
pub mod svhn_mat;
pub mod targz;

use std::path::Path;

pub use artifact::{load_artifact, load_artifact_verified, write_artifact};
pub use error::DataError;
pub use fetch_artifact::{fetch_to_artifact, FetchRequest, Fetched};
pub use images::Images;
pub use sources::{build, SourceSpec};

/// Side of every stored image.
pub const SIDE: usize = 32;
/// Pixels in one channel plane.
pub const PLANE: usize = SIDE * SIDE;

/// One split: `n` images of `channels * 32 * 32` bytes each (CHW) and their labels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub n: usize,
}

impl Split {
    /// The CHW bytes of image `i`.
    pub fn image(&self, i: usize, channels: usize) -> &[u8] {
        let sz = channels * PLANE;
        &self.images[i * sz..(i + 1) * sz]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub name: String,
    pub channels: usize,
    pub classes: Vec<String>,
    pub train: Split,
    pub test: Split,
}

/// Source file name -> sha256 of the file it was decoded from (stored in the artifact metadata).
pub type SourceHashes = std::collections::BTreeMap<String, String>;

impl Dataset {
    /// Checks the invariants every artifact relies on.
    pub fn validate(&self, path: &Path) -> Result<(), DataError> {
        let bad = |detail: String| DataError::Artifact {
            path: path.to_path_buf(),
            problem: error::ArtifactProblem::Content(detail),
        };
        if self.channels != 1 && self.channels != 3 {
            return Err(bad(format!("channels must be 1 or 3, got {}", self.channels)));
        }
        if self.classes.is_empty() || self.classes.len() > 256 {
            return Err(bad(format!("{} classes (need 1..=256)", self.classes.len())));
        }
        for (key, s) in [("train", &self.train), ("test", &self.test)] {
            if s.images.len() != s.n * self.channels * PLANE || s.labels.len() != s.n {
                return Err(bad(format!(
                    "{key}: {} image bytes and {} labels for n = {}",
                    s.images.len(),
                    s.labels.len(),
                    s.n
                )));
            }
            if let Some((i, &l)) = s.labels.iter().enumerate().find(|(_, &l)| l as usize >= self.classes.len()) {
                return Err(DataError::LabelOutOfRange {
                    path: path.to_path_buf(),
                    key: format!("{key}.labels"),
                    index: i,
                    label: l as i64,
                    classes: self.classes.len(),
                });
            }
        }
        Ok(())
    }
}

/// sha256 and md5 (lower-case hex) of a file, in one pass (archives are checked against both).
pub fn hash_file(path: &Path) -> Result<(String, String), DataError> {
    use md5::Digest as _;
    let mut sha = sha2::Sha256::new();
    let mut md = md5::Md5::new();
    crate::files::stream_file(path, |b| {
        sha.update(b);
        md.update(b);
    })?;
    Ok((hex::encode(sha.finalize()), hex::encode(md.finalize())))
}
