//! Writes Inception-v3 weights made by the deterministic formula of the golden FID test
//! (src/eval/inception.rs `synthetic`) as a safetensors file. FID values computed with them mean
//! nothing, but every stage runs as with the real weights: for smoke tests and timing of the FID
//! stages on a machine without pytorch-fid's weights.
//!
//!   cargo run --release --example synthetic_inception -- OUT.safetensors
fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "inception-synthetic.safetensors".into());
    let bytes = pad::model::checkpoint::to_bytes(&pad::eval::inception::synthetic::state_dict(), &Default::default());
    if let Err(e) = pad::files::atomic::write_atomic(std::path::Path::new(&out), &bytes) {
        eprintln!("{out}: {e}");
        std::process::exit(1);
    }
    println!("wrote {out} ({} bytes; synthetic weights: timings only, not FID values)", bytes.len());
}
