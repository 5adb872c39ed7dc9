//! `pad`: the command line. A thin dispatcher over the cli module: parse (clap rejects bad flags
//! and values with its own message), set up the worker threads once, run the command, and turn
//! its error into one readable line and a non-zero exit (2 for `pad diff`, whose 1 is a verdict).
mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    pad::engine::alloc::keep_freed_memory();
    let cli = cli::Cli::parse();
    let on_error = cli.command.error_status();
    let result = cli::threads::init(cli.command.threads()).map_err(cli::Error::from).and_then(|_| cli.command.run());
    match result {
        Ok(status) => status,
        Err(e) => {
            eprintln!("pad: error: {e}");
            on_error
        }
    }
}
