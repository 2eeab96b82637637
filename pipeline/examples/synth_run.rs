//! Writes a synthetic run directory with every stage's files (documented
//! schemas, Zipf-distributed words, entries and domains), for benchmarking
//! `witcurate stats` (see `synthetic::run`).
//!
//! `cargo run --release -p pipeline --example synth_run -- OUT PAIRS [FILES] [VOCAB]`

use std::path::Path;

use synthetic::run::{write_run, RunOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: synth_run OUT PAIRS [FILES=8] [VOCAB=50000]");
        std::process::exit(2);
    }
    let out = Path::new(&args[1]);
    let opts = RunOptions {
        pairs: args[2].parse().expect("PAIRS"),
        files: args.get(3).map_or(8, |s| s.parse().expect("FILES")),
        vocab: args.get(4).map_or(50_000, |s| s.parse().expect("VOCAB")),
    };
    if let Err(e) = write_run(out, &opts) {
        eprintln!("synth_run: {e}");
        std::process::exit(1);
    }
    println!(
        "synth_run: {} with {} pairs in {} files, vocabulary {}",
        out.display(),
        opts.pairs,
        opts.files,
        opts.vocab
    );
}
