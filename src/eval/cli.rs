//! Command-line entries for the evaluations, to be wired into src/main.rs as subcommands:
//! `pad occlusion`, `pad distances`, `pad pca`, `pad dreams`, `pad probe-run`, `pad figure-losses`,
//! `pad figure-accuracy`.
//! Each loads a dataset artifact and a checkpoint (or the untrained networks of a seed), runs one
//! library function, prints a table and optionally writes its result atomically.
use super::error::EvalError;
use crate::data::Images;
use crate::data::{load_artifact, Dataset};
use crate::files::At;
use crate::model::{Encoder, Generator};
use clap::Args;
use std::path::{Path, PathBuf};

/// The dataset and the networks evaluated.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Dataset artifact (.safetensors) written by `pad fetch`.
    #[arg(long)]
    pub data: PathBuf,
    /// Checkpoint (pad's epoch-NNNN.safetensors or the PyTorch peer's).
    #[arg(long, required_unless_present = "untrained")]
    pub ckpt: Option<PathBuf>,
    /// Evaluate the untrained networks of --seed instead.
    #[arg(long)]
    pub untrained: bool,
    /// Seed of the untrained networks and of every random draw of the evaluation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub threads: Option<usize>,
}

impl ModelArgs {
    fn setup(&self) -> Result<Dataset, EvalError> {
        if let Some(n) = self.threads {
            // Fails only if a pool was already built; then the existing one is used.
            let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
        }
        Ok(load_artifact(&self.data)?)
    }

    fn source(&self) -> crate::train::Networks<'_> {
        crate::train::Networks::new(self.ckpt.as_deref().filter(|_| !self.untrained), self.seed)
    }

    /// The encoder, from the checkpoint or untrained.
    fn encoder(&self, channels: usize) -> Result<Encoder, EvalError> {
        Ok(self.source().encoder(channels)?)
    }

    /// Both networks (dreams need the generator too).
    fn networks(&self, channels: usize) -> Result<(Encoder, Generator), EvalError> {
        Ok(self.source().both(channels)?)
    }
}

fn images<'a>(ds: &'a Dataset, split: &str) -> Result<(Images<'a>, &'a [u8]), EvalError> {
    let s = match split {
        "train" => &ds.train,
        "test" => &ds.test,
        other => return Err(EvalError::Input(format!("split must be train or test, not {other}"))),
    };
    Ok((Images::new(&s.images, ds.channels)?, &s.labels))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    Ok(crate::files::atomic::write_atomic(path, bytes)?)
}

#[derive(Args, Clone, Debug)]
pub struct OcclusionArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Classifier epochs on clean train features.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 0.2)]
    pub lr: f32,
    /// CSV output (p,test_loss,test_acc,test_acc_ref).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Fig. 5 for one checkpoint: prints and writes the accuracy per occlusion level.
pub fn run_occlusion(a: &OcclusionArgs) -> Result<(), EvalError> {
    let ds = a.model.setup()?;
    let enc = a.model.encoder(ds.channels)?;
    let ((train, ty), (test, vy)) = (images(&ds, "train")?, images(&ds, "test")?);
    let probe = super::ProbeConfig { lr: a.lr, epochs: a.epochs, seed: a.model.seed, ..Default::default() };
    let sweep = super::SweepConfig { seed: a.model.seed, ..Default::default() };
    let (_, rows) = super::occlusion_curve(&enc, train, ty, test, vy, ds.classes.len(), &probe, &sweep);
    let csv = super::occlusion::sweep_csv(&rows);
    print!("{csv}");
    a.out.as_ref().map_or(Ok(()), |p| write(p, csv.as_bytes()))
}

#[derive(Args, Clone, Debug)]
pub struct DistancesArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Which split's images are paired (the authors' script uses train).
    #[arg(long, default_value = "train")]
    pub split: String,
    /// JSON output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Fig. 6e,f for one checkpoint (or the untrained encoder): distances and ratios as JSON.
pub fn run_distances(a: &DistancesArgs) -> Result<(), EvalError> {
    let ds = a.model.setup()?;
    let enc = a.model.encoder(ds.channels)?;
    let (imgs, labels) = images(&ds, &a.split)?;
    let cfg = super::DistanceConfig { seed: a.model.seed, ..Default::default() };
    let d = super::latent_distances(&enc, imgs, labels, ds.classes.len(), &cfg)?;
    let json = serde_json::to_string_pretty(&d).map_err(|e| EvalError::Input(e.to_string()))? + "\n";
    print!("{json}");
    a.out.as_ref().map_or(Ok(()), |p| write(p, json.as_bytes()))
}

#[derive(Args, Clone, Debug)]
pub struct PcaArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Directory for pca.csv and pca.svg.
    #[arg(long)]
    pub out: PathBuf,
}

