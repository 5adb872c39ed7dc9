//! `pad bench`: the speed of one full PAD iteration (batch 64, 3x32x32, Wake + NREM + REM) and of
//! each phase, at several thread counts, next to the PyTorch CPU peer measured in the same run.
//! Machines are shared and noisy, so pad, the peer and the GEMM ceiling (engine::gemm on a large
//! square product, the yardstick of `--layers`) alternate, repetition by repetition, and the
//! report gives medians, their ratio and pad's share of the ceiling.
use crate::data::Images;
use crate::engine::rng::Stream;
use crate::model::{encoder::NF, NZ};
use crate::train::condition;
use crate::train::run::{init_state, EpochDraws};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub mod encode;
pub mod layers;

/// Multiply-adds of one iteration per phase (Wake, NREM, REM), counted as the PyTorch peer counts
/// them (a backward costs two forwards, one where no input gradient is needed).
pub fn iteration_macs(batch: usize, c: usize, nf: usize, nz: usize) -> [f64; 3] {
    let l: std::collections::HashMap<_, _> =
        layers::pad_layers(c, nf, nz).iter().map(|l| (l.name, l.macs(1))).collect();
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

/// Milliseconds of one call of `f`, median over `reps` after one warm-up call.
pub fn time_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut ms: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            1e3 * t.elapsed().as_secs_f64()
        })
        .collect();
    median(&mut ms)
}

/// `n` random CHANNELS x 32 x 32 u8 images from the bench stream `purpose`.
pub fn random_images(n: usize, purpose: &str) -> Vec<u8> {
    let mut rng = Stream::derive(0, purpose, 0);
    (0..n * CHANNELS * 1024).map(|_| (rng.next_u64() & 255) as u8).collect()
}

/// Images per iteration: the paper's batch.
pub const BATCH: usize = 64;
/// Channels of the benchmark's images (CIFAR-10's).
pub const CHANNELS: usize = 3;

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

/// ms per iteration and per phase (Wake, NREM, REM) of pad on `pool`, over `iters` timed
/// iterations after two warm-up ones. The pool is the caller's: it decides the floating-point mode
/// of the workers as every command does.
pub fn time_pad(pool: &rayon::ThreadPool, batch: usize, iters: usize) -> (f64, [f64; 3]) {
    pool.install(|| {
        let data = random_images(4 * batch, "bench");
        let images = Images::new(&data, CHANNELS).expect("whole images");
        let mut state = init_state(0, CHANNELS, NF, NZ);
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

/// The median (upper median for an even count); NaN for no values.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The PyTorch peer: a Python with torch and its PAD step script (../shared/bench/).
#[derive(Clone, Debug)]
pub struct Peer {
    pub python: PathBuf,
    pub script: PathBuf,
}

/// pad at one thread count, next to the peer at the same count when it ran.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub pad: Measurement,
    pub peer: Option<Measurement>,
    /// Why the peer has no measurement (not installed, or it failed).
    pub peer_error: Option<String>,
    /// engine::gemm on a `ceiling_n`^3 product at this thread count, GFLOP/s (median of one call
    /// per repetition, between pad's and the peer's), and that side n.
    pub ceiling_gflops: f64,
    pub ceiling_n: usize,
}

/// Medians over `reps` repetitions of `iters` timed iterations, per pool (one per thread count):
/// pad, the GEMM ceiling (a `ceiling_n` cube) and the peer alternate, repetition by repetition,
/// so that all three see the same machine load. The peer is not retried at a thread count once
/// it failed there.
pub fn compare(
    pools: &[rayon::ThreadPool],
    iters: usize,
    reps: usize,
    ceiling_n: usize,
    peer: Option<&Peer>,
) -> Vec<Comparison> {
    let flop = 2.0 * iteration_macs(BATCH, CHANNELS, NF, NZ).iter().sum::<f64>();
    let mut out = Vec::new();
    for pool in pools {
        let threads = pool.current_num_threads();
        let (mut pad_ms, mut pad_ph, mut peer_ms, mut peer_ph) = (vec![], vec![], vec![], vec![]);
        let (mut ceiling, mut peer_error) = (vec![], None);
        for _ in 0..reps {
            let (ms, ph) = time_pad(pool, BATCH, iters);
            pad_ms.push(ms);
            pad_ph.push(ph);
            ceiling.push(pool.install(|| layers::gemm_ceiling(ceiling_n, 1)));
            if let Some(p) = peer.filter(|_| peer_error.is_none()) {
                match time_peer(&p.python, &p.script, threads, iters) {
                    Ok((ms, ph)) => {
                        peer_ms.push(ms);
                        peer_ph.push(ph);
                    }
                    Err(e) => peer_error = Some(e),
                }
            }
        }
        let row = |name: &str, ms: &mut Vec<f64>, ph: &[[f64; 3]]| {
            let m = median(ms);
            Measurement {
                implementation: name.into(),
                threads,
                batch: BATCH,
                ms_per_iteration: m,
                images_per_s: BATCH as f64 / m * 1e3,
                gflops: flop / m / 1e6,
                phase_ms: Some([0, 1, 2].map(|i| median(&mut ph.iter().map(|p| p[i]).collect::<Vec<_>>()))),
                repetitions: ms.len(),
            }
        };
        let pad = row("pad", &mut pad_ms, &pad_ph);
        let peer = (!peer_ms.is_empty()).then(|| row("pytorch", &mut peer_ms, &peer_ph));
        let ceiling_gflops = median(&mut ceiling);
        out.push(Comparison { pad, peer, peer_error, ceiling_gflops, ceiling_n });
    }
    out
}
