//! pad's FID stage against pytorch-fid and scipy (fixtures written by
//! tests/golden/make_fid_fixture.py, which documents the synthetic-weight formula repeated here).
use pad::engine::resize::resize_bilinear;
use pad::engine::Shape4;
use pad::eval::fid::{frechet_distance, Stats};
use pad::eval::inception::synthetic::{image, uniform};
use pad::eval::inception::{expected_tensors, is_ignorable, synthetic, to_network_input, InceptionV3, Layout, DIM};
use pad::eval::EvalError;
use pad::model::checkpoint::{read_file, TensorFile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

fn fixture() -> TensorFile {
    read_file(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/fid_fixture.safetensors"))
        .expect("fid fixture")
}

fn synth_state_dict() -> Tensors {
    synthetic::state_dict()
}

fn tensor<'a>(f: &'a TensorFile, name: &str) -> &'a [f32] {
    &f.tensors.get(name).unwrap_or_else(|| panic!("fixture lacks {name}")).1
}

/// max |a - b| / max |b|: the error relative to the feature vector's scale.
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs())) / scale
}

/// `tensors` as the file `dir/inception.safetensors`.
fn write_weights(dir: &Path, tensors: &Tensors) -> PathBuf {
    let p = dir.join("inception.safetensors");
    crate::common::write_tensors(&p, tensors);
    p
}

#[test]
fn synthetic_weights_follow_the_python_formula() {
    let f = fixture();
    let sd = synth_state_dict();
    for k in ["Conv2d_1a_3x3.conv.weight", "Mixed_6b.branch7x7_2.bn.running_var", "Mixed_7c.branch_pool.bn.bias"] {
        assert_eq!(&sd[k].1[..16], tensor(&f, &format!("check.{k}")), "{k}");
    }
}

#[test]
fn tensor_table_matches_pytorch_state_dicts() {
    let f = fixture();
    let expected: BTreeMap<String, Vec<usize>> = expected_tensors().into_iter().collect();
    for (key, layout) in [("fid_state_dict", Layout::Fid), ("torchvision_state_dict", Layout::Torchvision)] {
        let list: Vec<(String, Vec<usize>)> = serde_json::from_str(&f.metadata[key]).unwrap();
        let mut seen = 0;
        for (name, shape) in &list {
            match expected.get(name) {
                Some(s) => {
                    assert_eq!(s, shape, "{key}: {name}");
                    seen += 1;
                }
                None => assert!(is_ignorable(name, layout), "{key}: {name} is neither used nor ignorable"),
            }
        }
        assert_eq!(seen, expected.len(), "{key}: some expected tensors are absent");
    }
}

#[test]
fn fid_network_on_32px_images_matches_pytorch_fid() {
    let dir = tempfile::tempdir().unwrap();
    let net = InceptionV3::load(&write_weights(dir.path(), &synth_state_dict()), Layout::Fid).unwrap();
    let f = fixture();
    // Image 0 is RGB, image 1 grey: each goes through pool3 (resize to 299, replication).
    let rgb = net.pool3(&image("img32.rgb", 3 * 32 * 32), 1, 3, 32, 32).unwrap();
    let grey = net.pool3(&image("img32.grey", 32 * 32), 1, 1, 32, 32).unwrap();
    let want = tensor(&f, "fid_32px.features");
    let (e0, e1) = (rel_err(&rgb, &want[..DIM]), rel_err(&grey, &want[DIM..]));
    println!("fid 32px->299: max rel error {e0:.3e} (rgb), {e1:.3e} (grey)");
    assert!(e0 <= 1e-4 && e1 <= 1e-4);
}

#[test]
fn both_layouts_on_75px_images_match_pytorch() {
    let sd = synth_state_dict();
    let f = fixture();
    let x = image("img75", 2 * 3 * 75 * 75);
    let xs = Shape4 { c: 3, n: 2, h: 75, w: 75 };
    let cnhw = pad::engine::swap_leading_axes(&x, 2, 3, 75 * 75);
    for (layout, key) in [(Layout::Fid, "fid_75px.features"), (Layout::Torchvision, "torchvision_75px.features")] {
        let net = InceptionV3::from_state_dict(&sd, layout, Path::new("synthetic")).unwrap();
        let got = net.forward(&cnhw, xs).unwrap();
        let e = rel_err(&got, tensor(&f, key));
        println!("{layout} 75px: max rel error {e:.3e}");
        assert!(e <= 1e-4, "{layout}: {e}");
    }
}

