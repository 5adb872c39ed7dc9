//! Numbers against references: one PAD iteration and three small epochs against PyTorch fixtures
//! (golden_pad, golden_replay), Inception-v3 and the Fréchet distance against pytorch-fid and scipy
//! (golden_fid), training runs, resume and thread counts (train_runs), and the bytes every CPU
//! must give (cross_cpu). One test binary: `cargo test --release --test numerics [FILTER]`.
#[path = "../common/mod.rs"]
mod common;

mod cross_cpu;
mod golden_fid;
mod golden_pad;
mod golden_replay;
mod train_runs;