/// Fig. 6b-d: the PCA projection as CSV and as a scatter plot.
pub fn run_pca(a: &PcaArgs) -> Result<(), EvalError> {
    let ds = a.model.setup()?;
    let enc = a.model.encoder(ds.channels)?;
    let (imgs, labels) = images(&ds, &a.split)?;
    let cfg = super::PcaConfig { samples: a.samples, seed: a.model.seed, ..Default::default() };
    let p = super::pca_projection(&enc, imgs, labels, &cfg)?;
    write(&a.out.join("pca.csv"), p.to_csv().as_bytes())?;
    let projection = crate::report::figures::Projection {
        labels: &p.labels,
        clean: &p.clean,
        occluded: &p.occluded,
        explained: p.explained,
    };
    let svg = crate::report::figures::pca_scatter(
        &format!("{}: clean (dots) and 30% occluded (circles)", ds.name),
        &projection,
        &ds.classes,
        4,
    );
    write(&a.out.join("pca.svg"), svg.as_bytes())?;
    println!(
        "{} points; explained variance {:.1}% + {:.1}%; wrote {}",
        p.index.len(),
        100.0 * p.explained[0],
        100.0 * p.explained[1],
        a.out.display()
    );
    Ok(())
}

#[derive(Args, Clone, Debug)]
pub struct DreamsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Images per row.
    #[arg(long, default_value_t = 8)]
    pub n: usize,
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Directory for real.png, nrem.png, rem.png and dreams.png.
    #[arg(long)]
    pub out: PathBuf,
}

/// Fig. 3: real images, NREM and REM dreams as PNG grids.
pub fn run_dreams(a: &DreamsArgs) -> Result<(), EvalError> {
    let ds = a.model.setup()?;
    let (enc, gen) = a.model.networks(ds.channels)?;
    let (imgs, _) = images(&ds, &a.split)?;
    let d = super::dreams(&enc, &gen, imgs, &super::DreamConfig { n: a.n, seed: a.model.seed })?;
    for p in super::dreams::write_dreams(&d, &a.out)? {
        println!("{}", p.display());
    }
    Ok(())
}

#[derive(Args, Clone, Debug)]
pub struct FigureLossesArgs {
    /// The trainer's losses.csv.
    #[arg(long)]
    pub losses: PathBuf,
    /// SVG output.
    #[arg(long)]
    pub out: PathBuf,
}

/// Losses per epoch of one run as an SVG.
pub fn run_figure_losses(a: &FigureLossesArgs) -> Result<(), crate::report::ReportError> {
    let text = std::fs::read_to_string(&a.losses).at(&a.losses)?;
    crate::report::figures::write_svg(&a.out, &crate::report::figures::losses_per_epoch(&text, &a.losses)?)
}

#[derive(Args, Clone, Debug)]
pub struct ProbeRunArgs {
    /// Dataset artifact (.safetensors) written by `pad fetch`.
    #[arg(long)]
    pub data: PathBuf,
    /// Run directory with epoch-NNNN.safetensors checkpoints.
    #[arg(long)]
    pub run: PathBuf,
    /// Probe every n-th epoch.
    #[arg(long, default_value_t = 1)]
    pub every: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// CSV output (one row per probed epoch).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Fig. 4 for one run: the probe's final accuracies for each checkpoint.
pub fn run_probe_run(a: &ProbeRunArgs) -> Result<(), EvalError> {
    let ds = load_artifact(&a.data)?;
    let cfg = super::ProbeConfig { seed: a.seed, ..Default::default() };
    let rows =
        super::curves::probe_run(&a.run, a.every, images(&ds, "train")?, images(&ds, "test")?, ds.classes.len(), &cfg)?;
    let csv = super::curves::curve_csv(&rows);
    print!("{csv}");
    a.out.as_ref().map_or(Ok(()), |p| write(p, csv.as_bytes()))
}

#[derive(Args, Clone, Debug)]
pub struct FigureAccuracyArgs {
    /// NAME=CSV from `pad probe-run`; repeat a NAME for several seeds (mean ± SEM).
    #[arg(long = "curve", required = true)]
    pub curves: Vec<String>,
    #[arg(long, default_value = "linear separability")]
    pub title: String,
    /// SVG output.
    #[arg(long)]
    pub out: PathBuf,
}

/// Accuracy vs epoch per condition (Fig. 4c,d) from probe-run tables.
pub fn run_figure_accuracy(a: &FigureAccuracyArgs) -> Result<(), EvalError> {
    let mut conditions: Vec<crate::report::figures::Runs> = Vec::new();
    for c in &a.curves {
        let (name, path) =
            c.split_once('=').ok_or_else(|| EvalError::Input(format!("--curve {c}: expected NAME=CSV")))?;
        let curve = super::curves::read_curve(Path::new(path))?;
        match conditions.iter_mut().find(|(n, _)| n == name) {
            Some((_, runs)) => runs.push(curve),
            None => conditions.push((name.to_string(), vec![curve])),
        }
    }
    write(&a.out, crate::report::figures::accuracy_vs_epoch(&a.title, &conditions).as_bytes())
}
