//! `witcurate eval`.

use clap::Args;

use super::GlobalArgs;

/// Flags of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {}

/// Runs `eval`.
pub fn run(_args: EvalArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    anyhow::bail!("eval is not available in this build")
}
