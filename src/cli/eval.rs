//! The evaluations of one checkpoint (or of the untrained networks of a seed): `pad probe |
//! occlusion | distances | pca | dreams`. Each prints its result; the pipeline (`pad run`)
//! computes the same for every run of a profile, cached.
use super::inputs::ModelArgs;
use super::values::{positive_f64, positive_real, whole};
use clap::Args;
use std::path::{Path, PathBuf};

/// Read-out training longer than this has nothing left to learn (the authors: 20 epochs).
const MAX_PROBE_EPOCHS: usize = 10_000;
/// Images per grid row: a wider PNG is no longer a figure.
const MAX_DREAMS: usize = 1024;

fn write(path: &Path, text: &str) -> Result<(), super::Error> {
    pad::files::atomic::write_atomic(path, text.as_bytes()).map_err(Into::into)
}

/// The linear read-out's training.
#[derive(Args, Debug, Clone)]
pub struct ReadoutArgs {
    /// Read-out (classifier) epochs on the frozen train features.
    #[arg(long, default_value_t = 20, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(1, MAX_PROBE_EPOCHS, ""))]
    pub epochs: usize,
    /// Read-out SGD learning rate.
    // Hyphen values reach the parser, so that `--lr -inf` is refused as a value, naming --lr.
    #[arg(long, default_value_t = 0.2, allow_hyphen_values = true, value_parser = positive_real)]
    pub lr: f32,
    /// Penalty of the ridge read-out fitted beside the SGD probe (on standardised codes).
    #[arg(long, default_value_t = pad::eval::ridge::DEFAULT_LAMBDA, value_name = "LAMBDA",
          allow_hyphen_values = true, value_parser = positive_f64)]
    pub ridge_lambda: f64,
}

fn probe_options(model: &ModelArgs, r: &ReadoutArgs) -> pad::eval::ProbeOptions {
    pad::eval::ProbeOptions { subject: model.subject(), epochs: r.epochs, lr: r.lr, ridge_lambda: r.ridge_lambda }
}

pub const PROBE_LONG_ABOUT: &str = "\
Linear read-out of a checkpoint's frozen latent code (Fig. 4).

Encodes the train and test images, trains a linear classifier (SGD, batch 64) on the train codes
and prints one CSV row per read-out epoch on stdout: train loss and accuracy, test loss, test
accuracy over all test images (test_acc) and as the authors' script computes it (test_acc_ref,
the mean over full batches of 64). A summary goes to stderr, with the accuracy of the ridge
read-out on the same codes (one-hot targets on standardised codes, closed form: no epochs, no
learning rate, so a steadier number than the SGD probe's).";

#[derive(Args, Debug, Clone)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub readout: ReadoutArgs,
}

