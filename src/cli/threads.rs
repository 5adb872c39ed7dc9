//! The worker threads of every command, decided once, before the command runs: `--threads N`,
//! else RAYON_NUM_THREADS, else all cores. Results never depend on the count (DESIGN.md,
//! Parallelism); only speed does.
//!
//! Every worker flushes denormals to zero, as engine::fpmode::init_global sets them up (see there
//! why); PAD_KEEP_DENORMALS (any value) keeps them, for comparisons with frameworks that do.
use super::values::whole;
use pad::engine::fpmode::flush_denormals;

/// More workers than this is never useful here, and asking for 10^12 must fail while parsing,
/// not while spawning.
pub const MAX_THREADS: usize = 1024;

#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct ThreadsArg {
    /// Worker threads [default: RAYON_NUM_THREADS, else all cores]. Results do not depend on it.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = whole(1, MAX_THREADS, ""))]
    pub threads: Option<usize>,
}

/// The worker count: the flag, else RAYON_NUM_THREADS (empty or 0: unset, as rayon reads it),
/// else all cores.
pub fn count(flag: Option<usize>) -> Result<usize, String> {
    if let Some(n) = flag {
        return Ok(n);
    }
    match std::env::var_os("RAYON_NUM_THREADS") {
        Some(v) if !v.is_empty() && v != "0" => {
            v.to_str().and_then(|s| whole(1, MAX_THREADS, "")(s).ok()).ok_or_else(|| {
                format!(
                    "RAYON_NUM_THREADS={}: allowed: whole numbers from 1 to {MAX_THREADS} (0 or empty: all cores)",
                    v.to_string_lossy()
                )
            })
        }
        _ => Ok(std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS)),
    }
}

/// A pool builder for `n` workers in the floating-point mode of every command.
fn builder(n: usize) -> rayon::ThreadPoolBuilder {
    let b = rayon::ThreadPoolBuilder::new().num_threads(n);
    if std::env::var_os("PAD_KEEP_DENORMALS").is_some() {
        b
    } else {
        // The calling thread too: some work (the probe's SGD, small tensors) runs on it.
        flush_denormals();
        b.start_handler(|_| flush_denormals())
    }
}

/// Builds the global pool that every command's parallel loops run on. Called once, by main,
/// before the command: a pool built any later could not replace it.
pub fn init(flag: Option<usize>) -> Result<usize, String> {
    let n = count(flag)?;
    builder(n).build_global().map_err(|e| format!("cannot start {n} worker threads: {e}"))?;
    log_if_asked();
    Ok(n)
}

/// A pool of its own, for commands that measure several thread counts (`pad bench`).
pub fn pool(n: usize) -> Result<rayon::ThreadPool, String> {
    builder(n).build().map_err(|e| format!("cannot start {n} worker threads: {e}"))
}

/// With PAD_LOG_THREADS=1, says on stderr how many workers the global pool has, counted from inside
/// it: each worker answers a broadcast, so the line shows the pool the command's work runs on (and
/// tests/commands/cli_threads.rs can check that `--threads` reached it).
fn log_if_asked() {
    if std::env::var_os("PAD_LOG_THREADS").is_some_and(|v| v == "1") {
        let answers = rayon::broadcast(|_| rayon::current_num_threads());
        eprintln!("pad: worker threads: {} (each reports a pool of {:?})", answers.len(), answers[0]);
    }
}
