//! The same bytes on every CPU, not only for every thread count: short training runs and a
//! feature extraction are hashed and compared with the hashes written down below.
//!
//! The runs cover every kernel family: the paper's network (its middle layers on engine::direct,
//! whose AVX-512, AVX2 and plain tiles are interchangeable; its first and last layers and heads on
//! engine::gemm, whose tiles go to the `gemm` crate or to pad's own chains), a small network on
//! engine::gemm alone (the golden tests' size), and the encoder's inference path
//! (engine::implicit_gemm on AVX-512 CPUs, im2col + engine::gemm elsewhere).
//!
//! These hashes were written on an AMD EPYC with AVX2 (no AVX-512) at 5575383; this test passing
//! on an Intel Xeon with AVX-512 is what says results/ is reproduced across the two. If it fails
//! after a change that moves bytes on purpose, bump the versions of the stages that run the
//! networks (docs/correctness.md, Determinism; docs/stages.md) and write the new hashes here; if it fails on another CPU
//! with no change, that CPU computes something differently: a bug.
use crate::common;

use pad::data::Images;
use pad::train::{train, RunSpec};
use sha2::{Digest, Sha256};
use std::path::Path;

/// (what, sha256) as written on the machine named above.
const WANT: [(&str, &str); 3] = [
    ("paper-size run", "e103cb145ea572b0dfb3eae6e61a2c33dc17e2db50bfe516c45f27c5f4dfa859"),
    ("small run", "3ab91d18d32e7cb2cdce47ab654ec1dd7bbb7f5ac2f8ba53480105301b8bd12f"),
    ("paper-size features", "67580e60d3ba7c943d7173431452cd9c85deb517a0343b5e80ddc8e3facec367"),
];

fn images(n: usize, channels: usize) -> Vec<u8> {
    common::synthetic_images(n, channels)
}

fn spec(epochs: usize, nf: usize, nz: usize, batch: usize) -> RunSpec {
    common::run_spec("pad", epochs, nf, nz, batch)
}

/// sha256 over a run directory's files in name order (name, then bytes).
fn hash_dir(dir: &Path) -> String {
    let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    let mut h = Sha256::new();
    for p in names {
        h.update(p.file_name().unwrap().to_string_lossy().as_bytes());
        h.update(std::fs::read(&p).unwrap());
    }
    format!("{:x}", h.finalize())
}

fn hash_run(channels: usize, epochs: usize, nf: usize, nz: usize, batch: usize) -> String {
    let data = images(48, channels);
    let imgs = Images::new(&data, channels).unwrap();
    let dir = tempfile::tempdir().unwrap();
    train(&spec(epochs, nf, nz, batch), imgs, dir.path(), false).unwrap();
    hash_dir(dir.path())
}

fn hash_features() -> String {
    let data = images(150, 3);
    let imgs = Images::new(&data, 3).unwrap();
    let enc = pad::train::run::init_state(4, 3, 64, 256).enc;
    let z = pad::eval::encode(&enc, imgs, None);
    let mut h = Sha256::new();
    z.iter().for_each(|v| h.update(v.to_le_bytes()));
    format!("{:x}", h.finalize())
}

#[test]
fn training_and_features_give_the_bytes_written_down() {
    let got = [hash_run(3, 1, 64, 256, 16), hash_run(1, 2, 8, 16, 8), hash_features()];
    let differ: Vec<String> = WANT
        .iter()
        .zip(&got)
        .filter(|((_, want), got)| want != got)
        .map(|((what, want), got)| format!("{what}: written down {want}, this CPU {got}"))
        .collect();
    assert!(
        differ.is_empty(),
        "bytes differ from those written down in tests/numerics/cross_cpu.rs (see its header):\n{}",
        differ.join("\n")
    );
}
