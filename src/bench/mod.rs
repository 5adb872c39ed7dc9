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
pub mod inception;
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
    let stdout = run_peer(
        python,
        script,
        &["bench", "--threads", &threads.to_string(), "--iters", &iters.to_string(), "--warmup", "2"],
    )?;
    let line = stdout.lines().last().unwrap_or_default().to_string();
    let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("peer output {line:?}: {e}"))?;
    let ph = |k: &str| v["phase_ms"][k].as_f64().unwrap_or(f64::NAN);
    Ok((v["ms_per_iter"].as_f64().unwrap_or(f64::NAN), [ph("wake"), ph("nrem"), ph("rem")]))
}

/// MKL's sgemm through the peer's PyTorch (`torch_pad.py gemm`: torch.mm on an n x n x n product,
/// median of 3 calls after 3 warm-up ones), GFLOP/s: the yardstick pad's own ceiling is checked
/// against, so that a weak kernel cannot make pad's share of its ceiling look good.
pub fn time_peer_gemm(python: &Path, script: &Path, threads: usize, n: usize) -> Result<f64, String> {
    let args = ["gemm", "--n", &n.to_string(), "--threads-list", &threads.to_string(), "--reps", "3"];
    peer_gemm_gflops(&run_peer(python, script, &args)?)
}

/// The peer's script run with `args`: its standard output, or why it could not run.
fn run_peer(python: &Path, script: &Path, args: &[&str]) -> Result<String, String> {
    if !python.exists() || !script.exists() {
        return Err(format!(
            "PyTorch peer not found ({} / {}); see docs/performance.md (scripts/setup-torch.sh)",
            python.display(),
            script.display()
        ));
    }
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .map_err(|e| format!("running {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!("peer {} failed: {}", args[0], String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The torch.mm line of `torch_pad.py gemm`'s output: its median GFLOP/s.
fn peer_gemm_gflops(stdout: &str) -> Result<f64, String> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["op"].as_str().is_some_and(|op| op.starts_with("torch.mm")))
        .and_then(|v| v["gflops_median"].as_f64())
        .filter(|g| g.is_finite() && *g > 0.0)
        .ok_or_else(|| format!("peer gemm printed no torch.mm line with gflops_median: {stdout:?}"))
}

/// The median (upper median for an even count); NaN for no values.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The PyTorch peer: a Python with torch and its PAD step script (scripts/torch_pad.py).
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
    /// MKL's sgemm (the peer's torch.mm) on the same cube at this thread count, GFLOP/s (median of
    /// one call per repetition, after the peer's iterations), when the peer ran.
    pub mkl_gflops: Option<f64>,
}

/// Medians over `reps` repetitions of `iters` timed iterations, per pool (one per thread count):
/// pad, the GEMM ceiling (a `ceiling_n` cube), the peer and MKL's sgemm on the same cube
/// alternate, repetition by repetition, so that all see the same machine load. The peer is not
/// retried at a thread count once it (or its sgemm) failed there.
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
        let (mut ceiling, mut mkl, mut peer_error) = (vec![], vec![], None);
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
                match time_peer_gemm(&p.python, &p.script, threads, ceiling_n) {
                    Ok(g) => mkl.push(g),
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
        let mkl_gflops = (!mkl.is_empty()).then(|| median(&mut mkl));
        out.push(Comparison { pad, peer, peer_error, ceiling_gflops, ceiling_n, mkl_gflops });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_gemm_line_is_read_and_anything_else_is_an_error() {
        let out = concat!(
            "threads: 2\n",
            r#"{"op": "torch.mm (BLAS)", "threads": 2, "n": 2048, "gflops_best": 188.6, "gflops_median": 186.4}"#,
            "\n",
            r#"{"op": "conv2d 1x1 (oneDNN)", "threads": 2, "n": 2048, "gflops_median": 150.0}"#,
            "\n"
        );
        assert_eq!(peer_gemm_gflops(out), Ok(186.4));
        for bad in [
            "",
            "not json",
            r#"{"op": "conv2d 1x1 (oneDNN)", "gflops_median": 150.0}"#,
            r#"{"op": "torch.mm (BLAS)", "gflops_median": 0}"#,
        ] {
            assert!(peer_gemm_gflops(bad).is_err(), "{bad:?}");
        }
    }
}
