//! `pad`: the command line. A thin layer over the library: parse, call, report errors readably.
use clap::{Args, Parser, Subcommand};
use pad::bench::{iteration_macs, median, time_pad, time_peer, Measurement};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "pad", version, about = "Perturbed and adversarial dreaming (Deperrois et al., eLife 2022), reproduced on CPUs", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fetch, verify and decode a dataset into its canonical artifact (u8 images + labels).
    Fetch(pad::data::FetchArgs),
    /// List the paper's conditions and their phase parameters.
    Conditions,
    /// Train PAD (or an ablation) on a dataset artifact; resumes from the last epoch if stopped.
    Train(TrainArgs),
    /// Linear read-out of a checkpoint's frozen latent code (Fig. 4): test accuracy per probe epoch.
    Probe(ProbeArgs),
    /// Time one PAD iteration (batch 64, 3x32x32) and each phase, next to the PyTorch peer.
    Bench(BenchArgs),
    /// Occlusion sweep (Fig. 5): probe accuracy on test images occluded with p = 0, 0.1, ..., 1.
    Occlusion(pad::eval::cli::OcclusionArgs),
    /// Intra-/inter-class and clean-vs-occluded latent distances (Fig. 6e,f).
    Distances(pad::eval::cli::DistancesArgs),
    /// 2-D PCA of the latent code, clean and occluded (Fig. 6b-d).
    Pca(pad::eval::cli::PcaArgs),
    /// PNG grids of real inputs, NREM dreams and REM dreams (Fig. 3).
    Dreams(pad::eval::cli::DreamsArgs),
    /// Fréchet Inception Distance between two image sets (datasets or statistics files).
    Fid(pad::eval::fid_cli::FidArgs),
    /// Compute every missing stage of a profile (cached by content hash), then write results/<profile>/.
    Run(RunArgs),
    /// List every stage of a profile as fresh or missing, with its key.
    Status(StatusArgs),
    /// Rehash the cache and name any corrupted entry.
    Verify,
}

#[derive(Args)]
struct PipelineArgs {
    /// The experiment file.
    #[arg(long, default_value = "pipeline.toml")]
    config: PathBuf,
    /// Profile of pipeline.toml (e.g. demo, paper).
    #[arg(long, default_value = "demo")]
    profile: String,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Only these stages (and what they need): data, train, probe, occlusion, distances, pca,
    /// dreams, fid-real, fid, report. Default: all.
    stages: Vec<String>,
    /// Where the report writes its tables.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
}

/// Where a dataset artifact comes from: a file, or a name fetched earlier into the data directory.
#[derive(Args)]
struct DataArgs {
    /// Dataset artifact (.safetensors) written by `pad fetch`.
    #[arg(long, conflicts_with = "dataset")]
    data: Option<PathBuf>,
    /// Dataset name, read from <data-dir>/<name>.safetensors (see `pad fetch`).
    #[arg(long)]
    dataset: Option<String>,
    /// Where `pad fetch` puts artifacts.
    #[arg(long, env = "PAD_DATA", default_value = "data")]
    data_dir: PathBuf,
}

