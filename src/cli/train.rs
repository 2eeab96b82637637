//! `witcurate train`.

use clap::Args;

use super::GlobalArgs;

/// Flags of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {}

/// Runs `train`.
pub fn run(_args: TrainArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    anyhow::bail!("train is not available in this build")
}
