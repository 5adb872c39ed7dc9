//! `<record>.claim`: held by the one `pad run` that is submitting a key (or the final job) right
//! now. It is created atomically (O_EXCL, which NFS v3 and later honour), so of two submitters
//! that reach a key at the same moment one holds it and the other waits; the holder writes the
//! key's `.slurm` record before it lets go, and the other then reads that record and keeps the
//! job instead of submitting it a second time.
//!
//! A claim is held for one sbatch call. One left behind by a killed `pad run` is taken over when
//! its process is gone (same host) or when it is older than `STALE_SECS` (another host); the
//! taker then looks the key's job up by name, in case the killed run submitted it but wrote no
//! record. Correctness does not rest on claims: a key computed twice gives the same bytes (the
//! first complete rename wins); claims only keep the cluster from doing the work twice.
use super::error::SlurmError;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A claim older than this is abandoned whatever its host: sbatch answers or gives up long before.
pub const STALE_SECS: u64 = 600;
/// How often a waiting submitter looks again.
const POLL: Duration = Duration::from_millis(50);

/// Who holds a claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Holder {
    host: String,
    pid: u32,
    /// Unix seconds when it was taken.
    since: u64,
}

/// A held claim: the file is removed when it is dropped (and the directory, when taking the
/// claim made it and nothing was written there: a submission that failed leaves nothing behind).
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
    made_dir: Option<PathBuf>,
    /// True when an abandoned claim was taken over (so its holder may have submitted unrecorded).
    pub took_over: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = &self.made_dir {
            let _ = std::fs::remove_dir(dir); // only if empty
        }
    }
}

/// The claim file of a record.
pub fn claim_path(record: &Path) -> PathBuf {
    let mut name = record.file_name().unwrap_or_default().to_os_string();
    name.push(".claim");
    record.with_file_name(name)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn me() -> Holder {
    Holder { host: crate::pipeline::cache::hostname(), pid: std::process::id(), since: unix_now() }
}

/// Whether a claim (as read from its file) was left by a process that is gone. A claim not yet
/// readable (its holder is writing it) counts as abandoned only by its file's age.
fn abandoned(holder: Option<&Holder>, path: &Path) -> bool {
    let age = |t: u64| unix_now().saturating_sub(t) > STALE_SECS;
    match holder {
        Some(h) if h.host == crate::pipeline::cache::hostname() => {
            !crate::pipeline::cache::process_alive(h.pid) || age(h.since)
        }
        Some(h) => age(h.since),
        None => std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .is_some_and(|t| age(t.as_secs())),
    }
}

fn read_holder(path: &Path) -> Option<Holder> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Removes an abandoned claim unless it changed since it was judged (its holder replaced it): it
/// is first renamed to a name of this process's own, so of two takers only one removes it.
fn take_over(path: &Path, judged: Option<&Holder>) {
    let me = me();
    let mut grave = path.as_os_str().to_os_string();
    grave.push(format!(".abandoned-{}-{}", me.host, me.pid));
    let grave = PathBuf::from(grave);
    if std::fs::rename(path, &grave).is_err() {
        return; // another taker moved it first, or its holder let go
    }
    if read_holder(&grave).as_ref() != judged {
        // A live claim taken over a moment after it replaced the abandoned one: give it back.
        let _ = std::fs::hard_link(&grave, path);
    }
    let _ = std::fs::remove_file(&grave);
}

/// Waits until this process holds the claim of `record` (at most about `STALE_SECS`: by then a
/// claim that is still there is abandoned).
pub fn acquire(record: &Path) -> Result<Claim, SlurmError> {
    let path = claim_path(record);
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut made_dir = None;
    let started = Instant::now();
    let mut took_over = false;
    loop {
        if !dir.is_dir() {
            // (Again, if another run's failed submission removed it since.)
            std::fs::create_dir_all(&dir).map_err(|source| SlurmError::Io { path: dir.clone(), source })?;
            made_dir = Some(dir.clone());
        }
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let text = serde_json::to_vec(&me()).unwrap_or_default();
                let claim = Claim { path, made_dir, took_over };
                f.write_all(&text)
                    .and_then(|_| f.sync_all())
                    .map_err(|source| SlurmError::Io { path: claim.path.clone(), source })?;
                return Ok(claim);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = read_holder(&path);
                if abandoned(holder.as_ref(), &path) {
                    take_over(&path, holder.as_ref());
                    took_over = true;
                    continue;
                }
                if started.elapsed() > Duration::from_secs(2 * STALE_SECS) {
                    return Err(SlurmError::Input {
                        what: format!("claim {}", path.display()),
                        msg: format!(
                            "held by {holder:?} for more than {} s; if no `pad run` is submitting, delete it",
                            2 * STALE_SECS
                        ),
                    });
                }
                std::thread::sleep(POLL);
            }
            Err(source) => return Err(SlurmError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_abandoned_claims_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("train").join("k.slurm");
        std::fs::create_dir_all(dir.path().join("train")).unwrap();
        assert_eq!(claim_path(&rec), dir.path().join("train/k.slurm.claim"));
        let first = acquire(&rec).unwrap();
        assert!(!first.took_over && claim_path(&rec).is_file());
        // A second claimant waits while the first holds it and gets it once it is let go.
        let rec2 = rec.clone();
        let waiter = std::thread::spawn(move || {
            let t = Instant::now();
            let c = acquire(&rec2).unwrap();
            (t.elapsed(), c.took_over)
        });
        std::thread::sleep(Duration::from_millis(300));
        drop(first);
        let (waited, took_over) = waiter.join().unwrap();
        assert!(waited >= Duration::from_millis(250) && !took_over, "{waited:?}");
        assert!(!claim_path(&rec).exists(), "let go when dropped");

        // Left by a process of this host that is gone: taken over at once.
        let dead = Holder { host: crate::pipeline::cache::hostname(), pid: u32::MAX - 1, since: unix_now() };
        std::fs::write(claim_path(&rec), serde_json::to_vec(&dead).unwrap()).unwrap();
        let c = acquire(&rec).unwrap();
        assert!(c.took_over);
        drop(c);
        // Another host's claim is taken over only when old; a live one of this host never.
        let other = Holder { host: "elsewhere".into(), pid: 1, since: unix_now() - STALE_SECS - 5 };
        std::fs::write(claim_path(&rec), serde_json::to_vec(&other).unwrap()).unwrap();
        assert!(acquire(&rec).unwrap().took_over);
        let fresh = Holder { since: unix_now(), ..other };
        assert!(!abandoned(Some(&fresh), &claim_path(&rec)));
        assert!(!abandoned(Some(&me()), &claim_path(&rec)));
        let names: Vec<_> =
            std::fs::read_dir(dir.path().join("train")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(names.is_empty(), "no claim or abandoned copy left: {names:?}");
        // A claim that made its directory removes it when nothing was written there.
        let other = dir.path().join("probe").join("k.slurm");
        drop(acquire(&other).unwrap());
        assert!(!dir.path().join("probe").exists());
        let kept = acquire(&other).unwrap();
        std::fs::write(&other, "{}").unwrap();
        drop(kept);
        assert!(other.is_file());
    }
}
