//! The canonical dataset artifact: a safetensors file with tensors `train.images` [N, C, 32, 32],
//! `train.labels` [N], `test.images`, `test.labels` (all U8) and string metadata (`format`,
//! `name`, `channels`, `classes` as a JSON list, `sources` as a JSON object file -> sha256).
//!
//! The file is written by hand (the format is an 8-byte little-endian header length, a JSON
//! header padded with spaces to a multiple of 8, then the raw tensor bytes) because the
//! safetensors crate serialises its metadata from a `HashMap`, whose order changes between
//! runs; here every key is sorted, so equal datasets give byte-identical files and the file's
//! sha256 can serve as the dataset's identity. Files stay readable by any safetensors reader
//! (tested against the crate).

use super::{DataError, Dataset, SourceHashes, Split, PLANE, SIDE};
use crate::files::atomic::write_atomic_with;
use crate::files::At;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

pub const FORMAT: &str = "pad-dataset-v1";
const TENSORS: [&str; 4] = ["test.images", "test.labels", "train.images", "train.labels"];
const MAX_HEADER: u64 = 100 << 20;

fn header(ds: &Dataset, sources: &SourceHashes) -> Vec<u8> {
    let mut h: BTreeMap<String, Value> = BTreeMap::new();
    let mut meta = BTreeMap::new();
    meta.insert("format", FORMAT.to_string());
    meta.insert("name", ds.name.clone());
    meta.insert("channels", ds.channels.to_string());
    meta.insert("classes", serde_json::to_string(&ds.classes).unwrap_or_default());
    meta.insert("sources", serde_json::to_string(sources).unwrap_or_default());
    h.insert("__metadata__".into(), json!(meta));
    let mut off = 0usize;
    for name in TENSORS {
        let (split, images) = tensor(ds, name);
        let (shape, len) = if images {
            (vec![split.n, ds.channels, SIDE, SIDE], split.images.len())
        } else {
            (vec![split.n], split.labels.len())
        };
        h.insert(name.into(), json!({"dtype": "U8", "shape": shape, "data_offsets": [off, off + len]}));
        off += len;
    }
    let mut bytes = serde_json::to_vec(&h).unwrap_or_default();
    while !bytes.len().is_multiple_of(8) {
        bytes.push(b' ');
    }
    bytes
}

fn tensor<'a>(ds: &'a Dataset, name: &str) -> (&'a Split, bool) {
    let split = if name.starts_with("train") { &ds.train } else { &ds.test };
    (split, name.ends_with("images"))
}

/// Writes the artifact (temporary file beside `path`, then rename) with no source hashes.
/// Returns the sha256 of the file.
pub fn write_artifact(ds: &Dataset, path: &Path) -> Result<String, DataError> {
    write_artifact_with_sources(ds, &SourceHashes::new(), path)
}

/// Writes the artifact recording the hashes of the files it was decoded from.
pub fn write_artifact_with_sources(ds: &Dataset, sources: &SourceHashes, path: &Path) -> Result<String, DataError> {
    use sha2::Digest;
    ds.validate(path)?;
    let h = header(ds, sources);
    write_atomic_with(path, |w| {
        let mut sha = sha2::Sha256::new();
        let mut put = |b: &[u8]| -> Result<(), DataError> {
            sha.update(b);
            Ok(w.write_all(b).at(path)?)
        };
        put(&(h.len() as u64).to_le_bytes())?;
        put(&h)?;
        for name in TENSORS {
            let (split, images) = tensor(ds, name);
            put(if images { &split.images } else { &split.labels })?;
        }
        Ok(hex::encode(sha.finalize()))
    })
}

/// Metadata of an artifact, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactMeta {
    pub name: String,
    pub channels: usize,
    pub classes: Vec<String>,
    pub sources: SourceHashes,
}

struct Entry {
    shape: Vec<usize>,
    begin: usize,
    end: usize,
}

