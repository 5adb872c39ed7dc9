//! Running stages: each missing one computed once, in its own work directory, then committed
//! under its key. `compute_node` is the unit every executor calls (locally in order, in parallel
//! with --jobs, or as `pad stage run KEY` inside a Slurm job).
use super::cache::{Cache, Commit, Record};
use super::error::PipelineError;
use super::plan::Plan;
use super::stage::{Env, Inputs};
use crate::files::At;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// What happened to one node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// Computed and committed by this worker, in that many seconds.
    Computed(f64),
    /// Already complete (possibly finished by another worker while this one waited).
    Fresh,
}

/// Runs the selected nodes that are missing from the cache, one at a time, in plan order.
/// Returns (computed, already fresh).
pub fn run(plan: &Plan, cache: &Cache, nodes: &[usize], progress: bool) -> Result<(usize, usize), PipelineError> {
    plan.check(nodes)?;
    let env = Env { progress };
    let (mut computed, mut fresh) = (0, 0);
    for (n, &i) in nodes.iter().enumerate() {
        let node = &plan.nodes[i];
        if cache.is_complete(node.kind().name, &node.key) {
            fresh += 1;
            continue;
        }
        if progress {
            eprintln!("[{}/{}] {} ({})", n + 1, nodes.len(), node.label, &node.key[..12]);
        }
        match compute_node(plan, cache, i, &env)? {
            Outcome::Computed(s) => {
                computed += 1;
                if progress {
                    eprintln!("      done in {s:.1} s");
                }
            }
            Outcome::Fresh => fresh += 1,
        }
    }
    Ok((computed, fresh))
}

/// Computes node `i` (its inputs must be complete) and commits it, on a worker of the current
/// thread pool. Holds the key's lock while computing, so two processes sharing a cache do not
/// compute one key twice; if the lock does not hold (e.g. flock over NFS), both compute in their
/// own directories and the first commit wins (see Cache::commit).
pub fn compute_node(plan: &Plan, cache: &Cache, i: usize, env: &Env) -> Result<Outcome, PipelineError> {
    let node = &plan.nodes[i];
    let kind = node.kind();
    if cache.is_complete(kind.name, &node.key) {
        return Ok(Outcome::Fresh);
    }
    for &j in &node.inputs {
        let input = &plan.nodes[j];
        if !cache.is_complete(input.kind().name, &input.key) {
            return Err(PipelineError::InputMissing {
                stage: node.label.clone(),
                input: input.label.clone(),
                dir: cache.dir(input.kind().name, &input.key),
            });
        }
    }
    let wrap = |e: PipelineError| PipelineError::Stage {
        stage: node.label.clone(),
        key: node.key.clone(),
        source: Box::new(e),
    };
    compute_locked(plan, cache, i, env).map_err(wrap)
}

/// `compute_node` once the inputs are known to be complete: lock, compute, commit.
fn compute_locked(plan: &Plan, cache: &Cache, i: usize, env: &Env) -> Result<Outcome, PipelineError> {
    let node = &plan.nodes[i];
    let kind = node.kind();
    let _guard = cache.lock(&node.key)?;
    if cache.is_complete(kind.name, &node.key) {
        // Another process finished it while we waited for the lock.
        return Ok(Outcome::Fresh);
    }
    let t = Instant::now();
    let work = if kind.resumable {
        cache.work_dir(kind.name, &node.key)
    } else {
        cache.private_work_dir(kind.name, &node.key)
    };
    if !kind.resumable {
        // Under the key's lock: leftovers of killed runs on this host go before new work starts.
        cache.remove_dead_private_dirs(kind.name, &node.key)?;
        if work.exists() {
            std::fs::remove_dir_all(&work).at(&work)?;
        }
    }
    std::fs::create_dir_all(&work).at(&work)?;
    let inputs = Inputs::of(&plan.nodes, node, cache);
    let clock = kind.resumable.then(|| StageClock::resume(&work)).transpose()?;
    // On a pool worker: driving rayon from outside the pool costs a quarter of every kernel's speed.
    let compute = || rayon::scope(|_| node.stage.compute(&inputs, &work, env));
    let result = match &clock {
        Some(clock) => clock.run(compute),
        None => compute(),
    };
    if let Err(e) = result {
        if !kind.resumable {
            // Nothing in a fresh directory is worth keeping; a training run keeps its checkpoints.
            let _ = std::fs::remove_dir_all(&work);
        }
        return Err(e);
    }
    let input_keys: Vec<String> = node.inputs.iter().map(|&j| plan.nodes[j].key.clone()).collect();
    let params = node.stage.params();
    let record = Record {
        stage: kind.name,
        version: kind.version,
        key: &node.key,
        params: &params,
        inputs: &input_keys,
        pad_version: env!("CARGO_PKG_VERSION"),
        threads: rayon::current_num_threads(),
        seconds: clock.as_ref().map_or(0.0, |c| c.earlier) + t.elapsed().as_secs_f64(),
    };
    if let Some(clock) = &clock {
        // Not part of the stage's output: the committed directory must not depend on how often
        // the run was interrupted.
        clock.remove()?;
    }
    match cache.commit(kind.name, &node.key, &work, &record)? {
        Commit::Committed(_) => Ok(Outcome::Computed(t.elapsed().as_secs_f64())),
        Commit::AlreadyThere(_) => Ok(Outcome::Fresh),
    }
}

