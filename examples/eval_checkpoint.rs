//! Every evaluation of one checkpoint, next to the untrained networks: occlusion sweep, latent
//! distances, PCA and dreams, written into OUT (CSV, JSON, SVG, PNG), with timings.
//!
//!   cargo run --release --example eval_checkpoint -- ARTIFACT CHECKPOINT OUT [--skip-sweep] [--figures-only] [--probe-run]
use pad::eval::{standalone, ProbeConfig, ProbeOptions, SplitOptions, Subject};
use pad::report::figures::{
    accuracy_vs_epoch, accuracy_vs_occlusion, distance_ratio_bars, losses_per_epoch, write_svg, Colors, DistanceRatios,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn write(path: &Path, text: &str) -> Result<()> {
    Ok(pad::files::atomic::write_atomic(path, text.as_bytes())?)
}

/// The run's losses.csv as an SVG.
fn figure_losses(losses: &Path, out: &Path) -> Result<()> {
    let text = std::fs::read_to_string(losses)?;
    Ok(write_svg(out, &losses_per_epoch(&text, losses)?)?)
}

fn main() -> Result<()> {
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
        let ds = pad::data::load_artifact(Path::new(&a[0]))?;
        let train = pad::data::Images::new(&ds.train.images, ds.channels)?;
        let test = pad::data::Images::new(&ds.test.images, ds.channels)?;
        let rows = pad::eval::curves::probe_run(
            &run,
            1,
            (train, &ds.train.labels),
            (test, &ds.test.labels),
            ds.classes.len(),
            &ProbeConfig::default(),
        )?;
        write(&out.join("probe_run.csv"), &pad::eval::curves::curve_csv(&rows))?;
        let curve = rows.iter().map(|(e, h)| (*e as f64, h.test_acc)).collect();
        write_svg(
            &out.join("accuracy.svg"),
            &accuracy_vs_epoch(
                &[("linear separability (paper probe)".into(), vec![("pad".into(), vec![curve])])],
                &Colors::new(&["pad"]),
            ),
        )?;
        return Ok(());
    }
    if a.iter().any(|s| s == "--figures-only") {
        figure_losses(&PathBuf::from(&a[1]).with_file_name("losses.csv"), &out.join("losses.svg"))?;
        return figures(&out);
    }
    let subject = |untrained: bool| Subject {
        data: a[0].clone().into(),
        ckpt: (!untrained).then(|| a[1].clone().into()),
        seed: 0,
    };
    let timed = |what: &str, f: &dyn Fn() -> Result<()>| -> Result<()> {
        let t = Instant::now();
        f()?;
        eprintln!("{what}: {:.1} s", t.elapsed().as_secs_f64());
        Ok(())
    };
    for (tag, untrained) in [("trained", false), ("untrained", true)] {
        let dir = out.join(tag);
        let on = |split: &str| SplitOptions { subject: subject(untrained), split: split.into() };
        timed(&format!("distances ({tag})"), &|| {
            let d = standalone::distances(&on("train"))?;
            write(&dir.join("distances.json"), &(serde_json::to_string_pretty(&d)? + "\n"))
        })?;
        timed(&format!("pca ({tag})"), &|| Ok(standalone::pca_files(&on("test"), 1000, &dir).map(|_| ())?))?;
        timed(&format!("dreams ({tag})"), &|| Ok(standalone::dream_files(&on("train"), 8, &dir).map(|_| ())?))?;
        if !a.iter().any(|s| s == "--skip-sweep") {
            timed(&format!("occlusion ({tag})"), &|| {
                let o = ProbeOptions { subject: subject(untrained), epochs: 20, lr: 0.2, ridge_lambda: 1.0 };
                let rows = standalone::occlusion(&o)?;
                write(&dir.join("occlusion.csv"), &pad::eval::occlusion::sweep_csv(&rows))
            })?;
        }
    }
    // The run's losses.csv sits next to its checkpoints.
    let losses = PathBuf::from(&a[1]).with_file_name("losses.csv");
    if losses.exists() {
        figure_losses(&losses, &out.join("losses.svg"))?;
    }
    figures(&out)?;
    Ok(())
}

/// Fig. 5 and Fig. 6e,f panels comparing the trained and the untrained networks, from the files
/// written above.
fn figures(out: &Path) -> Result<()> {
    let tags = ["trained", "untrained"];
    // Per read-out (paper probe, ridge): each network's sweep.
    let mut sweeps = [Vec::new(), Vec::new()];
    let mut dists = Vec::new();
    for tag in tags {
        if let Ok(csv) = std::fs::read_to_string(out.join(tag).join("occlusion.csv")) {
            // p,test_loss,test_acc,test_acc_ref,ridge_acc: the curves are (p, test_acc), (p, ridge_acc).
            let rows: Vec<Vec<f64>> =
                csv.lines().skip(1).map(|l| l.split(',').map(|x| x.parse().unwrap_or(f64::NAN)).collect()).collect();
            for (k, col) in [2, 4].into_iter().enumerate() {
                let curve = rows.iter().map(|v| (v[0], v.get(col).copied().unwrap_or(f64::NAN))).collect();
                sweeps[k].push((tag.to_string(), vec![curve]));
            }
        }
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(tag).join("distances.json"))?)?;
        let f = |k: &str| j[k].as_f64().unwrap_or(f64::NAN);
        let d = DistanceRatios { intra_inter: f("ratio_intra_inter"), occluded_inter: f("ratio_occluded_inter") };
        dists.push((tag.to_string(), vec![d]));
    }
    let colors = Colors::new(&tags);
    if !sweeps[0].is_empty() {
        let [probe, ridge] = sweeps;
        let panels =
            [("paper probe under occlusion".to_string(), probe), ("ridge read-out under occlusion".into(), ridge)];
        write_svg(&out.join("occlusion.svg"), &accuracy_vs_occlusion(&panels, &colors))?;
    }
    write_svg(&out.join("distance_ratios.svg"), &distance_ratio_bars(&dists, &colors))?;
    Ok(())
}
