//! `witcurate crawl download`.

use clap::Args;

use crate::cli::GlobalArgs;

/// Flags of `crawl download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {}

/// Runs `crawl download`.
pub fn run(_args: DownloadArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    anyhow::bail!("crawl download is not available in this build")
}
