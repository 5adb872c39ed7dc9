//! What several integration tests share: the experiment file of the tiny pipeline on the demo
//! slice shipped in data/demo (no network), and synthetic training images.
#![allow(dead_code)] // each test binary uses its own part

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
