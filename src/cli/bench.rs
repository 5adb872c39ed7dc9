//! `pad bench`: the speed table of one PAD iteration, pad next to the PyTorch peer. Measuring is
//! the library's (pad::bench); this file parses and prints.
use super::threads::MAX_THREADS;
use super::values::whole;
use clap::Args;
use pad::bench::{Comparison, Peer};
use std::path::PathBuf;

pub const ABOUT: &str = "Time one PAD iteration (batch 64, 3x32x32) and each phase, next to the PyTorch peer";
pub const LONG_ABOUT: &str = "\
Time one PAD iteration (batch 64, 3x32x32) and each phase, next to the PyTorch peer.

For each thread count, pad, the GEMM ceiling (engine::gemm on an --ceiling-n cube, the
yardstick of --layers), the peer and MKL's sgemm (the peer's torch.mm on the same cube) alternate
for --reps repetitions (pad: --iters timed iterations after two warm-up ones), so that all see
the same machine load; the table gives medians, GFLOP/s, pad's share of its ceiling and of MKL's
sgemm (so a weak ceiling cannot flatter pad), and pad's speed relative to PyTorch's. The peer is
scripts/torch_pad.py run by a Python with torch (scripts/setup-torch.sh makes one where
--peer-python looks by default); without it, or with --no-peer, pad is measured alone
(docs/performance.md).

With --layers, the account of where the time goes: for each of the nine layers of E and G at
batch 64, the forward pass, the input gradient (dx) and the weight gradient (dW), each as ms,
GFLOP/s and percentage of a GEMM ceiling measured first in the same run with the same kernel
(an --ceiling-n cube), and the GEMM tiles of each pass (fwd/dx/dW): the most cores that
pass can keep busy. Activations, losses and Adam are outside the layers.

With --encode, feature extraction: eval::encode (the encoder's forward pass to z, as every probe,
occlusion sweep and distance stage runs it) over --encode-images random CIFAR-size images, as
images/s, GFLOP/s and percentage of the GEMM ceiling measured first in the same run, and the
time it implies for a CIFAR-10 probe's 60,000 images.

