//! `witcurate crawl balance`.

use clap::Args;

use crate::cli::GlobalArgs;

/// Flags of `crawl balance`.
#[derive(Debug, Args)]
pub struct BalanceArgs {}

/// Runs `crawl balance`.
pub fn run(_args: BalanceArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    anyhow::bail!("crawl balance is not available in this build")
}
