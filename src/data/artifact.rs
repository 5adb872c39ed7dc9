//! The canonical dataset artifact: a safetensors file with tensors `train.images` [N, C, 32, 32],
//! `train.labels` [N], `test.images`, `test.labels` (all U8) and string metadata (`format`,
//! `name`, `channels`, `classes` as a JSON list, `sources` as a JSON object file -> sha256).
//!
//! Written with every header key sorted (files::safetensors, `HeaderLayout::Sorted`), so equal datasets
//! give byte-identical files and the file's sha256 can serve as the dataset's identity. Files stay
//! readable by any safetensors reader (tested against the crate).

use super::error::ArtifactProblem;
use super::{DataError, Dataset, SourceHashes, Split, PLANE, SIDE};
use crate::files::atomic::write_atomic_with;
use crate::files::safetensors::{self, Dtype, Header, HeaderLayout, ReadError, Tensor};
use crate::files::At;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

pub const FORMAT: &str = "pad-dataset-v1";

/// The artifact's string metadata.
fn metadata(ds: &Dataset, sources: &SourceHashes) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("name".to_string(), ds.name.clone()),
        ("channels".to_string(), ds.channels.to_string()),
        ("classes".to_string(), serde_json::to_string(&ds.classes).unwrap_or_default()),
        ("sources".to_string(), serde_json::to_string(sources).unwrap_or_default()),
    ])
}

/// The four tensors of a dataset.
fn tensors(ds: &Dataset) -> Vec<Tensor<'_>> {
    let mut out = Vec::new();
    for (key, s) in [("train", &ds.train), ("test", &ds.test)] {
        let (images, labels) =
            if key == "train" { ("train.images", "train.labels") } else { ("test.images", "test.labels") };
        out.push(Tensor { name: images, dtype: Dtype::U8, shape: vec![s.n, ds.channels, SIDE, SIDE], data: &s.images });
        out.push(Tensor { name: labels, dtype: Dtype::U8, shape: vec![s.n], data: &s.labels });
    }
    out
}

/// Writes the artifact (temporary file beside `path`, then rename) with no source hashes.
/// Returns the sha256 of the file.
pub fn write_artifact(ds: &Dataset, path: &Path) -> Result<String, DataError> {
    write_artifact_with_sources(ds, &SourceHashes::new(), path)
}

/// Writes the artifact recording the hashes of the files it was decoded from; returns the file's
/// sha256, computed from the bytes as they are written.
pub fn write_artifact_with_sources(ds: &Dataset, sources: &SourceHashes, path: &Path) -> Result<String, DataError> {
    ds.validate(path)?;
    write_atomic_with(path, |w| {
        let mut hashing = Hashing { inner: w, sha: sha2::Digest::new() };
        safetensors::write(&mut hashing, &tensors(ds), &metadata(ds, sources), HeaderLayout::Sorted).at(path)?;
        Ok(hex::encode(sha2::Digest::finalize(hashing.sha)))
    })
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    sha: sha2::Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.sha, &buf[..k]);
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Metadata of an artifact, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactMeta {
    pub name: String,
    pub channels: usize,
    pub classes: Vec<String>,
    pub sources: SourceHashes,
}

fn artifact_err(path: &Path, problem: impl Into<ArtifactProblem>) -> DataError {
    DataError::Artifact { path: path.to_path_buf(), problem: problem.into() }
}

/// The header of an artifact file and its metadata, checked; the file is positioned at its data.
fn read_header(path: &Path) -> Result<(ArtifactMeta, Header, std::fs::File), DataError> {
    let (header, f) = safetensors::read_header(path).map_err(|e| match e {
        ReadError::Io(e) => DataError::Io(e),
        ReadError::Format { path, source } => artifact_err(&path, source),
    })?;
    let bad = |detail: String| artifact_err(path, ArtifactProblem::Content(detail));
    let field =
        |k: &str| header.metadata.get(k).map(String::as_str).ok_or_else(|| bad(format!("metadata key {k:?} missing")));
    if field("format")? != FORMAT {
        return Err(bad(format!("format {:?}, expected {FORMAT:?}", field("format")?)));
    }
    let channels: usize = field("channels")?.parse().map_err(|_| bad("metadata channels is not a number".into()))?;
    let classes: Vec<String> =
        serde_json::from_str(field("classes")?).map_err(|e| bad(format!("metadata classes: {e}")))?;
    let sources: SourceHashes =
        serde_json::from_str(field("sources")?).map_err(|e| bad(format!("metadata sources: {e}")))?;
    for name in ["test.images", "test.labels", "train.images", "train.labels"] {
        let t = header.tensors.get(name).ok_or_else(|| bad(format!("tensor {name} missing")))?;
        if t.dtype != Dtype::U8 {
            return Err(bad(format!("tensor {name}: dtype is not U8")));
        }
    }
    let meta = ArtifactMeta { name: field("name")?.to_string(), channels, classes, sources };
    Ok((meta, header, f))
}

