//! `witcurate crawl matching`.

use clap::Args;

use crate::cli::GlobalArgs;

/// Flags of `crawl matching`.
#[derive(Debug, Args)]
pub struct MatchArgs {}

/// Runs `crawl matching`.
pub fn run(_args: MatchArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    anyhow::bail!("crawl matching is not available in this build")
}
