//! Every evaluation of one checkpoint, next to the untrained networks: occlusion sweep, latent
//! distances, PCA and dreams, written into OUT (CSV, JSON, SVG, PNG), with timings.
//!
//!   cargo run --release --example eval_checkpoint -- ARTIFACT CHECKPOINT OUT [--skip-sweep]
use pad::eval::cli::*;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 3 {
        return Err("usage: eval_checkpoint ARTIFACT CHECKPOINT OUT [--skip-sweep]".into());
    }
    let out = PathBuf::from(&a[2]);
    let model = |untrained: bool| ModelArgs { data: a[0].clone().into(), ckpt: Some(a[1].clone().into()), untrained, seed: 0, threads: None };
    let timed = |what: &str, f: &dyn Fn() -> Result<(), pad::eval::EvalError>| -> Result<(), pad::eval::EvalError> {
        let t = Instant::now();
        f()?;
        eprintln!("{what}: {:.1} s", t.elapsed().as_secs_f64());
        Ok(())
    };
    for (tag, untrained) in [("trained", false), ("untrained", true)] {
        let dir = out.join(tag);
        timed(&format!("distances ({tag})"), &|| run_distances(&DistancesArgs { model: model(untrained), split: "train".into(), out: Some(dir.join("distances.json")) }))?;
        timed(&format!("pca ({tag})"), &|| run_pca(&PcaArgs { model: model(untrained), samples: 1000, split: "test".into(), out: dir.clone() }))?;
        timed(&format!("dreams ({tag})"), &|| run_dreams(&DreamsArgs { model: model(untrained), n: 8, split: "train".into(), out: dir.clone() }))?;
        if !a.iter().any(|s| s == "--skip-sweep") {
            timed(&format!("occlusion ({tag})"), &|| run_occlusion(&OcclusionArgs { model: model(untrained), epochs: 20, lr: 0.2, out: Some(dir.join("occlusion.csv")) }))?;
        }
    }
    Ok(())
}
