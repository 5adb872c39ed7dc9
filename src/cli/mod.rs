//! The command line of `pad`, on the binary's side: every clap type, one file per command group
//! (as ripgrep's flags/ module), and the dispatch to the library. The library never sees clap: it
//! takes plain option structs, and each command here turns its flags into one.
//!
//! Numbers are validated while parsing (values.rs), so a bad value stops a command before it reads
//! or writes anything; the worker threads are decided once, before any command runs (threads.rs).
mod bench;
mod claims;
mod data;
mod diff;
mod eval;
mod fid;
mod inputs;
mod pipeline;
mod replay;
pub mod threads;
mod train;
mod values;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// What a command fails with: the library's errors and the command line's own, printed once by main.
pub type Error = Box<dyn std::error::Error>;

#[derive(Parser, Debug)]
#[command(
    name = "pad",
    version,
    about = "Perturbed and adversarial dreaming (Deperrois et al., eLife 2022), reproduced on CPUs",
    long_about = "Perturbed and adversarial dreaming (Deperrois et al., eLife 2022), reproduced on CPUs.

`pad run` computes the whole experiment of a profile of pipeline.toml (cached) and writes its report;
the other commands are its steps, one at a time: fetch a dataset, train a run, evaluate a checkpoint.
Worker threads: --threads N on every command that computes, else RAYON_NUM_THREADS, else all cores;
results do not depend on the count."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    #[command(about = data::ABOUT, long_about = data::LONG_ABOUT)]
    Fetch(data::FetchArgs),
    /// List the paper's conditions and their phase parameters.
    Conditions,
    #[command(about = train::TRAIN_ABOUT, long_about = train::TRAIN_LONG_ABOUT)]
    Train(train::TrainArgs),
    /// Linear read-out of a checkpoint's frozen latent code (Fig. 4): test accuracy per read-out epoch.
    #[command(long_about = eval::PROBE_LONG_ABOUT)]
    Probe(eval::ProbeArgs),
    /// Occlusion sweep (Fig. 5): read-out accuracy on test images occluded with p = 0, 0.1, ..., 1.
    #[command(long_about = eval::OCCLUSION_LONG_ABOUT)]
    Occlusion(eval::OcclusionArgs),
    /// Intra-/inter-class and clean-vs-occluded latent distances (Fig. 6e,f).
    #[command(long_about = eval::DISTANCES_LONG_ABOUT)]
    Distances(eval::DistancesArgs),
    /// 2-D PCA of the latent code, clean and 30% occluded (Fig. 6b-d): pca.csv and pca.svg.
    Pca(eval::PcaArgs),
    /// PNG grids of real inputs, NREM dreams and REM dreams (Fig. 3).
    Dreams(eval::DreamsArgs),
    #[command(about = fid::ABOUT, long_about = fid::LONG_ABOUT)]
    Fid(fid::FidArgs),
    /// Compute every missing stage of a profile (cached by content hash), then write results/<profile>/.
    #[command(long_about = pipeline::RUN_LONG_ABOUT)]
    Run(pipeline::RunArgs),
    /// List every stage of a profile as fresh, partial or missing, with its key.
    Status(pipeline::StatusArgs),
    /// Rehash the cache and name any corrupted entry.
    Verify,
    /// One stage by key: compute it (what a cluster job runs) or show its parameters.
    Stage(pipeline::StageArgs),
    #[command(about = diff::ABOUT, long_about = diff::LONG_ABOUT)]
    Diff(diff::DiffArgs),
    #[command(about = claims::ABOUT, long_about = claims::LONG_ABOUT)]
    Claims(claims::ClaimsArgs),
    #[command(about = bench::ABOUT, long_about = bench::LONG_ABOUT)]
    Bench(bench::BenchArgs),
    #[command(about = replay::ABOUT, long_about = replay::LONG_ABOUT)]
    Replay(replay::ReplayArgs),
}

impl Cmd {
    /// The command's `--threads`, for the global pool (`pad bench` measures pools of its own).
    pub fn threads(&self) -> Option<usize> {
        match self {
            Cmd::Fetch(a) => a.threads.threads,
            Cmd::Train(a) => a.threads.threads,
            Cmd::Replay(a) => a.threads.threads,
            Cmd::Probe(a) => a.model.threads.threads,
            Cmd::Occlusion(a) => a.model.threads.threads,
            Cmd::Distances(a) => a.model.threads.threads,
            Cmd::Pca(a) => a.model.threads.threads,
            Cmd::Dreams(a) => a.model.threads.threads,
            Cmd::Fid(a) => a.threads.threads,
            Cmd::Run(a) => a.threads.threads,
            Cmd::Stage(a) => match &a.command {
                pipeline::StageCmd::Run(k) | pipeline::StageCmd::Show(k) => k.threads.threads,
            },
            Cmd::Conditions | Cmd::Status(_) | Cmd::Verify | Cmd::Diff(_) | Cmd::Claims(_) | Cmd::Bench(_) => None,
        }
    }

    /// The exit status of a failed command: 2 for `pad diff` (whose 1 means "beyond noise", as
    /// diff(1) and `git diff --exit-code` keep 1 for "different"), 1 for every other command.
    pub fn error_status(&self) -> ExitCode {
        match self {
            Cmd::Diff(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }

    /// Runs the command; a command with a verdict of its own (`pad diff --fail-beyond-noise`)
    /// returns its status.
    pub fn run(self) -> Result<ExitCode, Error> {
        let done = |r: Result<(), Error>| r.map(|()| ExitCode::SUCCESS);
        match self {
            Cmd::Fetch(a) => done(data::fetch(a)),
            Cmd::Conditions => {
                train::list_conditions();
                Ok(ExitCode::SUCCESS)
            }
            Cmd::Train(a) => done(train::train(&a)),
            Cmd::Probe(a) => done(eval::probe(&a)),
            Cmd::Occlusion(a) => done(eval::occlusion(&a)),
            Cmd::Distances(a) => done(eval::distances(&a)),
            Cmd::Pca(a) => done(eval::pca(&a)),
            Cmd::Dreams(a) => done(eval::dreams(&a)),
            Cmd::Fid(a) => done(fid::fid(a)),
            Cmd::Run(a) => done(pipeline::run(&a)),
            Cmd::Status(a) => done(pipeline::status(&a)),
            Cmd::Verify => done(pipeline::verify()),
            Cmd::Stage(a) => done(pipeline::stage(&a)),
            Cmd::Diff(a) => diff::diff(&a),
            Cmd::Claims(a) => done(claims::claims(&a)),
            Cmd::Bench(a) => done(bench::bench(&a)),
            Cmd::Replay(a) => done(replay::replay(&a)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        // clap's own checks: conflicting names, defaults that fail their parsers, bad groups.
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn every_command_and_flag_has_help() {
        let mut cmd = <super::Cli as clap::CommandFactory>::command();
        cmd.build();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            assert!(sub.get_about().is_some(), "pad {} has no about", sub.get_name());
            for arg in sub.get_arguments().filter(|a| !["help", "version"].contains(&a.get_id().as_str())) {
                assert!(arg.get_help().is_some(), "pad {} {} has no help", sub.get_name(), arg.get_id());
            }
        }
    }
}
