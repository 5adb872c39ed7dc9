//! CIFAR-10 binary archive (cifar-10-binary.tar.gz): the members
//! `cifar-10-batches-bin/data_batch_{1..5}.bin` and `test_batch.bin` are read straight from the
//! gzip stream (nothing is extracted to disk). A record is 1 label byte then 3,072 bytes of
//! R, G, B planes, row-major, i.e. already CHW.

use super::{limits, targz, DataError, Dataset, Split, PLANE};
use std::collections::BTreeMap;
use std::path::Path;

pub const RECORD: usize = 1 + 3 * PLANE;
pub const CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
pub const TRAIN_MEMBERS: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
pub const TEST_MEMBER: &str = "test_batch.bin";

/// Appends the records of one batch file to `split`.
pub fn parse_batch(bytes: &[u8], archive: &Path, member: &str, split: &mut Split) -> Result<(), DataError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(DataError::RecordLength {
            path: archive.to_path_buf(),
            member: member.to_string(),
            len: bytes.len(),
            record: RECORD,
        });
    }
    limits::check_count(archive, (split.n + bytes.len() / RECORD) as u64)?;
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] as usize >= CLASSES.len() {
            return Err(DataError::LabelOutOfRange {
                path: archive.to_path_buf(),
                key: member.to_string(),
                index: i,
                label: rec[0] as i64,
                classes: CLASSES.len(),
            });
        }
        split.labels.push(rec[0]);
        split.images.extend_from_slice(&rec[1..]);
        split.n += 1;
    }
    Ok(())
}

/// Reads the six batch files from the archive stream and builds the dataset.
pub fn load_cifar10(archive: &Path) -> Result<Dataset, DataError> {
    let mut members: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    targz::read_members(archive, |m| {
        let Some(file) = m.parts.last().cloned() else { return Ok(()) };
        if TRAIN_MEMBERS.contains(&file.as_str()) || file == TEST_MEMBER {
            members.insert(file, m.read(limits::MAX_FILE_BYTES)?);
        }
        Ok(())
    })?;
    let mut take = |m: &str| {
        members.remove(m).ok_or_else(|| DataError::MissingMember { path: archive.to_path_buf(), member: m.to_string() })
    };
    let mut train = Split::default();
    for m in TRAIN_MEMBERS {
        parse_batch(&take(m)?, archive, m, &mut train)?;
    }
    let mut test = Split::default();
    parse_batch(&take(TEST_MEMBER)?, archive, TEST_MEMBER, &mut test)?;
    Ok(Dataset {
        name: "cifar10".into(),
        channels: 3,
        classes: CLASSES.iter().map(|s| s.to_string()).collect(),
        train,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::super::targz::testing::targz;
    use super::*;

    fn batch(labels: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for (i, &l) in labels.iter().enumerate() {
            v.push(l);
            v.extend((0..3 * PLANE).map(|p| ((p / PLANE) * 50 + i) as u8));
        }
        v
    }

    fn archive(dir: &Path, batches: &[(&str, Vec<u8>)]) -> std::path::PathBuf {
        let names: Vec<String> = batches.iter().map(|(n, _)| format!("cifar-10-batches-bin/{n}")).collect();
        let files: Vec<(&str, &[u8])> =
            names.iter().zip(batches).map(|(n, (_, b))| (n.as_str(), b.as_slice())).collect();
        let p = dir.join("cifar-10-binary.tar.gz");
        std::fs::write(&p, targz(&files)).unwrap();
        p
    }

    fn all(test_labels: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
        let mut v: Vec<_> = TRAIN_MEMBERS.iter().enumerate().map(|(i, m)| (*m, batch(&[i as u8, 9]))).collect();
        v.push((TEST_MEMBER, batch(test_labels)));
        v
    }

    #[test]
    fn reads_batches_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let ds = load_cifar10(&archive(dir.path(), &all(&[3]))).unwrap();
        assert_eq!((ds.train.n, ds.test.n), (10, 1));
        assert_eq!(ds.train.labels, vec![0, 9, 1, 9, 2, 9, 3, 9, 4, 9]);
        assert_eq!(ds.test.labels, vec![3]);
        // image 1 of a batch: R plane = 1, G = 51, B = 101
        let im = ds.train.image(1, 3);
        assert_eq!((im[0], im[PLANE], im[2 * PLANE]), (1, 51, 101));
    }

    #[test]
    fn bad_archives() {
        let dir = tempfile::tempdir().unwrap();
        // missing member
        let mut v = all(&[3]);
        v.remove(2);
        let e = load_cifar10(&archive(dir.path(), &v)).unwrap_err();
        assert!(matches!(&e, DataError::MissingMember { member, .. } if member == "data_batch_3.bin"), "{e}");
        // wrong record length
        let mut v = all(&[3]);
        v[5].1.pop();
        let e = load_cifar10(&archive(dir.path(), &v)).unwrap_err();
        assert!(matches!(&e, DataError::RecordLength { member, .. } if member == "test_batch.bin"), "{e}");
        // label out of range
        let e = load_cifar10(&archive(dir.path(), &all(&[1, 10]))).unwrap_err();
        assert!(matches!(e, DataError::LabelOutOfRange { index: 1, label: 10, .. }), "{e}");
        // truncated archive
        let p = archive(dir.path(), &all(&[3]));
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() / 2]).unwrap();
        assert!(matches!(load_cifar10(&p), Err(DataError::Truncated { .. } | DataError::MissingMember { .. })));
        // path escaping
        let p = dir.path().join("evil.tar.gz");
        std::fs::write(&p, targz(&[("../data_batch_1.bin", &batch(&[1]))])).unwrap();
        assert!(matches!(load_cifar10(&p), Err(DataError::UnsafeTarPath { .. })));
    }
}
