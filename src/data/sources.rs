//! The datasets `pad fetch` knows: their files, official origins, published sizes and hashes,
//! and how each is decoded into a `Dataset`.

use super::fetch::{ensure_file, FileSpec, OFFICIAL};
use super::lock::{default_lock_path, Lock};
use super::{cifar, idx, image_folder, svhn_mat, DataError, Dataset, SourceHashes};
use crate::files::sha256_file;
use std::path::{Path, PathBuf};

const fn file(name: &'static str) -> FileSpec<'static> {
    FileSpec { name, size: None, md5: None, sha256: None, content_sha256: None, gz: false }
}

const fn idx_gz(name: &'static str, md5: &'static str, content: Option<&'static str>) -> FileSpec<'static> {
    FileSpec { name, size: None, md5: Some(md5), sha256: None, content_sha256: content, gz: true }
}

pub struct DatasetInfo {
    pub name: &'static str,
    /// Base URL of the official files (None: only from a mirror).
    pub official: Option<&'static str>,
    pub files: &'static [FileSpec<'static>],
}

pub const DATASETS: &[DatasetInfo] = &[
    DatasetInfo {
        name: "cifar10",
        official: Some("https://www.cs.toronto.edu/~kriz"),
        files: &[FileSpec {
            size: Some(170_052_171),
            md5: Some("c32a1d4ab5d03f1284b67883e8d87530"),
            sha256: Some("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
            ..file("cifar-10-binary.tar.gz")
        }],
    },
    DatasetInfo {
        name: "svhn",
        official: Some("http://ufldl.stanford.edu/housenumbers"),
        files: &[
            FileSpec {
                size: Some(182_040_794),
                md5: Some("e26dedcc434d2e4c54c9b2d4a06d8373"),
                ..file("train_32x32.mat")
            },
            FileSpec {
                size: Some(64_275_384),
                md5: Some("eb5a983be6a315427106f1b164d9cef3"),
                ..file("test_32x32.mat")
            },
        ],
    },
    DatasetInfo {
        name: "mnist",
        official: Some("https://ossci-datasets.s3.amazonaws.com/mnist"),
        files: &[
            idx_gz("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", None),
            idx_gz("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", None),
            idx_gz("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", None),
            idx_gz("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", None),
        ],
    },
    DatasetInfo {
        name: "fashion-mnist",
        official: Some("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"),
        files: &[
            idx_gz(
                "train-images-idx3-ubyte.gz",
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                Some("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            ),
            idx_gz(
                "train-labels-idx1-ubyte.gz",
                "25c81989df183df01b3e8a0aad5dffbe",
                Some("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            ),
            idx_gz(
                "t10k-images-idx3-ubyte.gz",
                "bef4ecab320f06d8554ea6380940ec79",
                Some("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            ),
            idx_gz(
                "t10k-labels-idx1-ubyte.gz",
                "bb300cfdad3c16e7a12a480ee83cd310",
                Some("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
            ),
        ],
    },
    DatasetInfo {
        // The offline CIFAR-10 stand-in (../shared/data/cifar10-jpeg.tar.gz): mirror only.
        name: "cifar10-jpeg",
        official: None,
        files: &[FileSpec {
            size: Some(19_432_167),
            sha256: Some("57b91b1d12cca784dea11556a758039892a1529d17c5a36db77ca72d61b5e870"),
            ..file("cifar10-jpeg.tar.gz")
        }],
    },
];

pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Which dataset to build and where its files come from.
#[derive(Debug, Clone, Default)]
pub struct SourceSpec {
    /// cifar10 | svhn | mnist | fashion-mnist | cifar10-jpeg | image-folder
    pub dataset: String,
    /// A directory or base URL standing in for the official origin.
    pub mirror: Option<String>,
    /// image-folder only: the root directory or .tar.gz.
    pub path: Option<PathBuf>,
    /// image-folder only: the dataset name (default: the root's file stem).
    pub name: Option<String>,
    /// Lock file (default: `<download_dir>/datasets.lock`).
    pub lock: Option<PathBuf>,
    /// Accept mirror files whose size/MD5/sha256 differ from the published archives (own
    /// re-encodings, test data); they are still recorded in and checked against the lock.
    pub allow_unpublished: bool,
}

impl SourceSpec {
    pub fn new(dataset: &str) -> Self {
        SourceSpec { dataset: dataset.to_string(), ..Default::default() }
    }

    /// The name the artifact will carry.
    pub fn dataset_name(&self) -> String {
        if self.dataset != "image-folder" {
            return self.dataset.clone();
        }
        self.name.clone().unwrap_or_else(|| {
            let p = self.path.clone().unwrap_or_default();
            let f = p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "images".into());
            f.trim_end_matches(".tar.gz").trim_end_matches(".tgz").to_string()
        })
    }

    pub fn lock_path(&self, download_dir: &Path) -> PathBuf {
        self.lock.clone().unwrap_or_else(|| default_lock_path(download_dir))
    }
}

pub fn info(name: &str) -> Option<&'static DatasetInfo> {
    DATASETS.iter().find(|d| d.name == name)
}

/// Fetches (if needed), verifies and decodes a dataset.
pub fn build(source: &SourceSpec, download_dir: &Path) -> Result<Dataset, DataError> {
    Ok(build_with_sources(source, download_dir)?.0)
}

/// `build`, also returning the sha256 of each file the dataset was decoded from.
pub fn build_with_sources(source: &SourceSpec, download_dir: &Path) -> Result<(Dataset, SourceHashes), DataError> {
    let mut hashes = SourceHashes::new();
    if source.dataset == "image-folder" {
        let root = source.path.as_ref().ok_or_else(|| DataError::Config {
            key: "image-folder".into(),
            detail: "needs --path ROOT (a directory or .tar.gz with train/<class>/ and test/<class>/)".into(),
        })?;
        if root.is_file() {
            let name = root.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            hashes.insert(name, sha256_file(root)?);
        }
        return Ok((image_folder::load_image_folder(root, &source.dataset_name())?, hashes));
    }
    let info = info(&source.dataset).ok_or_else(|| DataError::Config {
        key: source.dataset.clone(),
        detail: format!(
            "unknown dataset; known: {}, image-folder",
            DATASETS.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
        ),
    })?;
    let (base, origin) = match &source.mirror {
        Some(m) => (Some(m.as_str()), m.as_str()),
        None => (info.official, OFFICIAL),
    };
    let lock_path = source.lock_path(download_dir);
    let mut lock = Lock::load(&lock_path)?;
    let before = lock.clone();
    let mut paths = Vec::new();
    let mut result = Ok(());
    for spec in info.files {
        match ensure_file(spec, base, origin, download_dir, &mut lock, source.allow_unpublished) {
            Ok((p, sha)) => {
                hashes.insert(spec.name.to_string(), sha);
                paths.push(p);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if lock != before {
        lock.save(&lock_path)?;
    }
    result?;
    let ds = decode(info.name, &paths)?;
    Ok((ds, hashes))
}

fn digits() -> Vec<String> {
    (0..10).map(|d| d.to_string()).collect()
}

fn decode(name: &str, paths: &[PathBuf]) -> Result<Dataset, DataError> {
    let idx_split = |i: usize, l: usize| -> Result<_, DataError> {
        let images = idx::parse_idx(&idx::read_gz(&paths[i])?, &paths[i])?;
        let labels = idx::parse_idx(&idx::read_gz(&paths[l])?, &paths[l])?;
        idx::split_from_idx(&images, &labels, &paths[i], &paths[l], 10)
    };
    let classes = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match name {
        "cifar10" => cifar::load_cifar10(&paths[0]),
        "cifar10-jpeg" => image_folder::load_image_folder(&paths[0], name),
        "svhn" => Ok(Dataset {
            name: name.into(),
            channels: 3,
            classes: digits(),
            train: svhn_mat::load_svhn_mat(&paths[0])?,
            test: svhn_mat::load_svhn_mat(&paths[1])?,
        }),
        "mnist" | "fashion-mnist" => Ok(Dataset {
            name: name.into(),
            channels: 1,
            classes: if name == "mnist" { digits() } else { classes(&FASHION_CLASSES) },
            train: idx_split(0, 1)?,
            test: idx_split(2, 3)?,
        }),
        other => Err(DataError::Config { key: other.into(), detail: "no decoder".into() }),
    }
}
