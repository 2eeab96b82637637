//! `witcurate crawl`: the crawl-and-filter job, stage by stage or all at once.

use clap::{Args, Subcommand};

use super::GlobalArgs;

pub mod all;
pub mod balance;
pub mod download;
pub mod extract;
pub mod matching;

/// Flags of `crawl`: a stage, or the flags of a whole run (`crawl --out RUN
/// --vocab DIR --input ... [--stop-after extract|match|balance]`), which runs
/// the stages in order, each with the flags it knows (see `crawl STAGE --help`).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CrawlArgs {
    #[command(subcommand)]
    pub stage: Option<CrawlStage>,
    /// Flags of a whole run: every stage's flags, plus --stop-after STAGE.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "FLAGS"
    )]
    pub run: Vec<String>,
}

/// The crawl stages.
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum CrawlStage {
    /// Extract (image URL, alt-text) pairs from WARC/WAT files or url+caption tables.
    Extract(extract::ExtractArgs),
    /// Match texts against the query vocabulary and count matches per entry.
    Match(matching::MatchArgs),
    /// Balance: cap each entry at t pairs.
    Balance(balance::BalanceArgs),
    /// Download, resize and write image shards.
    Download(download::DownloadArgs),
}

/// Runs a crawl stage.
pub fn run(args: CrawlArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    match args.stage {
        Some(CrawlStage::Extract(a)) => extract::run(a, global),
        Some(CrawlStage::Match(a)) => matching::run(a, global),
        Some(CrawlStage::Balance(a)) => balance::run(a, global),
        Some(CrawlStage::Download(a)) => download::run(a, global),
        None => all::run(&args.run, global),
    }
}