fn read_header(f: &mut std::fs::File, path: &Path) -> Result<(ArtifactMeta, BTreeMap<String, Entry>, u64), DataError> {
    let bad = |detail: String| DataError::Artifact { path: path.to_path_buf(), detail };
    let file_len = f.metadata().at(path)?.len();
    let mut n8 = [0u8; 8];
    f.read_exact(&mut n8).map_err(|_| bad(format!("{file_len} bytes is too short for a safetensors file")))?;
    let hlen = u64::from_le_bytes(n8);
    if hlen > MAX_HEADER || 8 + hlen > file_len {
        return Err(bad(format!("header length {hlen} does not fit the {file_len}-byte file")));
    }
    let mut hb = vec![0u8; hlen as usize];
    f.read_exact(&mut hb).at(path)?;
    let h: BTreeMap<String, Value> =
        serde_json::from_slice(&hb).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let meta = h.get("__metadata__").and_then(|m| m.as_object()).ok_or_else(|| bad("no __metadata__".into()))?;
    let field =
        |k: &str| meta.get(k).and_then(|v| v.as_str()).ok_or_else(|| bad(format!("metadata key {k:?} missing")));
    if field("format")? != FORMAT {
        return Err(bad(format!("format {:?}, expected {FORMAT:?}", field("format")?)));
    }
    let channels: usize = field("channels")?.parse().map_err(|_| bad("metadata channels is not a number".into()))?;
    let classes: Vec<String> =
        serde_json::from_str(field("classes")?).map_err(|e| bad(format!("metadata classes: {e}")))?;
    let sources: SourceHashes =
        serde_json::from_str(field("sources")?).map_err(|e| bad(format!("metadata sources: {e}")))?;
    let data_len = file_len - 8 - hlen;
    let mut entries = BTreeMap::new();
    for name in TENSORS {
        let t = h.get(name).ok_or_else(|| bad(format!("tensor {name} missing")))?;
        if t.get("dtype").and_then(|v| v.as_str()) != Some("U8") {
            return Err(bad(format!("tensor {name}: dtype is not U8")));
        }
        let nums = |k: &str| -> Result<Vec<usize>, DataError> {
            t.get(k)
                .and_then(|v| v.as_array())
                .and_then(|a| a.iter().map(|x| x.as_u64().map(|x| x as usize)).collect::<Option<Vec<_>>>())
                .ok_or_else(|| bad(format!("tensor {name}: bad {k}")))
        };
        let shape = nums("shape")?;
        let off = nums("data_offsets")?;
        if off.len() != 2 || off[0] > off[1] || off[1] as u64 > data_len {
            return Err(bad(format!("tensor {name}: data_offsets {off:?} outside the {data_len} data bytes")));
        }
        let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if count != Some(off[1] - off[0]) {
            return Err(bad(format!("tensor {name}: shape {shape:?} does not match {} bytes", off[1] - off[0])));
        }
        entries.insert(name.to_string(), Entry { shape, begin: off[0], end: off[1] });
    }
    Ok((ArtifactMeta { name: field("name")?.to_string(), channels, classes, sources }, entries, 8 + hlen))
}

/// Reads only the metadata of an artifact.
pub fn read_meta(path: &Path) -> Result<ArtifactMeta, DataError> {
    let mut f = std::fs::File::open(path).at(path)?;
    Ok(read_header(&mut f, path)?.0)
}

/// Loads an artifact: header checks, then each tensor read straight into its vector.
pub fn load_artifact(path: &Path) -> Result<Dataset, DataError> {
    let bad = |detail: String| DataError::Artifact { path: path.to_path_buf(), detail };
    let mut f = std::fs::File::open(path).at(path)?;
    let (meta, entries, base) = read_header(&mut f, path)?;
    let mut read = |name: &str| -> Result<(Vec<usize>, Vec<u8>), DataError> {
        let e = &entries[name];
        let mut v = vec![0u8; e.end - e.begin];
        f.seek(SeekFrom::Start(base + e.begin as u64)).at(path)?;
        f.read_exact(&mut v).at(path)?;
        Ok((e.shape.clone(), v))
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
    let actual = super::sha256_file(path)?;
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

/// Time to load an artifact once (for `pad bench` and benches/data_load.rs).
pub fn bench_load(path: &Path) -> Result<Duration, DataError> {
    let t = Instant::now();
    let ds = load_artifact(path)?;
    let d = t.elapsed();
    std::hint::black_box(&ds);
    Ok(d)
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
        assert_eq!(ha, crate::data::sha256_file(&a).unwrap());
        assert_eq!(load_artifact(&a).unwrap(), ds);
        assert_eq!(load_artifact_verified(&a, &ha).unwrap(), ds);
        assert!(matches!(load_artifact_verified(&a, "00"), Err(DataError::HashMismatch { .. })));
        assert_eq!(read_meta(&a).unwrap().sources, src);
        let bytes = std::fs::read(&a).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let t = st.tensor("train.images").unwrap();
        assert_eq!(t.shape(), &[5, 3, 32, 32]);
        assert_eq!(t.data(), &ds.train.images[..]);
        let (_, m) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
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
