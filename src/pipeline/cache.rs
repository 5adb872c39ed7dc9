//! The content-addressed stage cache.
//!
//! A stage's key is the sha256 of its name, its version (bumped when its semantics change), its
//! canonical parameters and the keys of its inputs — all known before it runs. Its output is the
//! directory `<cache>/<stage>/<key>/`, built in a temporary sibling and renamed into place; inside,
//! `record.json` says what made it and `manifest.json` (written last, so its presence means
//! complete) lists every file's sha256. A lock file per key keeps two processes sharing a cache
//! (`make -j`) from computing one key twice.
use crate::files::{At, PathIo};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Io(#[from] PathIo),
    #[error("{path}: corrupted cache entry: {detail} (delete the directory and run again)")]
    Corrupt { path: PathBuf, detail: String },
}

/// JSON with object keys sorted at every depth: the canonical form hashed into keys.
pub fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, String> = m.iter().map(|(k, v)| (k, canonical(v))).collect();
            let body: Vec<String> =
                sorted.iter().map(|(k, v)| format!("{}:{}", Value::String((*k).clone()), v)).collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// sha256 over (stage, version, canonical params, input keys).
pub fn stage_key(stage: &str, version: u32, params: &Value, inputs: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(
        canonical(&serde_json::json!({"stage": stage, "version": version, "params": params, "inputs": inputs}))
            .as_bytes(),
    );
    hex::encode(h.finalize())
}

pub struct Cache {
    pub root: PathBuf,
}

/// What made an entry (written as record.json).
#[derive(Serialize)]
pub struct Record<'a> {
    pub stage: &'a str,
    pub version: u32,
    pub key: &'a str,
    pub params: &'a Value,
    pub inputs: &'a [String],
    pub pad_version: &'static str,
    pub threads: usize,
    pub seconds: f64,
}

impl Cache {
    /// The cache at $PAD_CACHE, else `.pad-cache` in the current directory.
    pub fn from_env() -> Cache {
        let root = std::env::var_os("PAD_CACHE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".pad-cache"));
        Cache { root }
    }

    pub fn dir(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(stage).join(key)
    }

    /// A work directory for an entry being built (kept across kills, so long stages can resume).
    pub fn work_dir(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(stage).join(format!("{key}.partial"))
    }

    pub fn is_complete(&self, stage: &str, key: &str) -> bool {
        self.dir(stage, key).join("manifest.json").is_file()
    }

    /// Blocks until this process holds the key's lock; released when the guard drops.
    pub fn lock(&self, key: &str) -> Result<File, CacheError> {
        let dir = self.root.join("locks");
        std::fs::create_dir_all(&dir).at(&dir)?;
        let path = dir.join(format!("{key}.lock"));
        let f = File::options().create(true).truncate(false).write(true).open(&path).at(&path)?;
        f.lock().at(&path)?;
        Ok(f)
    }

    /// Seals a finished work directory: record, manifest (last), then rename into place.
    pub fn commit(&self, stage: &str, key: &str, work: &Path, record: &Record) -> Result<PathBuf, CacheError> {
        let rec = serde_json::to_vec_pretty(record).expect("record serialises");
        let p = work.join("record.json");
        std::fs::write(&p, rec).at(&p)?;
        let manifest = hash_dir(work)?;
        let p = work.join("manifest.json");
        std::fs::write(&p, serde_json::to_vec_pretty(&manifest).expect("manifest")).at(&p)?;
        let dest = self.dir(stage, key);
        if dest.exists() {
            // An incomplete leftover (no manifest): replace it.
            std::fs::remove_dir_all(&dest).at(&dest)?;
        }
        std::fs::rename(work, &dest).at(&dest)?;
        Ok(dest)
    }

    /// Rehashes every complete entry; returns (entries checked, problems found).
    pub fn verify(&self) -> Result<(usize, Vec<CacheError>), CacheError> {
        let mut checked = 0;
        let mut bad = Vec::new();
        let Ok(stages) = std::fs::read_dir(&self.root) else { return Ok((0, bad)) };
        for stage in stages.flatten().filter(|e| e.path().is_dir() && e.file_name() != "locks") {
            for entry in std::fs::read_dir(stage.path()).at(stage.path())?.flatten() {
                let dir = entry.path();
                if !dir.join("manifest.json").is_file() {
                    continue;
                }
                checked += 1;
                if let Err(e) = verify_entry(&dir) {
                    bad.push(e);
                }
            }
        }
        Ok((checked, bad))
    }
}

/// sha256 of every file under `dir` except the manifest itself, by relative path.
fn hash_dir(dir: &Path) -> Result<BTreeMap<String, String>, CacheError> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).at(&d)?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir).expect("under dir").to_string_lossy().replace('\\', "/");
            if rel == "manifest.json" {
                continue;
            }
            out.insert(rel, crate::files::sha256_file(&p)?);
        }
    }
    Ok(out)
}

fn verify_entry(dir: &Path) -> Result<(), CacheError> {
    let mpath = dir.join("manifest.json");
    let text = std::fs::read(&mpath).at(&mpath)?;
    let want: BTreeMap<String, String> = serde_json::from_slice(&text)
        .map_err(|e| CacheError::Corrupt { path: mpath.clone(), detail: format!("unreadable manifest: {e}") })?;
    let have = hash_dir(dir)?;
    for (f, h) in &want {
        match have.get(f) {
            None => return Err(CacheError::Corrupt { path: dir.into(), detail: format!("{f} is missing") }),
            Some(x) if x != h => {
                return Err(CacheError::Corrupt { path: dir.join(f), detail: format!("sha256 {x}, manifest says {h}") })
            }
            _ => {}
        }
    }
    if let Some(extra) = have.keys().find(|f| !want.contains_key(*f)) {
        return Err(CacheError::Corrupt { path: dir.join(extra), detail: "file not in the manifest".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_key_order_and_change_with_any_ingredient() {
        let a = serde_json::json!({"x": 1, "y": {"b": 2, "a": [1, 2]}});
        let b = serde_json::json!({"y": {"a": [1, 2], "b": 2}, "x": 1});
        let k = stage_key("train", 1, &a, &["in".into()]);
        assert_eq!(k, stage_key("train", 1, &b, &["in".into()]));
        assert_ne!(k, stage_key("train", 2, &a, &["in".into()]));
        assert_ne!(k, stage_key("probe", 1, &a, &["in".into()]));
        assert_ne!(k, stage_key("train", 1, &a, &["other".into()]));
        assert_ne!(k, stage_key("train", 1, &serde_json::json!({"x": 2, "y": {"b": 2, "a": [1, 2]}}), &["in".into()]));
    }

    #[test]
    fn verify_names_the_corrupted_file() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache { root: tmp.path().to_path_buf() };
        let work = cache.work_dir("s", "k1");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(work.join("out.csv"), "a,b\n1,2\n").unwrap();
        let params = serde_json::json!({});
        let rec = Record {
            stage: "s",
            version: 1,
            key: "k1",
            params: &params,
            inputs: &[],
            pad_version: "t",
            threads: 1,
            seconds: 0.0,
        };
        let dir = cache.commit("s", "k1", &work, &rec).unwrap();
        assert!(cache.is_complete("s", "k1") && !work.exists());
        assert_eq!(cache.verify().unwrap().1.len(), 0);
        std::fs::write(dir.join("out.csv"), "a,b\n1,3\n").unwrap();
        let (n, bad) = cache.verify().unwrap();
        assert_eq!(n, 1);
        let msg = bad[0].to_string();
        assert!(msg.contains("out.csv") && msg.contains("corrupted"), "{msg}");
    }
}
