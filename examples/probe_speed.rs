//! Times the linear probe of one checkpoint on a CIFAR-10-sized dataset: encoding all train and
//! test images (60,000 for CIFAR-10), then 20 classifier epochs.
//!
//!   cargo run --release --example probe_speed -- [ARTIFACT] [CHECKPOINT]
//!
//! ARTIFACT defaults to data/cifar10-jpeg.safetensors in the repository (`pad fetch cifar10-jpeg
//! --mirror DIR` writes it). Without a checkpoint the untrained networks of seed 0 are probed
//! (same cost).
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data =
        args.next().unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/cifar10-jpeg.safetensors").into());
    let ckpt = args.next();
    let ds = pad::data::load_artifact(std::path::Path::new(&data))?;
    let enc = match &ckpt {
        Some(p) => pad::model::checkpoint::read_file(std::path::Path::new(p))?.encoder(std::path::Path::new(p))?,
        None => pad::train::run::init_state(0, ds.channels, 64, 256).enc,
    };
    let train = pad::data::Images::new(&ds.train.images, ds.channels)?;
    let test = pad::data::Images::new(&ds.test.images, ds.channels)?;
    let t = Instant::now();
    let (ftr, fte) = (pad::eval::encode(&enc, train, None), pad::eval::encode(&enc, test, None));
    let t_enc = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let cfg = pad::eval::ProbeConfig::default();
    let (_, hist) =
        pad::eval::linear_probe(ftr.view(), &ds.train.labels, fte.view(), &ds.test.labels, ds.classes.len(), &cfg);
    let t_probe = t.elapsed().as_secs_f64();
    let n = train.n + test.n;
    println!(
        "{}: {} encodings in {:.1} s ({:.0} images/s); {} classifier epochs in {:.1} s; total {:.1} s; test accuracy {:.2}% (threads {})",
        ds.name,
        n,
        t_enc,
        n as f64 / t_enc,
        cfg.epochs,
        t_probe,
        t_enc + t_probe,
        hist.last().map_or(f64::NAN, |h| h.test_acc),
        rayon::current_num_threads()
    );
    Ok(())
}
