//! The content-addressed stage cache.
//!
//! A stage's key is the sha256 of its name, its version (bumped when its semantics change), its
//! canonical parameters and the keys of its inputs — all known before it runs. Its output is the
//! directory `<cache>/<stage>/<key>/`, built in a temporary sibling and renamed into place; inside,
//! `record.json` says what made it and `manifest.json` (written last, so its presence means
//! complete) lists every file's sha256. A lock file per key keeps two processes sharing a cache
//! (`make -j`) from computing one key twice.
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: corrupted cache entry: {detail} (delete the directory and run again)")]
    Corrupt { path: PathBuf, detail: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io { path: path.into(), source }
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

/// How a commit ended: this worker's entry, or an identical one another worker committed first.
#[derive(Debug)]
pub enum Commit {
    Committed(PathBuf),
    AlreadyThere(PathBuf),
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
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(format!("{key}.lock"));
        let f = File::options().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
        f.lock().map_err(io(&path))?;
        Ok(f)
    }

    /// A private work directory for an entry that starts from nothing each time: named by host and
    /// process, so two workers on any machines never write into the same one.
    pub fn private_work_dir(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(stage).join(format!("{}{}", private_prefix(key), std::process::id()))
    }

    /// Removes the private work directories of `key` left by killed processes of this host (their
    /// pid is gone). Directories of other hosts are left alone: their processes may be alive.
    /// Returns how many were removed.
    pub fn remove_dead_private_dirs(&self, stage: &str, key: &str) -> Result<usize, CacheError> {
        let dir = self.root.join(stage);
        let prefix = private_prefix(key);
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(0) };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix(&prefix).and_then(|p| p.parse::<u32>().ok()) else { continue };
            if !process_alive(pid) {
                let p = entry.path();
                std::fs::remove_dir_all(&p).map_err(io(&p))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Seals a finished work directory: record, manifest (last), then rename into place. When
    /// another worker committed the same key first, its entry stands and this one is discarded
    /// (the bytes are the same: stages are deterministic), so correctness never rests on the lock.
    pub fn commit(&self, stage: &str, key: &str, work: &Path, record: &Record) -> Result<Commit, CacheError> {
        let rec = serde_json::to_vec_pretty(record).expect("record serialises");
        let p = work.join("record.json");
        std::fs::write(&p, rec).map_err(io(&p))?;
        let manifest = hash_dir(work)?;
        let p = work.join("manifest.json");
        std::fs::write(&p, serde_json::to_vec_pretty(&manifest).expect("manifest")).map_err(io(&p))?;
        let dest = self.dir(stage, key);
        if !self.is_complete(stage, key) && dest.exists() {
            // An incomplete leftover (no manifest): replace it.
            std::fs::remove_dir_all(&dest).map_err(io(&dest))?;
        }
        match std::fs::rename(work, &dest) {
            Ok(()) => Ok(Commit::Committed(dest)),
            Err(_) if self.is_complete(stage, key) => {
                std::fs::remove_dir_all(work).map_err(io(work))?;
                Ok(Commit::AlreadyThere(dest))
            }
            Err(e) => Err(CacheError::Io { path: dest, source: e }),
        }
    }

    /// Rehashes every complete entry; returns (entries checked, problems found).
    pub fn verify(&self) -> Result<(usize, Vec<CacheError>), CacheError> {
        let mut checked = 0;
        let mut bad = Vec::new();
        let Ok(stages) = std::fs::read_dir(&self.root) else { return Ok((0, bad)) };
        for stage in stages.flatten().filter(|e| e.path().is_dir() && e.file_name() != "locks") {
            for entry in std::fs::read_dir(stage.path()).map_err(io(&stage.path()))?.flatten() {
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
        for e in std::fs::read_dir(&d).map_err(io(&d))?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir).expect("under dir").to_string_lossy().replace('\\', "/");
            if rel == "manifest.json" {
                continue;
            }
            out.insert(rel, hash_file(&p)?);
        }
    }
    Ok(out)
}

pub fn hash_file(p: &Path) -> Result<String, CacheError> {
    let mut f = File::open(p).map_err(io(p))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(io(p))?;
    Ok(hex::encode(h.finalize()))
}

fn verify_entry(dir: &Path) -> Result<(), CacheError> {
    let mpath = dir.join("manifest.json");
    let text = std::fs::read(&mpath).map_err(io(&mpath))?;
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

/// `<key>.partial-<host>-`: the private work directories of `key` made on this host.
fn private_prefix(key: &str) -> String {
    format!("{key}.partial-{}-", hostname())
}

/// This host's name, as letters, digits and '-' only (it goes into file names).
pub(crate) fn hostname() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect()
}

/// Whether a process with this pid exists on this host (a recycled pid counts as alive: its
/// directory then waits for a later run, which is safe).
pub(crate) fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
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
        let Commit::Committed(dir) = cache.commit("s", "k1", &work, &rec).unwrap() else { panic!("first commit") };
        assert!(cache.is_complete("s", "k1") && !work.exists());
        assert_eq!(cache.verify().unwrap().1.len(), 0);
        std::fs::write(dir.join("out.csv"), "a,b\n1,3\n").unwrap();
        let (n, bad) = cache.verify().unwrap();
        assert_eq!(n, 1);
        let msg = bad[0].to_string();
        assert!(msg.contains("out.csv") && msg.contains("corrupted"), "{msg}");
    }

    #[test]
    fn dead_private_dirs_of_this_host_go_and_live_ones_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache { root: tmp.path().to_path_buf() };
        let mine = cache.private_work_dir("probe", "k1");
        // Above Linux's largest pid_max (2^22): no such process.
        let dead = tmp.path().join("probe").join(format!("{}{}", private_prefix("k1"), 4_194_305));
        let elsewhere = tmp.path().join("probe").join("k1.partial-otherhost-4194305");
        let other_key = tmp.path().join("probe").join(format!("{}{}", private_prefix("k2"), 4_194_305));
        for d in [&mine, &dead, &elsewhere, &other_key] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("half.csv"), "x").unwrap();
        }
        assert_eq!(cache.remove_dead_private_dirs("probe", "k1").unwrap(), 1);
        assert!(!dead.exists(), "a killed run's directory is removed");
        assert!(mine.exists() && elsewhere.exists() && other_key.exists());
        assert_eq!(cache.remove_dead_private_dirs("missing-stage", "k1").unwrap(), 0);
    }
}
