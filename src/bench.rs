//! `pad bench`: the speed of one full PAD iteration (batch 64, 3x32x32, Wake + NREM + REM) and of
//! each phase, at several thread counts, next to the PyTorch CPU peer measured in the same run.
//! Machines are shared and noisy, so pad and the peer alternate, repetition by repetition, and
//! the report gives medians and their ratio.
use crate::data::{Images, PLANE};
use crate::engine::rng::Stream;
use crate::model::{NF, NZ};
use crate::train::condition;
use crate::train::run::{init_state, EpochDraws};
use serde::Serialize;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Forward multiply-adds of the PAD networks per image, by layer (conv: HWout*Cout*Cin*k*k;
/// transposed conv: HWin*Cin*Cout*k*k).
fn layer_macs(c: usize, nf: usize, nz: usize) -> [(&'static str, f64); 9] {
    let m = |hw: usize, ci: usize, co: usize| (hw * hw * ci * co * 16) as f64;
    [
        ("conv1", m(16, c, nf)),
        ("conv2", m(8, nf, nf * 2)),
        ("conv3", m(4, nf * 2, nf * 4)),
        ("conv4", m(1, nf * 4, nz)),
        ("dis", m(1, nf * 4, 1)),
        ("tconv1", m(1, nz, nf * 4)),
        ("tconv2", m(4, nf * 4, nf * 2)),
        ("tconv3", m(8, nf * 2, nf)),
        ("tconv4", m(16, nf, c)),
    ]
}

/// Multiply-adds of one iteration per phase (Wake, NREM, REM), counted as the PyTorch peer counts
/// them (a backward costs two forwards, one where no input gradient is needed).
pub fn iteration_macs(batch: usize, c: usize, nf: usize, nz: usize) -> [f64; 3] {
    let l: std::collections::HashMap<_, _> = layer_macs(c, nf, nz).into_iter().collect();
    let b = batch as f64;
    let e_fwd = l["conv1"] + l["conv2"] + l["conv3"] + l["conv4"] + l["dis"];
    let g_fwd = l["tconv1"] + l["tconv2"] + l["tconv3"] + l["tconv4"];
    let trunk_bwd = 2.0 * (l["conv3"] + l["conv2"]) + l["conv1"];
    let g_bwd_all = 2.0 * g_fwd;
    let wake = e_fwd + g_fwd + g_bwd_all + 2.0 * (l["dis"] + l["conv4"]) + trunk_bwd;
    let nrem = e_fwd + g_fwd + 2.0 * l["conv4"] + trunk_bwd;
    let rem = e_fwd
        + g_fwd
        + 2.0 * (l["dis"] + l["conv3"] + l["conv2"] + l["conv1"])
        + l["tconv1"]
        + 2.0 * (l["tconv2"] + l["tconv3"] + l["tconv4"]);
    [wake * b, nrem * b, rem * b]
}

#[derive(Serialize, Debug, Clone)]
pub struct Measurement {
    pub implementation: String,
    pub threads: usize,
    pub batch: usize,
    pub ms_per_iteration: f64,
    pub images_per_s: f64,
    pub gflops: f64,
    pub phase_ms: Option<[f64; 3]>,
    pub repetitions: usize,
}

/// Median ms per iteration (and per phase) of pad at `threads`, over `reps` repetitions of `iters`.
pub fn time_pad(threads: usize, batch: usize, iters: usize) -> (f64, [f64; 3]) {
    let pool = if std::env::var_os("PAD_KEEP_DENORMALS").is_some() {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool")
    } else {
        crate::engine::fpmode::thread_pool(Some(threads))
    };
    pool.install(|| {
        let mut rng = Stream::derive(0, "bench", 0);
        let data: Vec<u8> = (0..4 * batch * 3 * PLANE).map(|_| (rng.next_u64() & 255) as u8).collect();
        let images = Images::new(&data, 3).expect("whole images");
        let mut state = init_state(0, 3, NF, NZ);
        let mut draws = EpochDraws::new(0, 1, batch, NZ);
        let cond = condition("pad").expect("pad exists");
        let idx = |i: usize| ((i % 4) * batch..(i % 4 + 1) * batch).collect::<Vec<_>>();
        for i in 0..2 {
            let (x, xs) = images.batch(&idx(i));
            state.step(&cond, &x, xs, &draws.next(), i == 0);
        }
        state.phase_seconds = [0.0; 3];
        let t = Instant::now();
        for i in 0..iters {
            let (x, xs) = images.batch(&idx(i));
            state.step(&cond, &x, xs, &draws.next(), false);
        }
        let ms = 1e3 * t.elapsed().as_secs_f64() / iters as f64;
        (ms, state.phase_seconds.map(|s| 1e3 * s / iters as f64))
    })
}

/// The PyTorch peer's ms per iteration, or None (with the reason) if it cannot run here.
pub fn time_peer(python: &Path, script: &Path, threads: usize, iters: usize) -> Result<(f64, [f64; 3]), String> {
    if !python.exists() || !script.exists() {
        return Err(format!(
            "PyTorch peer not found ({} / {}); see ../shared/bench/README.md",
            python.display(),
            script.display()
        ));
    }
    let out = Command::new(python)
        .arg(script)
        .args(["bench", "--threads", &threads.to_string(), "--iters", &iters.to_string(), "--warmup", "2"])
        .output()
        .map_err(|e| format!("running {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!("peer failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
    let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("peer output {line:?}: {e}"))?;
    let ph = |k: &str| v["phase_ms"][k].as_f64().unwrap_or(f64::NAN);
    Ok((v["ms_per_iter"].as_f64().unwrap_or(f64::NAN), [ph("wake"), ph("nrem"), ph("rem")]))
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