With --inception, the FID stages' network: Inception-v3's forward pass to pool3 on 299 x 299
images, 2 at a time as the FID stages feed it, with the weights of --inception FILE or, without
a file, the synthetic formula weights (the speed does not depend on the values). For each thread
count pad's --iters passes, the GEMM ceiling, the peer's passes of pytorch-fid's network (the
peer script's `inception` subcommand; its Python needs torchvision and pytorch-fid:
scripts/setup-torch.sh --fid) and MKL's sgemm alternate for --reps repetitions; the table gives
images/s, GFLOP/s (counted from the network's convolutions), the share of the ceiling, pad's
speed relative to PyTorch's, and per stem convolution, mixed block and the pools together, ms,
GFLOP/s and share of the ceiling. --frechet adds the time of FID's statistics and one 2048-d
Fréchet distance.

With --kernels, what the middle layers run on: engine::direct's AVX-512 or AVX2 tiles, or the
GEMM path, so that one machine measures what CPUs with other vector units run (default: the
widest tiles this CPU has, as every other command).";

/// What the middle layers run on (--kernels).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KernelsArg {
    /// The widest tiles of engine::direct this CPU has (what every other command runs).
    #[default]
    Auto,
    /// engine::direct's AVX-512 tiles.
    Avx512,
    /// engine::direct's AVX2 tiles: what a CPU without AVX-512 runs.
    Avx2,
    /// The GEMM path (im2col / col2im and the GEMM), as on a CPU with neither.
    Gemm,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Thread counts to measure, comma-separated (each a pool of its own).
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_name = "N,...", allow_negative_numbers = true,
          value_parser = whole(1, MAX_THREADS, ""))]
    pub threads: Vec<usize>,
    /// Timed iterations per repetition.
    #[arg(long, default_value_t = 10, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(1, 100_000, ""))]
    pub iters: usize,
    /// Repetitions (pad and the peer alternate; medians are reported).
    #[arg(long, default_value_t = 3, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(1, 1_000, ""))]
    pub reps: usize,
    /// Python with PyTorch for the peer (scripts/setup-torch.sh makes this one).
    #[arg(long, env = "PAD_PEER_PYTHON", default_value_os_t = default_peer_python(), value_name = "FILE")]
    pub peer_python: PathBuf,
    /// The peer's PAD step, a script with `bench`, `gemm` and `inception` subcommands (relative to the directory
    /// pad runs in: the repository's root).
    #[arg(long, env = "PAD_PEER_SCRIPT", default_value = "scripts/torch_pad.py", value_name = "FILE")]
    pub peer_script: PathBuf,
    /// Skip the PyTorch peer.
    #[arg(long)]
    pub no_peer: bool,
    /// One JSON object per configuration instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Instead of the iteration: every layer's forward, input-gradient and weight-gradient time, GFLOP/s and
    /// share of a GEMM ceiling measured in the same run with the same kernel (--reps calls per pass, medians).
    #[arg(long)]
    pub layers: bool,
    /// Side of the square product that measures the GEMM ceiling (every mode: alternating with pad and the peer
    /// for the iteration, first for --layers and --encode).
    #[arg(long, default_value_t = 2048, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(64, 8192, ""))]
    pub ceiling_n: usize,
    /// Instead of the iteration: feature extraction (eval::encode) over --encode-images images, as images/s,
    /// GFLOP/s and share of the GEMM ceiling measured in the same run (--reps calls, median).
    #[arg(long, conflicts_with = "layers")]
    pub encode: bool,
    /// What the middle layers (conv2, conv3, tconv2, tconv3) run on, to compare on one machine what CPUs with
    /// other vector units run; the bytes are the same for auto, avx512 and avx2 (not for gemm).
    #[arg(long, value_enum, default_value_t = KernelsArg::Auto, value_name = "KIND")]
    pub kernels: KernelsArg,
    /// Instead of the iteration: Inception-v3's forward pass as the FID stages run it (299 x 299, pool3), with the
    /// weights of FILE (safetensors, pytorch-fid's layout) or, without one, the synthetic formula weights: images/s,
    /// GFLOP/s, share of the GEMM ceiling, pad / PyTorch, and per stage.
    #[arg(long, value_name = "FILE", num_args = 0..=1, conflicts_with_all = ["layers", "encode"])]
    pub inception: Option<Option<PathBuf>>,
    /// With --inception: also time, once per thread count, FID's statistics of 2,500 feature rows and one 2048-d
    /// Fréchet distance (seconds each), and the minutes they imply for the FID of 10,000 generated images.
    #[arg(long, requires = "inception")]
    pub frechet: bool,
    /// With --encode: images per timed call.
    #[arg(long, default_value_t = 10_000, value_name = "N", allow_negative_numbers = true,
          value_parser = whole(1, 1_000_000, ""))]
    pub encode_images: usize,
}

/// The peer, unless --no-peer.
fn peer(a: &BenchArgs) -> Option<Peer> {
    (!a.no_peer).then(|| Peer { python: a.peer_python.clone(), script: a.peer_script.clone() })
}

fn default_peer_python() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".cache/pad-peer-torch/bin/python")
}

pub fn bench(a: &BenchArgs) -> Result<(), super::Error> {
    choose_kernels(a.kernels)?;
    // One pool per measured count, in the floating-point mode of every command.
    let pools = a.threads.iter().map(|&n| super::threads::pool(n)).collect::<Result<Vec<_>, _>>()?;
    if a.layers {
        return layers(&pools, a);
    }
    if let Some(weights) = &a.inception {
        // Its convolutions run on engine::implicit_gemm or the GEMM path, whatever --kernels says.
        return inception(&pools, a, weights.as_deref());
    }
    if !a.json {
        println!("{}", kernels_line());
    }
    if a.encode {
        return encode(&pools, a);
    }
    let peer = peer(a);
    for c in pad::bench::compare(&pools, a.iters, a.reps, a.ceiling_n, peer.as_ref()) {
        if let Some(e) = &c.peer_error {
            eprintln!("peer: {e}");
        }
        if a.json {
            print_json(&c)?;
        } else {
            print_table(&c);
        }
    }
    Ok(())
}

