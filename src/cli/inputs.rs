//! The inputs several commands share: a dataset artifact, and the networks evaluated.
use super::threads::ThreadsArg;
use super::values::seed;
use clap::Args;
use std::path::PathBuf;

/// Where a dataset artifact comes from: a file, or a name fetched earlier into the data directory.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Dataset artifact (.safetensors) written by `pad fetch`.
    #[arg(long, value_name = "FILE", conflicts_with = "dataset", required_unless_present = "dataset")]
    pub data: Option<PathBuf>,
    /// Dataset name: reads <DATA_DIR>/<NAME>.safetensors, as `pad fetch NAME` wrote it.
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,
    /// Where `pad fetch` put the artifacts (used with --dataset).
    #[arg(long, env = "PAD_DATA", default_value = "data")]
    pub data_dir: PathBuf,
}

impl DataArgs {
    pub fn path(&self) -> PathBuf {
        match (&self.data, &self.dataset) {
            (Some(p), _) => p.clone(),
            // clap requires one of the two.
            (None, name) => self.data_dir.join(format!("{}.safetensors", name.as_deref().unwrap_or_default())),
        }
    }
}

/// A dataset and the networks evaluated on it: a checkpoint, or the untrained networks of a seed.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Checkpoint evaluated: pad's epoch-NNNN.safetensors or the PyTorch peer's.
    #[arg(long, value_name = "FILE", required_unless_present = "untrained")]
    pub ckpt: Option<PathBuf>,
    /// Evaluate the untrained networks of --seed instead of a checkpoint.
    #[arg(long, conflicts_with = "ckpt")]
    pub untrained: bool,
    /// Seed of the untrained networks and of every random draw of the evaluation (read-out
    /// initialisation and order, occlusion masks, sampled images).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = seed)]
    pub seed: u64,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

impl ModelArgs {
    pub fn subject(&self) -> pad::eval::Subject {
        pad::eval::Subject {
            data: self.data.path(),
            ckpt: if self.untrained { None } else { self.ckpt.clone() },
            seed: self.seed,
        }
    }
}
