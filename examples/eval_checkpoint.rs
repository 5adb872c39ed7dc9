//! Every evaluation of one checkpoint, next to the untrained networks: occlusion sweep, latent
//! distances, PCA and dreams, written into OUT (CSV, JSON, SVG, PNG), with timings.
//!
//!   cargo run --release --example eval_checkpoint -- ARTIFACT CHECKPOINT OUT [--skip-sweep] [--figures-only] [--probe-run]
use pad::eval::cli::*;
use pad::report::figures::{accuracy_vs_occlusion, distance_ratio_bars, write_svg, DistanceRatios};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 3 {
        return Err(
            "usage: eval_checkpoint ARTIFACT CHECKPOINT OUT [--skip-sweep] [--figures-only] [--probe-run]".into()
        );
    }
    let out = PathBuf::from(&a[2]);
    if a.iter().any(|s| s == "--probe-run") {
        // Fig. 4 for the checkpoint's whole run: probe every epoch, then the accuracy figure.
        let run = PathBuf::from(&a[1]).parent().map(Path::to_path_buf).unwrap_or_default();
        let csv = out.join("probe_run.csv");
        run_probe_run(&ProbeRunArgs { data: a[0].clone().into(), run, every: 1, seed: 0, out: Some(csv.clone()) })?;
        run_figure_accuracy(&FigureAccuracyArgs {
            curves: vec![format!("pad={}", csv.display())],
            title: "linear separability".into(),
            out: out.join("accuracy.svg"),
        })?;
        return Ok(());
    }
    if a.iter().any(|s| s == "--figures-only") {
        run_figure_losses(&FigureLossesArgs {
            losses: PathBuf::from(&a[1]).with_file_name("losses.csv"),
            out: out.join("losses.svg"),
        })?;
        return figures(&out);
    }
    let model = |untrained: bool| ModelArgs {
        data: a[0].clone().into(),
        ckpt: Some(a[1].clone().into()),
        untrained,
        seed: 0,
        threads: None,
    };
    let timed = |what: &str, f: &dyn Fn() -> Result<(), pad::eval::EvalError>| -> Result<(), pad::eval::EvalError> {
        let t = Instant::now();
        f()?;
        eprintln!("{what}: {:.1} s", t.elapsed().as_secs_f64());
        Ok(())
    };
    for (tag, untrained) in [("trained", false), ("untrained", true)] {
        let dir = out.join(tag);
        timed(&format!("distances ({tag})"), &|| {
            run_distances(&DistancesArgs {
                model: model(untrained),
                split: "train".into(),
                out: Some(dir.join("distances.json")),
            })
        })?;
        timed(&format!("pca ({tag})"), &|| {
            run_pca(&PcaArgs { model: model(untrained), samples: 1000, split: "test".into(), out: dir.clone() })
        })?;
        timed(&format!("dreams ({tag})"), &|| {
            run_dreams(&DreamsArgs { model: model(untrained), n: 8, split: "train".into(), out: dir.clone() })
        })?;
        if !a.iter().any(|s| s == "--skip-sweep") {
            timed(&format!("occlusion ({tag})"), &|| {
                run_occlusion(&OcclusionArgs {
                    model: model(untrained),
                    epochs: 20,
                    lr: 0.2,
                    out: Some(dir.join("occlusion.csv")),
                })
            })?;
        }
    }
    // The run's losses.csv sits next to its checkpoints.
    let losses = PathBuf::from(&a[1]).with_file_name("losses.csv");
    if losses.exists() {
        run_figure_losses(&FigureLossesArgs { losses, out: out.join("losses.svg") })?;
    }
    figures(&out)?;
    Ok(())
}

/// Fig. 5 and Fig. 6e,f panels comparing the trained and the untrained networks, from the files
/// written above.
fn figures(out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let tags = ["trained", "untrained"];
    let mut sweeps = Vec::new();
    let mut dists = Vec::new();
    for tag in tags {
        if let Ok(csv) = std::fs::read_to_string(out.join(tag).join("occlusion.csv")) {
            let rows = csv.lines().skip(1).map(|l| {
                let v: Vec<f64> = l.split(',').map(|x| x.parse().unwrap_or(f64::NAN)).collect();
                (v[0], v[2]) // p, test_acc
            });
            sweeps.push((tag.to_string(), vec![rows.collect()]));
        }
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(tag).join("distances.json"))?)?;
        let f = |k: &str| j[k].as_f64().unwrap_or(f64::NAN);
        let d = DistanceRatios { intra_inter: f("ratio_intra_inter"), occluded_inter: f("ratio_occluded_inter") };
        dists.push((tag.to_string(), vec![d]));
    }
    if !sweeps.is_empty() {
        write_svg(&out.join("occlusion.svg"), &accuracy_vs_occlusion("linear read-out under occlusion", &sweeps))?;
    }
    write_svg(&out.join("distance_ratios.svg"), &distance_ratio_bars(&dists))?;
    Ok(())
}
