//! The binary and the data layer from outside: argument checking (cli_args), `--threads`
//! (cli_threads), fetching and verifying datasets (data_fetch, data_real), `pad diff` (diff) and
//! `pad fid` (fid_cli), `pad bench --inception` (bench_inception). One test binary: `cargo test --release --test commands [FILTER]`.
#[path = "../common/mod.rs"]
mod common;

mod bench_inception;
mod cli_args;
mod cli_threads;
mod data_fetch;
mod data_real;
mod diff;
mod fid_cli;
