//! `pad fid A B`: the Fréchet Inception Distance between two image sets.
use super::threads::ThreadsArg;
use super::values::whole;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;
use pad::eval::inception::Layout;
use std::path::PathBuf;

/// No dataset here has more images in a split.
const MAX_IMAGES: usize = 1_000_000;

pub const ABOUT: &str = "Fréchet Inception Distance between two image sets (datasets or statistics files)";
pub const LONG_ABOUT: &str = "\
Fréchet Inception Distance between two image sets (datasets or statistics files).

Each side is a dataset artifact (`pad fetch`), whose first N images of --split go through
Inception-v3 (pool3 features), or a statistics file written earlier. Statistics of datasets are
cached in --cache per (artifact, split, N, weights), so the real-image side is computed once.
Prints the FID with its sample counts, and a warning when N is below the feature dimension.";

#[derive(Args, Debug, Clone)]
pub struct FidArgs {
    /// First image set: a dataset artifact or a statistics file (.fidstats.safetensors).
    pub a: PathBuf,
    /// Second image set, same kinds.
    pub b: PathBuf,
    /// Inception-v3 weights as safetensors (tools/convert_inception.py); needed for image sets.
    #[arg(long, env = "PAD_INCEPTION", value_name = "FILE")]
    pub inception: Option<PathBuf>,
    /// Which network the weights are: pytorch-fid's FID Inception (fid), or torchvision's inception_v3.
    #[arg(long, default_value = "fid",
          value_parser = PossibleValuesParser::new(Layout::NAMES).try_map(|s| s.parse::<Layout>()))]
    pub layout: Layout,
    /// Split of dataset artifacts to use.
    #[arg(long, default_value = "train", value_parser = ["train", "test"])]
    pub split: String,
    /// Images per set (the paper: 10,000; the authors' script: 500). Below 2,048 FID is biased.
    #[arg(long, default_value_t = 10_000, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(2, MAX_IMAGES, "a covariance needs two images"))]
    pub n: usize,
    /// Where dataset statistics are cached.
    #[arg(long, default_value = "runs/fid-cache", value_name = "DIR")]
    pub cache: PathBuf,
    /// Also write the result as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

pub fn fid(a: FidArgs) -> Result<(), super::Error> {
    let o = pad::eval::fid_sets::FidOptions {
        a: a.a,
        b: a.b,
        inception: a.inception,
        layout: a.layout,
        split: a.split,
        n: a.n,
        cache: a.cache,
        json: a.json,
    };
    let f = pad::eval::fid_sets::fid_of_sets(&o)?;
    println!("{f}");
    if let Some(w) = &f.warning {
        eprintln!("warning: {w}");
    }
    Ok(())
}