/// Decides, before any work, the tiles every pass of this process runs.
fn choose_kernels(k: KernelsArg) -> Result<(), super::Error> {
    use pad::engine::direct::{choose, Isa};
    let isa = match k {
        KernelsArg::Auto => return Ok(()),
        KernelsArg::Avx512 => Isa::Avx512,
        KernelsArg::Avx2 => Isa::Avx2,
        KernelsArg::Gemm => Isa::Scalar,
    };
    choose(isa)
        .map_err(|e| format!("--kernels {}: {e}; run with --kernels auto", format!("{k:?}").to_lowercase()).into())
}

/// The kernels of the middle layers, for the tables' readers.
fn kernels_line() -> String {
    match pad::engine::direct::Isa::detect() {
        pad::engine::direct::Isa::Scalar => "middle layers on the GEMM path".to_string(),
        isa => format!("middle layers on engine::direct, {isa:?} tiles"),
    }
}

fn print_json(c: &Comparison) -> Result<(), super::Error> {
    let mut v = serde_json::to_value(&c.pad)?;
    v["ceiling_gflops"] = c.ceiling_gflops.into();
    v["ceiling_n"] = c.ceiling_n.into();
    v["share_of_ceiling"] = (c.pad.gflops / c.ceiling_gflops).into();
    if let Some(mkl) = c.mkl_gflops {
        v["mkl_gflops"] = mkl.into();
        v["share_of_mkl"] = (c.pad.gflops / mkl).into();
    }
    if let Some(q) = &c.peer {
        v["pytorch_ms_per_iteration"] = q.ms_per_iteration.into();
        v["speedup_vs_pytorch"] = (q.ms_per_iteration / c.pad.ms_per_iteration).into();
    }
    println!("{v}");
    if let Some(q) = &c.peer {
        println!("{}", serde_json::to_value(q)?);
    }
    Ok(())
}

fn print_table(c: &Comparison) {
    for m in std::iter::once(&c.pad).chain(c.peer.iter()) {
        let ph = m.phase_ms.unwrap_or([f64::NAN; 3]);
        println!(
            "{:<8} threads {}  {:7.1} ms/it  {:6.1} img/s  {:5.1} GFLOP/s  (wake {:.1}, nrem {:.1}, rem {:.1} ms)",
            m.implementation, m.threads, m.ms_per_iteration, m.images_per_s, m.gflops, ph[0], ph[1], ph[2]
        );
    }
    println!(
        "         pad at {:.0}% of the GEMM ceiling ({:.1} GFLOP/s: engine::gemm, {n}x{n}x{n}, alternating)",
        100.0 * c.pad.gflops / c.ceiling_gflops,
        c.ceiling_gflops,
        n = c.ceiling_n
    );
    if let Some(mkl) = c.mkl_gflops {
        println!(
            "         pad at {:.0}% of MKL's sgemm ({mkl:.1} GFLOP/s: the peer's torch.mm, same cube, alternating; pad's ceiling is {:.2}x it)",
            100.0 * c.pad.gflops / mkl,
            c.ceiling_gflops / mkl
        );
    }
    if let Some(q) = &c.peer {
        println!(
            "         pad is {:.2}x PyTorch's speed at {} thread(s)",
            q.ms_per_iteration / c.pad.ms_per_iteration,
            c.pad.threads
        );
    }
}

fn layers(pools: &[rayon::ThreadPool], a: &BenchArgs) -> Result<(), super::Error> {
    for pool in pools {
        let t = pad::bench::layers::layer_table(pool, pad::bench::BATCH, a.reps, a.ceiling_n);
        if a.json {
            println!("{}", serde_json::to_value(&t)?);
        } else {
            print_layer_table(&t);
        }
    }
    Ok(())
}

