//! Real Fashion-MNIST, from Debian's package (`apt-get install dataset-fashion-mnist` puts it in
//! /usr/share/datasets/fashion-mnist). Skips with a note when the files are absent.

use pad::data::{self, FetchRequest};
use std::path::Path;

const DEBIAN: &str = "/usr/share/datasets/fashion-mnist";
/// sha256 of the canonical Fashion-MNIST artifact (the dataset's identity for later stages).
const FASHION_ARTIFACT_SHA256: &str = "f52011be8db8fed3b9c4bf3e3f2489f9dbf8cf607160cf46acad14707d14b96e";

#[test]
fn fashion_mnist_from_debian_mirror() {
    if !Path::new(DEBIAN).join("train-images-idx3-ubyte.gz").exists() {
        eprintln!("note: {DEBIAN} absent (apt-get install dataset-fashion-mnist); skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = FetchRequest {
        dataset: "fashion-mnist".into(),
        mirror: Some(DEBIAN.into()),
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    // Debian re-gzipped the files: the published MD5s do not hold, the decompressed content does.
    let out = data::fetch_to_artifact(&args).unwrap().path;
    let ds = data::load_artifact(&out).unwrap();
    assert_eq!((ds.channels, ds.train.n, ds.test.n), (1, 60_000, 10_000));
    assert_eq!(ds.classes[0], "T-shirt/top");
    for c in 0..10u8 {
        assert_eq!(ds.train.labels.iter().filter(|&&l| l == c).count(), 6_000);
        assert_eq!(ds.test.labels.iter().filter(|&&l| l == c).count(), 1_000);
    }
    assert_eq!(pad::files::sha256_file(&out).unwrap(), FASHION_ARTIFACT_SHA256);
}
