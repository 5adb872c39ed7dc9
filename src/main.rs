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
    /// Time one PAD iteration (batch 64, 3x32x32) and each phase, next to the PyTorch peer.
    Bench(BenchArgs),
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
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Conditions => {
            list_conditions();
            Ok(())
        }
        Cmd::Bench(a) => bench(&a),
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

fn list_conditions() {
    println!("{:<16} {:>4} {:>4} {:>4} {:>5}  {:<18} {:<11} {:<14} summary", "name", "W", "N", "R", "eps", "REM mix (z,z',n)", "NREM from", "order");
    for c in pad::train::CONDITIONS {
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
        let phase_median = |v: &Vec<[f64; 3]>| [0, 1, 2].map(|i| median(&mut v.iter().map(|p| p[i]).collect::<Vec<_>>()));
        let row = |name: &str, ms: &mut Vec<f64>, ph: &Vec<[f64; 3]>| {
            let m = median(ms);
            Measurement { implementation: name.into(), threads: t, batch, ms_per_iteration: m, images_per_s: batch as f64 / m * 1e3, gflops: flop / m / 1e6, phase_ms: Some(phase_median(ph)), repetitions: ms.len() }
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
                println!("         pad is {:.2}x PyTorch's speed at {} thread(s)", q.ms_per_iteration / p.ms_per_iteration, p.threads);
            }
        }
    }
    Ok(())
}
