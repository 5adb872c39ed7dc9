//! data/datasets.lock: the sha256 of every archive seen, with the origin it came from (and, for
//! gzipped IDX files, the sha256 of the decompressed content, which stays the same when a
//! mirror re-gzips the file), plus the sha256 of each artifact built. Entries are added on first
//! fetch and checked on every later one. TOML, entries kept sorted so diffs stay small.

use super::DataError;
use crate::files::atomic::write_atomic;
use crate::files::At;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct FileEntry {
    pub name: String,
    /// "official", a mirror directory or URL, or "local" (found in the download directory).
    pub origin: String,
    pub size: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct ArtifactEntry {
    pub dataset: String,
    pub file: String,
    pub sha256: String,
    pub train: usize,
    pub test: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    #[serde(default)]
    pub file: Vec<FileEntry>,
    #[serde(default)]
    pub artifact: Vec<ArtifactEntry>,
}

const HEADER: &str = "# pad dataset lock: sha256 of each archive by origin, recorded on first fetch and\n\
# verified ever after; content_sha256 is the sha256 of a .gz file's decompressed content.\n\
# Artifacts: sha256 of the canonical safetensors file built from them (the dataset's identity).\n\n";

impl Lock {
    /// Reads the lock; a missing file is an empty lock.
    pub fn load(path: &Path) -> Result<Lock, DataError> {
        let text = match std::fs::read_to_string(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::default()),
            read => read.at(path)?,
        };
        toml::from_str(&text).map_err(|e| DataError::Lock { path: path.to_path_buf(), detail: e.to_string() })
    }

    /// Writes the lock atomically (sorted entries).
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        let mut l = self.clone();
        l.file.sort();
        l.file.dedup();
        l.artifact.sort();
        l.artifact.dedup();
        let body =
            toml::to_string(&l).map_err(|e| DataError::Lock { path: path.to_path_buf(), detail: e.to_string() })?;
        Ok(write_atomic(path, format!("{HEADER}{body}").as_bytes())?)
    }

    pub fn entries<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a FileEntry> + 'a {
        self.file.iter().filter(move |e| e.name == name)
    }

    /// Records (or replaces) the entry for (name, origin).
    pub fn record(&mut self, entry: FileEntry) {
        self.file.retain(|e| !(e.name == entry.name && e.origin == entry.origin));
        self.file.push(entry);
    }

    pub fn artifact(&self, dataset: &str) -> Option<&ArtifactEntry> {
        self.artifact.iter().find(|a| a.dataset == dataset)
    }

    pub fn record_artifact(&mut self, entry: ArtifactEntry) {
        self.artifact.retain(|a| a.dataset != entry.dataset);
        self.artifact.push(entry);
    }
}

/// The default lock path: `data/datasets.lock` beside the default download directory.
pub fn default_lock_path(download_dir: &Path) -> PathBuf {
    download_dir.join("datasets.lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_roundtrip_and_record_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.lock");
        assert_eq!(Lock::load(&p).unwrap(), Lock::default());
        let mut l = Lock::default();
        let e = FileEntry {
            name: "a.gz".into(),
            origin: "official".into(),
            size: 3,
            sha256: "aa".into(),
            content_sha256: Some("cc".into()),
        };
        l.record(e.clone());
        l.record(FileEntry { sha256: "bb".into(), ..e.clone() });
        l.record(FileEntry { origin: "/mirror".into(), ..e.clone() });
        assert_eq!(l.entries("a.gz").count(), 2);
        l.record_artifact(ArtifactEntry {
            dataset: "x".into(),
            file: "x.safetensors".into(),
            sha256: "ff".into(),
            train: 1,
            test: 2,
        });
        l.save(&p).unwrap();
        let back = Lock::load(&p).unwrap();
        assert_eq!(back.entries("a.gz").find(|e| e.origin == "official").unwrap().sha256, "bb");
        assert_eq!(back.artifact("x").unwrap().sha256, "ff");
        std::fs::write(&p, "file = 3").unwrap();
        assert!(matches!(Lock::load(&p), Err(DataError::Lock { .. })));
    }
}
