//! What several integration tests share: the experiment file of the tiny pipeline on the demo
//! slice shipped in data/demo (no network), synthetic training images, synthetic Inception
//! weights, the golden tests' tolerance, and the check for a Slurm cluster.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The `[datasets.demo]` table: the Fashion-MNIST slice in data/demo, locked by sha256.
pub fn demo_dataset() -> String {
    format!(
        r#"
[datasets.demo]
source = "fashion-mnist"
mirror = "{ROOT}/data/demo"
download_dir = "{ROOT}/data/demo"
lock = "{ROOT}/data/demo/datasets.lock"
allow_unpublished = true
"#
    )
}

/// The `[profiles.tiny]` table: one epoch on 128 training images of the demo dataset.
pub fn tiny_profile(conditions: &str, seeds: &str) -> String {
    format!(
        r#"
[profiles.tiny]
datasets = ["demo"]
conditions = {conditions}
seeds = {seeds}
epochs = 1
limit_train = 128
"#
    )
}

/// `n` synthetic 32x32 images of `channels` channels, as u8: smooth blobs with per-image offsets,
/// enough structure for non-trivial gradients. The tests' fixed input, kept to the byte.
pub fn synthetic_images(n: usize, channels: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n * channels * 1024);
    for i in 0..n {
        for c in 0..channels {
            for y in 0..32 {
                for x in 0..32 {
                    let t = ((x * (i % 5 + 1) + y * (c + 2) + i * 7) % 64) as f64 / 64.0;
                    // 6.283, not TAU: changing it would change every image.
                    #[allow(clippy::approx_constant)]
                    let turn = 6.283;
                    v.push((128.0 + 120.0 * (t * turn).sin()) as u8);
                }
            }
        }
    }
    v
}

/// A training run of `cond` on the synthetic images: seed 3, `nf` base filters, latent `nz`.
pub fn run_spec(cond: &str, epochs: usize, nf: usize, nz: usize, batch: usize) -> pad::train::RunSpec {
    pad::train::RunSpec {
        condition: pad::train::condition(cond).unwrap().clone(),
        seed: 3,
        epochs,
        batch,
        dataset_id: "synthetic".into(),
        nf,
        nz,
    }
}

/// The golden tests' tolerance: relative to the largest magnitude of the reference tensor.
pub const GOLDEN_TOL: f64 = 1e-4;

/// Asserts |pad - torch| <= GOLDEN_TOL * scale for every element, scale = max |torch| over the
/// tensor (at least 1e-3), so that elements near zero are not held to a tighter absolute bound than
/// their neighbours. Elements listed in `unstable` (index, float64 value), where PyTorch's own
/// float32 and float64 runs disagree, are held instead to their float64 value within 4x PyTorch's
/// float32 error (+ the same GOLDEN_TOL * scale). Returns the largest relative error of the others.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], unstable: Option<&Vec<(usize, f64)>>) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, &v| m.max((v as f64).abs())).max(1e-3);
    let loose: std::collections::BTreeMap<usize, f64> =
        unstable.map(|u| u.iter().cloned().collect()).unwrap_or_default();
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (*g as f64, *w as f64);
        match loose.get(&i) {
            Some(&exact) => {
                let allowed = 4.0 * (w - exact).abs() + GOLDEN_TOL * scale;
                assert!((g - exact).abs() <= allowed, "{what}[{i}]: pad {g} vs float64 {exact} (PyTorch float32 {w})");
            }
            None => {
                let err = (g - w).abs() / scale;
                worst = worst.max(err);
                assert!(err <= GOLDEN_TOL, "{what}[{i}]: pad {g} vs PyTorch {w} (relative error {err:.2e})");
            }
        }
    }
    worst
}

/// Named tensors as a safetensors file at `path` (shapes and f32 values, no metadata).
pub fn write_tensors(path: &Path, tensors: &std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>) {
    std::fs::write(path, pad::model::checkpoint::to_bytes(tensors, &Default::default())).unwrap();
}

/// Inception-v3 weights made by the formula of tests/golden/make_fid_fixture.py
/// (`pad::eval::inception::synthetic`), as `dir/inception.safetensors`: every FID path runs with
/// them, though their FID values mean nothing.
pub fn synthetic_inception(dir: &Path) -> PathBuf {
    let path = dir.join("inception.safetensors");
    write_tensors(&path, &pad::eval::inception::synthetic::state_dict());
    path
}

/// Whether the Slurm cluster answers (asked once per test binary: sinfo takes about 9 s to give up
/// on a controller that is down). If not, says why on stderr (past the test harness's capture, so
/// a skip is seen) and returns false, unless PAD_REQUIRE_SLURM=1 (CI), which makes it a failure.
pub fn slurm_or_skip(test: &str) -> bool {
    static PROBE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let probe = PROBE.get_or_init(|| match pad::pipeline::slurm::cluster_info() {
        Ok(info) if info.split_whitespace().any(|w| w == "up") => Ok(()),
        Ok(info) => Err(format!("no partition is up: {info}")),
        Err(e) => Err(e.to_string()),
    });
    let Err(why) = probe else { return true };
    if std::env::var("PAD_REQUIRE_SLURM").as_deref() == Ok("1") {
        panic!("PAD_REQUIRE_SLURM=1 but slurm is not available: {why}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: slurm not available: {why} ({test})");
    false
}
