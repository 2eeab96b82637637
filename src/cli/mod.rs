//! Command-line surface: one module per job, each parsing its flags and calling
//! the library crate that does the work.

use clap::{Args, Parser, Subcommand};

pub mod crawl;
pub mod eval;
pub mod export;
pub mod hash_images;
pub mod import;
pub mod plot_train;
pub mod sample_web;
pub mod stats;
pub mod train;
pub mod vocab;

/// witcurate: build CLIP-style (image, alt-text) training data at web scale, and train on it.
#[derive(Debug, Parser)]
#[command(name = "witcurate", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every job accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Worker threads (default: every core).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// No progress bars; only warnings, errors and the final summary.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log output (repeat for more).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The jobs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the query vocabulary.
    #[command(subcommand)]
    Vocab(vocab::VocabCommand),
    /// The crawl-and-filter job: extract, match, balance, download.
    Crawl(crawl::CrawlArgs),
    /// Train the bundled CLIP model on shards.
    Train(train::TrainArgs),
    /// Zero-shot evaluation of a trained checkpoint.
    Eval(eval::EvalArgs),
    /// Write a checkpoint as another tool's model (open_clip).
    Export(export::ExportArgs),
    /// Turn another tool's model (open_clip) into a checkpoint for `eval`.
    Import(import::ImportArgs),
    /// Hash an image folder (an evaluation set) once, for `crawl dedup --against`.
    HashImages(hash_images::HashImagesArgs),
    /// Write the dataset statistics report of a run directory.
    Stats(stats::StatsArgs),
    /// Draw a training run's curves (loss, zero-shot accuracy) as SVG.
    PlotTrain(plot_train::PlotTrainArgs),
    /// Write a small synthetic website (pages, images, a WARC of it, held-out
    /// evaluation images) for offline demos and tests.
    SampleWeb(sample_web::SampleWebArgs),
}

/// Sets up logging on stderr: warnings by default, more with `-v`, less with `--quiet`.
pub fn init_logging(global: &GlobalArgs) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let env = env_logger::Env::default().filter_or("WITCURATE_LOG", level);
    let _ = env_logger::Builder::from_env(env)
        .format_timestamp(None)
        .format_target(false)
        .try_init();
}

/// Sizes the global rayon pool from `--threads`.
pub fn init_threads(global: &GlobalArgs) -> anyhow::Result<()> {
    if let Some(n) = global.threads {
        if n == 0 {
            anyhow::bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()?;
    }
    Ok(())
}

/// Runs the chosen job.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Vocab(cmd) => vocab::run(cmd, &cli.global),
        Command::Crawl(args) => crawl::run(args, &cli.global),
        Command::Train(args) => train::run(args, &cli.global),
        Command::Eval(args) => eval::run(args, &cli.global),
        Command::Export(args) => export::run(args, &cli.global),
        Command::Import(args) => import::run(args, &cli.global),
        Command::Stats(args) => stats::run(args, &cli.global),
        Command::HashImages(args) => hash_images::run(args, &cli.global),
        Command::PlotTrain(args) => plot_train::run(args, &cli.global),
        Command::SampleWeb(args) => sample_web::run(args, &cli.global),
    }
}
