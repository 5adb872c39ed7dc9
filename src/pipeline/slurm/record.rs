//! `<cache>/<stage>/<key>.slurm`: which Slurm job was last submitted for a key. It lets a second
//! `pad run` find a job that is still queued instead of submitting the key twice, and lets
//! `pad status` find the job's log. Written atomically (temp file + rename in the same directory),
//! so a reader sees the old record or the new one, never half of one.
use super::error::SlurmError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmRecord {
    pub job_id: u64,
    /// The --job-name given to sbatch: after a clean cluster restart job ids start again from 1,
    /// so an id alone may name someone else's job; id and name together do not.
    pub job_name: String,
    /// Unix seconds, taken just before sbatch ran.
    pub submitted: u64,
    /// The job's output (stdout and stderr), %j filled in.
    pub log: PathBuf,
    /// The jobs this one waits for (`afterok`): the final job is reused only when they match.
    #[serde(default)]
    pub after: Vec<u64>,
}

/// Where the record of `key` of `stage` lives.
pub fn record_path(cache: &Path, stage: &str, key: &str) -> PathBuf {
    cache.join(stage).join(format!("{key}.slurm"))
}

impl SlurmRecord {
    /// The record at `path`, or None when there is none.
    pub fn read(path: &Path) -> Result<Option<SlurmRecord>, SlurmError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SlurmError::Io { path: path.into(), source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SlurmError::Record { path: path.into(), detail: e.to_string() })
    }

    pub fn write(&self, path: &Path) -> Result<(), SlurmError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| SlurmError::Record { path: path.into(), detail: format!("cannot serialise: {e}") })?;
        crate::files::atomic::write_atomic(path, &json).map_err(|e| SlurmError::Io { path: e.path, source: e.source })
    }
}

/// The file name of the final job's record and logs, which has no key: a hash of the identity
/// the caller gives it (`pad run`: the experiment file and profile), so every `pad run` of a
/// profile finds the one report job of that profile.
pub(super) fn final_id(id: &str) -> String {
    hex::encode(&Sha256::digest(id.as_bytes())[..8])
}

pub fn final_record_path(cache: &Path, id: &str) -> PathBuf {
    cache.join("slurm").join(format!("final-{}.slurm", final_id(id)))
}

pub(super) fn final_job_name(id: &str) -> String {
    format!("pad-final-{}", &final_id(id)[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_atomic_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = record_path(dir.path(), "train", "ab12");
        assert_eq!(SlurmRecord::read(&path).unwrap(), None);
        let rec = SlurmRecord {
            job_id: 42,
            job_name: "pad-train-ab12".into(),
            submitted: 1_700_000_000,
            log: dir.path().join("logs/train/ab12.42.log"),
            after: vec![40, 41],
        };
        rec.write(&path).unwrap();
        assert_eq!(SlurmRecord::read(&path).unwrap(), Some(rec.clone()));
        let rec2 = SlurmRecord { job_id: 43, after: vec![], ..rec };
        rec2.write(&path).unwrap();
        assert_eq!(SlurmRecord::read(&path).unwrap(), Some(rec2));
        let names: Vec<_> =
            std::fs::read_dir(dir.path().join("train")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["ab12.slurm"]);
    }

    #[test]
    fn corrupt_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = record_path(dir.path(), "probe", "k");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{\"job_id\": ").unwrap();
        let e = SlurmRecord::read(&path).unwrap_err().to_string();
        assert!(e.contains("probe/k.slurm") && e.contains("delete it"), "{e}");
    }
}
