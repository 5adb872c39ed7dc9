//! The pipeline on the shipped demo slice, in process: caching by key, exact invalidation, jobs,
//! verification and the report (runs), and every stage parameter moving its key and its output
//! (stage_params). One test binary: `cargo test --release --test pipeline [FILTER]`.
#[path = "../common/mod.rs"]
mod common;

mod runs;
mod stage_params;