pub fn probe(a: &ProbeArgs) -> Result<(), super::Error> {
    let t = std::time::Instant::now();
    let (hist, ridge) = pad::eval::standalone::probe(&probe_options(&a.model, &a.readout))?;
    print!("{}", pad::eval::history_csv(&hist));
    let last5: Vec<f64> = hist.iter().rev().take(5).map(|h| h.test_acc).collect();
    eprintln!(
        "test accuracy {:.2}% (last epoch), {:.2}% (mean of last {}); ridge read-out (standardised z, lambda {}) {:.2}%; {:.1} s",
        hist.last().map_or(f64::NAN, |h| h.test_acc),
        last5.iter().sum::<f64>() / last5.len() as f64,
        last5.len(),
        ridge.lambda,
        ridge.test_acc,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

pub const OCCLUSION_LONG_ABOUT: &str = "\
Occlusion sweep (Fig. 5): read-out accuracy on test images occluded with p = 0, 0.1, ..., 1.

Fits the read-outs on clean train codes (as `pad probe`: the SGD probe and the ridge read-out),
then, for each p, encodes the test images with each 4x4 tile set to grey with probability p (a
mask per image) and evaluates both on them. Prints CSV (p, test_loss, test_acc, test_acc_ref of
the SGD probe; ridge_acc) and writes it to --out if given.";

#[derive(Args, Debug, Clone)]
pub struct OcclusionArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub readout: ReadoutArgs,
    /// Also write the CSV here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn occlusion(a: &OcclusionArgs) -> Result<(), super::Error> {
    let rows = pad::eval::standalone::occlusion(&probe_options(&a.model, &a.readout))?;
    let csv = pad::eval::occlusion::sweep_csv(&rows);
    print!("{csv}");
    a.out.as_ref().map_or(Ok(()), |p| write(p, &csv))
}

fn split_options(model: &ModelArgs, split: &str) -> pad::eval::SplitOptions {
    pad::eval::SplitOptions { subject: model.subject(), split: split.into() }
}

pub const DISTANCES_LONG_ABOUT: &str = "\
Intra-/inter-class and clean-vs-occluded latent distances (Fig. 6e,f).

Mean Euclidean distances between latent codes (Methods 4.4.4): 1,000 same-class pairs per class,
10,000 pairs of different classes, 10,000 images and their copies with 30% of the 4x4 tiles
occluded; and the ratios intra/inter (Fig. 6e) and clean-occluded/inter (Fig. 6f). JSON on stdout,
and in --out if given.";

#[derive(Args, Debug, Clone)]
pub struct DistancesArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Split whose images are paired (the authors' script uses train).
    #[arg(long, default_value = "train", value_parser = ["train", "test"])]
    pub split: String,
    /// Also write the JSON here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn distances(a: &DistancesArgs) -> Result<(), super::Error> {
    let d = pad::eval::standalone::distances(&split_options(&a.model, &a.split))?;
    let json = serde_json::to_string_pretty(&d)? + "\n";
    print!("{json}");
    a.out.as_ref().map_or(Ok(()), |p| write(p, &json))
}

#[derive(Args, Debug, Clone)]
pub struct PcaArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Images projected (a seeded sample; all of the split if it has fewer).
    #[arg(long, default_value_t = 1000, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(2, usize::MAX, "a principal axis needs two points"))]
    pub samples: usize,
    /// Split whose images are projected.
    #[arg(long, default_value = "test", value_parser = ["train", "test"])]
    pub split: String,
    /// Directory for pca.csv and pca.svg.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn pca(a: &PcaArgs) -> Result<(), super::Error> {
    let (p, name, classes) = pad::eval::standalone::pca_files(&split_options(&a.model, &a.split), a.samples, &a.out)?;
    let view = pad::report::figures::Projection {
        labels: &p.labels,
        clean: &p.clean,
        occluded: &p.occluded,
        explained: p.explained,
    };
    let svg = pad::report::figures::pca_scatter(
        &format!("{name}: clean (dots) and 30% occluded (circles)"),
        &view,
        &classes,
        4,
    );
    pad::files::atomic::write_atomic(&a.out.join("pca.svg"), svg.as_bytes())?;
    println!(
        "{} points; explained variance {:.1}% + {:.1}%; wrote {}",
        p.index.len(),
        100.0 * p.explained[0],
        100.0 * p.explained[1],
        a.out.display()
    );
    Ok(())
}

#[derive(Args, Debug, Clone)]
pub struct DreamsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Images per row (real, NREM, REM); uses 2N images of the split.
    #[arg(long, default_value_t = 8, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(1, MAX_DREAMS, ""))]
    pub n: usize,
    /// Split the real images come from.
    #[arg(long, default_value = "train", value_parser = ["train", "test"])]
    pub split: String,
    /// Directory for real.png, nrem.png, rem.png, dreams.png and the labelled dreams.svg.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn dreams(a: &DreamsArgs) -> Result<(), super::Error> {
    for p in pad::eval::standalone::dream_files(&split_options(&a.model, &a.split), a.n, &a.out)? {
        println!("{}", p.display());
    }
    // The three rows as one labelled figure, as the report draws them.
    let mut pngs = Vec::new();
    for name in ["real.png", "nrem.png", "rem.png"] {
        let path = a.out.join(name);
        pngs.push(pad::files::At::at(std::fs::read(&path), &path)?);
    }
    let rows: Vec<(&str, &[u8])> =
        ["real", "NREM dream", "REM dream"].into_iter().zip(pngs.iter().map(Vec::as_slice)).collect();
    let svg = pad::report::grids::labelled_rows("real images and their dreams", &rows)?;
    let path = a.out.join("dreams.svg");
    write(&path, &svg)?;
    println!("{}", path.display());
    Ok(())
}