impl DataArgs {
    fn path(&self) -> Result<PathBuf, String> {
        match (&self.data, &self.dataset) {
            (Some(p), _) => Ok(p.clone()),
            (None, Some(name)) => Ok(self.data_dir.join(format!("{name}.safetensors"))),
            (None, None) => Err("say which data: --data FILE or --dataset NAME (see `pad fetch --help`)".into()),
        }
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Condition of the paper (`pad conditions` lists them).
    #[arg(long, default_value = "pad")]
    condition: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 50)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Train on the first N training images only (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// Run directory (checkpoints, losses.csv). Default: runs/<dataset>/<condition>/seed<seed>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Worker threads (default: RAYON_NUM_THREADS or all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct ProbeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Checkpoint whose encoder is probed (pad's epoch-NNNN.safetensors or the PyTorch peer's).
    #[arg(long, required_unless_present = "untrained")]
    ckpt: Option<PathBuf>,
    /// Probe the untrained encoder of --seed instead.
    #[arg(long)]
    untrained: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Classifier epochs.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    #[arg(long, default_value_t = 0.2)]
    lr: f32,
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct BenchArgs {
    /// Thread counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Timed iterations per repetition.
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Repetitions (pad and the peer alternate; medians are reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Python with PyTorch for the peer (made by ../shared/bench/setup-torch.sh).
    #[arg(long, env = "PAD_PEER_PYTHON", default_value_os_t = default_peer_python())]
    peer_python: PathBuf,
    /// The peer's PAD step (../shared/bench/torch_pad.py).
    #[arg(long, env = "PAD_PEER_SCRIPT", default_value = "../shared/bench/torch_pad.py")]
    peer_script: PathBuf,
    /// Skip the PyTorch peer.
    #[arg(long)]
    no_peer: bool,
    /// One JSON object per configuration instead of a table.
    #[arg(long)]
    json: bool,
}

fn default_peer_python() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".cache/pad-peer-torch/bin/python")
}

fn main() -> ExitCode {
    pad::engine::alloc::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Conditions => {
            list_conditions();
            Ok(())
        }
        Cmd::Bench(a) => bench(&a),
        Cmd::Train(a) => train(&a),
        Cmd::Run(a) => run_pipeline(&a),
        Cmd::Status(a) => status(&a),
        Cmd::Verify => verify(),
        Cmd::Occlusion(a) => eval_cmd(|| pad::eval::cli::run_occlusion(&a)),
        Cmd::Distances(a) => eval_cmd(|| pad::eval::cli::run_distances(&a)),
        Cmd::Pca(a) => eval_cmd(|| pad::eval::cli::run_pca(&a)),
        Cmd::Dreams(a) => eval_cmd(|| pad::eval::cli::run_dreams(&a)),
        Cmd::Fid(a) => eval_cmd(|| pad::eval::fid_cli::run_fid(&a)),
        Cmd::Probe(a) => probe(&a),
        Cmd::Fetch(a) => pad::data::run_fetch(&a).map(|p| println!("{}", p.display())).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pad: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The global thread pool: `n` workers (default: RAYON_NUM_THREADS or all cores), each flushing
/// denormals to zero (engine::fpmode; PAD_KEEP_DENORMALS=1 turns that off, for comparisons).
fn set_threads(n: Option<usize>) {
    if std::env::var_os("PAD_KEEP_DENORMALS").is_some() {
        if let Some(n) = n {
            let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
        }
    } else {
        pad::engine::fpmode::init_global(n);
    }
}

/// An evaluation command on the global pool.
fn eval_cmd<T, E: Into<Box<dyn std::error::Error>>>(
    f: impl FnOnce() -> Result<T, E>,
) -> Result<(), Box<dyn std::error::Error>> {
    set_threads(None);
    f().map(|_| ()).map_err(Into::into)
}

fn train(a: &TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    set_threads(a.threads);
    let cond = pad::train::condition(&a.condition)?;
    let path = a.data.path()?;
    let ds = pad::data::load_artifact(&path)?;
    let id = pad::files::sha256_file(&path)?;
    let per = ds.channels * 32 * 32;
    let n = a.limit.unwrap_or(ds.train.n).min(ds.train.n);
    let images = pad::data::Images::new(&ds.train.images[..n * per], ds.channels)?;
    // The identity of a --limit run is the artifact plus the limit.
    let dataset_id = if n < ds.train.n { format!("{id}[..{n}]") } else { id };
    let spec = pad::train::RunSpec {
        condition: cond.clone(),
        seed: a.seed,
        epochs: a.epochs,
        batch: a.batch,
        dataset_id,
        nf: 64,
        nz: 256,
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&ds.name).join(&cond.name).join(format!("seed{}", a.seed)));
    eprintln!(
        "training {} on {} ({} images, {} iterations/epoch) -> {}",
        cond.name,
        ds.name,
        n,
        n / a.batch,
        out.display()
    );
    let t = std::time::Instant::now();
    let r = pad::train::train(&spec, images, &out, !a.quiet)?;
    if r.resumed_from > 0 {
        eprintln!("resumed after epoch {}", r.resumed_from);
    }
    let secs: Vec<String> = r.seconds_per_epoch.iter().map(|s| format!("{s:.1}")).collect();
    eprintln!(
        "done: {} epochs in {}; {:.1} s total ({} s per epoch)",
        r.epochs_done,
        out.display(),
        t.elapsed().as_secs_f64(),
        secs.join(", ")
    );
    Ok(())
}

fn probe(a: &ProbeArgs) -> Result<(), Box<dyn std::error::Error>> {
    set_threads(a.threads);
    let ds = pad::data::load_artifact(&a.data.path()?)?;
    let enc = pad::train::Networks::new(a.ckpt.as_deref().filter(|_| !a.untrained), a.seed).encoder(ds.channels)?;
    let t = std::time::Instant::now();
    let train = pad::data::Images::new(&ds.train.images, ds.channels)?;
    let test = pad::data::Images::new(&ds.test.images, ds.channels)?;
    let (ftr, fte) = (pad::eval::encode(&enc, train, None), pad::eval::encode(&enc, test, None));
    let t_feat = t.elapsed().as_secs_f64();
    let cfg = pad::eval::ProbeConfig { lr: a.lr, epochs: a.epochs, seed: a.seed, ..Default::default() };
    let (_, hist) =
        pad::eval::linear_probe(ftr.view(), &ds.train.labels, fte.view(), &ds.test.labels, ds.classes.len(), &cfg);
    println!("epoch,train_loss,train_acc,test_loss,test_acc,test_acc_ref");
    for h in &hist {
        println!(
            "{},{:.4},{:.2},{:.4},{:.2},{:.2}",
            h.epoch, h.train_loss, h.train_acc, h.test_loss, h.test_acc, h.test_acc_ref
        );
    }
    let last5: Vec<f64> = hist.iter().rev().take(5).map(|h| h.test_acc).collect();
    eprintln!(
        "test accuracy {:.2}% (last epoch), {:.2}% (mean of last {}); features {:.1} s, total {:.1} s",
        hist.last().map_or(f64::NAN, |h| h.test_acc),
        last5.iter().sum::<f64>() / last5.len() as f64,
        last5.len(),
        t_feat,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn load_plan(a: &PipelineArgs) -> Result<pad::pipeline::Plan, Box<dyn std::error::Error>> {
    let cfg = pad::pipeline::Config::load(&a.config)?;
    Ok(pad::pipeline::Plan::new(cfg.profile(&a.profile)?))
}

fn run_pipeline(a: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    set_threads(a.threads);
    let plan = load_plan(&a.pipeline)?;
    let mut kinds = Vec::new();
    let mut want_report = a.stages.is_empty();
    for s in &a.stages {
        match (s.as_str(), pad::pipeline::StageKind::parse(s)) {
            ("report", _) => want_report = true,
            (_, Some(k)) => kinds.push(k),
            _ => {
                let names: Vec<&str> = pad::pipeline::StageKind::ALL.iter().map(|k| k.name()).collect();
                return Err(format!("unknown stage '{s}'; stages: {}, report", names.join(", ")).into());
            }
        }
    }
    let cache = pad::pipeline::Cache::from_env();
    let t = std::time::Instant::now();
    if !kinds.is_empty() || a.stages.is_empty() {
        let nodes = plan.select(&kinds);
        let (computed, fresh) = pad::pipeline::run::run(&plan, &cache, &nodes, !a.quiet)?;
        eprintln!(
            "{computed} stage(s) computed, {fresh} already fresh, in {:.1} s (cache {})",
            t.elapsed().as_secs_f64(),
            cache.root.display()
        );
    }
    if want_report {
        for p in pad::pipeline::collect::report(&plan, &cache, &a.results)? {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(())
}

fn status(a: &StatusArgs) -> Result<(), Box<dyn std::error::Error>> {
    let plan = load_plan(&a.pipeline)?;
    let cache = pad::pipeline::Cache::from_env();
    let mut missing = 0;
    for n in &plan.nodes {
        let fresh = cache.is_complete(n.kind.name(), &n.key);
        let partial = !fresh && cache.work_dir(n.kind.name(), &n.key).exists();
        missing += !fresh as usize;
        println!(
            "{:<10} {:<9} {}  {}",
            n.kind.name(),
            if fresh {
                "fresh"
            } else if partial {
                "partial"
            } else {
                "missing"
            },
            &n.key[..16],
            n.label
        );
    }
    eprintln!(
        "{} stages, {} missing (profile {}, cache {})",
        plan.nodes.len(),
        missing,
        plan.profile.name,
        cache.root.display()
    );
    Ok(())
}

fn verify() -> Result<(), Box<dyn std::error::Error>> {
    let cache = pad::pipeline::Cache::from_env();
    let (n, bad) = cache.verify()?;
    for e in &bad {
        eprintln!("{e}");
    }
    if bad.is_empty() {
        eprintln!("{n} cache entries verified in {}", cache.root.display());
        Ok(())
    } else {
        Err(format!("{} of {n} cache entries are corrupted", bad.len()).into())
    }
}

fn list_conditions() {
    println!(
        "{:<16} {:>4} {:>4} {:>4} {:>5}  {:<18} {:<11} {:<14} summary",
        "name", "W", "N", "R", "eps", "REM mix (z,z',n)", "NREM from", "order"
    );
    for c in pad::train::conditions() {
        let m = c.rem_mix;
        println!(
            "{:<16} {:>4} {:>4} {:>4} {:>5}  {:<18} {:<11} {:<14} {}",
            c.name,
            c.w,
            c.n,
            c.r,
            c.epsilon,
            format!("{}, {}, {}", m.z, m.z_old, m.noise),
            format!("{:?}", c.nrem_source),
            format!("{:?}", c.order),
            c.summary
        );
    }
}

fn bench(a: &BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    set_threads(None);
    let batch = 64;
    let flop = 2.0 * iteration_macs(batch, 3, 64, 256).iter().sum::<f64>();
    let mut rows = Vec::new();
    for &t in &a.threads {
        let (mut pad_ms, mut pad_ph, mut peer_ms, mut peer_ph) = (vec![], vec![], vec![], vec![]);
        let mut peer_err = None;
        for _ in 0..a.reps {
            let (ms, ph) = time_pad(t, batch, a.iters);
            pad_ms.push(ms);
            pad_ph.push(ph);
            if !a.no_peer && peer_err.is_none() {
                match time_peer(&a.peer_python, &a.peer_script, t, a.iters) {
                    Ok((ms, ph)) => {
                        peer_ms.push(ms);
                        peer_ph.push(ph);
                    }
                    Err(e) => peer_err = Some(e),
                }
            }
        }
        let phase_median =
            |v: &Vec<[f64; 3]>| [0, 1, 2].map(|i| median(&mut v.iter().map(|p| p[i]).collect::<Vec<_>>()));
        let row = |name: &str, ms: &mut Vec<f64>, ph: &Vec<[f64; 3]>| {
            let m = median(ms);
            Measurement {
                implementation: name.into(),
                threads: t,
                batch,
                ms_per_iteration: m,
                images_per_s: batch as f64 / m * 1e3,
                gflops: flop / m / 1e6,
                phase_ms: Some(phase_median(ph)),
                repetitions: ms.len(),
            }
        };
        let p = row("pad", &mut pad_ms, &pad_ph);
        let peer = (!peer_ms.is_empty()).then(|| row("pytorch", &mut peer_ms, &peer_ph));
        if let Some(e) = &peer_err {
            eprintln!("peer: {e}");
        }
        rows.push((p, peer));
    }
    for (p, peer) in &rows {
        if a.json {
            let mut v = serde_json::to_value(p)?;
            if let Some(q) = peer {
                v["pytorch_ms_per_iteration"] = q.ms_per_iteration.into();
                v["speedup_vs_pytorch"] = (q.ms_per_iteration / p.ms_per_iteration).into();
            }
            println!("{v}");
            if let Some(q) = peer {
                println!("{}", serde_json::to_value(q)?);
            }
        } else {
            for m in std::iter::once(p).chain(peer.iter()) {
                let ph = m.phase_ms.unwrap();
                println!(
                    "{:<8} threads {}  {:7.1} ms/it  {:6.1} img/s  {:5.1} GFLOP/s  (wake {:.1}, nrem {:.1}, rem {:.1} ms)",
                    m.implementation, m.threads, m.ms_per_iteration, m.images_per_s, m.gflops, ph[0], ph[1], ph[2]
                );
            }
            if let Some(q) = peer {
                println!(
                    "         pad is {:.2}x PyTorch's speed at {} thread(s)",
                    q.ms_per_iteration / p.ms_per_iteration,
                    p.threads
                );
            }
        }
    }
    Ok(())
}
