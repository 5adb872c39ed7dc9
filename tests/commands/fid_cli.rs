//! `pad fid` end to end on tiny synthetic data: artifacts in, cached statistics, JSON out; and
//! batching does not change features.
use pad::data::{write_artifact, Dataset, Split};
use pad::eval::fid_sets::{fid_of_sets, FidOptions};
use pad::eval::inception::{synthetic, InceptionV3, Layout, BATCH, DIM};
use std::path::Path;

fn split(tag: &str, n: usize, channels: usize) -> Split {
    let images = synthetic::image(tag, n * channels * 32 * 32).into_iter().map(|v| ((v + 1.0) * 127.5) as u8).collect();
    Split { images, labels: vec![0; n], n }
}

#[test]
fn fid_between_two_artifacts_caches_statistics_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let weights = crate::common::synthetic_inception(dir.path());
    let art = |name: &str, channels: usize| {
        let p = dir.path().join(format!("{name}.safetensors"));
        let ds = Dataset {
            name: name.into(),
            channels,
            classes: vec!["x".into()],
            train: split(&format!("{name}.train"), 3, channels),
            test: split(&format!("{name}.test"), 1, channels),
        };
        write_artifact(&ds, &p).unwrap();
        p
    };
    let (a, b) = (art("grey", 1), art("rgb", 3));
    let json = dir.path().join("out/fid.json");
    let args = FidOptions {
        a: a.clone(),
        b: b.clone(),
        inception: Some(weights.clone()),
        layout: Layout::Fid,
        split: "train".into(),
        n: 3,
        cache: dir.path().join("cache"),
        json: Some(json.clone()),
    };
    let f = fid_of_sets(&args).unwrap();
    assert!(f.fid.is_finite() && f.fid > 0.0);
    assert_eq!((f.n1, f.n2, f.dim), (3, 3, DIM));
    assert!(f.warning.is_some(), "3 samples must warn");
    let cached: Vec<_> = std::fs::read_dir(dir.path().join("cache")).unwrap().collect();
    assert_eq!(cached.len(), 2);
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(written["n1"], 3);
    // Second run: side A from its statistics file directly, side B from the cache; same value.
    let stats_a =
        cached.iter().map(|e| e.as_ref().unwrap().path()).find(|p| p.to_string_lossy().contains("grey")).unwrap();
    assert_eq!(fid_of_sets(&FidOptions { a: stats_a, ..args.clone() }).unwrap().fid, f.fid);
    // Asking for more images than the split has is an error, not a panic.
    assert!(fid_of_sets(&FidOptions { n: 4, cache: dir.path().join("cache2"), ..args.clone() }).is_err());
    assert!(fid_of_sets(&FidOptions { inception: None, cache: dir.path().join("cache3"), ..args }).is_err());
}

#[test]
fn batching_does_not_change_features() {
    let net = InceptionV3::from_state_dict(&synthetic::state_dict(), Layout::Fid, Path::new("synthetic")).unwrap();
    let n = BATCH + 1;
    let x = synthetic::image("batching", n * 3 * 32 * 32);
    let all = net.pool3(&x, n, 3, 32, 32).unwrap();
    let per = 3 * 32 * 32;
    for i in [0, n - 1] {
        let one = net.pool3(&x[i * per..(i + 1) * per], 1, 3, 32, 32).unwrap();
        let scale = one.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = one.iter().zip(&all[i * DIM..(i + 1) * DIM]).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err <= 1e-5 * scale, "image {i}: {err}");
    }
}

#[test]
fn a_cnhw_batch_larger_than_batch_is_split_without_mixing_images() {
    let net = InceptionV3::from_state_dict(&synthetic::state_dict(), Layout::Fid, Path::new("synthetic")).unwrap();
    let n = 2 * BATCH + 1;
    let (c, plane) = (3, 32 * 32);
    let nchw = synthetic::image("cnhw-split", n * c * plane);
    // NCHW -> CNHW
    let mut cnhw = vec![0.0f32; nchw.len()];
    for i in 0..n {
        for ch in 0..c {
            cnhw[(ch * n + i) * plane..][..plane].copy_from_slice(&nchw[(i * c + ch) * plane..][..plane]);
        }
    }
    let all = net.pool3_cnhw(&cnhw, pad::engine::Shape4 { c, n, h: 32, w: 32 }).unwrap();
    assert_eq!(all.len(), n * DIM);
    for i in [0, BATCH, n - 1] {
        let one = net.pool3(&nchw[i * c * plane..(i + 1) * c * plane], 1, c, 32, 32).unwrap();
        let scale = one.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = one.iter().zip(&all[i * DIM..(i + 1) * DIM]).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err <= 1e-5 * scale, "image {i}: {err}");
    }
}
