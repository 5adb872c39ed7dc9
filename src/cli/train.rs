//! `pad train` and `pad conditions`: training runs and the conditions they are run under.
use super::inputs::DataArgs;
use super::threads::ThreadsArg;
use super::values::{seed, whole};
use clap::Args;
use pad::model::{encoder::NF, NZ};
use std::path::PathBuf;

/// Each epoch writes a checkpoint of about 14 MB: beyond this a run fills any disk.
const MAX_EPOCHS: usize = 10_000;
/// Memory grows with the batch: 16 times the paper's 64 is the most a run here has a use for.
const MAX_BATCH: usize = 1024;

pub const TRAIN_ABOUT: &str =
    "Train PAD (or an ablation) on a dataset artifact; resumes from the last epoch if stopped";
pub const TRAIN_LONG_ABOUT: &str = "\
Train PAD (or an ablation) on a dataset artifact; resumes from the last epoch if stopped.

The run directory gets epoch-NNNN.safetensors after every epoch (0 = untrained), state.safetensors
(everything needed to continue) and losses.csv. Running the same command again continues from the
last completed epoch and writes the same bytes as a run never stopped; a directory holding another
run (condition, seed, batch or data differ) is refused.";

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Condition of the paper (`pad conditions` lists them).
    #[arg(long, default_value = "pad")]
    pub condition: String,
    /// Seed of the initial weights, the shuffles, the noise and the occlusion masks.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = seed)]
    pub seed: u64,
    /// Epochs to train (in total, counting those a resumed run already has).
    #[arg(long, default_value_t = 50, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(1, MAX_EPOCHS, "each epoch writes a 14 MB checkpoint"))]
    pub epochs: usize,
    /// Images per mini-batch (the paper: 64); the last partial batch of an epoch is dropped.
    #[arg(long, default_value_t = 64, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(2, MAX_BATCH, "the KL loss needs a batch standard deviation; memory grows with the batch"))]
    pub batch: usize,
    /// Train on the first N training images only (quick runs) [default: all].
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = whole(1, usize::MAX, ""))]
    pub limit: Option<usize>,
    /// Run directory (checkpoints, losses.csv) [default: runs/<dataset>/<condition>/seed<seed>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

pub fn train(a: &TrainArgs) -> Result<(), super::Error> {
    let cond = pad::train::condition(&a.condition)?;
    let path = a.data.path();
    let ds = pad::data::load_artifact(&path)?;
    let per = ds.channels * 32 * 32;
    let n = a.limit.unwrap_or(ds.train.n).min(ds.train.n);
    // Checked here, before the run directory exists, with the flags' names.
    if n < a.batch {
        let limited = if n < ds.train.n { " (--limit)" } else { "" };
        return Err(
            format!("--batch {} is more than the {n} training images{limited} of {}", a.batch, path.display()).into()
        );
    }
    let id = pad::files::sha256_file(&path)?;
    let images = pad::data::Images::new(&ds.train.images[..n * per], ds.channels)?;
    // The identity of a --limit run is the artifact plus the limit.
    let dataset_id = if n < ds.train.n { format!("{id}[..{n}]") } else { id };
    let spec = pad::train::RunSpec {
        condition: cond.clone(),
        seed: a.seed,
        epochs: a.epochs,
        batch: a.batch,
        dataset_id,
        nf: NF,
        nz: NZ,
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&ds.name).join(&cond.name).join(format!("seed{}", a.seed)));
    eprintln!(
        "training {} on {} ({} images, {} iterations/epoch) -> {}",
        cond.name,
        ds.name,
        n,
        n / a.batch,
        out.display()
    );
    let t = std::time::Instant::now();
    let r = pad::train::train(&spec, images, &out, !a.quiet)?;
    if r.seconds_per_epoch.is_empty() {
        eprintln!("already complete: {} epochs in {}", r.epochs_done, out.display());
        return Ok(());
    }
    if r.resumed_from > 0 {
        eprintln!("resumed after epoch {}", r.resumed_from);
    }
    let secs: Vec<String> = r.seconds_per_epoch.iter().map(|s| format!("{s:.1}")).collect();
    eprintln!(
        "done: {} epochs in {}; {:.1} s total ({} s per epoch)",
        r.epochs_done,
        out.display(),
        t.elapsed().as_secs_f64(),
        secs.join(", ")
    );
    Ok(())
}

/// The conditions table, one row per condition.
pub fn list_conditions() {
    println!(
        "{:<16} {:>4} {:>4} {:>4} {:>5}  {:<18} {:<11} {:<14} summary",
        "name", "W", "N", "R", "eps", "REM mix (z,z',n)", "NREM from", "order"
    );
    for c in pad::train::conditions() {
        let m = c.rem_mix;
        println!(
            "{:<16} {:>4} {:>4} {:>4} {:>5}  {:<18} {:<11} {:<14} {}",
            c.name,
            c.w,
            c.n,
            c.r,
            c.epsilon,
            format!("{}, {}, {}", m.z, m.z_old, m.noise),
            format!("{:?}", c.nrem_source),
            format!("{:?}", c.order),
            c.summary
        );
    }
}
