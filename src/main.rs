use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "pad", about = "Perturbed and adversarial dreaming on CPUs")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fetch, verify and decode a dataset into its canonical artifact.
    Fetch(pad::data::FetchArgs),
    /// Time loading a dataset artifact.
    BenchLoad { path: std::path::PathBuf },
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Fetch(a) => pad::data::run_fetch(&a).map(|_| ()),
        Cmd::BenchLoad { path } => pad::data::bench_load(&path).map(|d| println!("loaded {} in {:.3} s", path.display(), d.as_secs_f64())),
    };
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
