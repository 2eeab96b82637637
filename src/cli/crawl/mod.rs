//! `witcurate crawl`: the crawl-and-filter job, stage by stage or all at once.

use clap::{Args, Subcommand};

use super::GlobalArgs;

pub mod balance;
pub mod download;
pub mod extract;
pub mod matching;

/// Flags of `crawl`.
#[derive(Debug, Args)]
pub struct CrawlArgs {
    #[command(subcommand)]
    pub stage: CrawlStage,
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
        CrawlStage::Extract(a) => extract::run(a, global),
        CrawlStage::Match(a) => matching::run(a, global),
        CrawlStage::Balance(a) => balance::run(a, global),
        CrawlStage::Download(a) => download::run(a, global),
    }
}
