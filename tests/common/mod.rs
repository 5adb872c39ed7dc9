//! What several integration tests share: the experiment file of the tiny pipeline on the demo
//! slice shipped in data/demo (no network).
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
