//! Fetch a dataset into its canonical artifact (what `pad fetch` does): download or read the
//! archives, verify them against the lock file, decode, write the artifact and record its sha256.

use super::artifact::write_artifact_with_sources;
use super::lock::{ArtifactEntry, Lock};
use super::sources::{build_with_sources, SourceSpec};
use super::DataError;
use crate::files::sha256_file;
use std::path::PathBuf;

/// Which dataset to fetch, from where, and where its artifact goes.
#[derive(Debug, Clone, Default)]
pub struct FetchRequest {
    /// cifar10 | svhn | mnist | fashion-mnist | cifar10-jpeg | image-folder
    pub dataset: String,
    /// Directory or base URL standing in for the official origin (offline mirror).
    pub mirror: Option<String>,
    /// Download directory; None: $PAD_DATA, else data.
    pub data_dir: Option<PathBuf>,
    /// image-folder: root directory or .tar.gz holding train/<class>/* and test/<class>/*.
    pub path: Option<PathBuf>,
    /// image-folder: dataset name; None: the root's name.
    pub name: Option<String>,
    /// Artifact path; None: <data-dir>/<name>.safetensors.
    pub out: Option<PathBuf>,
    /// Lock file; None: <data-dir>/datasets.lock.
    pub lock: Option<PathBuf>,
    /// Accept mirror files that differ from the published archives (still locked by sha256).
    pub allow_unpublished: bool,
    /// Rebuild the artifact even if the cached one matches the lock.
    pub force: bool,
}

impl FetchRequest {
    pub fn download_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .or_else(|| std::env::var_os("PAD_DATA").filter(|v| !v.is_empty()).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("data"))
    }

    pub fn source(&self) -> SourceSpec {
        SourceSpec {
            dataset: self.dataset.clone(),
            mirror: self.mirror.clone(),
            path: self.path.clone(),
            name: self.name.clone(),
            lock: self.lock.clone(),
            allow_unpublished: self.allow_unpublished,
        }
    }
}

/// The artifact a fetch produced or found. `Display` is the one-line summary `pad fetch` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub path: PathBuf,
    pub name: String,
    pub sha256: String,
    pub train: usize,
    pub test: usize,
    /// (channels, classes) when the artifact was decoded now; None when the cached one matched the lock.
    pub decoded: Option<(usize, usize)>,
    /// The sha256 the lock held before, when the new artifact differs from it.
    pub replaced_sha256: Option<String>,
}

impl std::fmt::Display for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (name, path, sha) = (&self.name, self.path.display(), &self.sha256);
        match self.decoded {
            None => write!(f, "{name}: cached {path} sha256 {sha} ({} train, {} test)", self.train, self.test),
            Some((channels, classes)) => write!(
                f,
                "{name}: {} train + {} test images, {channels} channel(s), {classes} classes -> {path} sha256 {sha}",
                self.train, self.test
            ),
        }
    }
}

/// Fetches, verifies and decodes `req.dataset` into its artifact and records the artifact in the
/// lock file; a cached artifact whose sha256 matches the lock is returned as is (unless `force`).
pub fn fetch_to_artifact(req: &FetchRequest) -> Result<Fetched, DataError> {
    let dir = req.download_dir();
    let source = req.source();
    let name = source.dataset_name();
    let out = req.out.clone().unwrap_or_else(|| dir.join(format!("{name}.safetensors")));
    let lock_path = source.lock_path(&dir);
    if !req.force && out.is_file() {
        if let Some(a) = Lock::load(&lock_path)?.artifact(&name) {
            if sha256_file(&out)? == a.sha256 {
                return Ok(Fetched {
                    path: out,
                    name,
                    sha256: a.sha256.clone(),
                    train: a.train,
                    test: a.test,
                    decoded: None,
                    replaced_sha256: None,
                });
            }
        }
    }
    let (ds, sources) = build_with_sources(&source, &dir)?;
    let sha = write_artifact_with_sources(&ds, &sources, &out)?;
    let mut lock = Lock::load(&lock_path)?;
    let replaced_sha256 = lock.artifact(&name).filter(|a| a.sha256 != sha).map(|a| a.sha256.clone());
    let file = out.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    lock.record_artifact(ArtifactEntry {
        dataset: name.clone(),
        file,
        sha256: sha.clone(),
        train: ds.train.n,
        test: ds.test.n,
    });
    lock.save(&lock_path)?;
    Ok(Fetched {
        path: out,
        name,
        sha256: sha,
        train: ds.train.n,
        test: ds.test.n,
        decoded: Some((ds.channels, ds.classes.len())),
        replaced_sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_dir_flag_then_pad_data_then_default() {
        let a = FetchRequest { data_dir: Some("x".into()), ..Default::default() };
        assert_eq!(a.download_dir(), PathBuf::from("x"));
        // only this test reads or sets PAD_DATA
        std::env::set_var("PAD_DATA", "/tmp/pad-data-test");
        assert_eq!(FetchRequest::default().download_dir(), PathBuf::from("/tmp/pad-data-test"));
        std::env::remove_var("PAD_DATA");
        assert_eq!(FetchRequest::default().download_dir(), PathBuf::from("data"));
    }
}
