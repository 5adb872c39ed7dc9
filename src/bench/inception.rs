//! `pad bench --inception`: the speed of the FID stages' network, Inception-v3's forward pass to
//! pool3 (299 x 299 images, `inception::BATCH` at a time, as `eval::fid` feeds it), as images/s,
//! GFLOP/s and share of the GEMM ceiling, next to pytorch-fid's network on PyTorch (the peer
//! script's `inception` subcommand), and per stage of the network, so that one sees where a pass
//! goes. pad, the ceiling, the peer and MKL's sgemm alternate repetition by repetition, as in the
//! iteration's comparison, and the report gives medians.
//!
//! FLOP are counted from `conv_defs()`: 2 kh kw cin cout oh ow per convolution and image. Pools,
//! concatenations and the ReLUs are not counted; their time is in their stage's.
use super::layers::gemm_ceiling;
use super::{median, run_peer, time_peer_gemm, Peer};
use crate::engine::Shape4;
use crate::eval::error::EvalError;
use crate::eval::fid::{frechet_distance, StatsBuilder};
use crate::eval::inception::{conv_defs, synthetic, ConvDef, InceptionV3, BATCH, DIM, SIDE, STAGES};
use serde::Serialize;
use std::time::Instant;

/// The stages of `STAGES` that are pools, with no convolution: the stem's two max pools and the
/// head's average pool. The table counts them in one row.
pub const POOLS: [&str; 3] = ["maxpool1", "maxpool2", "avgpool"];

/// The table's rows: one per stem convolution and per mixed block, in forward order, then "pools".
pub fn rows() -> Vec<&'static str> {
    STAGES.iter().copied().filter(|s| !POOLS.contains(s)).chain(["pools"]).collect()
}

/// The row a stage of `STAGES` is counted in.
pub fn row_of(stage: &'static str) -> &'static str {
    if POOLS.contains(&stage) {
        "pools"
    } else {
        stage
    }
}

/// The stage a convolution of `conv_defs()` runs in: its block's prefix, or its own name in the stem.
pub fn stage_of(conv: &str) -> &str {
    conv.split('.').next().unwrap_or(conv)
}

/// A convolution's output side for an input side, along one axis.
fn out_side(side: usize, k: usize, stride: usize, pad: usize) -> usize {
    (side + 2 * pad - k) / stride + 1
}

/// FLOP of one convolution for one image of `h` x `w` input: 2 kh kw cin cout oh ow.
pub fn conv_flop(d: &ConvDef, h: usize, w: usize) -> f64 {
    let s = d.spec;
    let (oh, ow) = (out_side(h, s.kh, s.sh, s.ph), out_side(w, s.kw, s.sw, s.pw));
    2.0 * (s.kh * s.kw * d.cin * d.cout * oh * ow) as f64
}

/// One stage's account for one image: FLOP of its convolutions and the side it hands on.
#[derive(Clone, Debug, PartialEq)]
pub struct StageCount {
    pub stage: &'static str,
    pub flop: f64,
    pub out: (usize, usize),
}

/// Every stage of `STAGES` for one `side` x `side` image. Inside a mixed block every convolution
/// reads the block's input side: each chain keeps the side (padded, stride 1) up to its last
/// convolution, the only one with stride 2 (Mixed_6a, Mixed_7a). The stem's max pools are
/// 3 x 3, stride 2; the head pools to 1 x 1.
pub fn stage_counts(side: usize) -> Vec<StageCount> {
    let defs = conv_defs();
    let mut hw = (side, side);
    STAGES
        .iter()
        .map(|&stage| {
            let convs: Vec<&ConvDef> = defs.iter().filter(|d| stage_of(&d.name) == stage).collect();
            let flop = convs.iter().map(|d| conv_flop(d, hw.0, hw.1)).sum();
            hw = match (stage, convs.last()) {
                ("avgpool", _) => (1, 1),
                (_, Some(d)) => {
                    let s = d.spec;
                    (out_side(hw.0, s.kh, s.sh, s.ph), out_side(hw.1, s.kw, s.sw, s.pw))
                }
                (_, None) => (out_side(hw.0, 3, 2, 0), out_side(hw.1, 3, 2, 0)),
            };
            StageCount { stage, flop, out: hw }
        })
        .collect()
}

/// One row of the table: its GFLOP per forward pass (at the measured batch) and its median ms.
#[derive(Serialize, Clone, Debug)]
pub struct RowTime {
    pub row: &'static str,
    pub gflop: f64,
    pub ms: f64,
}

/// The forward pass at one thread count, next to the peer's when it ran.
#[derive(Serialize, Clone, Debug)]
pub struct InceptionTime {
    pub threads: usize,
    pub batch: usize,
    pub side: usize,
    /// Where the weights came from (a file, or the synthetic formula).
    pub weights: String,
    pub iters: usize,
    pub repetitions: usize,
    pub gflop_per_forward: f64,
    /// Median over repetitions of the mean over `iters` forward passes.
    pub ms_per_forward: f64,
    pub images_per_s: f64,
    pub gflops: f64,
    /// engine::gemm on a `ceiling_n`^3 product at this thread count, GFLOP/s (median of one call
    /// per repetition, alternating with the forward).
    pub ceiling_gflops: f64,
    pub ceiling_n: usize,
    /// MKL's sgemm (the peer's torch.mm) on the same cube, GFLOP/s, when the peer ran.
    pub mkl_gflops: Option<f64>,
    /// pytorch-fid's network on PyTorch, images/s (median), when the peer ran.
    pub pytorch_images_per_s: Option<f64>,
    /// Why the peer has no measurement (not installed, or it failed).
    pub peer_error: Option<String>,
    pub rows: Vec<RowTime>,
}

/// What one `pad bench --inception` measures.
pub struct InceptionBench<'a> {
    pub net: &'a InceptionV3,
    pub weights: String,
    pub iters: usize,
    pub reps: usize,
    pub ceiling_n: usize,
    pub peer: Option<&'a Peer>,
}