fn encode(pools: &[rayon::ThreadPool], a: &BenchArgs) -> Result<(), super::Error> {
    for pool in pools {
        let t = pad::bench::encode::encode_rate(pool, a.encode_images, a.reps, a.ceiling_n);
        if a.json {
            println!("{}", serde_json::to_value(&t)?);
        } else {
            println!(
                "threads {}  encode {} images: {:.0} ms, {:.0} img/s, {:.1} GFLOP/s = {:.0}% of the GEMM ceiling \
                 ({n}x{n}x{n}: {:.1} GFLOP/s); {} images (a CIFAR-10 probe's features): {:.1} s",
                t.threads,
                t.images,
                t.ms,
                t.images_per_s,
                t.gflops,
                100.0 * t.gflops / t.ceiling_gflops,
                t.ceiling_gflops,
                pad::bench::encode::PROBE_IMAGES,
                t.probe_features_s,
                n = t.ceiling_n
            );
        }
    }
    Ok(())
}

/// One row per layer and pass kind: ms, GFLOP/s and the share of the ceiling; totals last.
fn print_layer_table(t: &pad::bench::layers::LayerTable) {
    let c = t.ceiling_gflops;
    println!(
        "threads {}  batch {}  GEMM ceiling (engine::gemm, {n}x{n}x{n}): {c:.1} GFLOP/s; {}",
        t.threads,
        t.batch,
        kernels_line(),
        n = t.ceiling_n
    );
    println!(
        "{:<8} {:>7} | {:>8} {:>7} {:>5} | {:>8} {:>7} {:>5} | {:>8} {:>7} {:>5} | tiles",
        "layer", "GFLOP", "fwd ms", "GFLOP/s", "%", "dx ms", "GFLOP/s", "%", "dW ms", "GFLOP/s", "%"
    );
    let cell = |l: &pad::bench::layers::LayerTime, ms: f64| {
        format!("{ms:>8.2} {:>7.1} {:>4.0}%", l.rate(ms), 100.0 * l.rate(ms) / c)
    };
    let (mut flop, mut ms) = (0.0, 0.0);
    for l in &t.layers {
        println!(
            "{:<8} {:>7.3} | {} | {} | {} | {}/{}/{}",
            l.layer,
            l.gflop,
            cell(l, l.forward_ms),
            cell(l, l.input_grad_ms),
            cell(l, l.weight_grad_ms),
            l.tiles[0],
            l.tiles[1],
            l.tiles[2]
        );
        flop += 3.0 * l.gflop;
        ms += l.forward_ms + l.input_grad_ms + l.weight_grad_ms;
    }
    let rate = flop / ms * 1e3;
    println!("all passes: {ms:.1} ms for {flop:.2} GFLOP = {rate:.1} GFLOP/s, {:.0}% of the ceiling", 100.0 * rate / c);
}

fn inception(pools: &[rayon::ThreadPool], a: &BenchArgs, file: Option<&std::path::Path>) -> Result<(), super::Error> {
    use pad::eval::inception::{synthetic, InceptionV3, Layout};
    let (net, weights) = match file {
        Some(f) => (InceptionV3::load(f, Layout::Fid)?, f.display().to_string()),
        None => (
            InceptionV3::from_state_dict(&synthetic::state_dict(), Layout::Fid, std::path::Path::new("synthetic"))?,
            "synthetic (formula weights)".to_string(),
        ),
    };
    let peer = peer(a);
    let bench = pad::bench::inception::InceptionBench {
        net: &net,
        weights,
        iters: a.iters,
        reps: a.reps,
        ceiling_n: a.ceiling_n,
        peer: peer.as_ref(),
    };
    for (t, pool) in bench.run(pools).iter().zip(pools) {
        let frechet = if a.frechet {
            Some(pool.install(|| pad::bench::inception::frechet_seconds(pad::bench::inception::FRECHET_ROWS))?)
        } else {
            None
        };
        if a.json {
            let mut v = serde_json::to_value(t)?;
            v["share_of_ceiling"] = (t.gflops / t.ceiling_gflops).into();
            if let Some(q) = t.pytorch_images_per_s {
                v["speedup_vs_pytorch"] = (t.images_per_s / q).into();
            }
            if let Some((stats_s, distance_s)) = frechet {
                v["statistics_s"] = stats_s.into();
                v["frechet_distance_s"] = distance_s.into();
            }
            println!("{v}");
        } else {
            print_inception_table(t, a.no_peer);
            if let Some((stats_s, distance_s)) = frechet {
                let minutes = (10_000.0 / t.images_per_s + 4.0 * stats_s + distance_s) / 60.0;
                println!(
                    "FID statistics of {} x 2048 features: {stats_s:.2} s; one 2048-d Fréchet distance: {distance_s:.2} s; \
                     the FID of 10,000 generated images (real statistics cached) at this speed: {minutes:.1} min",
                    pad::bench::inception::FRECHET_ROWS
                );
            }
        }
    }
    Ok(())
}