/// `pad stage run KEY`: computes one node by key in this process (what a cluster job runs).
pub fn run_key(plan: &Plan, cache: &Cache, key: &str, env: &Env) -> Result<Outcome, PipelineError> {
    let i = plan.find(key)?;
    plan.check(&[i])?;
    compute_node(plan, cache, i, env)
}

/// The compute time of a resumable stage (a training) over all its runs. A training resumed
/// after a kill or a reboot would otherwise record only its last run's seconds, so `pad status
/// --critical-path` and a study's stage times would undercount it by hours. The seconds of
/// earlier runs are kept beside its checkpoints, rewritten every half minute (a killed run loses
/// at most that), and removed before the commit.
struct StageClock {
    file: PathBuf,
    /// Seconds of the earlier runs.
    earlier: f64,
    start: Instant,
}

/// In the work directory of a resumable stage.
const SECONDS_FILE: &str = "seconds-so-far.txt";
const SECONDS_EVERY: Duration = Duration::from_secs(30);

impl StageClock {
    fn resume(work: &Path) -> Result<StageClock, PipelineError> {
        let file = work.join(SECONDS_FILE);
        let earlier = match std::fs::read_to_string(&file) {
            Ok(text) => text.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).ok_or_else(|| {
                PipelineError::Format {
                    path: file.clone(),
                    msg: format!(
                        "{:?} is not a number of seconds; remove the file (the stage's record then counts this run's time only)",
                        text.trim()
                    ),
                }
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0.0,
            Err(e) => return Err(crate::files::PathIo { path: file, source: e }.into()),
        };
        Ok(StageClock { file, earlier, start: Instant::now() })
    }

    /// Runs `f`, writing the seconds so far every half minute until it returns.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let done = (Mutex::new(false), Condvar::new());
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut stop = done.0.lock().unwrap_or_else(|p| p.into_inner());
                while !*stop {
                    stop = done.1.wait_timeout(stop, SECONDS_EVERY).unwrap_or_else(|p| p.into_inner()).0;
                    if !*stop {
                        self.save();
                    }
                }
            });
            let out = f();
            *done.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
            done.1.notify_all();
            out
        })
    }

    /// The seconds so far, written to a temporary file and renamed. A failure is not worth
    /// stopping a training of hours for: its record would only undercount.
    fn save(&self) {
        let total = self.earlier + self.start.elapsed().as_secs_f64();
        let tmp = self.file.with_extension("tmp");
        if std::fs::write(&tmp, format!("{total:.1}\n")).is_ok() {
            let _ = std::fs::rename(&tmp, &self.file);
        }
    }

    fn remove(&self) -> Result<(), PipelineError> {
        for p in [self.file.clone(), self.file.with_extension("tmp")] {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(crate::files::PathIo { path: p, source: e }.into())
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_stage_counts_its_earlier_seconds_and_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("pad-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(StageClock::resume(&dir).unwrap().earlier, 0.0);
        std::fs::write(dir.join(SECONDS_FILE), "1234.5\n").unwrap();
        let clock = StageClock::resume(&dir).unwrap();
        assert_eq!(clock.earlier, 1234.5);
        assert_eq!(clock.run(|| 7), 7);
        clock.save();
        let saved: f64 = std::fs::read_to_string(dir.join(SECONDS_FILE)).unwrap().trim().parse().unwrap();
        assert!(saved >= 1234.5, "{saved}");
        clock.remove().unwrap();
        assert!(!dir.join(SECONDS_FILE).exists());
        for bad in ["", "abc", "-3", "inf"] {
            std::fs::write(dir.join(SECONDS_FILE), bad).unwrap();
            let e = StageClock::resume(&dir).err().expect("a bad file is refused").to_string();
            assert!(e.contains(SECONDS_FILE) && e.contains("remove the file"), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
