//! `pad fetch`: a dataset's official archives to its canonical artifact.
use super::threads::ThreadsArg;
use clap::Args;
use std::path::PathBuf;

pub const ABOUT: &str = "Fetch, verify and decode a dataset into its canonical artifact (u8 images + labels)";
pub const LONG_ABOUT: &str = "\
Fetch, verify and decode a dataset into its canonical artifact (u8 images + labels).

Downloads the official archives (or reads them from --mirror), checks the published MD5 and size
and the sha256 recorded in the lock file, decodes them without unpacking, and writes one
safetensors file of u8 images [N, C, 32, 32] and labels, whose sha256 is the dataset's identity.
Prints one summary line and then the artifact's path. A cached artifact that matches the lock is
reused unless --force.";

#[derive(Args, Debug, Clone)]
pub struct FetchArgs {
    /// cifar10 | svhn | mnist | fashion-mnist | cifar10-jpeg | image-folder
    pub dataset: String,
    /// Directory or base URL standing in for the official origin (offline mirror).
    #[arg(long, value_name = "DIR|URL")]
    pub mirror: Option<String>,
    /// Download directory [default: $PAD_DATA, else data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// image-folder: ROOT directory or .tar.gz holding train/<class>/*.png|jpg and test/<class>/...
    #[arg(long, value_name = "ROOT")]
    pub path: Option<PathBuf>,
    /// image-folder: dataset name [default: ROOT's name]
    #[arg(long)]
    pub name: Option<String>,
    /// Artifact path [default: <data-dir>/<name>.safetensors]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Lock file [default: <data-dir>/datasets.lock]
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Accept mirror files that differ from the published archives (still locked by sha256).
    #[arg(long)]
    pub allow_unpublished: bool,
    /// Rebuild the artifact even if the cached one matches the lock.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

pub fn fetch(a: FetchArgs) -> Result<(), super::Error> {
    let req = pad::data::FetchRequest {
        dataset: a.dataset,
        mirror: a.mirror,
        data_dir: a.data_dir,
        path: a.path,
        name: a.name,
        out: a.out,
        lock: a.lock,
        allow_unpublished: a.allow_unpublished,
        force: a.force,
    };
    let t = std::time::Instant::now();
    let f = pad::data::fetch_to_artifact(&req)?;
    if let Some(old) = &f.replaced_sha256 {
        eprintln!("warning: {}: artifact sha256 changed from {old} to {}", f.name, f.sha256);
    }
    match f.decoded {
        Some(_) => println!("{f} ({:.1} s)", t.elapsed().as_secs_f64()),
        None => println!("{f}"),
    }
    println!("{}", f.path.display());
    Ok(())
}
