//! `witcurate`: build CLIP-style (image, alt-text) training data at web scale,
//! and train on it. This binary only parses flags and calls the library crates.

use std::process::ExitCode;

use clap::Parser;

mod cli;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(&args.global);
    if let Err(e) = cli::init_threads(&args.global) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