/// ms per forward pass and per stage of `STAGES`, means over `iters` passes of `x`.
fn time_forward(net: &InceptionV3, x: &[f32], xs: Shape4, iters: usize) -> (f64, Vec<f64>) {
    let mut stage_ms = vec![0.0; STAGES.len()];
    let t = Instant::now();
    for _ in 0..iters {
        let (mut i, mut last) = (0, Instant::now());
        let f = net.forward_observed(x, xs, &mut |_, _| {
            let now = Instant::now();
            stage_ms[i] += 1e3 * (now - last).as_secs_f64();
            (i, last) = (i + 1, now);
        });
        std::hint::black_box(f.expect("the bench's input has the network's shape"));
    }
    let n = iters as f64;
    (1e3 * t.elapsed().as_secs_f64() / n, stage_ms.into_iter().map(|ms| ms / n).collect())
}

/// The peer's images/s for pytorch-fid's forward at `batch`, `iters` passes after one warm-up.
fn time_peer_inception(p: &Peer, threads: usize, batch: usize, iters: usize) -> Result<f64, String> {
    let args =
        ["inception", "--threads", &threads.to_string(), "--batch", &batch.to_string(), "--iters", &iters.to_string()];
    let stdout = run_peer(&p.python, &p.script, &args)?;
    let line = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("peer output {line:?}: {e}"))?;
    v["img_per_s"]
        .as_f64()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| format!("peer inception printed no img_per_s: {line:?}"))
}

impl InceptionBench<'_> {
    /// For each pool: one warm-up pass, then `reps` repetitions of pad's `iters` passes, the
    /// ceiling, the peer's passes and MKL's sgemm, in that order. The peer is not retried at a
    /// thread count once it failed there.
    pub fn run(&self, pools: &[rayon::ThreadPool]) -> Vec<InceptionTime> {
        let xs = Shape4 { c: 3, n: BATCH, h: SIDE, w: SIDE };
        let x = synthetic::image("bench-inception", xs.len());
        let counts = stage_counts(SIDE);
        let gflop_per_forward = counts.iter().map(|c| c.flop).sum::<f64>() * BATCH as f64 / 1e9;
        pools
            .iter()
            .map(|pool| {
                let threads = pool.current_num_threads();
                let (mut pad_ms, mut stage_ms, mut ceiling, mut torch, mut mkl) =
                    (vec![], vec![], vec![], vec![], vec![]);
                let mut peer_error = None;
                pool.install(|| drop(self.net.forward(&x, xs)));
                for _ in 0..self.reps {
                    let (ms, stages) = pool.install(|| time_forward(self.net, &x, xs, self.iters));
                    pad_ms.push(ms);
                    stage_ms.push(stages);
                    ceiling.push(pool.install(|| gemm_ceiling(self.ceiling_n, 1)));
                    if let Some(p) = self.peer.filter(|_| peer_error.is_none()) {
                        match time_peer_inception(p, threads, BATCH, self.iters) {
                            Ok(r) => torch.push(r),
                            Err(e) => peer_error = Some(e),
                        }
                        match time_peer_gemm(&p.python, &p.script, threads, self.ceiling_n) {
                            Ok(g) => mkl.push(g),
                            Err(e) => peer_error = Some(e),
                        }
                    }
                }
                let rows = rows()
                    .into_iter()
                    .map(|row| {
                        let in_row: Vec<usize> = (0..STAGES.len()).filter(|&i| row_of(STAGES[i]) == row).collect();
                        let mut ms: Vec<f64> =
                            stage_ms.iter().map(|rep| in_row.iter().map(|&i| rep[i]).sum()).collect();
                        let flop: f64 = in_row.iter().map(|&i| counts[i].flop).sum();
                        RowTime { row, gflop: flop * BATCH as f64 / 1e9, ms: median(&mut ms) }
                    })
                    .collect();
                let ms_per_forward = median(&mut pad_ms);
                InceptionTime {
                    threads,
                    batch: BATCH,
                    side: SIDE,
                    weights: self.weights.clone(),
                    iters: self.iters,
                    repetitions: self.reps,
                    gflop_per_forward,
                    ms_per_forward,
                    images_per_s: BATCH as f64 / ms_per_forward * 1e3,
                    gflops: gflop_per_forward / ms_per_forward * 1e3,
                    ceiling_gflops: median(&mut ceiling),
                    ceiling_n: self.ceiling_n,
                    mkl_gflops: (!mkl.is_empty()).then(|| median(&mut mkl)),
                    pytorch_images_per_s: (!torch.is_empty()).then(|| median(&mut torch)),
                    peer_error,
                    rows,
                }
            })
            .collect()
    }
}

