//! `pad fetch <dataset>`: fetch, verify, decode and store the canonical artifact.

use super::artifact::write_artifact_with_sources;
use super::lock::{ArtifactEntry, Lock};
use super::sources::{build_with_sources, SourceSpec};
use super::DataError;
use crate::files::sha256_file;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct FetchArgs {
    /// cifar10 | svhn | mnist | fashion-mnist | cifar10-jpeg | image-folder
    pub dataset: String,
    /// Directory or base URL standing in for the official origin (offline mirror).
    #[arg(long)]
    pub mirror: Option<String>,
    /// Download directory [default: $PAD_DATA, else data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// image-folder: ROOT directory or .tar.gz holding train/<class>/*.png|jpg and test/<class>/...
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// image-folder: dataset name [default: ROOT's name]
    #[arg(long)]
    pub name: Option<String>,
    /// Artifact path [default: <data-dir>/<name>.safetensors]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Lock file [default: <data-dir>/datasets.lock]
    #[arg(long)]
    pub lock: Option<PathBuf>,
    /// Accept mirror files that differ from the published archives (still locked by sha256).
    #[arg(long)]
    pub allow_unpublished: bool,
    /// Rebuild the artifact even if the cached one matches the lock.
    #[arg(long)]
    pub force: bool,
}

impl FetchArgs {
    pub fn download_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .or_else(|| std::env::var_os("PAD_DATA").filter(|v| !v.is_empty()).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("data"))
    }

    pub fn source(&self) -> SourceSpec {
        SourceSpec {
            dataset: self.dataset.clone(),
            mirror: self.mirror.clone(),
            path: self.path.clone(),
            name: self.name.clone(),
            lock: self.lock.clone(),
            allow_unpublished: self.allow_unpublished,
        }
    }
}

/// Runs `pad fetch`; returns the artifact path. Prints one summary line on stdout.
pub fn run_fetch(args: &FetchArgs) -> Result<PathBuf, DataError> {
    let dir = args.download_dir();
    let source = args.source();
    let name = source.dataset_name();
    let out = args.out.clone().unwrap_or_else(|| dir.join(format!("{name}.safetensors")));
    let lock_path = source.lock_path(&dir);
    if !args.force && out.is_file() {
        if let Some(a) = Lock::load(&lock_path)?.artifact(&name) {
            if sha256_file(&out)? == a.sha256 {
                println!("{name}: cached {} sha256 {} ({} train, {} test)", out.display(), a.sha256, a.train, a.test);
                return Ok(out);
            }
        }
    }
    let t = Instant::now();
    let (ds, sources) = build_with_sources(&source, &dir)?;
    let sha = write_artifact_with_sources(&ds, &sources, &out)?;
    let mut lock = Lock::load(&lock_path)?;
    if let Some(old) = lock.artifact(&name).filter(|a| a.sha256 != sha) {
        eprintln!("warning: {name}: artifact sha256 changed from {} to {sha}", old.sha256);
    }
    let file = out.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    lock.record_artifact(ArtifactEntry {
        dataset: name.clone(),
        file,
        sha256: sha.clone(),
        train: ds.train.n,
        test: ds.test.n,
    });
    lock.save(&lock_path)?;
    println!(
        "{name}: {} train + {} test images, {} channel(s), {} classes -> {} sha256 {sha} ({:.1} s)",
        ds.train.n,
        ds.test.n,
        ds.channels,
        ds.classes.len(),
        out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_dir_flag_then_pad_data_then_default() {
        let a = FetchArgs { data_dir: Some("x".into()), ..Default::default() };
        assert_eq!(a.download_dir(), PathBuf::from("x"));
        // only this test reads or sets PAD_DATA
        std::env::set_var("PAD_DATA", "/tmp/pad-data-test");
        assert_eq!(FetchArgs::default().download_dir(), PathBuf::from("/tmp/pad-data-test"));
        std::env::remove_var("PAD_DATA");
        assert_eq!(FetchArgs::default().download_dir(), PathBuf::from("data"));
    }
}
