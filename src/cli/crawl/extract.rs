//! `witcurate crawl extract`.

use clap::Args;

use crate::cli::GlobalArgs;

/// Flags of `crawl extract`.
#[derive(Debug, Args)]
pub struct ExtractArgs {}

/// Runs `crawl extract`.
pub fn run(_args: ExtractArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    anyhow::bail!("crawl extract is not available in this build")
}
