//! `witcurate stats`.

use clap::Args;

use super::GlobalArgs;

/// Flags of `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {}

/// Runs `stats`.
pub fn run(_args: StatsArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    anyhow::bail!("stats is not available in this build")
}