#[test]
fn resize_matches_torch_interpolate() {
    let f = fixture();
    let (small, _) = resize_bilinear(&image("resize.small", 35), Shape4 { c: 1, n: 1, h: 5, w: 7 }, 11, 13);
    let e_small = rel_err(&small, tensor(&f, "resize.small"));
    let (big, _) = resize_bilinear(&image("resize.big", 2 * 32 * 32), Shape4 { c: 2, n: 1, h: 32, w: 32 }, 299, 299);
    let sample: Vec<f32> = big.iter().step_by(97).copied().collect();
    let e_big = rel_err(&sample, tensor(&f, "resize.32to299.sample"));
    println!("resize: max rel error {e_small:.3e} (5x7->11x13), {e_big:.3e} (32->299)");
    assert!(e_small <= 1e-6 && e_big <= 1e-6);
    // Grey input is replicated to three identical channel blocks.
    let g = to_network_input(&image("resize.small", 35), Shape4 { c: 1, n: 1, h: 5, w: 7 });
    assert_eq!(g.len(), 3 * 299 * 299);
    assert!(g[..299 * 299] == g[299 * 299..2 * 299 * 299] && g[..299 * 299] == g[2 * 299 * 299..]);
}

#[test]
fn bad_weight_files_list_every_problem_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut sd = synth_state_dict();
    sd.remove("Mixed_6b.branch7x7_2.conv.weight");
    sd.remove("Conv2d_1a_3x3.bn.running_var");
    sd.insert("Mixed_8x.branch1x1.conv.weight".into(), (vec![1], vec![0.0]));
    sd.insert("AuxLogits.fc.weight".into(), (vec![1], vec![0.0]));
    sd.get_mut("Mixed_7c.branch_pool.bn.bias").unwrap().0 = vec![96, 2];
    sd.insert("fc.weight".into(), (vec![1008, 2048], vec![0.0; 1008 * 2048]));
    let p = write_weights(dir.path(), &sd);
    let err = InceptionV3::load(&p, Layout::Fid).err().expect("must fail").to_string();
    for needle in [
        "Mixed_6b.branch7x7_2.conv.weight",
        "Conv2d_1a_3x3.bn.running_var",
        "Mixed_8x.branch1x1.conv.weight",
        "AuxLogits.fc.weight",
        "Mixed_7c.branch_pool.bn.bias: expected [192], found [96, 2]",
        "inception.safetensors",
    ] {
        assert!(err.contains(needle), "{needle} not in: {err}");
    }
    // fc.* is the classifier, which pool3 does not use: not reported.
    assert!(err.contains("unexpected (2)"), "{err}");
    // AuxLogits belongs to torchvision's layout: not reported there.
    let err_tv = InceptionV3::load(&p, Layout::Torchvision).err().unwrap().to_string();
    assert!(!err_tv.contains("AuxLogits"), "{err_tv}");
    assert!(matches!(InceptionV3::load(&dir.path().join("absent"), Layout::Fid), Err(EvalError::Io { .. })));
    std::fs::write(dir.path().join("junk"), b"not safetensors").unwrap();
    assert!(matches!(InceptionV3::load(&dir.path().join("junk"), Layout::Fid), Err(EvalError::Format { .. })));
}

#[test]
fn bad_images_are_errors_not_panics() {
    let net = InceptionV3::from_state_dict(&synth_state_dict(), Layout::Fid, Path::new("synthetic")).unwrap();
    assert!(net.pool3(&[0.0; 2 * 32 * 32], 1, 2, 32, 32).is_err());
    assert!(net.pool3(&[0.0; 10], 1, 3, 32, 32).is_err());
    assert!(net.forward(&[0.0; 3 * 40 * 40], Shape4 { c: 3, n: 1, h: 40, w: 40 }).is_err());
}

/// mu = 0.5 (2u - 1), sigma = B B^T / k with B [d, k] = 2u - 1 (the fixture script's formula).
fn formula_stats(tag: &str, d: usize, k: usize) -> Stats {
    let mu = uniform(&format!("{tag}.mu"), d).into_iter().map(|u| 0.5 * (2.0 * u - 1.0)).collect();
    let b: Vec<f64> = uniform(&format!("{tag}.B"), d * k).into_iter().map(|u| 2.0 * u - 1.0).collect();
    let mut sigma = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            sigma[i * d + j] = (0..k).map(|l| b[i * k + l] * b[j * k + l]).sum::<f64>() / k as f64;
        }
    }
    Stats { dim: d, n: 10_000, mu, sigma }
}

#[test]
fn frechet_distance_matches_scipy_sqrtm() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/frechet_fixture.json");
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in fx["cases"].as_array().unwrap() {
        let (name, d, k) = (
            case["name"].as_str().unwrap(),
            case["dim"].as_u64().unwrap() as usize,
            case["k"].as_u64().unwrap() as usize,
        );
        let want = case["fid"].as_f64().unwrap();
        let got =
            frechet_distance(&formula_stats(&format!("{name}.1"), d, k), &formula_stats(&format!("{name}.2"), d, k))
                .unwrap();
        let rel = (got.fid - want).abs() / want.abs();
        println!("frechet {name}: pad {} scipy {want} rel {rel:.3e}", got.fid);
        assert!(rel <= 1e-6, "{name}: {} vs {want}", got.fid);
        assert_eq!(got.n1, 10_000);
    }
}