/// Feature rows FID's statistics are timed on (`frechet_seconds`).
pub const FRECHET_ROWS: usize = 2_500;

/// Seconds to accumulate the statistics of `rows` synthetic 2048-d feature rows (500 at a time,
/// as eval::fid adds them) and to compute one Fréchet distance at 2048 dims, on the caller's pool.
pub fn frechet_seconds(rows: usize) -> Result<(f64, f64), EvalError> {
    let features = synthetic::image("bench-frechet", rows * DIM);
    let t = Instant::now();
    let mut b = StatsBuilder::new(DIM);
    for chunk in features.chunks(500 * DIM) {
        b.add(chunk)?;
    }
    let stats = b.finish()?;
    let stats_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    std::hint::black_box(frechet_distance(&stats, &stats)?);
    Ok((stats_s, t.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Conv2d_1a_3x3 on a 299 x 299 image: 3 x 3 x 3 -> 32, stride 2, no padding, so 149 x 149
    /// outputs of 27 multiply-adds each per output channel.
    #[test]
    fn the_first_convolution_counts_by_hand() {
        let d = &conv_defs()[0];
        assert_eq!(d.name, "Conv2d_1a_3x3");
        assert_eq!(conv_flop(d, 299, 299), 2.0 * 27.0 * 32.0 * 149.0 * 149.0);
        assert_eq!(stage_counts(299)[0].flop, 2.0 * 27.0 * 32.0 * 149.0 * 149.0);
    }

    /// A 1 x 7 convolution of Mixed_6b, padded to keep 17 x 17: 7 x 128 x 128 multiply-adds per
    /// output pixel.
    #[test]
    fn a_wide_convolution_counts_by_hand() {
        let d = conv_defs().into_iter().find(|d| d.name == "Mixed_6b.branch7x7_2").unwrap();
        assert_eq!(conv_flop(&d, 17, 17), 2.0 * 7.0 * 128.0 * 128.0 * 17.0 * 17.0);
    }

    /// The observed forward gives the bytes of the plain one, reports every stage in order, and
    /// the shapes it reports are those `stage_counts` walks (at the smallest side, to be quick).
    #[test]
    fn observing_the_forward_changes_nothing_and_the_walk_matches_it() {
        use crate::eval::inception::{Layout, MIN_SIDE};
        let net =
            InceptionV3::from_state_dict(&synthetic::state_dict(), Layout::Fid, std::path::Path::new("synthetic"))
                .unwrap();
        let xs = Shape4 { c: 3, n: 1, h: MIN_SIDE, w: MIN_SIDE + 4 };
        let x = synthetic::image("observe", xs.len());
        let mut seen = vec![];
        let observed = net.forward_observed(&x, xs, &mut |stage, s| seen.push((stage, (s.h, s.w)))).unwrap();
        let plain = net.forward(&x, xs).unwrap();
        assert_eq!(
            observed.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            plain.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let stages: Vec<&str> = seen.iter().map(|s| s.0).collect();
        assert_eq!(stages, STAGES);
        let mut walked = vec![];
        let (mut h, mut w) = (xs.h, xs.w);
        for (hs, ws) in stage_counts(xs.h).into_iter().zip(stage_counts(xs.w)) {
            walked.push((hs.stage, (hs.out.0, ws.out.0)));
            (h, w) = (hs.out.0, ws.out.0);
        }
        assert_eq!((h, w), (1, 1));
        assert_eq!(seen, walked);
    }

    /// The sides the stages hand on (299 -> 149 -> 147 -> 147 -> 73 -> 73 -> 71 -> 35 -> .. -> 17
    /// -> .. -> 8 -> 1), every convolution in some stage, and the network's well-known 5.7 G
    /// multiply-adds per image.
    #[test]
    fn stages_cover_the_network() {
        let c = stage_counts(299);
        let sides: Vec<usize> = c.iter().map(|s| s.out.0).collect();
        assert_eq!(sides, vec![149, 147, 147, 73, 73, 71, 35, 35, 35, 35, 17, 17, 17, 17, 17, 8, 8, 8, 1]);
        for d in conv_defs() {
            assert!(STAGES.contains(&stage_of(&d.name)), "{}", d.name);
        }
        let gmacs = c.iter().map(|s| s.flop).sum::<f64>() / 2e9;
        assert!((gmacs - 5.71).abs() < 0.01, "{gmacs}");
        let rows: std::collections::BTreeSet<_> = STAGES.iter().map(|s| row_of(s)).collect();
        assert_eq!(rows.len(), super::rows().len());
        assert_eq!(super::rows().len(), 17);
    }
}
