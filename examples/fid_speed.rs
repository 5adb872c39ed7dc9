//! Speed of the FID stage: images/s of the Inception-v3 forward (299 x 299, pool3) at 1 and 2
//! threads, next to PyTorch CPU (pytorch-fid's network, scripts/fid_speed_torch.py) in the same
//! run, plus the f64 statistics and Fréchet distance at 2048 dims; estimates the minutes for the
//! FID of 10,000 generated images.
//!
//!   cargo run --release --example fid_speed -- [BATCH] [ITERS]
//!   PAD_FID_PYTHON=/path/to/python (with torch, torchvision, pytorch-fid) adds the PyTorch column.
use pad::engine::Shape4;
use pad::eval::fid::{frechet_distance, StatsBuilder};
use pad::eval::inception::{synthetic, InceptionV3, Layout, DIM, SIDE};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn pad_img_per_s(net: &InceptionV3, threads: usize, batch: usize, iters: usize) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    let xs = Shape4 { c: 3, n: batch, h: SIDE, w: SIDE };
    let x = synthetic::image("speed", xs.len());
    pool.install(|| {
        net.forward(&x, xs).expect("forward");
        let t = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(net.forward(&x, xs).expect("forward"));
        }
        (batch * iters) as f64 / t.elapsed().as_secs_f64()
    })
}

fn torch_img_per_s(python: &str, threads: usize, batch: usize, iters: usize) -> Result<f64, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fid_speed_torch.py");
    let out = Command::new(python)
        .arg(&script)
        .args([threads, batch, iters].map(|v| v.to_string()))
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed").to_string());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    v["img_per_s"].as_f64().ok_or_else(|| "no img_per_s".into())
}

/// Seconds to accumulate statistics of `n` feature rows and to compute one 2048-d distance.
fn linalg_seconds(n: usize) -> (f64, f64) {
    let rows = synthetic::image("features", n * DIM);
    let t = Instant::now();
    let mut b = StatsBuilder::new(DIM);
    for chunk in rows.chunks(500 * DIM) {
        b.add(chunk).expect("finite");
    }
    let s = b.finish().expect("stats");
    let stats_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let f = frechet_distance(&s, &s).expect("distance");
    std::hint::black_box(f);
    (stats_s, t.elapsed().as_secs_f64())
}

fn main() {
    pad::engine::alloc::keep_freed_memory();
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (batch, iters) = (args.first().copied().unwrap_or(8), args.get(1).copied().unwrap_or(2));
    let net =
        InceptionV3::from_state_dict(&synthetic::state_dict(), Layout::Fid, Path::new("synthetic")).expect("network");
    let python = std::env::var("PAD_FID_PYTHON").ok();
    println!("Inception-v3 pool3 forward, 299x299, batch {batch}, {iters} timed batches");
    println!("threads  pad img/s  torch img/s");
    let mut pad2 = 0.0;
    for threads in [1, 2] {
        let p = pad_img_per_s(&net, threads, batch, iters);
        pad2 = p;
        let t = match &python {
            Some(py) => torch_img_per_s(py, threads, batch, iters)
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|e| format!("error: {e}")),
            None => "(set PAD_FID_PYTHON)".into(),
        };
        println!("{threads:>7}  {p:>9.2}  {t}");
    }
    let (stats_s, dist_s) = linalg_seconds(2500);
    println!("statistics of 2,500 x 2048 features: {stats_s:.2} s; Fréchet distance at 2048 dims: {dist_s:.2} s");
    let minutes = (10_000.0 / pad2 + 4.0 * stats_s + dist_s) / 60.0;
    println!("estimate, FID of 10,000 generated images on 2 threads (real-image statistics cached): {minutes:.1} min");
}
