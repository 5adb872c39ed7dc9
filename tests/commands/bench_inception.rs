//! `pad bench --inception` on the smallest settings (one pass, one repetition, a 64-cube ceiling):
//! the table's rows and columns, its FLOP account against a hand count, the weights file read,
//! and the PyTorch peer's column from a stand-in peer (a shell script answering as
//! scripts/torch_pad.py does) or its absence said. Nothing here asserts a time.
use pad::eval::inception::STAGES;
use std::path::Path;
use std::process::Command;

/// The table's rows: the stem's five convolutions and the eleven mixed blocks in forward order,
/// the pools, the total.
fn expected_rows() -> Vec<&'static str> {
    let named = |s: &&str| s.starts_with("Conv2d_") || s.starts_with("Mixed_");
    let rows: Vec<&str> = STAGES.iter().copied().filter(named).chain(["pools", "all"]).collect();
    assert_eq!(rows.len(), 18);
    rows
}

/// Conv2d_1a_3x3 at the bench's batch of 2: 3 x 3 x 3 -> 32 channels on 149 x 149 outputs.
const CONV_1A_GFLOP: f64 = 2.0 * (3 * 3 * 3 * 32 * 149 * 149 * 2) as f64 / 1e9;

/// `pad bench --inception [WEIGHTS] ... EXTRA`, which must succeed: its standard output.
fn bench(dir: &Path, weights: Option<&Path>, extra: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_pad"))
        .args(["bench", "--inception"])
        .args(weights)
        .args(["--threads", "1", "--iters", "1", "--reps", "1", "--ceiling-n", "64"])
        .args(extra)
        .current_dir(dir)
        .env_remove("PAD_PEER_PYTHON")
        .env_remove("PAD_PEER_SCRIPT")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "pad bench {extra:?}: {}\n{out}", String::from_utf8_lossy(&o.stderr));
    out
}

/// The table's rows: first column the stage, then GFLOP, ms, share of the pass, GFLOP/s, share of
/// the ceiling.
fn rows(out: &str) -> Vec<Vec<String>> {
    let head = out.lines().position(|l| l.split_whitespace().next() == Some("stage")).expect("a header row");
    let header: Vec<&str> = out.lines().nth(head).unwrap().split_whitespace().collect();
    assert_eq!(header, ["stage", "GFLOP", "ms", "time", "GFLOP/s", "%"]);
    out.lines()
        .skip(head + 1)
        .take(expected_rows().len())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

#[test]
fn the_table_has_a_row_per_stage_and_the_peer_column() {
    let dir = tempfile::tempdir().unwrap();
    let peer = dir.path().join("peer.sh");
    std::fs::write(
        &peer,
        r#"echo "$@" >> "$(dirname "$0")/calls"
case "$1" in
  inception) echo '{"threads": 1, "batch": 2, "img_per_s": 2.5}';;
  gemm) echo '{"op": "torch.mm (BLAS)", "threads": 1, "n": 64, "gflops_median": 100.0}';;
  *) exit 1;;
esac
"#,
    )
    .unwrap();
    let out = bench(dir.path(), None, &["--peer-python", "/bin/sh", "--peer-script", peer.to_str().unwrap()]);
    let rows = rows(&out);
    assert_eq!(rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), expected_rows(), "{out}");
    for r in &rows {
        assert_eq!(r.len(), 6, "{r:?}");
        let ms: f64 = r[2].parse().unwrap();
        assert!(ms > 0.0, "{r:?}");
        assert!(r[3].ends_with('%'), "{r:?}");
    }
    assert_eq!(rows[0][1], format!("{CONV_1A_GFLOP:.3}"));
    assert_eq!(rows[16][1..], ["-".to_string(), rows[16][2].clone(), rows[16][3].clone(), "-".into(), "-".into()]);
    let sum: f64 = rows[..16].iter().map(|r| r[1].parse::<f64>().unwrap()).sum();
    let all: f64 = rows[17][1].parse().unwrap();
    assert!((sum - all).abs() < 0.01, "{sum} against {all}");
    assert!(out.contains("pytorch      2.50 img/s"), "{out}");
    assert!(out.contains("x PyTorch's speed at 1 thread(s)"), "{out}");
    assert!(out.contains("of MKL's sgemm (100.0 GFLOP/s"), "{out}");
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        ["inception --threads 1 --batch 2 --iters 1", "gemm --n 64 --threads-list 1 --reps 3"]
    );
}

#[test]
fn json_counts_flop_by_hand_and_reads_a_weights_file() {
    let dir = tempfile::tempdir().unwrap();
    let weights = crate::common::synthetic_inception(dir.path());
    let out = bench(dir.path(), Some(&weights), &["--no-peer", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["weights"], weights.display().to_string());
    assert_eq!((v["threads"].as_u64(), v["batch"].as_u64(), v["side"].as_u64()), (Some(1), Some(2), Some(299)));
    let rows = v["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["row"].as_str().unwrap()).collect();
    assert_eq!(names, expected_rows()[..17]);
    assert_eq!(rows[0]["gflop"].as_f64(), Some(CONV_1A_GFLOP));
    assert_eq!(rows[16]["gflop"].as_f64(), Some(0.0));
    let sum: f64 = rows.iter().map(|r| r["gflop"].as_f64().unwrap()).sum();
    let total = v["gflop_per_forward"].as_f64().unwrap();
    assert!((sum - total).abs() < 1e-9 * total, "{sum} against {total}");
    // Inception-v3's 5.71 G multiply-adds per 299 x 299 image, twice.
    assert!((total - 2.0 * 2.0 * 5.71).abs() < 0.05, "{total}");
    assert!(v["pytorch_images_per_s"].is_null() && v["peer_error"].is_null(), "{v}");
}

#[test]
fn without_a_python_the_table_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(dir.path(), None, &["--peer-python", dir.path().join("no-python").to_str().unwrap()]);
    assert!(out.contains("pytorch  not measured: PyTorch peer not found"), "{out}");
    assert_eq!(rows(&out).len(), expected_rows().len());
    assert!(!out.contains("PyTorch's speed"), "{out}");
}
