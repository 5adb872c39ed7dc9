//! Training runs end to end on small synthetic data: bytes identical across thread counts, exact
//! resume, refusal to mix runs, and a clear stop on a non-finite loss.
use crate::common;

use pad::data::Images;
use pad::model::checkpoint::{read_file, to_bytes};
use pad::train::{train, RunSpec, TrainError};
use std::collections::BTreeMap;
use std::path::Path;

fn images(n: usize, channels: usize) -> Vec<u8> {
    common::synthetic_images(n, channels)
}

fn spec(cond: &str, epochs: usize, nf: usize, nz: usize, batch: usize) -> RunSpec {
    common::run_spec(cond, epochs, nf, nz, batch)
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

fn with_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap().install(f)
}

#[test]
fn identical_bytes_with_one_two_three_and_seven_threads_at_paper_size() {
    // The paper's network (nf 64, nz 256), so every GEMM is large enough to be cut into tiles;
    // 3 and 7 threads do not divide the 16 tiles evenly (7 oversubscribes a 2-core machine).
    let data = images(48, 3);
    let imgs = Images::new(&data, 3).unwrap();
    let s = spec("pad", 1, 64, 256, 16);
    let one = tempfile::tempdir().unwrap();
    with_threads(1, || train(&s, imgs, one.path(), false)).unwrap();
    let fa = files(one.path());
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        vec!["epoch-0000.safetensors", "epoch-0001.safetensors", "losses.csv", "state.safetensors"]
    );
    for n in [2, 3, 7] {
        let other = tempfile::tempdir().unwrap();
        with_threads(n, || train(&s, imgs, other.path(), false)).unwrap();
        let fb = files(other.path());
        for (name, bytes) in &fa {
            assert!(bytes == &fb[name], "{name} differs between 1 and {n} threads");
        }
    }
    // And training did something.
    assert_ne!(fa["epoch-0000.safetensors"], fa["epoch-0001.safetensors"]);
}

/// Feature extraction (chunks encoded in parallel) gives the same z for any thread count.
#[test]
fn features_are_the_same_bytes_for_any_thread_count() {
    let data = images(150, 3);
    let imgs = Images::new(&data, 3).unwrap();
    let enc = pad::train::run::init_state(4, 3, 64, 256).enc;
    let z = |n: usize| {
        with_threads(n, || pad::eval::encode(&enc, imgs, None)).iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    let one = z(1);
    for n in [2, 3, 7] {
        assert!(z(n) == one, "z differs between 1 and {n} threads");
    }
}

#[test]
fn resumed_run_writes_the_same_bytes_as_an_uninterrupted_one() {
    let data = images(40, 1);
    let imgs = Images::new(&data, 1).unwrap();
    for cond in ["pad", "wo_rem"] {
        let (straight, resumed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        train(&spec(cond, 3, 8, 16, 8), imgs, straight.path(), false).unwrap();
        // "Killed" after epoch 1: only what an interrupted process leaves, plus a stray temp file.
        train(&spec(cond, 1, 8, 16, 8), imgs, resumed.path(), false).unwrap();
        std::fs::write(resumed.path().join(".state.safetensors.999.tmp"), b"half").unwrap();
        let r = train(&spec(cond, 3, 8, 16, 8), imgs, resumed.path(), false).unwrap();
        assert_eq!((r.resumed_from, r.epochs_done), (1, 3));
        std::fs::remove_file(resumed.path().join(".state.safetensors.999.tmp")).unwrap();
        let (fa, fb) = (files(straight.path()), files(resumed.path()));
        assert_eq!(fa.len(), fb.len());
        for (name, bytes) in &fa {
            assert!(bytes == &fb[name], "{cond}: {name} differs after resume");
        }
        let csv = String::from_utf8(fa["losses.csv"].clone()).unwrap();
        assert_eq!(csv.lines().count(), 4, "{csv}");
        // A finished run asked again does nothing and changes nothing.
        let r = train(&spec(cond, 3, 8, 16, 8), imgs, resumed.path(), false).unwrap();
        assert_eq!((r.resumed_from, r.epochs_done), (3, 3));
        assert_eq!(files(resumed.path()), fb);
    }
}

/// A run directory holding one finished epoch of pad (small networks) on `imgs`.
fn one_epoch_of_pad(imgs: Images) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    train(&spec("pad", 1, 4, 8, 8), imgs, dir.path(), false).unwrap();
    dir
}

#[test]
fn a_run_directory_of_another_run_is_refused_by_name() {
    let data = images(16, 1);
    let imgs = Images::new(&data, 1).unwrap();
    let dir = one_epoch_of_pad(imgs);
    let err = train(&spec("wo_nrem", 2, 4, 8, 8), imgs, dir.path(), false).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TrainError::Mismatch { .. }), "{msg}");
    assert!(msg.contains("state.safetensors") && msg.contains("condition") && msg.contains("wo_nrem"), "{msg}");
}

#[test]
fn non_finite_loss_stops_with_epoch_iteration_and_loss_and_keeps_the_last_checkpoint() {
    let data = images(16, 1);
    let imgs = Images::new(&data, 1).unwrap();
    let dir = one_epoch_of_pad(imgs);
    // Poison one weight of the saved state: the next epoch's first loss is NaN.
    let path = dir.path().join("state.safetensors");
    let mut f = read_file(&path).unwrap();
    f.tensors.get_mut("tconv4.0.bias").unwrap().1[0] = f32::NAN;
    let before = to_bytes(&f.tensors, &f.metadata);
    std::fs::write(&path, &before).unwrap();
    let err = train(&spec("pad", 2, 4, 8, 8), imgs, dir.path(), false).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TrainError::NonFinite { epoch: 2, iteration: 0, loss: "L_img", .. }), "{msg}");
    assert!(msg.contains("epoch 2") && msg.contains("L_img") && msg.contains("epoch 1"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the last good checkpoint must stay");
    assert!(!dir.path().join("epoch-0002.safetensors").exists());
}
