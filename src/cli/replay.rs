//! `pad replay`: train while recording every random draw and parameter snapshots, so that
//! scripts/replay/replay_pad.py can replay the same run in PyTorch and compare trajectories.
use super::inputs::DataArgs;
use super::threads::ThreadsArg;
use super::values::{seed, whole};
use clap::Args;
use pad::model::{encoder::NF, NZ};
use std::path::PathBuf;

/// The draws of one epoch at the paper's size are about 100 MB: a record is a one-epoch tool.
const MAX_EPOCHS: usize = 100;
/// As `pad train`.
const MAX_BATCH: usize = 1024;
/// Network widths beyond the paper's are of no use here and only cost memory.
const MAX_WIDTH: usize = 1024;
/// Iterations snapshot when --snapshot-at is not given (those within the run, plus its last).
const DEFAULT_SNAPSHOTS: [usize; 6] = [1, 10, 50, 100, 200, 400];

pub const ABOUT: &str = "Train from scratch recording every random draw and parameter snapshots, for a PyTorch replay";
pub const LONG_ABOUT: &str = "\
Train from scratch recording every random draw and parameter snapshots, for a PyTorch replay.

Runs the same epoch loop as `pad train` (same bytes) and writes into --out:
  draws.safetensors   the epochs' example orders, the Wake noise (when epsilon > 0), the REM noise,
                      each NREM occlusion (drop rate, tile size, mask) and the first mini-batch
  init.safetensors    the initial weights (what `pad train` writes as epoch-0000)
  pad/iter-NNNN.safetensors   all parameters after iteration NNNN (counted from 1 over the run)
  pad/losses.csv      every iteration's losses, exact
scripts/replay/replay_pad.py trains PyTorch from init.safetensors on the same images with these
draws and writes the same files; its `compare` mode prints the divergence per iteration.
The draws of a full CIFAR-10 epoch take about 100 MB.";

#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Condition of the paper (`pad conditions` lists them).
    #[arg(long, default_value = "pad")]
    pub condition: String,
    /// Seed of the initial weights, the shuffles, the noise and the occlusion masks.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = seed)]
    pub seed: u64,
    /// Epochs to train.
    #[arg(long, default_value_t = 1, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(1, MAX_EPOCHS, "the draws of an epoch are kept in memory and written out"))]
    pub epochs: usize,
    /// Images per mini-batch (the paper: 64); the last partial batch of an epoch is dropped.
    #[arg(long, default_value_t = 64, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(2, MAX_BATCH, "the KL loss needs a batch standard deviation"))]
    pub batch: usize,
    /// Train on the first N training images only [default: all].
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = whole(1, usize::MAX, ""))]
    pub limit: Option<usize>,
    /// Width of the networks (the paper: 64); smaller for test-sized replays.
    #[arg(long, default_value_t = NF, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(1, MAX_WIDTH, ""))]
    pub nf: usize,
    /// Size of the latent code (the paper: 256); smaller for test-sized replays.
    #[arg(long, default_value_t = NZ, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(1, MAX_WIDTH, ""))]
    pub nz: usize,
    /// Iterations after which to snapshot the parameters, comma-separated, counted from 1 over the
    /// run [default: 1,10,50,100,200,400 where the run is that long, and its last iteration].
    #[arg(long, value_delimiter = ',', value_name = "I,...", allow_negative_numbers = true,
          value_parser = whole(1, usize::MAX, ""))]
    pub snapshot_at: Vec<usize>,
    /// Start from these weights (checkpoint names, e.g. a test's initialisation) instead of the
    /// seed's untrained networks.
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,
    /// Record directory (must be new or empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

/// The snapshot iterations: the flag's (each within the run), else the defaults within it and the last.
fn snapshots(flag: &[usize], total: usize) -> Result<Vec<usize>, String> {
    if let Some(bad) = flag.iter().find(|&&i| i > total) {
        return Err(format!("--snapshot-at {bad}: the run has iterations 1 to {total}"));
    }
    let mut v: Vec<usize> = if flag.is_empty() {
        DEFAULT_SNAPSHOTS.iter().copied().filter(|&i| i < total).chain([total]).collect()
    } else {
        flag.to_vec()
    };
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

pub fn replay(a: &ReplayArgs) -> Result<(), super::Error> {
    let cond = pad::train::condition(&a.condition)?;
    if a.out.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(format!("--out {}: not empty; use a new directory or delete it", a.out.display()).into());
    }
    let path = a.data.path();
    let ds = pad::data::load_artifact(&path)?;
    let per = ds.channels * 32 * 32;
    let n = a.limit.unwrap_or(ds.train.n).min(ds.train.n);
    if n < a.batch {
        let limited = if n < ds.train.n { " (--limit)" } else { "" };
        return Err(
            format!("--batch {} is more than the {n} training images{limited} of {}", a.batch, path.display()).into()
        );
    }
    let total = n / a.batch * a.epochs;
    let snapshot_at = snapshots(&a.snapshot_at, total)?;
    let id = pad::files::sha256_file(&path)?;
    let images = pad::data::Images::new(&ds.train.images[..n * per], ds.channels)?;
    let dataset_id = if n < ds.train.n { format!("{id}[..{n}]") } else { id };
    let spec = pad::train::RunSpec {
        condition: cond.clone(),
        seed: a.seed,
        epochs: a.epochs,
        batch: a.batch,
        dataset_id,
        nf: a.nf,
        nz: a.nz,
    };
    eprintln!("recording {} on {} ({n} images, {total} iterations) -> {}", cond.name, ds.name, a.out.display());
    let t = std::time::Instant::now();
    let init = pad::train::start_state(&spec, ds.channels, a.init.as_deref())?;
    let rec = pad::train::record(&spec, images, init, &snapshot_at, !a.quiet)?;
    let seconds = t.elapsed().as_secs_f64();
    rec.write(&a.out)?;
    let its: Vec<String> = snapshot_at.iter().map(|i| i.to_string()).collect();
    eprintln!("done: {total} iterations in {seconds:.1} s; snapshots after iterations {}", its.join(", "));
    println!("{}", a.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::snapshots;

    #[test]
    fn default_snapshots_stay_within_the_run_and_end_with_its_last_iteration() {
        assert_eq!(snapshots(&[], 781).unwrap(), vec![1, 10, 50, 100, 200, 400, 781]);
        assert_eq!(snapshots(&[], 6).unwrap(), vec![1, 6]);
        assert_eq!(snapshots(&[], 1).unwrap(), vec![1]);
        assert_eq!(snapshots(&[5, 2, 5], 6).unwrap(), vec![2, 5]);
        assert!(snapshots(&[7], 6).unwrap_err().contains("--snapshot-at 7"));
    }
}
