//! FID between two image sets (what `pad fid A B` does), each a dataset artifact (`pad fetch`) or
//! a pool3 statistics file. Dataset statistics are cached per (artifact, split, sample count, network
//! weights), so the real-image side is computed once per dataset.
use super::error::EvalError;
use super::fid::{frechet_distance, is_stats_file, load_stats, save_stats, stats_of_images, Frechet, Stats, StatsInfo};
use super::inception::{InceptionV3, Layout};
use crate::data::load_artifact;
use crate::data::Images;
use crate::files::sha256_file;
use std::path::{Path, PathBuf};

/// The two image sets and how their statistics are computed.
#[derive(Debug, Clone)]
pub struct FidOptions {
    /// First image set: a dataset artifact or a statistics file (.fidstats.safetensors).
    pub a: PathBuf,
    /// Second image set, same kinds.
    pub b: PathBuf,
    /// Inception-v3 weights as safetensors (tools/convert_inception.py); needed for image sets.
    pub inception: Option<PathBuf>,
    /// Which network the weights are.
    pub layout: Layout,
    /// Split of dataset artifacts to use: "train" or "test".
    pub split: String,
    /// Images per set.
    pub n: usize,
    /// Where dataset statistics are cached.
    pub cache: PathBuf,
    /// Also write the result as JSON here.
    pub json: Option<PathBuf>,
}

/// Statistics of one side: read from a stats file, from the cache, or computed and cached.
fn side_stats(args: &FidOptions, path: &Path, net: &mut Option<InceptionV3>) -> Result<Stats, EvalError> {
    if is_stats_file(path)? {
        let (s, info) = load_stats(path)?;
        if info.layout != args.layout {
            return Err(EvalError::Stats {
                what: path.display().to_string(),
                msg: format!("computed with the {} network, not {}", info.layout, args.layout),
            });
        }
        return Ok(s);
    }
    let weights = args
        .inception
        .as_deref()
        .ok_or_else(|| EvalError::Input(format!("{} is an image set: pass --inception WEIGHTS", path.display())))?;
    let short = |p: &Path| -> Result<String, EvalError> { Ok(sha256_file(p)?[..12].to_string()) };
    let cached = args.cache.join(
        format!(
            "{}-{}-{}-n{}-{:?}-{}.fidstats.safetensors",
            stem(path),
            short(path)?,
            args.split,
            args.n,
            args.layout,
            short(weights)?
        )
        .to_lowercase(),
    );
    if cached.exists() {
        eprintln!("fid: cached statistics {}", cached.display());
        return Ok(load_stats(&cached)?.0);
    }
    if net.is_none() {
        *net = Some(InceptionV3::load(weights, args.layout)?);
    }
    let ds = load_artifact(path)?;
    let split = if args.split == "test" { &ds.test } else { &ds.train };
    let images = Images::new(&split.images, ds.channels)?;
    let t0 = std::time::Instant::now();
    let progress = |done: usize| {
        if done % 1000 < super::inception::BATCH || done == args.n {
            eprintln!(
                "fid: {}: {done}/{} images ({:.1} img/s)",
                ds.name,
                args.n,
                done as f64 / t0.elapsed().as_secs_f64()
            );
        }
    };
    let s = stats_of_images(net.as_ref().expect("loaded above"), images, args.n, &progress)?;
    let info = StatsInfo {
        n: s.n,
        layout: args.layout,
        source: format!("{} {} (first {} images)", path.display(), args.split, s.n),
    };
    save_stats(&cached, &s, &info)?;
    Ok(s)
}

fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "images".into())
}

/// Computes (or reads) both sides' statistics and their Fréchet distance; writes it as JSON when
/// asked. The caller reports the value and its rank-deficiency warning, if any.
pub fn fid_of_sets(args: &FidOptions) -> Result<Frechet, EvalError> {
    if args.split != "train" && args.split != "test" {
        return Err(EvalError::Input(format!("split must be train or test, not {}", args.split)));
    }
    let mut net = None;
    let sa = side_stats(args, &args.a, &mut net)?;
    let sb = side_stats(args, &args.b, &mut net)?;
    let f = frechet_distance(&sa, &sb)?;
    if let Some(out) = &args.json {
        let v = serde_json::json!({"fid": f.fid, "n1": f.n1, "n2": f.n2, "dim": f.dim, "warning": f.warning, "a": args.a, "b": args.b, "layout": args.layout, "split": args.split});
        let text = serde_json::to_string_pretty(&v).expect("json") + "\n";
        crate::files::atomic::write_atomic(out, text.as_bytes())?;
    }
    Ok(f)
}