/// The forward's line, the peer's, then one row per stage: ms, share of the pass, GFLOP/s and
/// share of the ceiling.
fn print_inception_table(t: &pad::bench::inception::InceptionTime, no_peer: bool) {
    let c = t.ceiling_gflops;
    println!(
        "threads {}  Inception-v3 pool3 forward, {s}x{s}, batch {}, weights {}; GEMM ceiling (engine::gemm, {n}x{n}x{n}): {c:.1} GFLOP/s",
        t.threads,
        t.batch,
        t.weights,
        s = t.side,
        n = t.ceiling_n
    );
    println!(
        "pad      {:8.2} img/s  {:8.1} ms/forward  {:6.1} GFLOP/s = {:.0}% of the ceiling ({:.2} GFLOP a forward)",
        t.images_per_s,
        t.ms_per_forward,
        t.gflops,
        100.0 * t.gflops / c,
        t.gflop_per_forward
    );
    match (t.pytorch_images_per_s, &t.peer_error) {
        (Some(q), _) => {
            let ms = t.batch as f64 / q * 1e3;
            println!(
                "pytorch  {q:8.2} img/s  {ms:8.1} ms/forward  {:6.1} GFLOP/s (pytorch-fid's network)",
                t.gflop_per_forward / ms * 1e3
            );
            println!("pad is {:.2}x PyTorch's speed at {} thread(s)", t.images_per_s / q, t.threads);
        }
        (None, Some(e)) => println!("pytorch  not measured: {e}"),
        (None, None) if no_peer => println!("pytorch  not measured (--no-peer)"),
        (None, None) => {}
    }
    if let Some(mkl) = t.mkl_gflops {
        println!(
            "pad at {:.0}% of MKL's sgemm ({mkl:.1} GFLOP/s: the peer's torch.mm, same cube)",
            100.0 * t.gflops / mkl
        );
    }
    println!("{:<14} {:>7} {:>9} {:>6} {:>8} {:>5}", "stage", "GFLOP", "ms", "time", "GFLOP/s", "%");
    for r in &t.rows {
        let share = 100.0 * r.ms / t.ms_per_forward;
        if r.gflop > 0.0 {
            let rate = r.gflop / r.ms * 1e3;
            println!(
                "{:<14} {:>7.3} {:>9.2} {share:>5.1}% {rate:>8.1} {:>4.0}%",
                r.row,
                r.gflop,
                r.ms,
                100.0 * rate / c
            );
        } else {
            println!("{:<14} {:>7} {:>9.2} {share:>5.1}% {:>8} {:>5}", r.row, "-", r.ms, "-", "-");
        }
    }
    println!(
        "{:<14} {:>7.3} {:>9.2} {:>5.1}% {:>8.1} {:>4.0}%",
        "all",
        t.gflop_per_forward,
        t.ms_per_forward,
        100.0,
        t.gflops,
        100.0 * t.gflops / c
    );
}