/// Reads only the metadata of an artifact.
pub fn read_meta(path: &Path) -> Result<ArtifactMeta, DataError> {
    Ok(read_header(path)?.0)
}

/// Loads an artifact: header checks, then each tensor read straight into its vector.
pub fn load_artifact(path: &Path) -> Result<Dataset, DataError> {
    let bad = |detail: String| artifact_err(path, ArtifactProblem::Content(detail));
    let (meta, header, mut f) = read_header(path)?;
    let mut read = |name: &str| -> Result<(Vec<usize>, Vec<u8>), DataError> {
        let t = &header.tensors[name];
        let mut v = vec![0u8; t.end - t.begin];
        f.seek(SeekFrom::Start(header.data_start + t.begin as u64)).at(path)?;
        f.read_exact(&mut v).at(path)?;
        Ok((t.shape.clone(), v))
    };
    let mut split = |key: &str| -> Result<Split, DataError> {
        let (ishape, images) = read(&format!("{key}.images"))?;
        let (lshape, labels) = read(&format!("{key}.labels"))?;
        if ishape.len() != 4 || ishape[1..] != [meta.channels, SIDE, SIDE] || lshape != [ishape[0]] {
            return Err(bad(format!("{key}: shapes {ishape:?} / {lshape:?} for {} channels", meta.channels)));
        }
        Ok(Split { images, labels, n: ishape[0] })
    };
    let train = split("train")?;
    let test = split("test")?;
    let ds = Dataset { name: meta.name, channels: meta.channels, classes: meta.classes, train, test };
    ds.validate(path)?;
    debug_assert_eq!(ds.train.images.len(), ds.train.n * ds.channels * PLANE);
    Ok(ds)
}

/// Loads an artifact after checking that its sha256 is `expected` (the dataset's identity).
pub fn load_artifact_verified(path: &Path, expected: &str) -> Result<Dataset, DataError> {
    let actual = crate::files::sha256_file(path)?;
    if actual != expected {
        return Err(DataError::HashMismatch {
            file: path.display().to_string(),
            algo: "sha256",
            from: "artifact".into(),
            expected: expected.to_string(),
            actual,
        });
    }
    load_artifact(path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn tiny(channels: usize) -> Dataset {
        let split = |n: usize, seed: u8| Split {
            images: (0..n * channels * PLANE).map(|i| (i as u8).wrapping_mul(seed)).collect(),
            labels: (0..n).map(|i| (i % 3) as u8).collect(),
            n,
        };
        Dataset {
            name: "tiny".into(),
            channels,
            classes: vec!["a".into(), "b".into(), "c".into()],
            train: split(5, 3),
            test: split(2, 7),
        }
    }

    #[test]
    fn roundtrip_is_deterministic_and_readable_by_safetensors() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"));
        let ds = tiny(3);
        let mut src = SourceHashes::new();
        src.insert("f.bin".into(), "00ff".into());
        src.insert("e.bin".into(), "11ee".into());
        let ha = write_artifact_with_sources(&ds, &src, &a).unwrap();
        let hb = write_artifact_with_sources(&ds, &src, &b).unwrap();
        assert_eq!(ha, hb);
        assert_eq!(ha, crate::files::sha256_file(&a).unwrap());
        assert_eq!(load_artifact(&a).unwrap(), ds);
        assert_eq!(load_artifact_verified(&a, &ha).unwrap(), ds);
        assert!(matches!(load_artifact_verified(&a, "00"), Err(DataError::HashMismatch { .. })));
        assert_eq!(read_meta(&a).unwrap().sources, src);
        let bytes = std::fs::read(&a).unwrap();
        let st = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let t = st.tensor("train.images").unwrap();
        assert_eq!(t.shape(), &[5, 3, 32, 32]);
        assert_eq!(t.data(), &ds.train.images[..]);
        let (_, m) = ::safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(m.metadata().as_ref().unwrap()["name"], "tiny");
        // only the final file is left in the directory
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn image_accessor() {
        let ds = tiny(1);
        assert_eq!(ds.train.image(1, 1), &ds.train.images[PLANE..2 * PLANE]);
    }

    #[test]
    fn corrupt_artifacts_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.safetensors");
        write_artifact(&tiny(1), &a).unwrap();
        let good = std::fs::read(&a).unwrap();
        std::fs::write(&a, &good[..good.len() - 1]).unwrap();
        assert!(matches!(load_artifact(&a), Err(DataError::Artifact { .. })));
        std::fs::write(&a, &good[..4]).unwrap();
        assert!(matches!(load_artifact(&a), Err(DataError::Artifact { .. })));
        let mut bad_label = good.clone();
        let n = bad_label.len();
        bad_label[n - 1] = 3; // last train label, 3 classes
        std::fs::write(&a, &bad_label).unwrap();
        assert!(matches!(load_artifact(&a), Err(DataError::LabelOutOfRange { .. })));
    }

    #[test]
    fn invalid_dataset_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.safetensors");
        let mut ds = tiny(1);
        ds.test.labels[0] = 9;
        assert!(write_artifact(&ds, &a).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
